"""Grafana dashboards as code for the command centres (grafana-foundation-sdk).

Public interface (nothing runs at import time)::

    from pingan.dashboards.registry import build_all, write_generated, iter_panels
    from pingan.dashboards.check import check              # await check(query, time_range)
    from pingan.dashboards.preview import build_preview    # await build_preview(sink, out_path)
    from pingan.dashboards.push import push_all            # push_all(url, token, folder=..., datasources=...)

One module per dashboard (overview, county, alert_feed, pipeline); shared SQL in ``sql``, panel
helpers in ``panels``, the ClickHouse query model in ``query``, Grafana's macros in ``macros``.
See docs/dashboards.md.
"""
