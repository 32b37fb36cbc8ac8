// A chat message's link to a canary waiting for approval opens this page with
// `?approve=CHECKSUM` (-console-url): once the canary is loaded (after sign-in, when the
// service asks for one), the page opens its approve dialog for that revision. Nothing is
// approved by opening the link: the dialog still takes a click on Approve. A link naming
// another revision than the canary's current one says so, and offers nothing.

import { askApproval } from "./actions.js";
import { visible } from "./common.js";
import { gateState } from "./widgets.js";

const wanted = new URLSearchParams(window.location.search).get("approve");
const note = document.getElementById("approve-note");
let handled = wanted === null;

const short = (checksum) => checksum.slice(0, 10);

function tell(state, text) {
  note.dataset.state = state;
  note.textContent = visible(text);
  note.hidden = false;
}

// called with each canary the page renders; acts on the first one only
export function offerLinkedApproval(canary) {
  if (handled || !canary) return;
  handled = true;
  if (!wanted || canary.checksum !== wanted) {
    const current = canary.checksum ? `revision ${short(canary.checksum)}` : "no known revision";
    tell("mismatch", `The link asks to approve revision ${short(wanted || "(none)")}, but the `
      + `canary is at ${current} now: this link approves nothing. Check the canary below `
      + "before you approve it.");
    return;
  }
  if (gateState(canary.gate, canary) === "open") {
    tell("approved", `Revision ${short(wanted)} is approved already.`);
    return;
  }
  askApproval({ namespace: canary.namespace, name: canary.name, checksum: canary.checksum });
}
