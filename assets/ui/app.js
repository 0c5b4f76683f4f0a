// Sluice's dashboard. It reads /ui/events (Server-Sent Events: "history",
// "snap" once a second, "rec" per finished request) and asks /ui/api/...
// for the rest; nothing else is fetched, from anywhere.
"use strict";

const SPAN = 300; // seconds of chart: one point a second, 5 minutes
const $ = (sel) => document.querySelector(sel);

// ---- formatting ----
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function bytes(n) {
  if (n == null) return "—";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 1 : 0)) + " " + u[i];
}
function ms(v) {
  if (!v) return "—";
  if (v < 10) return v.toFixed(2) + " ms";
  if (v < 1000) return v.toFixed(0) + " ms";
  return (v / 1000).toFixed(2) + " s";
}
function pct(r) { return r == null ? "—" : (r * 100).toFixed(0) + "%"; }
function clock(t) {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

// ---- charts ----
const points = [[], [], [], [], [], [], [], [], [], []]; // t, rps, eps, in, out, p50, p95, p99, conns, tunnels
const charts = [];
function chart(el, series, fmt) {
  const opts = {
    width: el.clientWidth || 400, height: 170,
    scales: { x: { time: true } },
    legend: { live: true },
    series: [{}].concat(series.map((s) => ({ label: s[0], stroke: s[1], width: 1.5, value: (u, v) => v == null ? "—" : fmt(v) }))),
    axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => (v === 0 ? "0" : fmt(v))) }],
  };
  const idx = series.map((s) => s[2]);
  const u = new uPlot(opts, [points[0]].concat(idx.map((i) => points[i])), el);
  charts.push({ u, idx, el });
}
function redrawCharts() {
  for (const c of charts) c.u.setData([points[0]].concat(c.idx.map((i) => points[i])));
}
function addPoint(p) {
  for (let i = 0; i < points.length; i++) points[i].push(p[i]);
  if (points[0].length > SPAN) for (const a of points) a.shift();
}
function setupCharts() {
  const num = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  chart($("#chart-rps"), [["requests/s", "#2563eb", 1], ["errors/s", "#dc2626", 2]], num);
  chart($("#chart-bytes"), [["in /s", "#059669", 3], ["out /s", "#7c3aed", 4]], (v) => bytes(v) + "/s");
  chart($("#chart-latency"), [["p50", "#2563eb", 5], ["p95", "#d97706", 6], ["p99", "#dc2626", 7]], ms);
  chart($("#chart-conns"), [["connections", "#2563eb", 8], ["tunnels", "#059669", 9]], (v) => v.toFixed(0));
  window.addEventListener("resize", resizeCharts);
}
function resizeCharts() {
  for (const c of charts) c.u.setSize({ width: c.el.clientWidth, height: 170 });
}

// ---- snapshot ----
let history = 1000;
function showSnap(s) {
  addPoint([s.t / 1000, s.rps, s.eps, s.in, s.out, s.p50, s.p95, s.p99, s.conns, s.tunnels]);
  redrawCharts();
  history = s.history || history;
  $("#summary").textContent = `${s.requests.toLocaleString()} requests · ${s.errors.toLocaleString()} failed · error rate (10 s) ${pct(s.error_rate)} · ${s.watchers} page${s.watchers === 1 ? "" : "s"} watching`;
  const ce = $("#config-error");
  ce.hidden = !s.config_error;
  ce.textContent = s.config_error ? "Config error (the last good config is running): " + s.config_error : "";
  const al = $("#alerts");
  al.hidden = !s.alerts.length;
  al.textContent = s.alerts.join("\n");
  $("#dns-figures").textContent = s.dns
    ? `${s.dns.entries.toLocaleString()} names · hit ratio ${pct(s.dns.hits + s.dns.misses ? s.dns.hit_ratio : null)} (${s.dns.hits.toLocaleString()} hits, ${s.dns.misses.toLocaleString()} misses)`
    : "Sluice's resolver is off ([dns] enabled = false): the system resolves names.";
  $("#dns-flush").disabled = !s.dns;
  const p = s.pool;
  $("#pool-figures").textContent = `${p.idle} idle · reuse ratio ${pct(p.reused + p.dialed ? p.reuse_ratio : null)} (${p.reused.toLocaleString()} reused, ${p.dialed.toLocaleString()} dialed)`;
}

// ---- traffic ----
let records = [];
let selected = 0;
let dirty = false;
let shownRows = "";
function statusClass(r) {
  if (r.err !== "none") return "failed s" + Math.floor(r.status / 100);
  return "s" + Math.floor(r.status / 100);
}
function matches(r, text, cls) {
  if (cls === "err" && r.err === "none") return false;
  if (cls && cls !== "err" && String(Math.floor(r.status / 100)) !== cls) return false;
  if (!text) return true;
  const hay = `${r.client} ${r.method} ${r.host}:${r.port} ${r.path} ${r.status} ${r.route} ${r.cache} ${r.err}`.toLowerCase();
  return text.split(/\s+/).every((w) => hay.includes(w));
}
function target(r) {
  if (r.tunnel && r.method === "CONNECT") return "";
  return r.path || "/";
}
function render() {
  dirty = false;
  if ($("#pause").checked) return;
  const text = $("#filter").value.trim().toLowerCase();
  const cls = $("#status-class").value;
  const rows = [];
  let shown = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (!matches(r, text, cls)) continue;
    shown++;
    rows.push(`<tr data-id="${r.id}" class="${statusClass(r)}${r.id === selected ? " selected" : ""}">` +
      `<td>${clock(r.time)}</td><td>${esc(r.client)}</td><td>${esc(r.method)}</td><td>${esc(r.host)}${r.port && r.port !== "80" ? ":" + esc(r.port) : ""}</td>` +
      `<td class="path" title="${esc(target(r))}">${esc(target(r))}</td><td class="status">${r.status || "—"}${r.err !== "none" ? " " + esc(r.err) : ""}</td>` +
      `<td>${bytes(r.out)}</td><td>${ms(r.dur)}</td><td>${esc(r.route)}</td><td>${esc(r.cache || "—")}</td></tr>`);
  }
  // Rewrite the rows only when they changed: a row being clicked must not
  // be replaced under the pointer by an identical one.
  const html = rows.join("");
  if (html !== shownRows) {
    $("#requests tbody").innerHTML = html;
    shownRows = html;
  }
  $("#traffic-count").textContent = `(${shown} of ${records.length} kept)`;
}
function scheduleRender() {
  if (!dirty) { dirty = true; setTimeout(render, 200); }
}
function addRecord(r) {
  records.push(r);
  if (records.length > history) records.splice(0, records.length - history);
  scheduleRender();
}

// ---- details ----
function headText(h) {
  if (!h) return null;
  return [h.line].concat(h.fields.map((f) => f[0] + ": " + f[1])).join("\n");
}
async function showDetails(id) {
  selected = id;
  render();
  const res = await fetch(`/ui/api/records/${id}`);
  const d = await res.json();
  const box = $("#details");
  if (box.hidden) {
    // The panel docks beside the page rather than over it.
    box.hidden = false;
    document.body.classList.add("with-details");
    resizeCharts();
  }
  if (!res.ok) {
    $("#details-title").textContent = d.error;
    return;
  }
  const r = d.record;
  $("#details-title").textContent = `${r.method} ${r.tunnel && r.method === "CONNECT" ? r.host + ":" + r.port : (r.scheme ? r.scheme + "://" : "") + r.host + (r.port && r.port !== "80" ? ":" + r.port : "") + r.path}`;
  const rows = [
    ["Started", new Date(r.time).toLocaleString()],
    ["Status", `${r.status || "none sent"}${r.err !== "none" ? " (" + r.err + ")" : ""}`],
    ["Client", r.client],
    ["Route", r.route],
    ["Cache", r.cache || "—"],
    ["DNS", r.reused ? "— (pooled connection)" : (r.dns ? ms(r.dns) + ", " : "") + (r.dns_cached ? "from the cache" : "asked a server")],
    ["Connect", r.reused ? "— (pooled connection)" : ms(r.connect) + (r.connect ? " (DNS included)" : "")],
    ["TLS", r.tls ? ms(r.tls) : "—"],
    ["First byte", ms(r.ttfb)],
    ["Total", ms(r.dur)],
    ["Bytes", `${bytes(r.in)} in · ${bytes(r.out)} out`],
  ];
  $("#details-timings").innerHTML = rows.map((x) => `<tr><td>${esc(x[0])}</td><td>${esc(x[1])}</td></tr>`).join("");
  const none = r.method === "CONNECT" ? "A tunnel: its content is the client's own (encrypted) traffic." :
    r.err !== "none" ? "None: Sluice answered this request itself." : "Not captured.";
  $("#details-request").textContent = headText(d.request) || none;
  $("#details-response").textContent = headText(d.response) || none;
  $("#details-note").textContent = d.truncated ? "Headers longer than 1 KiB are cut." : "";
}

// ---- panels ----
async function refreshPanels() {
  try {
    const dns = await (await fetch("/ui/api/dns")).json();
    $("#dns-names tbody").innerHTML = dns.names.map((n) =>
      `<tr><td>${esc(n.name)}</td><td>${esc(n.addrs.join(", ") || "no address")}</td><td>${n.ttl_s >= 0 ? Math.round(n.ttl_s) + " s" : "expired (stale)"}</td></tr>`).join("");
    const pool = await (await fetch("/ui/api/pool")).json();
    $("#pool-hosts tbody").innerHTML = pool.hosts.map((h) => `<tr><td>${esc(h.host)}</td><td>${h.idle}</td></tr>`).join("");
    const ups = await (await fetch("/ui/api/upstreams")).json();
    $("#upstreams tbody").innerHTML = ups.upstreams.map((u) =>
      `<tr><td>${esc(u.name)}</td><td>${esc(u.addr)}</td><td>${u.up ? "up" : "down" + (u.last_error ? ": " + esc(u.last_error) : "")}</td><td>${u.requests}</td><td>${u.errors}</td></tr>`).join("");
    $("#upstreams-note").textContent = ups.routing ? "" : "No routing configured: every request goes direct.";
  } catch (e) {
    // The stream's status pill says when Sluice is unreachable.
  }
}

// ---- the stream ----
function connect() {
  const es = new EventSource("/ui/events");
  const pill = $("#conn");
  es.onopen = () => { pill.textContent = "live"; pill.className = "pill live"; };
  es.onerror = () => { pill.textContent = "reconnecting…"; pill.className = "pill down"; };
  es.addEventListener("history", (e) => {
    // Each connection starts with the charts' points and then every
    // record the ring holds: start over rather than doubling them.
    for (const a of points) a.length = 0;
    for (const p of JSON.parse(e.data)) addPoint(p);
    redrawCharts();
    records = [];
    scheduleRender();
  });
  es.addEventListener("snap", (e) => showSnap(JSON.parse(e.data)));
  es.addEventListener("rec", (e) => addRecord(JSON.parse(e.data)));
  es.addEventListener("dropped", () => {
    pill.textContent = "fell behind; reconnecting…";
    pill.className = "pill down";
    es.close();
    setTimeout(connect, 1000);
  });
}

function main() {
  setupCharts();
  $("#filter").addEventListener("input", render);
  $("#status-class").addEventListener("change", render);
  $("#pause").addEventListener("change", render);
  $("#requests tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr) showDetails(Number(tr.dataset.id));
  });
  $("#details-close").addEventListener("click", () => {
    $("#details").hidden = true;
    document.body.classList.remove("with-details");
    resizeCharts();
    selected = 0;
    render();
  });
  $("#dns-flush").addEventListener("click", async () => {
    await fetch("/ui/api/dns/flush", { method: "POST", headers: { "X-Sluice-Dashboard": "1" } });
    refreshPanels();
  });
  connect();
  refreshPanels();
  setInterval(refreshPanels, 5000);
}

// For tests and the curious: what the page holds now.
window.sluiceDash = { points: () => points[0].length, records: () => records.length };
main();
