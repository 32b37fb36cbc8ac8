// The pieces both pages show: a gate with its buttons, a task with its result, an event with
// its delivery state per sink.

import { ago, badge, between, h, revision, seconds } from "./common.js";

// `what` completes the label for a screen reader: "Approve" says which canary it approves
export function actionButton(action, label, data, extraClass = "", what = "") {
  return h("button", { type: "button", class: `action ${extraClass}`.trim(),
    "aria-label": `${label} ${what || `${data.name}.${data.namespace}`}`,
    dataset: { action, ...data } }, label);
}

// "closed", "open" (passes /…/check for the current revision) or "stale" (open, but bound to
// another revision: the current one waits for its own approval)
export function gateState(gate, canary) {
  if (!gate || !gate.open) return "closed";
  if (gate.bound && gate.checksum !== canary.checksum) return "stale";
  return "open";
}

const GATE_TEXT = {
  gate: { open: ["approved", "ok"], stale: ["older revision", "wait"], closed: ["closed", "muted"] },
  rollback: { open: ["rolling back", "bad"], stale: ["older revision", "wait"],
    closed: ["closed", "muted"] },
};

const WAITING = new Set(["Waiting", "WaitingPromotion"]); // Flagger waits at a gate

export function gateView(kind, gate, canary) {
  const state = gateState(gate, canary);
  const [label, tone] = GATE_TEXT[kind][state];
  const data = { namespace: canary.namespace, name: canary.name, checksum: canary.checksum || "" };
  const buttons = [];
  if (state !== "open") {
    buttons.push(kind === "gate"
      ? actionButton("gate-open", "Approve", data, WAITING.has(canary.phase) ? "urgent" : "")
      : actionButton("rollback-open", "Roll back", data, "danger"));
  }
  if (gate && gate.open) {
    buttons.push(kind === "gate"
      ? actionButton("gate-close", "Close", data)
      : actionButton("rollback-close", "Stop rollback", data));
  }
  let binding = null;
  if (gate && gate.open) {
    binding = gate.bound
      ? h("div", { class: "binding" }, "for ", revision(gate.checksum))
      : h("div", { class: "binding", title: "opened without a revision (as a plain curl to the "
        + "endpoint): it passes every revision until closed" }, "any revision");
  }
  const who = gate && (gate.by || gate.at)
    ? h("div", { class: "who" }, gate.by ? `by ${gate.by}` : "", gate.by && gate.at ? " · " : "",
      gate.at ? ago(gate.at) : "")
    : null;
  return h("div", { class: `gate gate-${state}`, dataset: { gate: kind, state } },
    badge(label, tone), binding, who, h("div", { class: "buttons" }, buttons));
}

export function taskResult(task) {
  if (task.load) {
    const load = task.load;
    return h("span", { class: "load" },
      `${Number(load.rate).toFixed(1)} req/s · p50 ${seconds(load.p50)} · p99 ${seconds(load.p99)}`
      + ` · ${Number(load.errorRate).toFixed(1)}% errors`
      + (load.requests ? ` · ${Math.round(load.requests)} requests` : ""));
  }
  if (task.reason) return h("span", { class: `reason reason-${task.outcome}` }, task.reason);
  return null;
}

export function cancelButton(task, canary) {
  if (task.outcome !== "running" || !task.background) return null;
  return actionButton("task-cancel", "Cancel", {
    task: task.id, namespace: canary.namespace, name: canary.name,
    description: task.description || task.type,
  }, "danger small", `task ${task.description || task.type} of ${canary.name}.${canary.namespace}`);
}

export function taskItem(task, canary) {
  const when = task.endedAt
    ? h("span", { class: "when" }, ago(task.endedAt), ` (${between(task.startedAt, task.endedAt)})`)
    : h("span", { class: "when" }, "since ", ago(task.startedAt));
  return h("li", { class: `task task-${task.outcome}`, dataset: { task: task.id, outcome: task.outcome } },
    h("div", { class: "line" }, badge(task.outcome), " ",
      h("span", { class: "type" }, task.type), " ",
      h("span", { class: "description", title: task.description }, task.description), " ", when,
      " ", cancelButton(task, canary)),
    taskResult(task));
}

export function deliveries(event) {
  const sinks = Object.entries(event.deliveries || {});
  if (!sinks.length) return h("span", { class: "muted" }, "no sink");
  return h("span", { class: "deliveries" }, sinks.map(([sink, delivery]) =>
    h("span", { class: `delivery badge badge-${deliveryTone(delivery.state)}`,
      dataset: { sink, state: delivery.state },
      title: delivery.error ? `${sink}: ${delivery.state}: ${delivery.error}` : `${sink}: ${delivery.state}` },
    `${sink} ${delivery.state}`)));
}

function deliveryTone(state) {
  return { delivered: "ok", dead: "bad", retrying: "wait", pending: "muted" }[state] || "muted";
}

export function eventItem(event) {
  return h("li", { class: "event", dataset: { event: event.id } },
    h("div", { class: "line" }, badge(event.phase), " ",
      event.type === "Warning" ? [badge("Warning", "bad"), " "] : null,
      h("span", { class: "message", title: event.message }, event.message), " ",
      h("span", { class: "when" }, ago(event.receivedAt))),
    deliveries(event));
}
