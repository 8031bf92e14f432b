"""管道健康: the pipeline's health from the worker's Prometheus metrics (streams/metrics.py)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from pingan.dashboards.panels import prom_stat, prom_timeseries, row

UID = "pingan-pipeline"
TITLE = "管道健康"
RATE = "[$__rate_interval]"


def quantiles(metric: str, by: str = "") -> list[tuple[str, str]]:
    group = f"le{', ' + by if by else ''}"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{RATE})))", f"p{int(q * 100)}{suffix}")
            for q in (0.5, 0.95, 0.99)]


def build() -> db.Dashboard:
    return (
        db.Dashboard(TITLE).uid(UID).tags(["pingan", "运维"]).timezone("Asia/Shanghai")
        .description("Kafka → Faust 规则引擎 → ClickHouse 管道的吞吐、延迟与积压")
        .time("now-1h", "now").refresh("10s").readonly()
        .with_row(row("吞吐"))
        .with_panel(prom_timeseries("每秒流入事件（按主题）", [
            (f"sum by (topic) (rate(pingan_messages_in_total{RATE}))", "{{topic}}")], unit="ops"))
        .with_panel(prom_timeseries("每秒无效消息（死信）", [
            (f"sum by (topic) (rate(pingan_messages_invalid_total{RATE}))", "{{topic}}")], unit="ops"))
        .with_panel(prom_timeseries("每秒规则评估（按规则）", [
            (f"sum by (rule_id) (rate(pingan_rule_evaluations_total{RATE}))", "{{rule_id}}")], unit="ops"))
        .with_panel(prom_timeseries("每秒预警（按级别）", [
            (f"sum by (severity) (rate(pingan_alerts_total{RATE}))", "{{severity}}")], unit="ops"))
        .with_row(row("延迟"))
        .with_panel(prom_timeseries("事件到预警延迟", quantiles("pingan_event_to_alert_latency_seconds"), unit="s"))
        .with_panel(prom_timeseries("ClickHouse 写入批次延迟", quantiles("pingan_sink_batch_latency_seconds"), unit="s"))
        .with_panel(prom_timeseries("写入批次行数", [
            ("sum(rate(pingan_sink_batch_rows_sum" + RATE + ")) / sum(rate(pingan_sink_batch_rows_count" + RATE + "))",
             "平均行数"),
            *quantiles("pingan_sink_batch_rows")[1:2]]))
        .with_panel(prom_timeseries("写入积压行数", [("sum(pingan_sink_backlog_rows)", "积压")]))
        .with_row(row("消费"))
        .with_panel(prom_timeseries("消费延迟（按主题）", [
            ("sum by (topic) (pingan_consumer_lag_messages)", "{{topic}}")], w=18))
        .with_panel(prom_stat("规则集版本", "max by (version) (pingan_ruleset_info)", "{{version}}", w=6, h=8))
    )
