// The console's shared parts: API calls carrying the session's CSRF token, DOM building that
// only ever sets text (data is never parsed as markup), relative times, status badges, the
// sign-in form and the polling loop that keeps a page current.

const ROOT = document.body.dataset.root || "/";
const POLL_MS = 1000;
const HIDDEN_POLL_MS = 5000; // a tab left in the background still catches up, gently
let csrf = "";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const enc = encodeURIComponent;

// Characters that reorder or hide text (bidi overrides such as U+202E, zero-width and other
// format characters, controls, line separators, lone surrogates, invisible fillers): caller
// data shows them as `\u202e`, so a command or checksum reads as what it is. Tab and newline
// stay: they only move text, as a space would.
const INVISIBLE = /(?![\t\n])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u034f\u115f\u1160\u3164\uffa0]/gu;

function escapeOne(char) {
  const code = char.codePointAt(0);
  const hex = code.toString(16);
  return code > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, "0")}`;
}

// every text a page shows passes here (h() does it for its children and tooltips)
export function visible(text) {
  return String(text).replace(INVISIBLE, escapeOne);
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(`${ROOT}api/v1/${path}`, {
      method, headers, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "the service does not answer");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const reason = (data && typeof data.error === "string" && data.error)
      || text.split("\n")[0].slice(0, 200) || `HTTP ${response.status}`;
    throw new ApiError(response.status, reason);
  }
  return data;
}

const SHOWN_ATTRIBUTES = new Set(["title", "aria-label", "alt", "placeholder"]);

// h("td", {class: "x", dataset: {canary: id}}, "text", node, [more]): strings become text nodes
// (through visible()); dataset values stay as they are: they go back to the API
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (SHOWN_ATTRIBUTES.has(key)) node.setAttribute(key, visible(value));
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false || child === "") continue;
    node.append(child instanceof Node ? child : visible(child));
  }
  return node;
}

export function canaryHref(namespace, name) {
  return `${ROOT}ui/canary/${enc(namespace)}/${enc(name)}`;
}

// ---- time and numbers

export function relative(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  const size = Math.abs(seconds);
  if (Number.isNaN(size)) return "";
  if (size < 5) return "just now";
  let text;
  if (size < 60) text = `${size} s`;
  else if (size < 3600) text = `${Math.floor(size / 60)} min`;
  else if (size < 86400) text = `${Math.floor(size / 3600)} h`;
  else text = `${Math.floor(size / 86400)} d`;
  return seconds < 0 ? `in ${text}` : `${text} ago`;
}

export function ago(iso, never = "never") {
  if (!iso) return h("span", { class: "muted" }, never);
  return h("time", { datetime: iso, title: new Date(iso).toLocaleString(), dataset: { relative: "" } },
    relative(iso));
}

function tick() {
  for (const node of document.querySelectorAll("time[data-relative]")) {
    const text = relative(node.dateTime);
    if (node.textContent !== text) node.textContent = text;
  }
}

export function seconds(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value < 0.001) return "<1 ms";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(2)} s`;
  return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

export function between(startIso, endIso) {
  if (!startIso || !endIso) return "";
  return seconds((Date.parse(endIso) - Date.parse(startIso)) / 1000);
}

// ---- status badges

const KINDS = {
  succeeded: "ok", delivered: "ok", approved: "ok",
  failed: "bad", dead: "bad", warning: "bad",
  waiting: "wait", waitingpromotion: "wait", retrying: "wait", stale: "wait",
  progressing: "info", promoting: "info", finalising: "info", running: "info",
  initializing: "info", initialized: "info", open: "ok", rollback: "bad",
};

export function badge(text, kind) {
  const key = kind || KINDS[String(text).toLowerCase()] || "muted";
  return h("span", { class: `badge badge-${key}` }, text || "–");
}

export function revision(checksum) {
  if (!checksum) return h("span", { class: "muted" }, "none");
  return h("code", { class: "revision", title: checksum }, checksum.slice(0, 10));
}

// ---- sign-in, notices and polling

const content = document.getElementById("content");
const login = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const loginError = document.getElementById("login-error");
const sessionBar = document.getElementById("session");
const storeBadge = document.getElementById("store");
const notice = document.getElementById("notice");
const flashBox = document.getElementById("flash");
const updated = document.getElementById("updated");
let poller = null;

export function showNotice(text) {
  notice.textContent = visible(text || "");
  notice.hidden = !text;
}

let flashTimer = null;
export function flash(text) {
  flashBox.textContent = visible(text);
  flashBox.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { flashBox.hidden = true; }, 4000);
}

// The state store in use, from GET /api/v1/service: a memory store (configured, or the
// fallback where -state's directory could not be written) forgets every gate on a restart.
const BACKENDS = { sqlite: "SQLite", redis: "Redis", memory: "memory" };

function storeText(store) {
  const name = BACKENDS[store.backend] || store.backend;
  if (!store.fallback) return store.durable ? `state: ${name}` : `state: ${name} only`;
  return store.durable ? `state: ${name} (fallback)` : `state: ${name} only (fallback)`;
}

function storeTitle(store) {
  const lines = [];
  if (store.location) lines.push(`Kept in ${store.location}.`);
  if (!store.durable) lines.push("A restart of the service forgets every gate and pending event.");
  if (store.fallback) lines.push(`The -state directory could not be used: ${store.reason}`);
  return lines.join("\n");
}

async function showStore() {
  try {
    const { store } = await api("service");
    storeBadge.replaceChildren(badge(storeText(store),
      store.fallback || !store.durable ? "wait" : "muted"));
    storeBadge.title = storeTitle(store);
    storeBadge.dataset.backend = store.backend;
    storeBadge.dataset.fallback = String(store.fallback);
    storeBadge.hidden = false;
  } catch {
    storeBadge.hidden = true; // the pages work without it; the next sign-in tries again
  }
}

function signedIn(session) {
  showStore();
  csrf = session.csrf || "";
  if (session.required) {
    const scope = session.namespace === "*" ? "all namespaces" : `namespace ${session.namespace}`;
    document.getElementById("session-name").textContent =
      visible(`${session.name || "token"} (${scope})`);
  }
  sessionBar.hidden = !session.required;
  login.hidden = true;
  content.hidden = false;
}

export function showLogin(message = "") {
  if (poller) poller.stop();
  csrf = "";
  content.hidden = true;
  sessionBar.hidden = true;
  login.hidden = false;
  loginError.textContent = visible(message);
  loginError.hidden = !message;
  updated.textContent = "";
  document.getElementById("login-token").focus();
}

loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const field = document.getElementById("login-token");
  const button = loginForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const session = await api("session", { method: "POST", body: { token: field.value } });
    field.value = "";
    signedIn({ ...session, required: true, authenticated: true });
    poller.start();
  } catch (error) {
    const text = error.status === 401 || error.status === 403
      ? "This token is not accepted." : `Cannot sign in: ${error.message}`;
    loginError.textContent = visible(text);
    loginError.hidden = false;
  } finally {
    button.disabled = false;
  }
});

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await api("session", { method: "DELETE" });
  } catch (error) {
    if (error.status !== 401) { showNotice(`Cannot sign out: ${error.message}`); return; }
  }
  showLogin();
});

class Poller {
  constructor(load, render) {
    this.load = load;
    this.render = render;
    this.timer = null;
    this.busy = false;
    this.again = false;
    this.running = false;
  }

  start() { this.running = true; this.poll(); }

  stop() { this.running = false; clearTimeout(this.timer); }

  async poll() {
    clearTimeout(this.timer);
    if (!this.running) return;
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    try {
      this.render(await this.load());
      showNotice("");
      updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (error.status === 401) {
        this.busy = false;
        showLogin("Your session ended: sign in again.");
        return;
      }
      showNotice(`Cannot load the data: ${error.message}. Retrying…`);
    }
    this.busy = false;
    if (!this.running) return;
    if (this.again) { this.again = false; this.poll(); return; }
    this.timer = setTimeout(() => this.poll(), document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }
}

export function refresh() {
  if (poller) poller.poll();
}

export async function boot(load, render) {
  poller = new Poller(load, render);
  setInterval(tick, 1000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  for (;;) {
    try {
      const session = await api("session");
      if (session.required && !session.authenticated) showLogin();
      else { signedIn(session); poller.start(); }
      return;
    } catch (error) {
      showNotice(`Cannot reach the service's API: ${error.message}. Retrying…`);
      await new Promise((resolve) => { setTimeout(resolve, 2000); });
    }
  }
}
