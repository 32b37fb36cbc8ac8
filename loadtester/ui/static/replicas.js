// A run spread over the service's replicas (`replicas: "3"` on the Redis store): the run's
// summary.replicas, one row per share: the replica that took it, the requests it completed
// (and its part of the merged run's), and how it ended (done, lost, failed, missing).

import { badge, h } from "./common.js";

const STATES = { done: "ok", lost: "bad", failed: "bad", missing: "wait" };

function part(requests, total) {
  if (!total) return "";
  return ` (${(100 * requests / total).toFixed(1)} %)`;
}

// The table of a distributed run's shares; null for a run on one replica.
export function replicasView(run) {
  const replicas = run.summary && run.summary.replicas;
  if (!Array.isArray(replicas) || !replicas.length) return null;
  const total = replicas.reduce((n, share) => n + (Number(share.requests) || 0), 0);
  const lost = replicas.filter((share) => share.state !== "done").length;
  return h("table", { class: "history replicas", dataset: { replicas: String(replicas.length) } },
    h("caption", {}, `${replicas.length} replicas took part` +
      (lost ? `, ${lost} share${lost === 1 ? "" : "s"} not done` : "")),
    h("thead", {}, h("tr", {}, ["Share", "Replica", "Requests", "State"]
      .map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, replicas.map((share) => h("tr",
      { dataset: { share: String(share.share), state: String(share.state) } },
      h("td", {}, `${Number(share.share) + 1}/${share.shares || replicas.length}`),
      h("td", {}, share.replica || h("span", { class: "muted" }, "none")),
      h("td", {}, `${share.requests}${part(Number(share.requests) || 0, total)}`),
      h("td", {}, badge(share.state, STATES[share.state]), share.reason ? ` ${share.reason}` : "")))));
}
