/* Renders the embedded dashboard data (pingan.dashboards.preview) like Grafana would: stat, table,
 * time series, bar gauge and pie panels on a 24-column grid. Every panel element ends with
 * data-state = ok | empty | info | error, and #preview-report holds a JSON summary (for tests). */
(function () {
  "use strict";
  var page = JSON.parse(document.getElementById("preview-data").textContent);
  var PALETTE = { green: "#73bf69", yellow: "#e0b400", orange: "#ff9830", red: "#f2495c", blue: "#5794f2",
                  purple: "#b877d9", "dark-red": "#c4162a", "dark-green": "#37872d" };
  var SERIES = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0",
                "#37872d", "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c", "#6d1f62"];
  var report = { panels: 0, rendered: 0, states: {}, failed: [], counties: [] };
  var charts = {};

  function color(name) { return PALETTE[name] || name || "#5794f2"; }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function displayName(meta, column) { return (meta.rename && meta.rename[column]) || column; }
  function override(meta, column) { return meta.overrides[displayName(meta, column)] || meta.overrides[column] || {}; }
  function unitOf(meta, column) { return override(meta, column).unit || meta.unit; }

  function fmt(value, unit, decimals) {
    if (value === null || value === undefined) return "—";
    if (typeof value !== "number") return String(value);
    if (unit === "percentunit") return (value * 100).toFixed(decimals != null ? decimals : 1) + "%";
    if (unit === "currencyCNY") return "¥" + value.toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    if (unit === "s") return value.toFixed(3) + " s";
    if (unit === "ops") return value.toFixed(2) + "/s";
    if (Number.isInteger(value)) return value.toLocaleString("zh-CN");
    return value.toLocaleString("zh-CN", { maximumFractionDigits: decimals != null ? decimals : 2 });
  }
  function thresholdColor(steps, value) {
    var chosen = null;
    (steps || []).forEach(function (s) {
      if (s.value === null || s.value === undefined || (typeof value === "number" && value >= s.value)) chosen = s.color;
    });
    return color(chosen);
  }
  function numeric(data, i) {
    var any = false;
    for (var r = 0; r < data.rows.length; r++) {
      var v = data.rows[r][i];
      if (v === null || v === undefined) continue;
      if (typeof v !== "number") return false;
      any = true;
    }
    return any || data.rows.length === 0;
  }
  function firstText(data) {
    for (var i = 0; i < data.columns.length; i++) if (data.columns[i] !== "time" && !numeric(data, i)) return i;
    return -1;
  }
  function numberColumns(data) {
    var out = [];
    for (var i = 0; i < data.columns.length; i++) if (data.columns[i] !== "time" && numeric(data, i)) out.push(i);
    return out;
  }
  function cst(ms) {
    var d = new Date(ms + 8 * 3600 * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) + " " + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }
  function chart(body, id) {
    var holder = el("div", "chart");
    body.appendChild(holder);
    var c = echarts.init(holder, "dark", { renderer: "canvas" });
    charts[id] = c;
    return c;
  }
  var BASE = { backgroundColor: "transparent", animation: false, textStyle: { fontFamily: "inherit" } };
  function merge(a, b) { var o = {}; Object.keys(a).forEach(function (k) { o[k] = a[k]; }); Object.keys(b).forEach(function (k) { o[k] = b[k]; }); return o; }

  // --- panel renderers: return "ok" | "empty" | "info" -----------------------------------------
  function renderStat(meta, data, body) {
    var wrap = el("div", "stats");
    body.appendChild(wrap);
    var nums = numberColumns(data);
    if (!data.rows.length || !nums.length) return "empty";
    if (meta.perRow) {
      var label = firstText(data), value = nums[0];
      data.rows.forEach(function (row) {
        var tile = el("div", "stat bg");
        tile.style.background = thresholdColor(meta.thresholds, row[value]);
        tile.appendChild(el("div", "name", label >= 0 ? row[label] : ""));
        tile.appendChild(el("div", "value", fmt(row[value], unitOf(meta, data.columns[value]), meta.decimals)));
        wrap.appendChild(tile);
      });
    } else {
      var row = data.rows[0];
      nums.forEach(function (i) {
        var tile = el("div", "stat");
        var unit = unitOf(meta, data.columns[i]);
        tile.appendChild(el("div", "name", displayName(meta, data.columns[i])));
        var v = el("div", "value", fmt(row[i], unit, unit === "percentunit" ? 1 : meta.decimals));
        var fixed = override(meta, data.columns[i]).color;
        v.style.color = fixed && fixed.fixedColor ? color(fixed.fixedColor) : thresholdColor(meta.thresholds, row[i]);
        tile.appendChild(v);
        wrap.appendChild(tile);
      });
    }
    return "ok";
  }

  function cellColor(meta, column, value) {
    var o = override(meta, column);
    var cell = o["custom.cellOptions"];
    if (!cell || cell.type !== "color-background") return null;
    if (o.mappings) {
      for (var m = 0; m < o.mappings.length; m++) {
        var hit = (o.mappings[m].options || {})[value];
        if (hit && hit.color) return color(hit.color);
      }
    }
    if (o.thresholds && typeof value === "number") return thresholdColor(o.thresholds.steps, value);
    return null;
  }

  function renderTable(meta, data, body) {
    if (!data.rows.length) { body.appendChild(el("div", "note", "无数据")); return "empty"; }
    var table = el("table", "data"), head = el("tr");
    data.columns.forEach(function (c) { head.appendChild(el("th", null, displayName(meta, c))); });
    var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    var tbody = el("tbody");
    data.rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (value, i) {
        var column = data.columns[i];
        var td = el("td", typeof value === "number" ? "num" : null, fmt(value, unitOf(meta, column)));
        var bg = cellColor(meta, column, value);
        if (bg && bg !== "transparent") { td.style.background = bg; td.style.color = "#fff"; }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    body.appendChild(table);
    return "ok";
  }

  function renderTimeseries(meta, data, body, id) {
    if (!data.rows.length) { body.appendChild(el("div", "note", "无数据")); return "empty"; }
    var t = data.columns.indexOf("time"), label = firstText(data), nums = numberColumns(data);
    var times = [], seen = {}, series = {}, order = [];
    data.rows.forEach(function (row) {
      var ts = row[t];
      if (!(ts in seen)) { seen[ts] = times.length; times.push(ts); }
    });
    function add(name, index, value) {
      if (!series[name]) { series[name] = times.map(function () { return null; }); order.push(name); }
      series[name][index] = value;
    }
    data.rows.forEach(function (row) {
      var index = seen[row[t]];
      if (label >= 0) add(String(row[label]), index, row[nums[0]]);
      else nums.forEach(function (i) { add(data.columns[i], index, row[i]); });
    });
    var custom = meta.custom || {};
    var bars = custom.drawStyle === "bars";
    var stacked = custom.stacking && custom.stacking.mode === "normal";
    var rightUnit = null;
    var list = order.map(function (name, k) {
      var o = meta.overrides[name] || {};
      var right = o["custom.axisPlacement"] === "right";
      if (right) rightUnit = o.unit || null;
      var isBar = bars && o["custom.drawStyle"] !== "line";
      var fixed = o.color && o.color.fixedColor ? color(o.color.fixedColor) : SERIES[k % SERIES.length];
      return { name: name, type: isBar ? "bar" : "line", data: series[name], yAxisIndex: right ? 1 : 0,
               stack: stacked && !right && isBar ? "total" : undefined, showSymbol: false, connectNulls: true,
               itemStyle: { color: fixed }, lineStyle: { width: 2 }, barMaxWidth: 18 };
    });
    var yAxis = [{ type: "value", axisLabel: { formatter: function (v) { return fmt(v, meta.unit); } },
                   splitLine: { lineStyle: { color: "#2c3235" } } }];
    if (rightUnit !== null || list.some(function (s) { return s.yAxisIndex === 1; })) {
      yAxis.push({ type: "value", position: "right", splitLine: { show: false },
                   axisLabel: { formatter: function (v) { return fmt(v, rightUnit, 0); } } });
    }
    chart(body, id).setOption(merge(BASE, {
      tooltip: { trigger: "axis" },
      legend: { bottom: 0, textStyle: { color: "#d8d9da" }, type: "scroll" },
      grid: { left: 50, right: yAxis.length > 1 ? 50 : 16, top: 12, bottom: 48 },
      xAxis: { type: "category", data: times.map(cst), axisLabel: { color: "#8e8e8e" } },
      yAxis: yAxis,
      series: list
    }));
    var nonzero = list.some(function (s) { return s.data.some(function (v) { return typeof v === "number" && v !== 0; }); });
    return nonzero ? "ok" : "empty";
  }

  function labelled(data) {
    var label = firstText(data), nums = numberColumns(data);
    return data.rows.map(function (row) {
      return { name: label >= 0 ? String(row[label]) : "", value: nums.length ? row[nums[0]] : null };
    });
  }

  function renderBars(meta, items, body, id, unit) {
    if (!items.length) { body.appendChild(el("div", "note", "无数据")); return "empty"; }
    chart(body, id).setOption(merge(BASE, {
      tooltip: { trigger: "item", formatter: function (p) { return p.name + "：" + fmt(p.value, unit); } },
      grid: { left: 8, right: 56, top: 6, bottom: 6, containLabel: true },
      xAxis: { type: "value", splitLine: { lineStyle: { color: "#2c3235" } },
               axisLabel: { formatter: function (v) { return fmt(v, unit); } } },
      yAxis: { type: "category", inverse: true, data: items.map(function (i) { return i.name; }),
               axisLabel: { color: "#d8d9da" } },
      series: [{ type: "bar", barMaxWidth: 16, data: items.map(function (i) {
        return { value: i.value, itemStyle: { color: thresholdColor(meta.thresholds, i.value) } };
      }), label: { show: true, position: "right", color: "#d8d9da",
                  formatter: function (p) { return fmt(p.value, unit); } } }]
    }));
    return items.some(function (i) { return i.value; }) ? "ok" : "empty";
  }

  function renderPie(meta, data, body, id) {
    var items = labelled(data);
    if (!items.length) { body.appendChild(el("div", "note", "无数据")); return "empty"; }
    chart(body, id).setOption(merge(BASE, {
      tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
      legend: { orient: "vertical", right: 4, top: "middle", textStyle: { color: "#d8d9da" } },
      series: [{ type: "pie", radius: ["40%", "70%"], center: ["38%", "50%"],
                 label: { color: "#d8d9da", formatter: "{c}" },
                 data: items.map(function (i) {
                   var o = meta.overrides[i.name] || {};
                   var fixed = o.color && o.color.fixedColor ? { color: color(o.color.fixedColor) } : undefined;
                   return { name: i.name, value: i.value, itemStyle: fixed };
                 }) }]
    }));
    return items.some(function (i) { return i.value; }) ? "ok" : "empty";
  }

  function renderPrometheus(meta, body, id) {
    if (meta.metrics && meta.metrics.rows.length) {
      body.appendChild(el("div", "note", "指标快照（当前累计值）"));
      var inner = el("div", "pbody"); inner.style.height = "calc(100% - 22px)"; body.appendChild(inner);
      return renderBars(meta, meta.metrics.rows.map(function (r) { return { name: r[0], value: r[1] }; }), inner, id, null);
    }
    body.appendChild(el("div", "note", "Prometheus 数据源：预览不含实时指标，Grafana 中按以下查询显示"));
    (meta.promql || []).forEach(function (q) { body.appendChild(el("code", null, q.expr)); });
    return "info";
  }

  function renderPanel(board, meta, key, grid) {
    var box = el("div", "panel");
    var g = meta.gridPos || { x: 0, y: 0, w: 12, h: 8 };
    box.style.gridColumn = (g.x + 1) + " / span " + g.w;
    box.style.gridRow = (g.y + 1) + " / span " + g.h;
    box.dataset.uid = board.uid;
    box.dataset.panel = meta.id;
    var title = el("div", "ptitle", meta.title);
    if (meta.description) title.title = meta.description;
    box.appendChild(title);
    var body = el("div", "pbody");
    box.appendChild(body);
    grid.appendChild(box);
    var id = board.uid + "-" + meta.id, state;
    try {
      if (meta.datasource !== "grafana-clickhouse-datasource") {
        state = renderPrometheus(meta, body, id);
      } else {
        var data = meta.data[key];
        if (!data || data.error) {
          body.appendChild(el("div", "error", "查询失败：" + (data ? data.error : "无数据")));
          state = "error";
        } else if (meta.type === "stat") state = renderStat(meta, data, body);
        else if (meta.type === "table") state = renderTable(meta, data, body);
        else if (meta.type === "timeseries") state = renderTimeseries(meta, data, body, id);
        else if (meta.type === "bargauge") state = renderBars(meta, labelled(data), body, id, meta.unit);
        else if (meta.type === "piechart") state = renderPie(meta, data, body, id);
        else { body.appendChild(el("div", "note", "不支持的面板类型 " + meta.type)); state = "error"; }
      }
    } catch (err) {
      body.appendChild(el("div", "error", "渲染失败：" + err));
      state = "error";
    }
    box.dataset.state = state;
    return state;
  }

  function renderBoard(board, section, key) {
    var grid = section.querySelector(".grid");
    Array.prototype.forEach.call(grid.querySelectorAll(".panel"), function (node) {
      var c = charts[node.dataset.uid + "-" + node.dataset.panel];
      if (c) { c.dispose(); delete charts[node.dataset.uid + "-" + node.dataset.panel]; }
    });
    grid.innerHTML = "";
    board.panels.forEach(function (meta) {
      if (meta.type === "row") {
        var r = el("div", "row-title", meta.title);
        r.style.gridRow = ((meta.gridPos || {}).y + 1) + " / span 1";
        grid.appendChild(r);
        return;
      }
      var state = renderPanel(board, meta, key, grid);
      var name = board.title + " / " + meta.title;
      report.states[name] = state;
      if (state === "error") report.failed.push(name);
    });
  }

  var nav = document.getElementById("nav"), main = document.getElementById("main");
  page.dashboards.forEach(function (board) {
    var section = el("section", "dashboard");
    section.id = board.uid;
    section.appendChild(el("h1", null, board.title));
    if (board.description) section.appendChild(el("div", "desc", board.description));
    var link = el("a", null, board.title); link.href = "#" + board.uid; nav.appendChild(link);
    var key = board.variants[0].key;
    if (board.variants.length > 1) {
      var vars = el("div", "vars", "县市 ");
      var select = el("select");
      board.variants.forEach(function (v) {
        var option = el("option", null, v.label); option.value = v.key; select.appendChild(option);
        report.counties.push(v.label);
      });
      select.addEventListener("change", function () { renderBoard(board, section, select.value); });
      vars.appendChild(select);
      vars.appendChild(document.createTextNode(" 乡镇 全部"));
      section.appendChild(vars);
    }
    section.appendChild(el("div", "grid"));
    main.appendChild(section);
    renderBoard(board, section, key);
    report.panels += board.panels.filter(function (p) { return p.type !== "row"; }).length;
  });
  report.rendered = Object.keys(report.states).filter(function (k) { return report.states[k] !== "error"; }).length;
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  report.errors = window.__previewErrors;
  var out = document.getElementById("preview-report");
  out.textContent = JSON.stringify(report);
  document.body.dataset.preview = "done";
})();
