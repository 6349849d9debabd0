// HOPE dashboard: draws the view the server keeps (hope/dashboard/model.py) with Plotly.
// Live mode: a snapshot and then every update over server-sent events (/api/stream); after a
// reconnect the server resumes after the last update id seen. Report mode (hope report --html):
// the same drawing from data embedded in the page, no server. Numbers arrive formatted
// (hope/dashboard/numbers.py); this file only draws them.
(function () {
  "use strict";
  const MODE = document.body.dataset.mode || "live";
  const KINDS = ["SIGNAL", "BUY", "SKIP", "ORDER", "FILL", "CLOSE"];
  const STYLE = {
    SIGNAL: { symbol: "circle-open", color: "#f59e0b", size: 11 },
    BUY: { symbol: "triangle-up", color: "#15803d", size: 12 },
    SKIP: { symbol: "x-thin-open", color: "#6b7280", size: 9 },
    ORDER: { symbol: "square-open", color: "#2563eb", size: 10 },
    FILL: { symbol: "diamond", color: "#7c3aed", size: 8 },
    CLOSE: { symbol: "triangle-down", color: "#b91c1c", size: 12 },
  };
  const CLOSE_COLOR = { take_profit: "#15803d", stop_loss: "#b91c1c", timeout: "#6b7280",
                        flatten: "#111827" };
  const PLOT = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const BASE = { margin: { l: 70, r: 10, t: 26, b: 30 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
                 font: { size: 11 }, showlegend: true, legend: { orientation: "h", y: 1.14 } };
  const api = { state: null, lastEventId: null, snapshots: 0, updates: 0, resumed: 0,
                source: null, rendered: 0 };
  window.hopeDashboard = api;
  const dirty = { symbols: new Set(), all: true };
  let timer = null;

  const $ = (id) => document.getElementById(id);
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function table(id, head, rows) {
    const t = $(id);
    t.replaceChildren();
    const tr = el("tr");
    head.forEach((h) => tr.appendChild(el("th", h)));
    t.appendChild(el("thead")).appendChild(tr);
    const body = t.appendChild(el("tbody"));
    rows.forEach((r) => {
      const row = body.appendChild(el("tr"));
      r.forEach((c) => row.appendChild(c instanceof Node ? wrap(c) : el("td", c)));
    });
  }
  function wrap(node) { const td = el("td"); td.appendChild(node); return td; }
  function traceLink(cid) {
    const a = el("a", "trace");
    a.href = MODE === "report" ? "#trace-" + cid : "/trace/" + encodeURIComponent(cid);
    return a;
  }

  // --- applying updates --------------------------------------------------------------------
  function symbolView(sym) {
    const s = api.state.symbols;
    if (!s[sym]) {
      s[sym] = { prices: [], markers: {} };
      KINDS.forEach((k) => { s[sym].markers[k] = []; });
    }
    return s[sym];
  }
  function upsert(list, key, item) {
    const i = list.findIndex((x) => x[key] === item[key]);
    if (i >= 0) list[i] = item; else list.push(item);
  }
  const APPLY = {
    price(u) { symbolView(u.symbol).prices.push([u.t, u.price]); dirty.symbols.add(u.symbol); },
    marker(u) { symbolView(u.symbol).markers[u.marker_kind].push(u.marker); dirty.symbols.add(u.symbol); },
    trade(u) { api.state.trades.push(u.trade); api.state.stats[u.quote] = u.stats; },
    position(u) { upsert(api.state.positions, "order_id", u.position); },
    position_closed(u) { api.state.positions = api.state.positions.filter((p) => p.order_id !== u.order_id); },
    latency(u) { api.state.latency[u.stage].push(u.ms); },
    health(u) { upsert(api.state.health, "service", u.service); },
    rates(u) { api.state.rates = u.rates; },
    breakers(u) { api.state.breakers = u.breakers; },
    dlq(u) { api.state.dlq = u.dlq; },
    feed(u) { api.state.feed = u.feed; if (u.lag_point) api.state.feed_lag.push(u.lag_point); },
    trading(u) { api.state.trading = u.trading; },
    dead_letter(u) { api.state.dead_letters.push(u.letter); },
    alert(u) { api.state.alerts.push(u.alert); },
    controls(u) { api.state.controls = u.controls; },
    resync() { api.disconnect(); api.lastEventId = null; connect(); },
  };
  function apply(u) { const f = APPLY[u.kind]; if (f) f(u); }

  // --- drawing -----------------------------------------------------------------------------
  function schedule() {
    if (timer === null) timer = setTimeout(render, 150);
  }
  function render() {
    timer = null;
    if (!api.state || !window.Plotly) return;
    const syms = dirty.all ? Object.keys(api.state.symbols) : [...dirty.symbols];
    syms.forEach(drawSymbol);
    drawEquity(); drawLatency(); drawRates(); drawFeed(); drawTables();
    dirty.symbols.clear();
    dirty.all = false;
    api.rendered += 1;
  }
  function drawSymbol(sym) {
    const view = api.state.symbols[sym];
    let div = $("chart-" + sym);
    if (!div) {
      div = el("div", null, "chart price-chart");
      div.id = "chart-" + sym;
      div.dataset.symbol = sym;
      $("markets").appendChild(div);
    }
    const prices = view.prices.slice().sort((a, b) => a[0] - b[0]);
    const traces = [{ name: "price", type: "scatter", mode: "lines", line: { width: 1, color: "#374151" },
                      x: prices.map((p) => p[0] * 1000), y: prices.map((p) => p[1]),
                      hovertemplate: "%{y}<extra>" + sym + "</extra>" }];
    KINDS.forEach((k) => {
      const ms = view.markers[k] || [];
      const st = STYLE[k];
      traces.push({ name: k, type: "scatter", mode: "markers", x: ms.map((m) => m.t * 1000),
                    y: ms.map((m) => m.price), text: ms.map((m) => m.label),
                    hovertemplate: "%{text}<extra></extra>",
                    marker: { symbol: st.symbol, size: st.size, line: { width: 1.5 },
                              color: k === "CLOSE" ? ms.map((m) => CLOSE_COLOR[m.reason] || st.color) : st.color } });
    });
    const layout = Object.assign({}, BASE, { title: { text: sym, x: 0.01, font: { size: 13 } },
      xaxis: { type: "date" }, yaxis: { exponentformat: "none", hoverformat: ",.8~f" } });
    Plotly.react(div, traces, layout, PLOT);
  }
  function drawEquity() {
    const byQuote = {};
    const when = (t) => (t.wall || t.t) * 1000; // the equity curve runs on the wall clock
    const span = api.state.wall_span || [];
    const start = span[0] ? span[0] * 1000 : null;
    const end = MODE === "live" ? Date.now() : (span[1] ? span[1] * 1000 : null);
    api.state.trades.slice().sort((a, b) => when(a) - when(b)).forEach((t) => {
      const x0 = start !== null ? Math.min(start, when(t)) : when(t);
      const q = byQuote[t.quote] || (byQuote[t.quote] = { x: [x0], y: [0], text: ["start"], sum: 0 });
      q.sum += t.pnl;
      q.x.push(when(t)); q.y.push(q.sum); q.text.push(t.symbol + " " + t.reason + " " + t.text.pnl);
    });
    Object.values(byQuote).forEach((q) => {
      if (end !== null && end > q.x[q.x.length - 1]) { q.x.push(end); q.y.push(q.sum); q.text.push("now"); }
    });
    const traces = Object.entries(byQuote).map(([quote, q]) => ({
      name: quote, type: "scatter", mode: "lines+markers", line: { shape: "hv" }, x: q.x, y: q.y,
      text: q.text, hovertemplate: "%{text}<br>total %{y}<extra>" + quote + "</extra>" }));
    Plotly.react($("equity"), traces, Object.assign({}, BASE, { xaxis: { type: "date" },
      yaxis: { exponentformat: "none", hoverformat: ",.8~f", zeroline: true } }), PLOT);
    table("stats", ["quote", "realised P&L", "fees", "closes", "win rate"],
      Object.entries(api.state.stats).map(([q, s]) => [q, s.text.pnl, s.text.fees, s.text.closes, s.text.win_rate]));
  }
  function drawLatency() {
    const traces = Object.entries(api.state.latency).map(([stage, xs]) => ({
      name: stage + " (" + xs.length + ")", type: "histogram", x: xs, opacity: 0.65, nbinsx: 40 }));
    Plotly.react($("latency"), traces, Object.assign({}, BASE, { barmode: "overlay",
      xaxis: { title: { text: "ms" } }, yaxis: { title: { text: "events" } } }), PLOT);
  }
  function drawRates() {
    const r = Object.entries(api.state.rates);
    Plotly.react($("rates"), [{ type: "bar", x: r.map((e) => e[0]), y: r.map((e) => e[1].per_s),
      text: r.map((e) => e[1].text), textposition: "auto", hovertemplate: "%{x}: %{text}<extra></extra>",
      marker: { color: "#2563eb" } }], Object.assign({}, BASE, { showlegend: false,
      yaxis: { title: { text: "events/s" } } }), PLOT);
  }
  function drawFeed() {
    const f = api.state.feed;
    const box = $("feed");
    box.replaceChildren();
    if (!f) {
      box.appendChild(el("p", "Replay of recorded data: no live feed, so no lag or gaps to show.", "muted"));
      $("feed-lag").hidden = true;
      return;
    }
    $("feed-lag").hidden = false;
    box.appendChild(el("p", `connections up ${f.connections_up}/${f.connections} · lag p50 ${f.text.lag_p50}, p99 ${f.text.lag_p99} · id gaps ${f.id_gaps ?? "–"} · backfilled ${f.backfilled_trades ?? "–"} · lost ${f.lost_trades ?? "–"} · down ${f.text.down}` + (f.stale.length ? " · stale: " + f.stale.join(", ") : "")));
    const pts = api.state.feed_lag;
    Plotly.react($("feed-lag"), [{ name: "lag p99 (s)", type: "scatter", mode: "lines",
      x: pts.map((p) => p[0] * 1000), y: pts.map((p) => p[1]) }],
      Object.assign({}, BASE, { margin: { l: 50, r: 10, t: 10, b: 25 }, xaxis: { type: "date" } }), PLOT);
  }
  function drawTables() {
    const s = api.state;
    table("positions", ["", "symbol", "quantity", "entry", "last", "unrealised"],
      s.positions.map((p) => [traceLink(p.cid), p.symbol, p.text.quantity, p.text.entry, p.text.last, p.text.unrealised]));
    table("trades", ["", "market time", "symbol", "reason", "P&L", "qty", "entry", "exit", "held"],
      s.trades.slice(-200).reverse().map((t) => [traceLink(t.cid), new Date(t.t * 1000).toISOString().slice(5, 19).replace("T", " "),
        t.symbol, t.reason, t.text.pnl, t.text.quantity, t.text.entry, t.text.exit, t.text.held]));
    const now = Date.now() / 1000;
    table("health", ["service", "status", "host", "pid", "uptime", "last beat"], s.health.map((h) => {
      const age = h.last_beat ? now - h.last_beat : null;
      const status = MODE === "live" && age !== null && age > s.down_after_s ? "DOWN" : (h.status || "?");
      return [h.service, el("span", status, "badge " + status), h.host || "–", h.pid || "–",
              (h.text && h.text.uptime) || "–", age === null ? "–" : Math.round(age) + " s ago"];
    }));
    const br = [];
    Object.entries(s.breakers).forEach(([svc, m]) => Object.entries(m).forEach(([n, st]) => br.push(`${svc}/${n}: ${st}`)));
    $("breakers").textContent = br.length ? "breakers: " + br.join(", ") : "";
    $("dlq").textContent = Object.entries(s.dlq).map((e) => e[0] + " " + e[1]).join(", ");
    table("dead-letters", ["at", "service", "handler", "topic", "attempt", "error"],
      s.dead_letters.slice(-50).reverse().map((d) => [d.at, d.service, d.handler, d.topic, d.attempt, d.error]));
    table("alerts", ["at", "source", "kind", "detail"],
      s.alerts.slice(-50).reverse().map((a) => [a.at, a.source, a.kind, a.detail]));
    const st = s.trading.state || "UNKNOWN";
    $("trading").textContent = "trading: " + st;
    $("trading").className = "badge " + st;
    $("trading-state").textContent = st;
    const lc = s.trading.last_command;
    $("trading-detail").textContent = (s.trading.by ? "by " + s.trading.by : "") +
      (lc ? ` · last command ${lc.command} from ${lc.source} at ${lc.at}` : "");
    const ctl = s.controls || {};
    $("resume-button").disabled = !ctl.resume_allowed;
    $("resume-button").title = ctl.resume_allowed ? "" : "CLI-only: hope trading resume";
    if (s.range) $("range").textContent = s.range;
    if (MODE === "report") drawTraces();
  }
  function drawTraces() {
    const box = $("traces");
    if (box.childElementCount) return;
    $("traces-section").hidden = false;
    Object.entries(api.state.traces || {}).forEach(([cid, hops]) => {
      const d = el("details");
      d.id = "trace-" + cid;
      d.appendChild(el("summary", `${cid} (${hops.length} events)`));
      const t = el("table");
      hops.forEach((h) => {
        const tr = t.appendChild(el("tr"));
        [h.event_type, h.timestamp, h.source, h.text].forEach((c) => tr.appendChild(el("td", c)));
      });
      d.appendChild(t);
      box.appendChild(d);
    });
  }

  // --- the kill switch ---------------------------------------------------------------------
  function wireControls() {
    if (MODE !== "live") { $("controls-panel").classList.add("readonly"); return; }
    $("controls").addEventListener("submit", (e) => e.preventDefault());
    document.querySelectorAll("#controls button").forEach((b) => b.addEventListener("click", async () => {
      const action = b.dataset.action;
      const out = $("control-result");
      if (!window.confirm(`${action.toUpperCase()} trading? This is sent to the gateway with your control token.`)) return;
      const resp = await fetch("/api/control/" + action, { method: "POST", headers: {
        "Content-Type": "application/json", "X-Hope-Control-Token": $("control-token").value.trim() },
        body: JSON.stringify({ confirm: action }) });
      const body = await resp.json().catch(() => ({}));
      out.textContent = resp.ok ? `${action}: done, state ${(body.answer || {}).state}` :
        `${action} refused (${resp.status}): ${body.error || (body.answer || {}).error || "?"}`;
      out.className = resp.ok ? "pos" : "neg";
    }));
  }

  // --- live stream -------------------------------------------------------------------------
  function connect() {
    const url = "/api/stream" + (api.lastEventId ? "?last_event_id=" + encodeURIComponent(api.lastEventId) : "");
    const es = new EventSource(url);
    api.source = es;
    es.addEventListener("snapshot", (e) => {
      api.lastEventId = e.lastEventId;
      api.state = JSON.parse(e.data).snapshot;
      api.snapshots += 1;
      dirty.all = true;
      schedule();
    });
    es.addEventListener("resumed", () => { api.resumed += 1; });
    es.onmessage = (e) => {
      api.lastEventId = e.lastEventId;
      JSON.parse(e.data).updates.forEach(apply);
      api.updates += 1;
      schedule();
    };
    es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "badge live"; };
    es.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "badge lost"; };
  }
  api.connect = connect;
  api.disconnect = () => { if (api.source) api.source.close(); api.source = null;
                           $("conn").textContent = "disconnected"; $("conn").className = "badge lost"; };

  function start() {
    wireControls();
    if (MODE === "report") {
      $("conn").textContent = "report (offline)";
      api.state = JSON.parse($("hope-data").textContent);
      api.snapshots = 1;
      render();
    } else {
      connect();
      setInterval(() => { if (api.state) drawTables(); }, 2000); // ages of heartbeats
    }
  }
  start();
})();
