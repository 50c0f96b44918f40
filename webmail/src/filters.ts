// Settings that change delivery: the vacation reply (JMAP
// VacationResponse, RFC 8621 §8), Sieve filters (the simple rule editor
// and the raw script, through /web/sieve) and the Apple profile link.

import { Client } from "./jmap";
import { el } from "./dom";
import { t } from "./i18n";

// FolderChoice is a folder of the rule editor's menu: name is its full
// name with the server's hierarchy separator ("Lists/Go"), the name
// Sieve's fileinto (RFC 5228 §4.1) files into; label is what is shown.
export interface FolderChoice { name: string; label: string }

// send posts JSON with the session's CSRF token and returns the answer
// whatever its status: a Sieve syntax error (422) carries the parser's
// message with its line and column.
async function send(url: string, body: unknown, csrf: string): Promise<{ ok: boolean; data: any }> {
  const r = await fetch(url, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) });
  if (r.status === 401) location.reload();
  return { ok: r.ok, data: await r.json().catch(() => ({ error: t("error") })) };
}

export function vacationForm(c: Client, status: (msg: string) => void): HTMLFormElement {
  const f = el("form", { id: "vacation-form" },
    el("h3", {}, t("vacation")),
    el("label", { class: "check" }, el("input", { type: "checkbox", name: "enabled" }), t("vacationOn")),
    el("label", {}, t("subject"), el("input", { name: "subject" })),
    el("label", {}, t("vacationText"), el("textarea", { name: "text", rows: "4" })),
    el("button", { type: "submit" }, t("save")), el("p", { id: "vacation-status", class: "status", role: "status" }));
  const input = (n: string) => f.elements.namedItem(n) as HTMLInputElement;
  void c.call([["VacationResponse/get", { accountId: c.accountId }, "v"]]).then((r) => {
    const v = r.v.list[0];
    if (!v) return;
    input("enabled").checked = v.isEnabled;
    input("subject").value = v.subject ?? "";
    input("text").value = v.textBody ?? "";
  }).catch((e: Error) => status(e.message));
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const update = { isEnabled: input("enabled").checked, subject: input("subject").value || null, textBody: input("text").value || null };
    void c.call([["VacationResponse/set", { accountId: c.accountId, update: { singleton: update } }, "s"]]).then((r) => {
      const bad = r.s.notUpdated?.singleton;
      f.querySelector("#vacation-status")!.textContent = bad ? bad.description || bad.type : t("saved");
    }).catch((e: Error) => status(e.message));
  });
  return f;
}

export function filtersForm(csrf: () => string, folders: FolderChoice[]): HTMLElement {
  const raw = el("textarea", { id: "sieve-script", name: "script", rows: "10", spellcheck: "false", "aria-label": t("sieveScript") });
  const msg = el("p", { id: "sieve-status", class: "status", role: "status" });
  const show = (r: { ok: boolean; data: any }) => {
    if (r.ok) raw.value = r.data.content;
    msg.textContent = r.ok ? t("saved") : r.data.error || t("error");
    msg.className = r.ok ? "status" : "status error";
  };
  const load = async () => {
    const r = await fetch("/web/sieve", { credentials: "same-origin" });
    if (r.ok) raw.value = (await r.json()).content;
  };
  const rule = el("form", { id: "rule-form" },
    el("h4", {}, t("newRule")),
    el("label", {}, t("ruleIf"), el("select", { name: "header" }, ...["From", "To", "Cc", "Subject", "List-Id"].map((h) => el("option", { value: h }, h)))),
    el("label", {}, t("ruleContains"), el("input", { name: "contains", required: true })),
    el("label", {}, t("ruleThen"), el("select", { name: "action" },
      el("option", { value: "move" }, t("ruleMove")), el("option", { value: "read" }, t("markRead")), el("option", { value: "discard" }, t("ruleDiscard")))),
    el("label", {}, t("ruleFolder"), el("select", { name: "mailbox" }, ...folders.map((m) => el("option", { value: m.name }, m.label)))),
    el("button", { type: "submit" }, t("add")));
  rule.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = (n: string) => (rule.elements.namedItem(n) as HTMLInputElement).value;
    void send("/web/sieve/rule", { header: v("header"), contains: v("contains"), action: v("action"), mailbox: v("mailbox") }, csrf()).then((r) => {
      show(r);
      if (r.ok) rule.reset();
    });
  });
  const save = el("button", { type: "button", id: "sieve-save",
    onclick: () => void send("/web/sieve", { content: raw.value }, csrf()).then(show) }, t("save"));
  void load();
  const box = el("div", { id: "filters" }, el("h3", {}, t("filters")), rule, el("h4", {}, t("sieveScript")), raw, save, msg);
  return box;
}

export function appleProfile(username: string): HTMLElement {
  return el("p", { id: "apple-profile" },
    el("a", { href: "/apple/profile.mobileconfig?email=" + encodeURIComponent(username), download: "" }, t("appleProfile")));
}
