// GET /ui/canary/NAMESPACE/NAME: one canary's full history from
// GET /api/v1/canaries/{namespace}/{name}: its gates, every task, event and audit entry.

import "./actions.js";
import { offerLinkedApproval } from "./approvelink.js";
import { showRuns } from "./charts.js";
import { ApiError, ago, api, badge, between, boot, enc, h, revision } from "./common.js";
import { cancelButton, deliveries, gateView, taskResult } from "./widgets.js";

const root = document.getElementById("canary");
const missing = document.getElementById("missing");
const { name, namespace } = root.dataset;
const sections = {
  summary: document.getElementById("summary"),
  tasks: document.getElementById("tasks"),
  events: document.getElementById("events"),
  audit: document.getElementById("audit"),
};
const signatures = {};
const runs = document.getElementById("runs");

function table(headers, rows, nothing) {
  if (!rows.length) return h("p", { class: "muted" }, nothing);
  return h("table", { class: "history" },
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows));
}

function summary(canary) {
  return h("div", { class: "summary" },
    h("dl", {},
      h("div", {}, h("dt", {}, "Phase"), h("dd", {}, badge(canary.phase), " ", ago(canary.phaseAt))),
      h("div", {}, h("dt", {}, "Revision"), h("dd", {}, revision(canary.checksum))),
      h("div", {}, h("dt", {}, "First seen"), h("dd", {}, ago(canary.firstSeen))),
      h("div", {}, h("dt", {}, "Last seen"), h("dd", {}, ago(canary.lastSeen)))),
    h("div", { class: "gates" },
      h("section", { class: "card", "aria-label": "Gate" }, h("h3", {}, "Gate"),
        gateView("gate", canary.gate, canary)),
      h("section", { class: "card", "aria-label": "Rollback" }, h("h3", {}, "Rollback"),
        gateView("rollback", canary.rollback, canary))));
}

function tasks(canary) {
  return table(["Started", "Task", "Revision", "Outcome", "Result", "Duration", ""],
    (canary.tasks || []).map((task) => h("tr", { dataset: { task: task.id, outcome: task.outcome } },
      h("td", {}, ago(task.startedAt)),
      h("td", {}, h("span", { class: "type" }, task.type), " ",
        h("span", { class: "description", title: task.description }, task.description),
        task.background ? h("span", { class: "muted" }, " (background)") : null),
      h("td", {}, revision(task.checksum)),
      h("td", {}, badge(task.outcome)),
      h("td", {}, taskResult(task)),
      h("td", {}, task.endedAt ? between(task.startedAt, task.endedAt) : ""),
      h("td", {}, cancelButton(task, canary)))),
    "No task seen.");
}

function events(canary) {
  return table(["Received", "Phase", "Type", "Message", "Deliveries"],
    (canary.events || []).map((event) => h("tr", { dataset: { event: event.id } },
      h("td", {}, ago(event.receivedAt)),
      h("td", {}, badge(event.phase)),
      h("td", {}, badge(event.type, event.type === "Warning" ? "bad" : "muted")),
      h("td", { class: "message-full" }, event.message),
      h("td", {}, deliveries(event),
        Object.entries(event.deliveries || {}).filter(([, d]) => d.error).map(([sink, d]) =>
          h("div", { class: "reason reason-failed" }, `${sink}: ${d.error}`))))),
    "No event stored (events show once a sink is configured).");
}

function audit(canary) {
  return table(["When", "Who", "From", "Action", "Revision", "Detail"],
    (canary.audit || []).map((entry) => h("tr", { dataset: { audit: entry.action } },
      h("td", {}, ago(entry.at)),
      h("td", {}, entry.who),
      h("td", {}, entry.peer),
      h("td", {}, entry.action),
      h("td", {}, revision(entry.revision)),
      h("td", {}, entry.detail))),
    "No change made yet.");
}

const RENDER = { summary, tasks, events, audit };
const PARTS = {
  summary: (c) => [c.phase, c.phaseAt, c.checksum, c.firstSeen, c.lastSeen, c.gate, c.rollback],
  tasks: (c) => c.tasks, events: (c) => c.events, audit: (c) => c.audit,
};

function render(canary) {
  root.hidden = canary === null;
  missing.hidden = canary !== null;
  if (canary === null) return;
  for (const [part, of] of Object.entries(PARTS)) {
    const signature = JSON.stringify(of(canary));
    if (signatures[part] === signature) continue;
    signatures[part] = signature;
    sections[part].replaceChildren(RENDER[part](canary));
  }
  offerLinkedApproval(canary);
  showRuns(runs, canary);
}

async function load() {
  try {
    return await api(`canaries/${enc(namespace)}/${enc(name)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

boot(load, render);
