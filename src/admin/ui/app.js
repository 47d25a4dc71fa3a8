// The live page: polls /api/live once a second for the rows it has not seen, keeps the
// last 15 minutes of every series, and draws each panel (charts with uPlot).
"use strict";

const WINDOW_SECONDS = 900;
// Rows are asked again from a few seconds back, so a row recorded while the last answer
// was being written is not missed; the overlap replaces what the page already has.
const OVERLAP_SECONDS = 5;
const COLORS = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#3949ab"];

const store = {}; // "panel/subject" -> {info, rows: {t: [], column: []}}
const charts = {}; // chart id -> {plot, labels}
let since = 0;
let selectedTrace = null;
let selectedSpan = null;

const $ = (selector, root = document) => root.querySelector(selector);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "onclick") e.onclick = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
};
const fixed = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits));
const last = (rows, column) => {
  const values = rows[column] || [];
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
};
const bytes = (v) => (v === null ? "–" : v >= 2 ** 30 ? `${fixed(v / 2 ** 30)} GiB` : `${fixed(v / 2 ** 20)} MiB`);

// Appends new rows to a subject's series, replacing the overlap and dropping what is
// older than the window.
function merge(key, entry, now) {
  const held = store[key] || (store[key] = { info: null, rows: { t: [] } });
  held.info = entry.info;
  const incoming = entry.rows;
  const first = incoming.t.length ? incoming.t[0] : Infinity;
  const keepUntil = held.rows.t.findIndex((t) => Math.floor(t) >= Math.floor(first));
  const cut = keepUntil === -1 ? held.rows.t.length : keepUntil;
  const oldest = held.rows.t.findIndex((t) => t >= now - WINDOW_SECONDS);
  const from = oldest === -1 ? cut : Math.min(oldest, cut);
  const length = held.rows.t.length;
  for (const column of Object.keys(incoming)) {
    const kept = (held.rows[column] || new Array(length).fill(null)).slice(from, cut);
    held.rows[column] = kept.concat(incoming[column]);
  }
}

// Draws `marks` [{t, label}] as red vertical lines over a chart's plot area.
function drawMarks(u, marks) {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.strokeStyle = "#d32f2f";
  ctx.fillStyle = "#d32f2f";
  ctx.setLineDash([4, 3]);
  ctx.font = `${10 * devicePixelRatio}px sans-serif`;
  for (const m of marks || []) {
    const x = u.valToPos(m.t, "x", true);
    if (x < left || x > left + width) continue;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.fillText(m.label, x + 3, top + 10 * devicePixelRatio);
  }
  ctx.restore();
}

// Draws (or updates) one chart of `lines` [{label, values}] over `xs` in `container`,
// with `marks` [{t, label}] (events) as vertical lines.
function chart(container, id, title, xs, lines, unit = "", marks = []) {
  if (typeof uPlot === "undefined") return; // built without npm: numbers only
  const labels = lines.map((l) => l.label).join("|");
  let c = charts[id];
  if (c && (c.labels !== labels || !container.contains(c.root))) {
    c.plot.destroy();
    c.root.remove();
    c = null;
  }
  const data = [xs, ...lines.map((l) => l.values)];
  if (!c) {
    const root = el("div", { class: "chart", "data-chart": id }, el("h3", {}, title));
    container.append(root);
    const width = Math.max(260, Math.min(420, container.clientWidth / 2 - 8));
    const opts = {
      width, height: 140,
      series: [{}, ...lines.map((l, i) => ({
        label: l.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false,
        value: (u, v) => (v === null ? "–" : `${fixed(v, 2)}${unit}`),
      }))],
      axes: [{}, { size: 50 }],
      legend: { live: false },
      hooks: { draw: [(u) => drawMarks(u, charts[id] && charts[id].marks)] },
    };
    c = charts[id] = { plot: null, labels, root, marks };
    c.plot = new uPlot(opts, data, root);
  } else {
    c.marks = marks;
    c.plot.setData(data);
  }
}

// Sets a panel's state and, without data, says why.
function explain(panel, section, hasData, noComponent) {
  section.dataset.state = hasData ? "data" : "empty";
  if (hasData) return;
  const notes = Object.entries(panel.notes || {}).map(([c, why]) => `${c}: ${why}`);
  $(".why", section).textContent = !panel.components.length
    ? noComponent
    : notes.length ? notes.join("; ") : `waiting for data from ${panel.components.join(", ")}`;
}

function subjects(panel, name, now) {
  return Object.entries(panel.series).map(([key, entry]) => {
    merge(`${name}/${key}`, entry, now);
    return [key, store[`${name}/${key}`]];
  });
}

function renderPipeline(panel, now) {
  const section = $("#pipeline");
  const [process] = subjects(panel, "pipeline", now).map(([, s]) => s);
  explain(panel, section, Boolean(process && process.rows.t.length > 1), "");
  if (!process) return;
  const { info, rows } = process;
  const scopes = info.components;
  const rate = (kind, component, counter, pipeline) => scopes
    .filter((s) => s.kind === kind && s.component === component && (pipeline === undefined || s.pipeline === pipeline))
    .reduce((sum, s) => sum + (s.per_second[counter] || 0), 0);
  const kindOf = (id) => (scopes.some((s) => s.kind === "connector" && s.component === id) ? "connector" : null);
  const node = (kind, id, pipeline) => {
    const k = kindOf(id) || kind;
    const inRate = k === "exporter" ? rate(k, id, "sent") : rate(k, id, "accepted", k === "processor" ? pipeline : undefined);
    const bad = ["refused", "failed", "dropped"].map((c) => [c, rate(k, id, c, k === "processor" ? pipeline : undefined)])
      .filter(([, v]) => v > 0).map(([c, v]) => `${c} ${fixed(v)}/s`).join(" ");
    return el("span", { class: `node ${k}`, title: k }, id, el("small", {}, `${fixed(inRate)}/s `, el("span", { class: "bad" }, bad)));
  };
  // Each pipeline as a row: its receivers stacked, then its processors in order, then its
  // exporters stacked (a connector shows as an exporter of one row, a receiver of another).
  const stack = (nodes) => el("span", { class: "stack" }, ...nodes);
  const graph = $(".graph", section);
  graph.replaceChildren(...(info.pipelines || []).map((p) => {
    const stages = [stack(p.receivers.map((r) => node("receiver", r, p.id))),
      ...p.processors.map((r) => node("processor", r, p.id)),
      stack(p.exporters.map((e) => node("exporter", e, p.id)))];
    const row = el("div", { class: "row" }, el("span", { class: "label", title: p.id }, p.id));
    stages.forEach((s, i) => row.append(...(i ? [el("span", { class: "arrow" }, "→"), s] : [s])));
    return row;
  }));
  const ready = info.ready ? "ready" : "not ready";
  $("#status").textContent = `${ready} · memory ${bytes(last(rows, "memory_bytes"))} · updated ${new Date(now * 1000).toLocaleTimeString()}`;
  const charts = $(".charts", section);
  chart(charts, "pipeline-items", "Items per second", rows.t,
    ["received", "sent", "refused", "failed", "dropped"].map((c) => ({ label: c, values: rows[c] })));
  chart(charts, "pipeline-memory", "Resident memory (MiB)", rows.t,
    [{ label: "memory", values: rows.memory_bytes.map((v) => (v === null ? null : v / 2 ** 20)) }]);
  $(".queues", section).replaceChildren(
    el("tr", {}, el("th", {}, "exporter queue"), el("th", {}, "fill"), el("th", { class: "num" }, "batches"), el("th", { class: "num" }, "bytes")),
    ...info.queues.map((q) => {
      const fill = Math.max(q.capacity ? q.size / q.capacity : 0, q.capacity_bytes ? q.bytes / q.capacity_bytes : 0);
      const bar = el("span", { class: "bar" }, el("i", { style: `width:${Math.min(100, fill * 100)}%` }));
      return el("tr", {}, el("td", {}, q.component), el("td", {}, bar, ` ${fixed(fill * 100)}%`),
        el("td", { class: "num" }, `${q.size} / ${q.capacity}`),
        el("td", { class: "num" }, q.capacity_bytes ? `${bytes(q.bytes)} / ${bytes(q.capacity_bytes)}` : bytes(q.bytes)));
    }));
}

function renderGpus(panel, now) {
  const section = $("#gpus");
  const gpus = subjects(panel, "gpus", now).sort(([, a], [, b]) => a.info.index - b.info.index);
  explain(panel, section, gpus.some(([, g]) => g.rows.t.length), "no nvml receiver in this config");
  if (!gpus.length) return;
  $(".current", section).replaceChildren(
    el("tr", {}, ...["GPU", "name", "util", "memory", "temp", "power", "SM clock", "throttled by"].map((h) => el("th", {}, h))),
    ...gpus.map(([, { info, rows }]) => el("tr", {},
      el("td", {}, String(info.index)), el("td", { title: info.uuid }, info.name),
      el("td", { class: "num" }, `${fixed(last(rows, "utilization"), 0)}%`),
      el("td", { class: "num" }, `${bytes(last(rows, "memory_used_bytes"))} / ${bytes(last(rows, "memory_total_bytes"))}`),
      el("td", { class: "num" }, `${fixed(last(rows, "temperature"), 0)} °C`),
      el("td", { class: "num" }, `${fixed(last(rows, "power"))} W`),
      el("td", { class: "num" }, `${fixed(last(rows, "sm_clock"), 0)} MHz`),
      el("td", { class: "throttle" }, (info.throttle_reasons || []).join(", ") || "–"))));
  // One chart per reading, one line per GPU, on the first GPU's time axis (GPUs are read
  // together in one cycle).
  const xs = gpus[0][1].rows.t;
  // Each GPU's row index by time, once per render (15 minutes x 8 GPUs x 5 charts).
  const index = new Map(gpus.map(([key, g]) => [key, new Map(g.rows.t.map((t, i) => [t, i]))]));
  const align = (key, rows, column, scale) => xs.map((t) => {
    const i = index.get(key).get(t);
    return i === undefined || rows[column][i] === null ? null : rows[column][i] / scale;
  });
  const charts = $(".charts", section);
  for (const [column, title, scale] of [["utilization", "Utilization (%)", 1], ["memory_used_bytes", "Memory used (GiB)", 2 ** 30],
    ["temperature", "Temperature (°C)", 1], ["power", "Power (W)", 1], ["sm_clock", "SM clock (MHz)", 1]]) {
    chart(charts, `gpu-${column}`, title, xs, gpus.map(([key, g]) => ({ label: `GPU ${g.info.index}`, values: align(key, g.rows, column, scale) })));
  }
}

function renderLlamacpp(panel, now) {
  const section = $("#llamacpp");
  const targets = subjects(panel, "llamacpp", now);
  explain(panel, section, targets.some(([, t]) => t.rows.t.length), "no llamacpp receiver in this config");
  if (!targets.length) return;
  $(".current", section).replaceChildren(
    el("tr", {}, ...["target", "health", "model", "prompt tok/s", "generated tok/s", "slots busy", "deferred"].map((h) => el("th", {}, h))),
    ...targets.map(([key, { info, rows }]) => el("tr", {},
      el("td", { title: key }, info.name),
      el("td", { class: last(rows, "up") === 1 ? "state-ok" : "state-bad" }, info.health),
      el("td", { class: "ellipsis", title: info.model || "" }, info.model || "–"),
      el("td", { class: "num" }, fixed(last(rows, "prompt_tokens_per_s"))),
      el("td", { class: "num" }, fixed(last(rows, "generated_tokens_per_s"))),
      el("td", { class: "num" }, `${fixed(last(rows, "slots_busy"), 0)} / ${fixed(last(rows, "slots_total"), 0)}`),
      el("td", { class: "num" }, fixed(last(rows, "requests_deferred"), 0)))));
  const charts = $(".charts", section);
  for (const [key, { info, rows }] of targets) {
    chart(charts, `llamacpp-tokens-${key}`, `${info.name}: tokens per second`, rows.t, [
      { label: "prompt", values: rows.prompt_tokens_per_s }, { label: "generated", values: rows.generated_tokens_per_s }]);
    chart(charts, `llamacpp-slots-${key}`, `${info.name}: slots`, rows.t, [
      { label: "busy", values: rows.slots_busy }, { label: "deferred", values: rows.requests_deferred }]);
  }
}

// The GPU events (XIDs, throttling starts) of the last 15 minutes, each with the GenAI
// requests it overlapped (open one to see its trace).
function renderGpuEvents(section, events) {
  let list = $(".gpu-events", section);
  if (!list) section.append(list = el("ul", { class: "gpu-events" }));
  list.replaceChildren(...events.map((e) => el("li", { "data-event": e.what },
    el("b", {}, new Date(e.t * 1000).toLocaleTimeString()), ` GPU ${e.gpu ?? e.uuid}: ${e.what} `,
    el("span", { class: "muted" }, e.traces.length ? `· ${e.traces.length} request(s) running: ` : "· no request running"),
    ...e.traces.map((id) => el("a", { href: "#traces", "data-trace": id, onclick: () => {
      selectedTrace = id; selectedSpan = null; showTrace();
    } }, `${id.slice(0, 8)} `)))));
}

function renderGenai(panel, now, gpuEvents) {
  const section = $("#genai");
  const held = gpuEvents && gpuEvents.series.events;
  const events = ((held && held.info && held.info.events) || []).filter((e) => e.t >= now - WINDOW_SECONDS);
  renderGpuEvents(section, events);
  const [all] = subjects(panel, "genai", now).map(([, s]) => s);
  const rows = all && all.rows;
  const seen = Boolean(rows && rows.requests_per_s.some((v) => v > 0));
  explain(panel, section, seen, "no genai_metrics connector in this config");
  if (!seen) return;
  const s = (v) => (v === null ? "–" : v < 1 ? `${fixed(v * 1000, 0)} ms` : `${fixed(v, 2)} s`);
  const cost = last(rows, "cost_per_hour");
  const figures = [["requests/s", fixed(last(rows, "requests_per_s"), 2)], ["errors/s", fixed(last(rows, "errors_per_s"), 2)],
    ["TTFT p50 / p99", `${s(last(rows, "ttft_p50"))} / ${s(last(rows, "ttft_p99"))}`],
    ["duration p50 / p99", `${s(last(rows, "duration_p50"))} / ${s(last(rows, "duration_p99"))}`],
    ["tokens/request in / out", `${fixed(last(rows, "input_tokens_per_request"), 0)} / ${fixed(last(rows, "output_tokens_per_request"), 0)}`],
    ["cost/hour", cost === null ? "not priced" : `$${fixed(cost, 4)}`]];
  $(".figures", section).replaceChildren(...figures.map(([k, v]) => el("div", {}, el("b", {}, v), k)));
  const charts = $(".charts", section);
  chart(charts, "genai-rate", "Requests per second", rows.t, [
    { label: "requests", values: rows.requests_per_s }, { label: "errors", values: rows.errors_per_s }]);
  const marks = events.map((e) => ({ t: e.t, label: `GPU ${e.gpu ?? ""} ${e.what.split(":")[0]}` }));
  chart(charts, "genai-latency", "Latency (s, last minute; GPU events marked)", rows.t, ["ttft_p50", "ttft_p99", "duration_p50", "duration_p99"]
    .map((c) => ({ label: c.replace("_", " "), values: rows[c] })), " s", marks);
  chart(charts, "genai-tokens", "Tokens per request (last minute)", rows.t, [
    { label: "input", values: rows.input_tokens_per_request }, { label: "output", values: rows.output_tokens_per_request }]);
}

// The panels this page draws with its own layout; any other panel a component feeds
// (a custom component's) gets a generic section: a table of each subject's latest values
// and a chart per subject with a line per column.
const KNOWN_PANELS = ["pipeline", "gpus", "llamacpp", "genai", "gpu_events", "alerts", "traces"];

function renderOther(key, panel, now) {
  let section = document.getElementById(key);
  if (!section) {
    section = el("section", { class: "panel", id: key, "data-state": "empty" },
      el("h2", {}, key), el("p", { class: "why" }), el("table", { class: "current" }), el("div", { class: "charts" }));
    $("main").append(section);
  }
  const subjectsOf = subjects(panel, key, now);
  explain(panel, section, subjectsOf.some(([, s]) => s.rows.t.length), "");
  if (!subjectsOf.length) return;
  const columns = [...new Set(subjectsOf.flatMap(([, s]) => Object.keys(s.rows).filter((c) => c !== "t")))];
  $(".current", section).replaceChildren(
    el("tr", {}, el("th", {}, "subject"), ...columns.map((c) => el("th", {}, c.replaceAll("_", " ")))),
    ...subjectsOf.map(([subject, { rows }]) => el("tr", {}, el("td", { class: "ellipsis", title: subject }, subject),
      ...columns.map((c) => el("td", { class: "num" }, fixed(last(rows, c), 2))))));
  const charts = $(".charts", section);
  for (const [subject, { rows }] of subjectsOf) {
    chart(charts, `${key}-${subject}`, subject, rows.t, columns.filter((c) => rows[c])
      .map((c) => ({ label: c.replaceAll("_", " "), values: rows[c] })));
  }
}

function renderAlerts(panel, current) {
  const section = $("#alerts");
  const reports = Object.entries(current || {});
  explain(panel, section, reports.length > 0, "no slo processor in this config");
  if (!reports.length) return;
  const alerts = reports.flatMap(([component, r]) => (r.alerts || []).filter((a) => a.state !== "inactive").map((a) => [component, a]));
  const slos = reports.flatMap(([component, r]) => (r.slos || []).map((s) => [component, s]));
  const labels = (l) => Object.entries(l).filter(([k]) => k !== "alertname").map(([k, v]) => `${k}=${v}`).join(", ");
  $(".current", section).replaceChildren(
    el("tr", {}, ...["state", "alert", "labels", "value", "since"].map((h) => el("th", {}, h))),
    ...alerts.map(([, a]) => el("tr", {}, el("td", { class: a.state }, a.state), el("td", {}, a.labels.alertname || ""),
      el("td", {}, labels(a.labels)), el("td", { class: "num" }, fixed(a.value, 3)),
      el("td", {}, new Date(a.active_at * 1000).toLocaleTimeString()))),
    ...(alerts.length ? [] : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no alert pending or firing"))]),
    ...slos.map(([, s]) => el("tr", {}, el("td", {}, "SLO"), el("td", {}, s.slo),
      el("td", {}, `error budget left ${fixed((s.error_budget_remaining ?? 0) * 100)}%`), el("td", {}, ""), el("td", {}, ""))));
}

function renderTraces(panel) {
  const section = $("#traces");
  const list = panel.list || [];
  explain(panel, section, list.length > 0, "no genai processor in this config");
  $(".list", section).replaceChildren(...list.map((t) => el("li", {
    class: `${t.status}${t.trace_id === selectedTrace ? " selected" : ""}`, "data-trace": t.trace_id,
    onclick: () => { selectedTrace = t.trace_id; selectedSpan = null; showTrace(); },
  }, `${t.name} `, el("span", { class: "muted" }, `${t.model || ""} · ${fixed(t.duration_ms, 0)} ms · ${t.spans} spans · ${t.service}`))));
}

// Fetches the selected trace and draws it as a tree with timing bars.
async function showTrace() {
  const section = $("#traces");
  for (const li of section.querySelectorAll(".list li")) li.classList.toggle("selected", li.dataset.trace === selectedTrace);
  const response = await fetch(`/api/traces/${selectedTrace}`);
  if (!response.ok) {
    $(".tree", section).textContent = await response.text();
    return;
  }
  const trace = await response.json();
  const ids = new Set(trace.spans.map((s) => s.span_id));
  const children = {};
  for (const s of trace.spans) (children[ids.has(s.parent_span_id) ? s.parent_span_id : ""] ||= []).push(s);
  const start = Math.min(...trace.spans.map((s) => s.start_unix_nano));
  const total = Math.max(1, Math.max(...trace.spans.map((s) => s.end_unix_nano)) - start);
  const rows = [];
  const walk = (parent, depth) => {
    for (const s of (children[parent] || []).sort((a, b) => a.start_unix_nano - b.start_unix_nano)) {
      const left = ((s.start_unix_nano - start) / total) * 100;
      const width = Math.max(0.5, ((s.end_unix_nano - s.start_unix_nano) / total) * 100);
      rows.push(el("div", {
        class: `span ${s.status}${s.span_id === selectedSpan ? " selected" : ""}`, "data-span": s.span_id,
        onclick: () => { selectedSpan = s.span_id; showSpan(s); },
      }, el("span", { style: `padding-left:${depth * 14}px` }, el("span", { class: "dot" }), s.name,
        el("span", { class: "muted" }, ` ${fixed((s.end_unix_nano - s.start_unix_nano) / 1e6, 1)} ms`)),
      el("span", { class: "timing" }, el("i", { style: `left:${left}%;width:${width}%` }))));
      walk(s.span_id, depth + 1);
    }
  };
  walk("", 0);
  if (trace.spans_left_out) rows.push(el("div", { class: "muted" }, `${trace.spans_left_out} more spans not kept`));
  $(".tree", section).replaceChildren(...rows);
  showSpan(trace.spans.find((s) => s.span_id === selectedSpan) || trace.spans[0]);
}

function showSpan(span) {
  const section = $("#traces");
  for (const row of section.querySelectorAll(".tree .span")) row.classList.toggle("selected", row.dataset.span === span.span_id);
  const extra = span.attributes_left_out ? [el("tr", {}, el("td", { colspan: 2, class: "muted" }, `${span.attributes_left_out} more attributes not kept`))] : [];
  $(".attributes", section).replaceChildren(
    el("tr", {}, el("th", {}, span.name), el("th", { class: span.status }, `${span.status} ${span.status_message}`)),
    ...span.attributes.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))), ...extra);
}

async function poll() {
  try {
    const response = await fetch(`/api/live?since=${since}`);
    const data = await response.json();
    const { now } = data;
    // A panel no component of this config feeds is not in the data at all.
    const panel = (key) => data.panels[key] || { components: [], notes: {}, series: {} };
    $("#host").textContent = `${data.host} · v${data.version}`;
    renderPipeline(panel("pipeline"), now);
    renderGpus(panel("gpus"), now);
    renderLlamacpp(panel("llamacpp"), now);
    renderGenai(panel("genai"), now, panel("gpu_events"));
    renderAlerts(panel("alerts"), data.alerts);
    renderTraces(panel("traces"));
    for (const [key, other] of Object.entries(data.panels)) {
      if (!KNOWN_PANELS.includes(key)) renderOther(key, other, now);
    }
    since = now - OVERLAP_SECONDS;
  } catch (e) {
    // Said on the page, and on the console, where a test or a curious operator sees it.
    $("#status").textContent = `cannot show llamacol's data: ${e.message}`;
    console.error(e);
  }
  setTimeout(poll, 1000);
}

poll();
