// GET /ui/: one row per canary, kept current by polling GET /api/v1/canaries. A row is rebuilt
// only when its data changed, so a button keeps its place (and focus) between polls. The list
// comes in pages of PAGE canaries: "Older canaries" follows the page's `next` cursor, "Newer
// canaries" goes back; the page shown is the one polled.

import "./actions.js";
import { ago, api, badge, boot, canaryHref, enc, h, refresh, revision } from "./common.js";
import { eventItem, gateView, taskItem } from "./widgets.js";

const FINISHED_SHOWN = 3; // finished tasks in a row; the canary's page has them all
const EVENTS_SHOWN = 3;
const PAGE = 50; // canaries a page (the API's default; at most 500)

const table = document.getElementById("canaries");
const rows = document.getElementById("canary-rows");
const empty = document.getElementById("empty");
const count = document.getElementById("count");
const pages = document.getElementById("pages");
const newer = document.getElementById("newer");
const older = document.getElementById("older");
const shown = new Map(); // canary id -> {row, signature}
let cursor = null; // the page shown: null for the first, else the `next` of the one before
const before = []; // the cursors of the pages before the one shown
let next = null; // the `next` of the page shown

function load() {
  return api(`canaries?limit=${PAGE}${cursor ? `&cursor=${enc(cursor)}` : ""}`);
}

function turn(to) {
  cursor = to;
  refresh();
  window.scrollTo(0, 0);
}

older.addEventListener("click", () => {
  if (!next) return;
  before.push(cursor);
  turn(next);
});
newer.addEventListener("click", () => turn(before.length ? before.pop() : null));

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
  if (cursor && !canaries.length) { // its canaries were all seen again: back to the first page
    before.length = 0;
    turn(null);
    return;
  }
  next = data.next || null;
  older.hidden = !next;
  newer.hidden = !cursor;
  pages.hidden = older.hidden && newer.hidden;
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
  const first = before.length * PAGE;
  count.textContent = !canaries.length ? ""
    : cursor || next ? `(${first + 1}–${first + canaries.length}${next ? " of more" : ""})`
      : `(${canaries.length})`;
}

boot(load, render);
