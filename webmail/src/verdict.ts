// The receiving server's judgement of a message in plain words, from the
// topmost Authentication-Results field with this server's authserv-id
// (RFC 8601 §5: others may be forged; the server removes forged ones with
// its name) and X-Spam.

import type { Key } from "./i18n";

export function verdicts(ar: string[] | null, xspam: string | null, authservId: string, t: (k: Key) => string): string[] {
  const out: string[] = [];
  if (xspam && /^\s*yes/i.test(xspam)) out.push(t("spamVerdict"));
  const ours = (f: string) => f.split(";")[0].trim().split(/\s+/)[0].toLowerCase() === authservId.toLowerCase();
  const field = (ar ?? []).find(ours);
  if (!field) return out;
  const parts = field.split(";").slice(1);
  for (const p of parts) {
    const m = p.trim().match(/^(\w+)\s*=\s*(\w+)(.*)$/s);
    if (!m) continue;
    const [, method, result, rest] = m;
    const prop = (name: string) => rest.match(new RegExp(name.replace(".", "\\.") + "\\s*=\\s*\"?([^\\s;\"]+)"))?.[1] ?? "";
    switch (method.toLowerCase()) {
      case "dkim":
        if (result === "pass") out.push(t("signedBy") + " " + (prop("header.d") || prop("header.i")));
        else if (result === "fail" || result === "permerror") out.push(t("dkimFail"));
        else if (result === "none") out.push(t("notSigned"));
        break;
      case "spf":
        if (result === "pass") out.push(t("spfPass"));
        else if (result === "fail" || result === "softfail") out.push(t("spfFail"));
        break;
      case "dmarc":
        if (result === "pass") out.push(t("dmarcPass"));
        else if (result === "fail") out.push(t("dmarcFail"));
        break;
    }
  }
  return out;
}
