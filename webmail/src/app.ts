// pochta's webmail: a JMAP client. The server keeps the session (an
// HttpOnly cookie) and gives the app a CSRF token for every change; mail
// HTML is shown only as the server sanitised it, in a sandboxed frame.

import { Client, NotLoggedIn } from "./jmap";
import { $, clear, el } from "./dom";
import { roleNames, setLanguage, t } from "./i18n";
import { Addr, Attachment, buildMessage, parseAddrs } from "./mime";
import { verdicts } from "./verdict";
import { appleProfile, filtersForm, vacationForm } from "./filters";

// path is the mailbox's full name (its parents' names and its own joined
// by the server's hierarchy separator): the name Sieve's fileinto and IMAP
// know it by; depth is how many parents it has.
interface Mailbox { id: string; name: string; parentId: string | null; role: string | null; unreadEmails: number; totalEmails: number; path: string; depth: number }
interface Email {
  id: string; blobId: string; threadId: string; mailboxIds: Record<string, boolean>; keywords: Record<string, boolean>;
  from: Addr[] | null; to: Addr[] | null; cc: Addr[] | null; replyTo: Addr[] | null; subject: string | null;
  receivedAt: string; preview: string; hasAttachment: boolean; messageId: string[] | null; references: string[] | null;
  textBody?: Part[]; htmlBody?: Part[]; attachments?: Part[]; bodyValues?: Record<string, { value: string }>;
  [header: string]: unknown;
}
interface Part { partId: string; blobId: string; type: string; name: string | null; size: number; disposition: string | null }
interface WebSession { username: string; csrf: string; totp: boolean; signature: string; language: string; authservId: string; imageSenders: string[]; mailboxDelimiter: string }

const pageSize = 50;
const listProps = ["id", "blobId", "threadId", "mailboxIds", "keywords", "from", "to", "subject", "receivedAt", "preview", "hasAttachment"];
const readProps = [...listProps, "cc", "replyTo", "messageId", "references", "textBody", "htmlBody", "attachments", "bodyValues",
  "header:Authentication-Results:asText:all", "header:X-Spam:asText", "header:X-Spam-Score:asText"];

const state = {
  ws: null as WebSession | null,
  client: null as Client | null,
  mailboxes: [] as Mailbox[],
  current: "",
  query: "",
  position: 0,
  total: 0,
  pageLength: 0, // messages on the page (conversations fold several into a row)
  emails: [] as Email[],
  threads: {} as Record<string, string[]>, // threadId → its Email ids, oldest first
  sel: -1,
  open: null as Email | null,
  identities: [] as { id: string; email: string; name: string }[],
  composing: false,
  checked: new Set<string>(), // Email ids ticked in the list ("select many")
  lastCheck: -1, // the row last ticked, for shift-click ranges
  sort: "date",
  adv: null as Record<string, unknown> | null, // the advanced search's filter
  advForm: null as HTMLFormElement | null, // kept (with what was typed) while open, across redraws
};

// sorts are the list's orders (RFC 8621 §4.4.2 properties).
const sorts: Record<string, { property: string; isAscending: boolean }> = {
  date: { property: "receivedAt", isAscending: false }, from: { property: "from", isAscending: true },
  subject: { property: "subject", isAscending: true }, size: { property: "size", isAscending: false },
};

function client(): Client {
  if (!state.client) throw new NotLoggedIn();
  return state.client;
}

// ---- server calls outside JMAP (/web/)

async function postJSON(url: string, body: unknown): Promise<any> {
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.ws?.csrf ?? "" },
    body: JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) throw new NotLoggedIn();
  if (!r.ok) throw new Error(data.error || t("error"));
  return data;
}

function notice(msg: string, isError = false): void {
  const n = $("notice");
  n.textContent = msg;
  n.className = isError ? "notice error" : "notice";
  window.setTimeout(() => { if (n.textContent === msg) n.textContent = ""; }, 5000);
}

async function guard(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof NotLoggedIn) { location.reload(); return; }
    notice((e as Error).message || t("error"), true);
  }
}

// ---- login

function initLogin(): void {
  const form = document.getElementById("login") as HTMLFormElement | null;
  if (!form) return;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const err = $("login-error");
    err.textContent = "";
    void (async () => {
      const r = await fetch("/web/login", { method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form) as any) });
      const data = await r.json().catch(() => ({}));
      if (r.ok) { await start(data); return; }
      if (data.totp) {
        $("totp-row").hidden = false;
        (form.elements.namedItem("totp") as HTMLInputElement).focus();
      }
      err.textContent = data.totp && data.error === "code needed" ? t("code") : (data.error || t("wrongLogin"));
    })();
  });
}

// ---- the app

async function start(ws: WebSession): Promise<void> {
  state.ws = ws;
  setLanguage(ws.language || (navigator.language.startsWith("ru") ? "ru" : "en"));
  state.client = new Client(ws.csrf);
  await client().start();
  const r = await client().call([["Identity/get", { accountId: client().accountId }, "i"]]);
  state.identities = r.i.list;
  layout();
  await loadMailboxes();
  const inbox = state.mailboxes.find((m) => m.role === "inbox");
  await selectMailbox(inbox ? inbox.id : state.mailboxes[0]?.id ?? "");
  let timer = 0;
  client().events(() => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void guard(refresh), 200);
  });
}

function layout(): void {
  const app = $("app");
  app.className = "app";
  clear(app,
    el("header", { class: "bar" },
      el("button", { class: "phone", type: "button", "aria-label": "Folders", onclick: () => document.body.classList.toggle("folders-open") }, "☰"),
      el("strong", { class: "brand" }, "pochta"),
      el("form", { id: "search", role: "search", onsubmit: (e: Event) => { e.preventDefault(); void guard(search); } },
        el("input", { id: "q", type: "search", name: "q", placeholder: t("search"), "aria-label": t("search") })),
      el("button", { id: "compose-btn", type: "button", onclick: () => void guard(() => compose("new")) }, t("compose")),
      el("button", { id: "settings-btn", type: "button", onclick: () => void guard(showSettings) }, t("settings")),
      el("button", { id: "logout-btn", type: "button", onclick: () => void guard(logout) }, t("logout"))),
    el("nav", { id: "folders", "aria-label": "Folders" }),
    el("section", { id: "list", "aria-label": "Messages" }),
    el("section", { id: "reader", "aria-live": "polite" }, el("p", { class: "hint" }, t("shortcuts"))),
    el("div", { id: "notice", class: "notice", role: "status" }));
}

// mailboxName names a folder in menus and titles: a role's translated
// name, else its full path ("Lists/Go"); leaf gives the last part only,
// for the indented folder tree.
function mailboxName(m: Mailbox, leaf = false): string {
  const lang = document.documentElement.lang === "ru" ? "ru" : "en";
  return m.role && roleNames[m.role] ? roleNames[m.role][lang] : leaf ? m.name : m.path;
}

function byRole(role: string): Mailbox | undefined {
  return state.mailboxes.find((m) => m.role === role);
}

async function loadMailboxes(): Promise<void> {
  const r = await client().call([["Mailbox/get", { accountId: client().accountId, properties: ["id", "name", "parentId", "role", "unreadEmails", "totalEmails"] }, "m"]]);
  const list = r.m.list as Mailbox[];
  // JMAP names a mailbox by its last part and its parent (RFC 8621 §2);
  // the full path is what the server's other interfaces use.
  const byId = new Map(list.map((m) => [m.id, m]));
  const sep = state.ws?.mailboxDelimiter || "/";
  const root = new Map<string, Mailbox>();
  for (const m of list) {
    const parts = [m.name];
    let top = m;
    for (let p = m.parentId ? byId.get(m.parentId) : undefined; p && parts.length <= list.length; p = p.parentId ? byId.get(p.parentId) : undefined) {
      parts.unshift(p.name);
      top = p;
    }
    m.path = parts.join(sep);
    m.depth = parts.length - 1;
    root.set(m.id, top);
  }
  // Role folders first, each with its children under it, then the others
  // in path order.
  const order = ["inbox", "drafts", "sent", "archive", "junk", "trash"];
  const rank = (m: Mailbox) => {
    const r = root.get(m.id)?.role;
    return r && order.includes(r) ? order.indexOf(r) : order.length;
  };
  const cmp = (a: Mailbox, b: Mailbox) => {
    const x = a.path.split(sep), y = b.path.split(sep);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i].localeCompare(y[i]);
    return x.length - y.length;
  };
  state.mailboxes = list.sort((a, b) => rank(a) - rank(b) || cmp(a, b));
  renderFolders();
}

function renderFolders(): void {
  clear($("folders"), el("ul", {}, ...state.mailboxes.map((m) =>
    el("li", {},
      el("button", {
        type: "button", class: "folder" + (m.id === state.current && !state.query ? " current" : ""), "data-id": m.id, "data-role": m.role ?? "", "data-depth": String(Math.min(m.depth, 4)), title: m.path,
        onclick: () => { document.body.classList.remove("folders-open"); void guard(() => selectMailbox(m.id)); },
        ondragover: (ev: Event) => ev.preventDefault(),
        ondrop: (ev: Event) => {
          ev.preventDefault();
          const id = (ev as DragEvent).dataTransfer?.getData("application/x-pochta-email");
          if (id) void guard(() => moveEmail(id, m.id));
        },
      }, el("span", { class: "name" }, mailboxName(m, true)), m.unreadEmails > 0 ? el("span", { class: "unread", "aria-label": "unread" }, String(m.unreadEmails)) : null)))),
    // On a phone the header has no room for Settings: it is here.
    el("button", { type: "button", class: "folder phone", onclick: () => { document.body.classList.remove("folders-open"); void guard(showSettings); } }, t("settings")));
}

async function selectMailbox(id: string): Promise<void> {
  state.current = id;
  state.query = "";
  state.adv = null;
  state.position = 0;
  state.checked.clear();
  ($("q") as HTMLInputElement).value = "";
  renderFolders();
  await loadList();
}

async function search(): Promise<void> {
  state.query = ($("q") as HTMLInputElement).value.trim();
  state.adv = null;
  state.position = 0;
  state.checked.clear();
  renderFolders();
  await loadList();
}

async function loadList(): Promise<void> {
  const c = client();
  const filter = state.adv ?? (state.query ? { text: state.query } : { inMailbox: state.current });
  const r = await c.call([
    ["Email/query", { accountId: c.accountId, filter, sort: [sorts[state.sort]], position: state.position, limit: pageSize, calculateTotal: true }, "q"],
    ["Email/get", { accountId: c.accountId, "#ids": { resultOf: "q", name: "Email/query", path: "/ids" }, properties: listProps }, "g"],
    ["Thread/get", { accountId: c.accountId, "#ids": { resultOf: "g", name: "Email/get", path: "/list/*/threadId" } }, "t"],
  ]);
  state.total = r.q.total ?? 0;
  state.pageLength = (r.q.ids as string[]).length;
  state.threads = {};
  for (const th of r.t.list as { id: string; emailIds: string[] }[]) state.threads[th.id] = th.emailIds;
  const byId = new Map((r.g.list as Email[]).map((e) => [e.id, e]));
  // Conversation view: one row per thread on the page, its newest message.
  const shown = new Set<string>();
  state.emails = (r.q.ids as string[]).map((id) => byId.get(id)).filter((e): e is Email => {
    if (!e || (!state.query && !state.adv && shown.has(e.threadId))) return false;
    shown.add(e.threadId);
    return true;
  });
  const openId = state.open?.id;
  state.sel = state.emails.findIndex((e) => e.id === openId);
  renderList();
}

function who(list: Addr[] | null): string {
  if (!list || list.length === 0) return "";
  return list.map((a) => (a.email === state.ws?.username ? t("me") : a.name || a.email)).join(", ");
}

function fmtDate(s: string): string {
  const d = new Date(s);
  const now = new Date();
  return d.toDateString() === now.toDateString() ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleDateString();
}

function renderList(): void {
  const mb = state.mailboxes.find((m) => m.id === state.current);
  const title = state.adv ? t("results") : state.query ? t("results") + ": " + state.query : mb ? mailboxName(mb) : "";
  const outgoing = mb?.role === "sent" || mb?.role === "drafts";
  const end = Math.min(state.position + state.pageLength, state.total);
  const head = [el("h2", { class: "list-title" }, title), listTools()];
  const rest = [
    state.emails.length === 0 ? el("p", { class: "empty" }, t("noMessages")) :
      el("ul", { id: "messages" }, ...state.emails.map((e, i) =>
        el("li", { class: (e.keywords.$seen ? "" : "unseen ") + (i === state.sel ? "selected" : "") },
          el("input", { type: "checkbox", class: "pick", "data-id": e.id, "aria-label": e.subject || t("noSubject"),
            ...(state.checked.has(e.id) ? { checked: true } : {}), onclick: (ev: Event) => pick(i, ev as MouseEvent) }),
          el("button", { type: "button", class: "row", "data-id": e.id, draggable: "true", onclick: () => void guard(() => openMessage(i)),
            ondragstart: (ev: Event) => (ev as DragEvent).dataTransfer?.setData("application/x-pochta-email", e.id) },
            el("span", { class: "from" }, outgoing ? who(e.to) : who(e.from)),
            el("span", { class: "subject" }, e.subject || t("noSubject")),
            (state.threads[e.threadId]?.length ?? 1) > 1 ? el("span", { class: "count", "aria-label": "messages in the conversation" }, String(state.threads[e.threadId].length)) : null,
            el("span", { class: "preview" }, e.preview || ""),
            el("span", { class: "date" }, (e.keywords.$flagged ? "★ " : "") + (e.hasAttachment ? "📎 " : "") + fmtDate(e.receivedAt)))))),
    el("div", { class: "pager" },
      el("button", { type: "button", disabled: state.position === 0, onclick: () => { state.position = Math.max(0, state.position - pageSize); void guard(loadList); } }, t("prev")),
      el("span", {}, state.total ? `${state.position + 1}–${end} / ${state.total}` : ""),
      el("button", { type: "button", disabled: end >= state.total, onclick: () => { state.position += pageSize; void guard(loadList); } }, t("next")))];
  const list = $("list");
  const form = state.advForm;
  if (form && form.parentElement === list) {
    // The open advanced search stays in place (focus, what is typed) when
    // a push redraws the list around it.
    while (list.firstChild && list.firstChild !== form) list.firstChild.remove();
    while (form.nextSibling) form.nextSibling.remove();
    form.before(...head);
    form.after(...rest);
    return;
  }
  clear(list, ...head, form, ...rest);
}

// ---- many messages at once: ticks (shift-click for a range), the
// bulk actions, the sort and the advanced search

function pick(i: number, ev: MouseEvent): void {
  const on = (ev.target as HTMLInputElement).checked;
  const from = ev.shiftKey && state.lastCheck >= 0 ? Math.min(state.lastCheck, i) : i;
  const to = ev.shiftKey && state.lastCheck >= 0 ? Math.max(state.lastCheck, i) : i;
  for (let k = from; k <= to; k++) {
    const id = state.emails[k]?.id;
    if (id && on) state.checked.add(id);
    else if (id) state.checked.delete(id);
  }
  state.lastCheck = i;
  renderList();
}

function listTools(): HTMLElement {
  const sortSel = el("select", { id: "sort", "aria-label": t("sortBy"), onchange: (ev: Event) => {
    state.sort = (ev.target as HTMLSelectElement).value;
    state.position = 0;
    void guard(loadList);
  } }, ...Object.keys(sorts).map((k) => el("option", { value: k, ...(k === state.sort ? { selected: true } : {}) }, t(("sort_" + k) as "sort_date"))));
  const n = state.checked.size;
  const bulk = n === 0 ? null : el("div", { id: "bulk", role: "toolbar" },
    el("span", {}, String(n) + " " + t("selected")),
    el("button", { type: "button", id: "bulk-read", onclick: () => void guard(() => bulkUpdate({ "keywords/$seen": true })) }, t("markRead")),
    el("button", { type: "button", id: "bulk-unread", onclick: () => void guard(() => bulkUpdate({ "keywords/$seen": null })) }, t("markUnread")),
    el("button", { type: "button", id: "bulk-delete", onclick: () => void guard(bulkDelete) }, t("delete")),
    byRole("junk") ? el("button", { type: "button", id: "bulk-spam", onclick: () => void guard(() => bulkUpdate({ mailboxIds: { [byRole("junk")!.id]: true } })) }, t("spam")) : null,
    el("select", { id: "bulk-move", "aria-label": t("moveTo"), onchange: (ev: Event) => {
      const dest = (ev.target as HTMLSelectElement).value;
      if (dest) void guard(() => bulkUpdate({ mailboxIds: { [dest]: true } }));
    } }, el("option", { value: "" }, t("moveTo")), ...state.mailboxes.map((m) => el("option", { value: m.id }, mailboxName(m)))));
  return el("div", { class: "list-tools" }, sortSel,
    el("button", { type: "button", id: "adv-btn", "aria-expanded": state.advForm ? "true" : "false", onclick: () => toggleAdvanced() }, t("advanced")), bulk);
}

// rowIds are the messages rows of the list stand for (the ticked ones,
// or one dragged). In a folder's conversation view a row stands for its
// whole conversation, so every message of its thread that is in this
// folder (as Gmail and Fastmail do); in search results each row is one
// message.
async function rowIds(ticked: string[]): Promise<string[]> {
  if (state.query || state.adv) return ticked;
  const c = client();
  const threadOf = new Map(state.emails.map((e) => [e.id, e.threadId]));
  const all = new Set(ticked);
  for (const id of ticked) for (const x of state.threads[threadOf.get(id) ?? ""] ?? []) all.add(x);
  if (all.size === ticked.length) return ticked;
  const r = await c.call([["Email/get", { accountId: c.accountId, ids: [...all], properties: ["id", "mailboxIds"] }, "g"]]);
  const here = (r.g.list as Email[]).filter((e) => e.mailboxIds[state.current]).map((e) => e.id);
  return [...new Set([...ticked, ...here])];
}

// bulkUpdate applies one change to every message of the ticked rows in
// one Email/set.
async function bulkUpdate(change: Record<string, unknown>): Promise<void> {
  const c = client();
  const update: Record<string, unknown> = {};
  for (const id of await rowIds([...state.checked])) update[id] = change;
  const r = await c.call([["Email/set", { accountId: c.accountId, update }, "s"]]);
  state.checked.clear();
  if (state.open && update[state.open.id] && r.s.updated?.[state.open.id] !== undefined) {
    state.open = null;
    clear($("reader"));
  }
  await refresh();
}

// bulkDelete moves the ticked messages to Trash, or destroys them there.
async function bulkDelete(): Promise<void> {
  const trash = byRole("trash");
  if (trash && state.current !== trash.id) {
    await bulkUpdate({ mailboxIds: { [trash.id]: true } });
    return;
  }
  const c = client();
  await c.call([["Email/set", { accountId: c.accountId, destroy: await rowIds([...state.checked]) }, "d"]]);
  state.checked.clear();
  await refresh();
}

function toggleAdvanced(): void {
  state.advForm = state.advForm ? null : advancedForm();
  renderList();
}

// advancedForm's inputs are not named like Element methods ("before",
// "after", "remove"): a form's named inputs shadow them.
function advancedForm(): HTMLFormElement {
  const field = (name: string, label: string, type = "text") => el("label", {}, label, el("input", { name, type }));
  const f = el("form", { id: "adv-form", role: "search" },
    field("from", t("from")), field("to", t("to")), field("subject", t("subject")),
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "hasAttachment" }), t("hasAttachment")),
    field("since", t("dateFrom"), "date"), field("until", t("dateTo"), "date"),
    el("label", {}, t("folder"), el("select", { name: "folder" }, el("option", { value: "" }, t("anyFolder")),
      ...state.mailboxes.map((m) => el("option", { value: m.id }, mailboxName(m))))),
    el("button", { type: "submit" }, t("search")));
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = (n: string) => (f.elements.namedItem(n) as HTMLInputElement).value.trim();
    const conds: Record<string, unknown>[] = [];
    for (const k of ["from", "to", "subject"]) if (v(k)) conds.push({ [k]: v(k) });
    if ((f.elements.namedItem("hasAttachment") as HTMLInputElement).checked) conds.push({ hasAttachment: true });
    if (v("since")) conds.push({ after: v("since") + "T00:00:00Z" });
    if (v("until")) conds.push({ before: v("until") + "T23:59:59Z" });
    if (v("folder")) conds.push({ inMailbox: v("folder") });
    state.adv = { operator: "AND", conditions: conds };
    state.query = "";
    state.position = 0;
    state.checked.clear();
    renderFolders();
    void guard(loadList);
  });
  return f;
}

async function refresh(): Promise<void> {
  await loadMailboxes();
  await loadList();
}

// ---- reading

async function openMessage(i: number): Promise<void> {
  const e0 = state.emails[i];
  if (!e0) return;
  state.sel = i;
  await openEmail(e0.id, !!e0.keywords.$seen);
  e0.keywords.$seen = true;
  renderList();
}

// openEmail shows one message (marking it read) with the other messages
// of its conversation listed above it.
async function openEmail(id: string, seen: boolean): Promise<void> {
  const c = client();
  const calls: [string, Record<string, unknown>, string][] = [["Email/get", { accountId: c.accountId, ids: [id], properties: readProps, fetchTextBodyValues: true }, "g"]];
  if (!seen) calls.unshift(["Email/set", { accountId: c.accountId, update: { [id]: { "keywords/$seen": true } } }, "s"]);
  const r = await c.call(calls);
  const e = r.g.list[0] as Email;
  if (!e) return;
  e.keywords.$seen = true;
  state.open = e;
  document.body.classList.add("reading");
  const others = (state.threads[e.threadId] ?? []).filter((x) => x !== id);
  let conv: Email[] = [];
  if (others.length > 0) {
    const t2 = await c.call([["Email/get", { accountId: c.accountId, ids: [...others, id], properties: ["id", "from", "subject", "receivedAt", "keywords"] }, "g"]]);
    conv = t2.g.list as Email[];
  }
  renderMessage(e, imagesAllowed(e), conv);
}

// imagesAllowed: the sender is one whose remote images the user chose to
// always see (a setting kept on the server).
function imagesAllowed(e: Email): boolean {
  const from = e.from?.[0]?.email?.toLowerCase();
  return !!from && (state.ws?.imageSenders ?? []).includes(from);
}

async function allowSender(e: Email, allow: boolean, conv: Email[]): Promise<void> {
  const from = e.from?.[0]?.email;
  if (!from) return;
  state.ws = await postJSON("/web/remote-images", { sender: from, allow });
  renderMessage(e, allow, conv);
}

function renderMessage(e: Email, images = false, conv: Email[] = []): void {
  const c = client();
  const inJunk = state.mailboxes.find((m) => m.id === Object.keys(e.mailboxIds)[0])?.role === "junk";
  const html = (e.htmlBody ?? []).find((p) => p.type === "text/html");
  let body: Node;
  if (html) {
    const frame = el("iframe", { class: "body", title: e.subject || "message", sandbox: "allow-popups allow-popups-to-escape-sandbox", referrerpolicy: "no-referrer",
      src: "/web/html/" + encodeURIComponent(html.blobId) + (images ? "?images=1" : "") });
    body = el("div", {},
      images ? (imagesAllowed(e) ? el("p", { class: "images" },
        el("button", { type: "button", id: "never-images", onclick: () => void guard(() => allowSender(e, false, conv)) }, t("neverImages") + " " + e.from![0].email)) : null) :
      el("p", { class: "images" }, t("imagesBlocked") + " ",
        el("button", { type: "button", id: "show-images", onclick: () => renderMessage(e, true, conv) }, t("showImages")), " ",
        e.from?.[0] ? el("button", { type: "button", id: "always-images", onclick: () => void guard(() => allowSender(e, true, conv)) }, t("alwaysImages") + " " + e.from[0].email) : null),
      frame);
  } else {
    const text = (e.textBody ?? []).map((p) => e.bodyValues?.[p.partId]?.value ?? "").join("\n");
    body = el("pre", { class: "body text" }, text);
  }
  const atts = e.attachments ?? [];
  const moveSel = el("select", { "aria-label": t("moveTo"), onchange: (ev: Event) => { const v = (ev.target as HTMLSelectElement).value; if (v) void guard(() => moveOpen(v)); } },
    el("option", { value: "" }, t("moveTo")), ...state.mailboxes.filter((m) => !e.mailboxIds[m.id]).map((m) => el("option", { value: m.id }, mailboxName(m))));
  const btn = (id: string, label: string, fn: () => Promise<void>) => el("button", { type: "button", id, onclick: () => void guard(fn) }, label);
  clear($("reader"),
    el("div", { class: "toolbar", role: "toolbar" },
      el("button", { type: "button", class: "phone", onclick: () => document.body.classList.remove("reading") }, t("back")),
      btn("reply-btn", t("reply"), () => compose("reply", e)),
      btn("replyall-btn", t("replyAll"), () => compose("all", e)),
      btn("forward-btn", t("forward"), () => compose("forward", e)),
      btn("forward-attach-btn", t("forwardAttach"), () => compose("attach", e)),
      btn("archive-btn", t("archive"), archiveOpen),
      btn("delete-btn", t("delete"), deleteOpen),
      inJunk ? btn("notspam-btn", t("notSpam"), notSpamOpen) : btn("spam-btn", t("spam"), spamOpen),
      btn("flag-btn", e.keywords.$flagged ? t("unflag") : t("flag"), () => setKeyword("$flagged", !e.keywords.$flagged)),
      btn("unread-btn", t("markUnread"), () => setKeyword("$seen", false)),
      moveSel),
    conv.length > 1 ? el("ol", { class: "conversation", "aria-label": "conversation" }, ...conv
      .sort((x, y) => x.receivedAt.localeCompare(y.receivedAt))
      .map((x) => el("li", { class: x.id === e.id ? "current" : "" },
        el("button", { type: "button", onclick: () => void guard(() => openEmail(x.id, !!x.keywords.$seen)) }, fmtDate(x.receivedAt) + " · " + who(x.from) + " · " + (x.subject || t("noSubject")))))) : null,
    el("article", { class: "message" },
      el("h2", { id: "subject" }, e.subject || t("noSubject")),
      el("dl", { class: "headers" },
        el("dt", {}, t("from")), el("dd", {}, fullAddrs(e.from)),
        el("dt", {}, t("to")), el("dd", {}, fullAddrs(e.to)),
        e.cc?.length ? el("dt", {}, t("cc")) : null, e.cc?.length ? el("dd", {}, fullAddrs(e.cc)) : null,
        el("dt", {}, t("date")), el("dd", {}, new Date(e.receivedAt).toLocaleString())),
      el("p", { class: "verdict", id: "verdict" }, verdicts(e["header:Authentication-Results:asText:all"] as string[] | null, e["header:X-Spam:asText"] as string | null, state.ws?.authservId ?? "", t).join(" · ")),
      body,
      atts.length ? el("div", { class: "attachments" }, el("h3", {}, t("attachments")),
        el("ul", {}, ...atts.map((p) => el("li", {}, el("a", { href: c.downloadURL(p.blobId, p.name || "attachment", p.type), download: p.name || "attachment" }, p.name || p.type), " (" + size(p.size) + ")")))) : null,
      el("p", {}, el("a", { id: "original", href: "/web/original/" + encodeURIComponent(e.blobId), target: "_blank", rel: "noopener" }, t("showOriginal")))));
}

function fullAddrs(list: Addr[] | null): string {
  return (list ?? []).map((a) => (a.name ? `${a.name} <${a.email}>` : a.email)).join(", ");
}

function size(n: number): string {
  return n < 1024 ? n + " B" : n < 1 << 20 ? Math.round(n / 1024) + " KB" : (n / (1 << 20)).toFixed(1) + " MB";
}

// ---- actions

async function setKeyword(kw: string, on: boolean): Promise<void> {
  const e = state.open;
  if (!e) return;
  const c = client();
  await c.call([["Email/set", { accountId: c.accountId, update: { [e.id]: { ["keywords/" + kw]: on ? true : null } } }, "s"]]);
  e.keywords[kw] = on;
  if (!on) delete e.keywords[kw];
  renderMessage(e);
  await refresh();
}

// moveOpen moves the open message (the same store move as IMAP MOVE) and
// opens the next one.
async function moveOpen(dest: string): Promise<void> {
  const e = state.open;
  if (!e) return;
  const c = client();
  await c.call([["Email/set", { accountId: c.accountId, update: { [e.id]: { mailboxIds: { [dest]: true } } } }, "s"]]);
  await afterRemoval();
}

// moveEmail moves a row dragged from the list (its conversation in this
// folder) onto a folder.
async function moveEmail(id: string, dest: string): Promise<void> {
  const c = client();
  const ids = await rowIds([id]);
  await c.call([["Email/set", { accountId: c.accountId, update: Object.fromEntries(ids.map((x) => [x, { mailboxIds: { [dest]: true } }])) }, "s"]]);
  if (state.open && ids.includes(state.open.id)) { state.open = null; clear($("reader")); }
  await refresh();
}

// contacts are the people the user has written to (from Sent), for
// address completion; read again after each message sent.
let contacts: Promise<string[]> | null = null;

function loadContacts(): Promise<string[]> {
  const sent = byRole("sent");
  if (!contacts && sent) {
    const c = client();
    contacts = c.call([
      ["Email/query", { accountId: c.accountId, filter: { inMailbox: sent.id }, sort: [{ property: "receivedAt", isAscending: false }], limit: 200 }, "q"],
      ["Email/get", { accountId: c.accountId, "#ids": { resultOf: "q", name: "Email/query", path: "/ids" }, properties: ["to", "cc", "bcc"] }, "g"],
    ]).then((r) => {
      const seen = new Map<string, string>();
      for (const e of r.g.list as { to: Addr[] | null; cc: Addr[] | null; bcc: Addr[] | null }[])
        for (const a of [...(e.to ?? []), ...(e.cc ?? []), ...(e.bcc ?? [])])
          if (!seen.has(a.email)) seen.set(a.email, a.name ? `${a.name} <${a.email}>` : a.email);
      return [...seen.values()];
    });
  }
  return contacts ?? Promise.resolve([]);
}

async function afterRemoval(): Promise<void> {
  const i = state.sel;
  state.open = null;
  clear($("reader"));
  document.body.classList.remove("reading");
  await refresh();
  if (state.emails.length > 0 && i >= 0) await openMessage(Math.min(i, state.emails.length - 1));
}

async function archiveOpen(): Promise<void> {
  const a = byRole("archive");
  if (a) await moveOpen(a.id);
}

async function deleteOpen(): Promise<void> {
  const e = state.open;
  const trash = byRole("trash");
  if (!e) return;
  if (trash && !e.mailboxIds[trash.id]) {
    await moveOpen(trash.id);
    return;
  }
  const c = client();
  await c.call([["Email/set", { accountId: c.accountId, destroy: [e.id] }, "d"]]);
  await afterRemoval();
}

async function spamOpen(): Promise<void> {
  const j = byRole("junk");
  if (j) await moveOpen(j.id);
}

async function notSpamOpen(): Promise<void> {
  const i = byRole("inbox");
  if (i) await moveOpen(i.id);
}

// ---- writing

let draftId = "";

// compose opens the editor: a new message, a reply (to the sender or
// all), a forward (the text inline and the original attached) or a
// forward as attachment ("attach": the original as a message/rfc822
// attachment, nothing inline).
async function compose(mode: "new" | "reply" | "all" | "forward" | "attach", orig?: Email): Promise<void> {
  if (state.composing) return;
  state.composing = true;
  draftId = "";
  const me = state.ws?.username ?? "";
  let to: Addr[] = [], cc: Addr[] = [], subject = "", text = "";
  const attachments: Attachment[] = [];
  const sig = state.ws?.signature ? "\n\n-- \n" + state.ws.signature : "";
  if (orig) {
    const quoted = (orig.textBody ?? []).map((p) => orig.bodyValues?.[p.partId]?.value ?? "").join("\n");
    const s = orig.subject ?? "";
    if (mode === "forward" || mode === "attach") {
      subject = /^fwd?:/i.test(s) ? s : "Fwd: " + s;
      // Forwarded both ways: the text inline, the whole message attached.
      text = mode === "attach" ? sig : sig + "\n\n---------- " + t("forward") + " ----------\n" + t("from") + ": " + fullAddrs(orig.from) + "\n" + t("date") + ": " +
        new Date(orig.receivedAt).toLocaleString() + "\n" + t("subject") + ": " + s + "\n" + t("to") + ": " + fullAddrs(orig.to) + "\n\n" + quoted +
        "\n\n" + t("fwdNote") + "\n";
      const r = await fetch(client().downloadURL(orig.blobId, "message.eml", "message/rfc822"), { credentials: "same-origin" });
      attachments.push({ name: (s || "message").replace(/[\\/:*?"<>|]/g, "_") + ".eml", type: "message/rfc822", data: new Uint8Array(await r.arrayBuffer()) });
    } else {
      subject = /^re:/i.test(s) ? s : "Re: " + s;
      to = orig.replyTo?.length ? orig.replyTo : orig.from ?? [];
      if (mode === "all") {
        const seen = new Set([me, ...to.map((a) => a.email)]);
        for (const a of [...(orig.to ?? []), ...(orig.cc ?? [])]) if (!seen.has(a.email)) { seen.add(a.email); cc.push(a); }
      }
      text = sig + "\n\n" + `${new Date(orig.receivedAt).toLocaleString()}, ${who(orig.from)}:\n` + quoted.split("\n").map((l) => "> " + l).join("\n");
    }
  } else {
    text = sig;
  }
  const list = (a: Addr[]) => a.map((x) => (x.name ? `${x.name} <${x.email}>` : x.email)).join(", ");
  const files = el("ul", { class: "files" });
  const showFiles = () => clear(files, ...attachments.map((a, i) => el("li", {}, a.name + " (" + size(a.data.length) + ") ",
    el("button", { type: "button", onclick: () => { attachments.splice(i, 1); showFiles(); } }, "×"))));
  showFiles();
  const addFiles = async (fl: FileList | null) => {
    for (const f of Array.from(fl ?? [])) attachments.push({ name: f.name, type: f.type || "application/octet-stream", data: new Uint8Array(await f.arrayBuffer()) });
    showFiles();
  };
  const datalist = el("datalist", { id: "contacts" });
  void loadContacts().then((list) => clear(datalist, ...list.map((v) => el("option", { value: v }))));
  const form = el("form", { id: "compose", class: "compose", "aria-label": t("compose") },
    el("label", {}, t("identity"), el("select", { name: "identity" }, ...state.identities.map((i) => el("option", { value: i.id }, i.name ? `${i.name} <${i.email}>` : i.email)))),
    el("label", {}, t("to"), el("input", { name: "to", value: list(to), list: "contacts", autocomplete: "off" })),
    el("label", {}, t("cc"), el("input", { name: "cc", value: list(cc), list: "contacts", autocomplete: "off" })),
    el("label", {}, t("bcc"), el("input", { name: "bcc", list: "contacts", autocomplete: "off" })),
    datalist,
    el("label", {}, t("subject"), el("input", { name: "subject", value: subject })),
    el("textarea", { name: "text", rows: "14", "aria-label": "text" }),
    el("label", { class: "attach" }, t("attach"), el("input", { type: "file", name: "files", multiple: true, onchange: (ev: Event) => void addFiles((ev.target as HTMLInputElement).files) })),
    files,
    el("div", { class: "actions" },
      el("button", { type: "submit", id: "send-btn" }, t("send")),
      el("button", { type: "button", id: "draft-btn", onclick: () => void guard(async () => { await saveDraft(form, attachments); notice(t("draftSaved")); }) }, t("saveDraft")),
      el("button", { type: "button", id: "discard-btn", onclick: () => closeCompose() }, t("discard"))));
  (form.elements.namedItem("text") as HTMLTextAreaElement).value = text;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void guard(async () => { await send(form, attachments); contacts = null; closeCompose(); notice(t("sent")); await refresh(); });
  });
  form.addEventListener("dragover", (ev) => ev.preventDefault());
  form.addEventListener("drop", (ev) => { ev.preventDefault(); void addFiles(ev.dataTransfer?.files ?? null); });
  const draftTimer = window.setInterval(() => void guard(() => saveDraft(form, attachments)), 60000);
  form.dataset.timer = String(draftTimer);
  if (orig && mode !== "forward" && mode !== "attach") {
    const irt = orig.messageId ?? [];
    form.dataset.inReplyTo = irt.join(" ");
    form.dataset.references = [...(orig.references ?? []), ...irt].join(" ");
  }
  document.body.append(form);
  const first = (mode === "new" || mode === "forward" || mode === "attach" ? form.elements.namedItem("to") : form.elements.namedItem("text")) as HTMLElement;
  first.focus();
}

function closeCompose(): void {
  const f = document.getElementById("compose");
  if (f) { window.clearInterval(Number(f.dataset.timer)); f.remove(); }
  state.composing = false;
}

function draftOf(form: HTMLFormElement, attachments: Attachment[]) {
  const v = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).value;
  const ident = state.identities.find((i) => i.id === v("identity")) ?? state.identities[0];
  return {
    ident,
    bcc: parseAddrs(v("bcc")),
    draft: {
      from: { name: ident.name, email: ident.email }, to: parseAddrs(v("to")), cc: parseAddrs(v("cc")), subject: v("subject"), text: v("text"),
      inReplyTo: form.dataset.inReplyTo ? form.dataset.inReplyTo.split(" ") : undefined,
      references: form.dataset.references ? form.dataset.references.split(" ") : undefined,
      attachments,
    },
  };
}

async function importDraft(form: HTMLFormElement, attachments: Attachment[]) {
  const c = client();
  const d = draftOf(form, attachments);
  const blobId = await c.upload(new Blob([buildMessage(d.draft) as BlobPart]), "message/rfc822");
  const drafts = byRole("drafts") ?? byRole("sent");
  if (!drafts) throw new Error("no Drafts folder");
  return { c, d, blobId, drafts };
}

async function saveDraft(form: HTMLFormElement, attachments: Attachment[]): Promise<void> {
  const { c, blobId, drafts } = await importDraft(form, attachments);
  const calls: [string, Record<string, unknown>, string][] = [["Email/import", { accountId: c.accountId, emails: { m: { blobId, mailboxIds: { [drafts.id]: true }, keywords: { $draft: true, $seen: true } } } }, "i"]];
  if (draftId) calls.push(["Email/set", { accountId: c.accountId, destroy: [draftId] }, "d"]);
  const r = await c.call(calls);
  draftId = r.i.created?.m?.id ?? "";
}

// send stores the message in Drafts and submits it (RFC 8621 §7.5); on
// success the server moves it to Sent. Bcc goes only into the envelope.
async function send(form: HTMLFormElement, attachments: Attachment[]): Promise<void> {
  const { c, d, blobId, drafts } = await importDraft(form, attachments);
  const rcpt = [...d.draft.to, ...d.draft.cc, ...d.bcc].map((a) => ({ email: a.email }));
  if (rcpt.length === 0) throw new Error(t("to") + "?");
  const sent = byRole("sent") ?? drafts;
  const calls: [string, Record<string, unknown>, string][] = [
    ["Email/import", { accountId: c.accountId, emails: { m: { blobId, mailboxIds: { [drafts.id]: true }, keywords: { $draft: true, $seen: true } } } }, "i"],
    ["EmailSubmission/set", {
      accountId: c.accountId,
      create: { s: { identityId: d.ident.id, emailId: "#m", envelope: { mailFrom: { email: d.ident.email }, rcptTo: rcpt } } },
      onSuccessUpdateEmail: { "#s": { mailboxIds: { [sent.id]: true }, "keywords/$draft": null } },
    }, "s"],
  ];
  if (draftId) calls.push(["Email/set", { accountId: c.accountId, destroy: [draftId] }, "d"]);
  const r = await c.call(calls);
  if (r.s.notCreated?.s) throw new Error(r.s.notCreated.s.description || r.s.notCreated.s.type);
}

// ---- settings

async function showSettings(): Promise<void> {
  const ws = state.ws!;
  document.body.classList.add("reading");
  const status = (id: string) => el("p", { id, class: "status", role: "status" });
  const pw = el("form", { id: "password-form" },
    el("h3", {}, t("changePassword")),
    el("label", {}, t("currentPassword"), el("input", { type: "password", name: "current", autocomplete: "current-password", required: true })),
    el("label", {}, t("newPassword"), el("input", { type: "password", name: "new", autocomplete: "new-password", minlength: "8", required: true })),
    el("button", { type: "submit" }, t("save")), status("password-status"));
  pw.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void guard(async () => {
      const f = (n: string) => (pw.elements.namedItem(n) as HTMLInputElement).value;
      const r = await postJSON("/web/password", { current: f("current"), new: f("new") });
      state.ws = r;
      client().csrf = r.csrf;
      pw.reset();
      $("password-status").textContent = t("saved");
    });
  });
  const apList = el("ul", { id: "app-passwords" });
  const loadAP = async () => {
    const r = await fetch("/web/app-passwords", { credentials: "same-origin" });
    const list = (await r.json()) as { name: string; created: string }[];
    clear(apList, ...list.map((p) => el("li", {}, p.name + " (" + new Date(p.created).toLocaleDateString() + ") ",
      el("button", { type: "button", onclick: () => void guard(async () => { await postJSON("/web/app-passwords/delete", { name: p.name }); await loadAP(); }) }, t("remove")))));
  };
  const ap = el("form", { id: "app-password-form" },
    el("h3", {}, t("appPasswords")), apList,
    el("label", {}, t("appPasswordName"), el("input", { name: "name", required: true })),
    el("button", { type: "submit" }, t("add")), el("p", { id: "app-password-new", class: "secret" }));
  ap.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void guard(async () => {
      const r = await postJSON("/web/app-passwords", { name: (ap.elements.namedItem("name") as HTMLInputElement).value });
      $("app-password-new").textContent = t("appPasswordShown") + " " + r.password;
      ap.reset();
      await loadAP();
    });
  });
  const totpBox = el("div", { id: "totp" });
  const renderTOTP = () => {
    const on = state.ws!.totp;
    const code = el("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", "aria-label": t("code") });
    if (on) {
      clear(totpBox, el("h3", {}, t("totp")), el("p", {}, t("totpOn")), code,
        el("button", { type: "button", onclick: () => void guard(async () => { state.ws = await postJSON("/web/totp/disable", { code: code.value }); renderTOTP(); }) }, t("disable")));
      return;
    }
    clear(totpBox, el("h3", {}, t("totp")), el("p", {}, t("totpOff")),
      el("button", { type: "button", id: "totp-new", onclick: () => void guard(async () => {
        const k = await postJSON("/web/totp/new", {});
        clear(totpBox, el("h3", {}, t("totp")), el("p", {}, t("totpScan")),
          k.qr ? el("img", { src: k.qr, alt: k.url, width: "200", height: "200" }) : null,
          el("p", { class: "secret", id: "totp-secret" }, k.secret), code,
          el("button", { type: "button", id: "totp-enable", onclick: () => void guard(async () => { state.ws = await postJSON("/web/totp/enable", { secret: k.secret, code: code.value }); renderTOTP(); }) }, t("enable")));
      }) }, t("enable")));
  };
  renderTOTP();
  const prefs = el("form", { id: "prefs-form" },
    el("h3", {}, t("signature")), el("textarea", { name: "signature", rows: "4", "aria-label": t("signature") }),
    el("label", {}, t("language"), el("select", { name: "language" },
      el("option", { value: "en", ...(ws.language !== "ru" ? { selected: true } : {}) }, "English"),
      el("option", { value: "ru", ...(ws.language === "ru" ? { selected: true } : {}) }, "Русский"))),
    el("button", { type: "submit" }, t("save")));
  (prefs.elements.namedItem("signature") as HTMLTextAreaElement).value = ws.signature;
  prefs.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void guard(async () => {
      const v = (n: string) => (prefs.elements.namedItem(n) as HTMLInputElement).value;
      state.ws = await postJSON("/web/settings", { signature: v("signature"), language: v("language") });
      setLanguage(state.ws!.language);
      layout();
      renderFolders();
      renderList();
      await showSettings();
    });
  });
  clear($("reader"),
    el("div", { class: "toolbar" }, el("button", { type: "button", class: "phone", onclick: () => document.body.classList.remove("reading") }, t("back"))),
    el("div", { class: "settings" }, el("h2", {}, t("settings") + " — " + ws.username), pw, ap, totpBox, prefs,
      vacationForm(client(), (m) => notice(m, true)),
      filtersForm(() => state.ws?.csrf ?? "", state.mailboxes.filter((m) => m.role !== "drafts" && m.role !== "sent").map((m) => ({ name: m.path, label: mailboxName(m) }))),
      appleProfile(ws.username),
      el("p", {}, el("button", { type: "button", id: "logout-all", onclick: () => void guard(async () => { await postJSON("/web/logout-all", {}); location.reload(); }) }, t("logoutAll")))));
  await loadAP();
}

async function logout(): Promise<void> {
  await postJSON("/web/logout", {});
  location.reload();
}

// ---- keyboard (Gmail's keys)

function onKey(ev: KeyboardEvent): void {
  if (ev.key === "Escape" && state.composing) { closeCompose(); return; }
  const tag = (ev.target as HTMLElement).tagName;
  if (ev.ctrlKey || ev.metaKey || ev.altKey || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || state.composing || !state.client) return;
  const e = state.open;
  const act = (fn: () => Promise<void>) => { ev.preventDefault(); void guard(fn); };
  switch (ev.key) {
    case "j": act(() => openMessage(Math.min(state.sel + 1, state.emails.length - 1))); break;
    case "k": act(() => openMessage(Math.max(state.sel - 1, 0))); break;
    case "c": act(() => compose("new")); break;
    case "/": ev.preventDefault(); ($("q") as HTMLInputElement).focus(); break;
    case "r": if (e) act(() => compose("reply", e)); break;
    case "a": if (e) act(() => compose("all", e)); break;
    case "f": if (e) act(() => compose("forward", e)); break;
    case "e": if (e) act(archiveOpen); break;
    case "#": if (e) act(deleteOpen); break;
  }
}

async function boot(): Promise<void> {
  document.addEventListener("keydown", onKey);
  initLogin();
  const r = await fetch("/web/session", { credentials: "same-origin" });
  if (r.ok) await guard(async () => start(await r.json()));
}

void boot();
