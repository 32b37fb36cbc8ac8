// Every button marked data-action asks in the page's own dialog before it changes anything;
// the confirming button (data-action="confirm") sends the change to the API.

import { api, enc, flash, refresh, showLogin, visible } from "./common.js";

const short = (checksum) => (checksum ? checksum.slice(0, 10) : "");
const canary = (data) => `${data.name}.${data.namespace}`;
const path = (data, gate, verb) => `canaries/${enc(data.namespace)}/${enc(data.name)}/${gate}/${verb}`;
// an approval names the revision the operator saw, so a newer one still waits for its own
const bound = (data) => (data.checksum ? { checksum: data.checksum } : undefined);

const ACTIONS = {
  "gate-open": {
    title: (d) => `Approve ${canary(d)}?`,
    text: (d) => (d.checksum
      ? `This opens the gate for revision ${short(d.checksum)} only: Flagger goes on at its next `
        + "check. A later revision waits for its own approval."
      : "This opens the gate: Flagger goes on at its next check."),
    confirm: "Approve", tone: "primary",
    run: (d) => api(path(d, "gate", "open"), { method: "POST", body: bound(d) }),
    done: (d) => `Approved ${canary(d)}.`,
  },
  "gate-close": {
    title: (d) => `Close the gate of ${canary(d)}?`,
    text: () => "Flagger's gate check fails from its next call until the gate opens again.",
    confirm: "Close gate", tone: "primary",
    run: (d) => api(path(d, "gate", "close"), { method: "POST" }),
    done: (d) => `Closed the gate of ${canary(d)}.`,
  },
  "rollback-open": {
    title: (d) => `Roll back ${canary(d)}?`,
    text: (d) => `This opens the rollback gate${d.checksum ? ` for revision ${short(d.checksum)}` : ""}: `
      + "at its next rollback check Flagger stops the analysis and routes all traffic back to the "
      + "primary.",
    confirm: "Roll back", tone: "danger",
    run: (d) => api(path(d, "rollback", "open"), { method: "POST", body: bound(d) }),
    done: (d) => `Rolling back ${canary(d)}.`,
  },
  "rollback-close": {
    title: (d) => `Stop the rollback of ${canary(d)}?`,
    text: () => "This closes the rollback gate: Flagger's rollback check fails again.",
    confirm: "Close rollback gate", tone: "primary",
    run: (d) => api(path(d, "rollback", "close"), { method: "POST" }),
    done: (d) => `Closed the rollback gate of ${canary(d)}.`,
  },
  "task-cancel": {
    title: (d) => `Cancel a task of ${canary(d)}?`,
    text: (d) => `“${d.description}” is stopped with its processes, on whichever replica runs it.`,
    confirm: "Cancel task", tone: "danger",
    run: (d) => api(`tasks/${enc(d.task)}/cancel`, { method: "POST" }),
    done: (d) => `Cancelled “${d.description}”.`,
  },
};

const dialog = document.getElementById("confirm");
const title = document.getElementById("confirm-title");
const text = document.getElementById("confirm-text");
const error = document.getElementById("confirm-error");
const confirmButton = dialog.querySelector("[data-action=confirm]");
const cancelButton = dialog.querySelector("[data-action=cancel]");
let pending = null;

function ask(action, data) {
  pending = { action, data };
  title.textContent = visible(action.title(data));
  text.textContent = visible(action.text(data));
  confirmButton.textContent = action.confirm;
  confirmButton.className = action.tone;
  confirmButton.disabled = false;
  error.hidden = true;
  dialog.showModal();
  cancelButton.focus(); // the safe choice has the focus: Enter does not change anything
}

confirmButton.addEventListener("click", async () => {
  if (!pending) return;
  const { action, data } = pending;
  confirmButton.disabled = true;
  try {
    await action.run(data);
    dialog.close();
    flash(action.done(data));
    refresh();
  } catch (failure) {
    if (failure.status === 401) {
      dialog.close();
      showLogin("Your session ended: sign in again.");
      return;
    }
    error.textContent = visible(`Not done: ${failure.message}`);
    error.hidden = false;
    confirmButton.disabled = false;
  }
});

// the approve dialog of one revision, as its Approve button opens it (a chat link's
// ?approve=CHECKSUM, see approvelink.js)
export function askApproval(data) {
  ask(ACTIONS["gate-open"], data);
}

cancelButton.addEventListener("click", () => dialog.close());
dialog.addEventListener("close", () => { pending = null; });

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button || dialog.contains(button)) return;
  const action = ACTIONS[button.dataset.action];
  if (action) ask(action, { ...button.dataset });
});
