// A canary's load runs over time, from GET /api/v1/canaries/{namespace}/{name}/runs/{id}:
// per run, svg[data-chart="latency-over-time"] (p50 and p99 per target) and
// svg[data-chart="throughput-over-time"] (requests and errors per second per target); for a
// compare run svg[data-chart="latency-cdf"] (both targets' latency distributions) and the
// verdict; over the canary's kept runs (7 days) svg[data-chart="revision-trend"] (each
// revision's p99 and error rate). Drawn as inline SVG with DOM APIs only (never markup from
// text; nothing from elsewhere: the CSP holds).

import { ago, api, badge, enc, h } from "./common.js";
import { replicasView } from "./replicas.js";

const SVG = "http://www.w3.org/2000/svg";
const SHOWN = 5; // the last started runs that get charts
const WEEK = 7 * 24 * 3600 * 1000; // the revision trend's window (what the store keeps)
// Okabe-Ito colours, told apart with every common colour vision deficiency; the dash of a
// line (p50 solid, p99 dashed; requests solid, errors dotted) tells the figure apart too
const COLOURS = { canary: "#0072B2", primary: "#D55E00" };
const OTHER = "#009E73";
const WIDTH = 640;
const HEIGHT = 240;
const PAD = { left: 60, right: 16, top: 28, bottom: 44 };

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function colour(target) {
  return COLOURS[target] || OTHER;
}

function figure(value) {
  if (value === null || value === undefined) return "–";
  if (value >= 100) return String(Math.round(value));
  return String(Number(value.toFixed(value >= 10 ? 1 : 2)));
}

function niceStep(span) {
  const raw = span / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 5, 10].find((n) => n * power >= raw);
  return unit * power;
}

// 0, step, 2 step, ... up to the first at or above max
function ticks(max) {
  const step = niceStep(max);
  const count = Math.max(1, Math.ceil(max / step - 1e-9));
  return Array.from({ length: count + 1 }, (_, i) => i * step);
}

// a marker per target, the second cue beside the colour (canary circle, primary square)
function marker(target, cx, cy) {
  const fill = colour(target);
  if (target === "primary") {
    return s("rect", { x: cx - 4, y: cy - 4, width: 8, height: 8, fill, "data-marker": target });
  }
  return s("circle", { cx, cy, r: 4, fill, "data-marker": target });
}

// One plot area `top`..`top + height` of a chart WIDTH wide: axes, ticks, axis labels and
// lines = [{target, label, points: [[x, y|null]], dash, marks: [[x, y]]}]; `xNames` makes x
// categories: slot i spans [i, i + 1), named xNames[i] (xMax: their count).
function panel({ top, height, lines, xMax, yMax, xLabel, yLabel, xNames }) {
  const yTicks = ticks(yMax > 0 ? yMax : 1);
  const yTop = yTicks[yTicks.length - 1];
  const span = xMax > 0 ? xMax : 1;
  // categories sit mid-slot (i + 0.5); past 8, every k-th is named so the names never overlap
  const every = xNames ? Math.ceil(xNames.length / 8) : 1;
  const xTicks = xNames ? xNames.map((_, i) => i + 0.5).filter((_, i) => i % every === 0)
    : ticks(span).filter((t) => t <= span + 1e-9);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = height - PAD.bottom;
  const x = (t) => PAD.left + (t / span) * plotW;
  const y = (v) => top + plotH - (v / yTop) * plotH;
  const grid = s("g", { class: "axes", stroke: "#888", "stroke-width": 1 },
    s("line", { x1: PAD.left, y1: top + plotH, x2: PAD.left + plotW, y2: top + plotH }),
    s("line", { x1: PAD.left, y1: top, x2: PAD.left, y2: top + plotH }),
    yTicks.map((v) => s("line", { x1: PAD.left, y1: y(v), x2: PAD.left + plotW, y2: y(v),
      stroke: "#ddd" })));
  const labels = s("g", { "font-size": 11, fill: "currentColor" },
    yTicks.map((v) => s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" },
      figure(v))),
    xTicks.map((t) => s("text", { x: x(t), y: top + plotH + 16, "text-anchor": "middle" },
      xNames ? xNames[Math.floor(t)] : figure(t))),
    s("text", { x: PAD.left + plotW / 2, y: top + plotH + 36, "text-anchor": "middle" },
      xLabel),
    s("text", { x: 14, y: top + plotH / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${top + plotH / 2})` }, yLabel));
  const paths = lines.map((line) => {
    let d = "";
    let pen = false;
    for (const [px, py] of line.points) {
      if (py === null || py === undefined) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)} `;
      pen = true;
    }
    return s("path", { d: d.trim() || `M${PAD.left},${y(0)}`, fill: "none",
      stroke: colour(line.target), "stroke-width": 2, "stroke-dasharray": line.dash,
      "data-line": `${line.target} ${line.label}` });
  });
  const marks = lines.flatMap((line) => (line.marks || []).map(([px, py]) =>
    marker(line.target, x(px), y(py))));
  return [grid, labels, ...paths, ...marks];
}

function legend(lines) {
  let legendX = PAD.left;
  return s("g", { class: "legend", "font-size": 11, fill: "currentColor" },
    lines.map((line) => {
      const name = `${line.target} ${line.label}`;
      const item = s("g", {},
        s("line", { x1: legendX, y1: 12, x2: legendX + 22, y2: 12, stroke: colour(line.target),
          "stroke-width": 2, "stroke-dasharray": line.dash }),
        line.marks ? marker(line.target, legendX + 11, 12) : null,
        s("text", { x: legendX + 26, y: 16 }, name));
      legendX += 34 + 7 * name.length;
      return item;
    }));
}

function frame(kind, title, height, ...children) {
  return s("svg", { "data-chart": kind, viewBox: `0 0 ${WIDTH} ${height}`, width: "100%",
    role: "img", "aria-label": title, class: "chart" },
  s("title", {}, title), ...children);
}

// one chart over time: lines = [{target, label, values: [number|null per point], dash}]
function chart(kind, series, lines, yLabel, title) {
  const step = series.step || 1;
  const count = Math.max(1, ...Object.values(series.targets || {}).map((p) => p.length));
  const top = Math.max(0, ...lines.flatMap((line) => line.values.filter((v) => v !== null)));
  const drawn = lines.map((line) => ({ ...line,
    points: line.values.map((v, i) => [i * step + step / 2, v]) }));
  return frame(kind, title, HEIGHT,
    ...panel({ top: PAD.top, height: HEIGHT - PAD.top, lines: drawn, xMax: count * step,
      yMax: top, xLabel: "time since the run's start (s)", yLabel }),
    legend(lines));
}

function peak(values) {
  let best = null;
  values.forEach((v, i) => { if (v !== null && (best === null || v > best.v)) best = { v, i }; });
  return best;
}

function latencyChart(run) {
  const series = run.series;
  const lines = [];
  const said = [];
  for (const [target, points] of Object.entries(series.targets || {})) {
    const p50 = points.map((p) => p.p50_ms);
    const p99 = points.map((p) => p.p99_ms);
    lines.push({ target, label: "p50", values: p50 }, { target, label: "p99", values: p99,
      dash: "6 4" });
    const top = peak(p99);
    const answered = p50.filter((v) => v !== null).sort((a, b) => a - b);
    const median = answered.length ? answered[Math.floor((answered.length - 1) / 2)] : null;
    said.push(top === null ? `${target}: no answers` :
      `${target}: p50 about ${figure(median)} ms, p99 peak ${figure(top.v)} ms at ` +
      `${figure(top.i * series.step)} s`);
  }
  return chart("latency-over-time", series, lines, "latency (ms)",
    `Latency over time, p50 and p99 per ${series.step} s: ${said.join("; ") || "no data"}`);
}

function throughputChart(run) {
  const series = run.series;
  const step = series.step || 1;
  const lines = [];
  const said = [];
  for (const [target, points] of Object.entries(series.targets || {})) {
    lines.push({ target, label: "requests/s", values: points.map((p) => p.requests / step) },
      { target, label: "errors/s", values: points.map((p) => p.errors / step), dash: "2 3" });
    const requests = points.reduce((n, p) => n + p.requests, 0);
    const errors = points.reduce((n, p) => n + p.errors, 0);
    const seconds = points.length * step;
    const top = peak(points.map((p) => p.requests / step));
    said.push(`${target}: ${requests} requests in ${seconds} s (mean ` +
      `${figure(requests / seconds)}/s, peak ${figure(top ? top.v : 0)}/s), ${errors} errors`);
  }
  return chart("throughput-over-time", series, lines, "requests per second",
    `Throughput over time per ${step} s: ${said.join("; ") || "no data"}`);
}

// a compare run: both targets' latency at percentiles 0..100 (series.cdf), x the latency,
// y the share of answers that came within it; canary solid with circles, primary dashed
// with squares (markers at p50 and p99)
function cdfChart(run) {
  const cdf = (run.series && run.series.cdf) || {};
  const targets = Object.keys(cdf).filter((t) => cdf[t].length === 101);
  const lines = targets.map((target) => ({
    target, label: "latency", dash: target === "primary" ? "8 4" : undefined,
    points: cdf[target].map((ms, i) => [ms, i]),
    marks: [[cdf[target][50], 50], [cdf[target][99], 99]],
  }));
  const said = targets.map((target) =>
    `${target} p50 ${figure(cdf[target][50])} ms, p99 ${figure(cdf[target][99])} ms, ` +
    `slowest ${figure(cdf[target][100])} ms`);
  const slowest = Math.max(0, ...targets.map((target) => cdf[target][100]));
  const xMax = ticks(slowest > 0 ? slowest : 1).at(-1);
  const title = `Latency distribution (share of answers within each latency): ` +
    `${said.join("; ") || "no answers"}`;
  return frame("latency-cdf", title, HEIGHT,
    ...panel({ top: PAD.top, height: HEIGHT - PAD.top, lines, xMax, yMax: 100,
      xLabel: "latency (ms)", yLabel: "answers within (%)" }),
    legend(lines));
}

function verdictView(run) {
  const compare = (run.summary && run.summary.compare) || {};
  const verdict = compare.verdict;
  if (!verdict) {
    return h("p", { class: "verdict muted", dataset: { verdict: "none" } },
      "No verdict: the run set no maxRegression.");
  }
  return h("p", { class: "verdict", dataset: { verdict: verdict.outcome } },
    h("strong", {}, `Verdict: ${verdict.outcome}`), ` — ${verdict.message}`);
}

function isCompare(run) {
  const cdf = (run.series && run.series.cdf) || {};
  return Boolean((run.summary && run.summary.compare) || cdf.primary);
}

function runView(run) {
  return h("article", { class: "run card", dataset: { run: run.id } },
    h("h3", {}, run.description),
    h("p", { class: "muted" }, "Started ", ago(run.startedAt), " ", badge(run.outcome),
      run.reason ? ` ${run.reason}` : ""),
    replicasView(run), latencyChart(run), throughputChart(run),
    isCompare(run) ? [cdfChart(run), verdictView(run)] : null);
}

// A revision's p99 over its runs: the latency under which 99 % of all its canary answers
// came, each run's distribution (series.cdf, percentiles 0..100) weighted by its answers.
function mergedP99(runs) {
  const parts = runs.map((run) => {
    const values = ((run.series && run.series.cdf) || {}).canary || [];
    const points = ((run.series && run.series.targets) || {}).canary || [];
    const answered = run.summary && Number.isFinite(run.summary.responses)
      ? run.summary.responses : points.reduce((n, p) => n + p.requests, 0);
    return { values, answered };
  }).filter((part) => part.values.length === 101 && part.answered > 0);
  const total = parts.reduce((n, part) => n + part.answered, 0);
  if (!total) return null;
  const candidates = [...new Set(parts.flatMap((part) => part.values))].sort((a, b) => a - b);
  for (const ms of candidates) {
    let within = 0;
    for (const part of parts) {
      let i = 0;
      while (i < 100 && part.values[i + 1] <= ms) i += 1;
      within += part.answered * (part.values[0] <= ms ? i / 100 : 0);
    }
    if (within >= 0.99 * total - 1e-9) return ms;
  }
  return candidates[candidates.length - 1];
}

// the canary's runs of the last 7 days grouped by revision (run.checksum), in the order each
// revision was first run: its p99 (ms) and error rate (%) over all its runs' canary requests
export function revisions(runs, now = Date.now()) {
  const recent = runs.filter((run) => now - Date.parse(run.startedAt) <= WEEK)
    .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  const byRevision = new Map();
  for (const run of recent) {
    const key = run.checksum || "unknown";
    if (!byRevision.has(key)) byRevision.set(key, []);
    byRevision.get(key).push(run);
  }
  return [...byRevision].map(([checksum, group]) => {
    const points = group.flatMap((run) => ((run.series && run.series.targets) || {}).canary || []);
    const requests = points.reduce((n, p) => n + p.requests, 0);
    const errors = points.reduce((n, p) => n + p.errors, 0);
    return { checksum, runs: group.length, p99: mergedP99(group),
      errorRate: requests ? (100 * errors) / requests : null };
  });
}

const TREND_HEIGHT = 380;

function trendChart(runs) {
  const found = revisions(runs);
  const names = found.map((r) => r.checksum.slice(0, 8));
  const at = (i) => i + 0.5;
  const p99 = { target: "canary", label: "p99 (ms)", marks: [],
    points: found.map((r, i) => [at(i), r.p99]) };
  p99.marks = p99.points.filter(([, v]) => v !== null);
  const errors = { target: "canary", label: "error rate (%)", dash: "2 3", marks: [],
    points: found.map((r, i) => [at(i), r.errorRate]) };
  errors.marks = errors.points.filter(([, v]) => v !== null);
  const half = (TREND_HEIGHT - PAD.top) / 2;
  const said = found.map((r) => `${r.checksum.slice(0, 8)}: p99 ${figure(r.p99)} ms, ` +
    `${figure(r.errorRate)} % errors over ${r.runs} run${r.runs === 1 ? "" : "s"}`);
  const title = `Revision trend, the last 7 days, oldest first: ${said.join("; ") || "no runs"}`;
  const shared = { xMax: Math.max(1, found.length), xNames: names,
    xLabel: "revision (checksum), oldest first" };
  return frame("revision-trend", title, TREND_HEIGHT,
    ...panel({ ...shared, top: PAD.top, height: half, lines: [p99],
      yMax: Math.max(0, ...found.map((r) => r.p99 || 0)), yLabel: "p99 (ms)" }),
    ...panel({ ...shared, top: PAD.top + half, height: half, lines: [errors],
      yMax: Math.max(0, ...found.map((r) => r.errorRate || 0)), yLabel: "errors (%)" }),
    legend([p99, errors]));
}

const built = new Map(); // run id -> its article (a kept run never changes)
const fetched = new Map(); // run id -> the run (for the revision trend)
let shown = null;

// Show the charts of the canary's last SHOWN runs in `container` (fetched once each).
async function fetchRun(canary, id) {
  if (!fetched.has(id)) {
    const path = `canaries/${enc(canary.namespace)}/${enc(canary.name)}/runs/${enc(id)}`;
    fetched.set(id, await api(path));
  }
  return fetched.get(id);
}

// Show the revision trend over the canary's kept runs and the charts of its last SHOWN runs
// in `container` (each run fetched once).
export async function showRuns(container, canary) {
  const ids = canary.runs || [];
  const signature = ids.join(",");
  if (signature === shown) return;
  shown = signature;
  const answers = await Promise.allSettled(ids.map((id) => fetchRun(canary, id)));
  if (shown !== signature) return; // a later poll took over
  const runs = [];
  const views = [];
  answers.forEach((answer, index) => {
    if (answer.status !== "fulfilled") {
      shown = null; // try again at the next poll
      return;
    }
    const run = answer.value;
    runs.push(run);
    if (index < SHOWN) {
      if (!built.has(run.id)) built.set(run.id, runView(run));
      views.push(built.get(run.id));
    }
  });
  for (const id of [...fetched.keys()]) {
    if (!ids.includes(id)) { fetched.delete(id); built.delete(id); } // no longer kept
  }
  const trend = runs.length ? [h("article", { class: "run card", dataset: { trend: "" } },
    h("h3", {}, "Revisions"), trendChart(runs))] : [];
  container.replaceChildren(...(views.length ? [...trend, ...views]
    : [h("p", { class: "muted" }, "No load run kept in the last 7 days.")]));
}
