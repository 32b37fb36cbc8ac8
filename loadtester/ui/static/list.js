// GET /ui/: one row per canary, kept current by polling GET /api/v1/canaries. A row is rebuilt
// only when its data changed, so a button keeps its place (and focus) between polls.

import "./actions.js";
import { ago, api, badge, boot, canaryHref, h, revision } from "./common.js";
import { eventItem, gateView, taskItem } from "./widgets.js";

const FINISHED_SHOWN = 3; // finished tasks in a row; the canary's page has them all
const EVENTS_SHOWN = 3;

const table = document.getElementById("canaries");
const rows = document.getElementById("canary-rows");
const empty = document.getElementById("empty");
const count = document.getElementById("count");
const shown = new Map(); // canary id -> {row, signature}

function more(canary, hidden, what) {
  if (hidden <= 0) return null;
  return h("li", { class: "more" }, h("a", { href: canaryHref(canary.namespace, canary.name) },
    `${hidden} more ${what}`));
}

function tasksCell(canary) {
  const tasks = canary.tasks || [];
  if (!tasks.length) return h("span", { class: "muted" }, "none");
  const running = tasks.filter((task) => task.outcome === "running");
  const finished = tasks.filter((task) => task.outcome !== "running");
  return h("ul", { class: "tasks" },
    running.map((task) => taskItem(task, canary)),
    finished.slice(0, FINISHED_SHOWN).map((task) => taskItem(task, canary)),
    more(canary, finished.length - FINISHED_SHOWN, "finished"));
}

function eventsCell(canary) {
  const events = canary.events || [];
  if (!events.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "events" }, events.slice(0, EVENTS_SHOWN).map(eventItem),
    more(canary, events.length - EVENTS_SHOWN, "events"));
}

function phaseClass(phase) {
  return `phase-${String(phase || "unknown").toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
}

function renderRow(canary) {
  return h("tr", { dataset: { canary: canary.id }, class: phaseClass(canary.phase) },
    h("th", { scope: "row", class: "name" },
      h("a", { href: canaryHref(canary.namespace, canary.name) }, canary.name),
      h("div", { class: "namespace" }, canary.namespace)),
    h("td", { class: "phase" }, badge(canary.phase), h("div", { class: "when" }, ago(canary.phaseAt))),
    h("td", {}, revision(canary.checksum)),
    h("td", {}, gateView("gate", canary.gate, canary)),
    h("td", {}, gateView("rollback", canary.rollback, canary)),
    h("td", {}, tasksCell(canary)),
    h("td", {}, eventsCell(canary)));
}

function render(data) {
  const canaries = data.canaries || [];
  const ids = new Set();
  canaries.forEach((canary, index) => {
    ids.add(canary.id);
    const signature = JSON.stringify(canary);
    let entry = shown.get(canary.id);
    if (!entry || entry.signature !== signature) {
      const row = renderRow(canary);
      if (entry) entry.row.replaceWith(row);
      entry = { row, signature };
      shown.set(canary.id, entry);
    }
    if (rows.children[index] !== entry.row) rows.insertBefore(entry.row, rows.children[index] || null);
  });
  for (const [id, entry] of shown) {
    if (!ids.has(id)) {
      entry.row.remove();
      shown.delete(id);
    }
  }
  table.hidden = canaries.length === 0;
  empty.hidden = canaries.length > 0;
  count.textContent = canaries.length ? `(${canaries.length})` : "";
}

boot(() => api("canaries"), render);
