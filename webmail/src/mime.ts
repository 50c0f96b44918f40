// Building an RFC 5322 message with MIME (RFC 2045-2047, 2231) in the
// browser, so that attachments travel as one uploaded blob.

export interface Addr { name?: string; email: string }

export interface Attachment { name: string; type: string; data: Uint8Array }

export interface Draft {
  from: Addr; to: Addr[]; cc: Addr[];
  subject: string; text: string;
  inReplyTo?: string[]; references?: string[];
  attachments: Attachment[];
}

const enc = new TextEncoder();

function b64(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return btoa(s);
}

function wrap76(s: string): string {
  return s.replace(/.{1,76}/g, "$&\r\n");
}

function isASCII(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

// word encodes a header text as RFC 2047 encoded words when it is not
// plain ASCII.
export function word(s: string): string {
  s = s.replace(/[\r\n]+/g, " ");
  if (isASCII(s)) return s;
  return "=?utf-8?B?" + b64(enc.encode(s)) + "?=";
}

function addr(a: Addr): string {
  if (!a.name) return a.email;
  const n = isASCII(a.name) ? '"' + a.name.replace(/["\\]/g, "\\$&") + '"' : word(a.name);
  return n + " <" + a.email + ">";
}

function rfc5322Date(d: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return `${days[d.getDay()]}, ${d.getDate()} ${months[d.getMonth()]} ${d.getFullYear()} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${sign}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
}

function randomHex(n: number): string {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// filename gives a Content-Disposition filename parameter (RFC 2231 for
// names that are not ASCII).
function filename(name: string): string {
  if (isASCII(name)) return 'filename="' + name.replace(/["\\]/g, "") + '"';
  return "filename*=utf-8''" + encodeURIComponent(name).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

// asMessage gives a message/rfc822 attachment as itself, lines ending in
// CRLF, with its 7bit or 8bit encoding (RFC 2046 §5.2.1 forbids base64 and
// quoted-printable for message/rfc822), or null when it cannot travel so
// (a NUL byte or a line over 998 octets, RFC 5322 §2.1.1).
function asMessage(data: Uint8Array): { cte: string; data: Uint8Array } | null {
  const out: number[] = [];
  let line = 0, high = false;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 0) return null;
    if (b === 13 && data[i + 1] === 10) continue; // the CR of a CRLF, added back below
    if (b === 10 || b === 13) { out.push(13, 10); line = 0; continue; }
    if (++line > 998) return null;
    if (b > 127) high = true;
    out.push(b);
  }
  if (line > 0) out.push(13, 10);
  return { cte: high ? "8bit" : "7bit", data: Uint8Array.from(out) };
}

function concat(chunks: (string | Uint8Array)[]): Uint8Array {
  const bytes = chunks.map((c) => (typeof c === "string" ? enc.encode(c) : c));
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bytes) { out.set(b, at); at += b.length; }
  return out;
}

// buildMessage writes the draft as a message: text alone, or
// multipart/mixed with the text (left out when empty, as in a forward as
// attachment) and the attachments.
export function buildMessage(d: Draft): Uint8Array {
  const domain = d.from.email.split("@")[1] || "localhost";
  const h: string[] = [];
  h.push("From: " + addr(d.from));
  if (d.to.length) h.push("To: " + d.to.map(addr).join(", "));
  if (d.cc.length) h.push("Cc: " + d.cc.map(addr).join(", "));
  h.push("Subject: " + word(d.subject));
  h.push("Date: " + rfc5322Date(new Date()));
  h.push("Message-ID: <" + randomHex(12) + "@" + domain + ">");
  if (d.inReplyTo?.length) h.push("In-Reply-To: " + d.inReplyTo.map((x) => "<" + x + ">").join(" "));
  if (d.references?.length) h.push("References: " + d.references.map((x) => "<" + x + ">").join(" "));
  h.push("MIME-Version: 1.0");
  const text = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
    wrap76(b64(enc.encode(d.text.replace(/\r?\n/g, "\r\n"))));
  if (d.attachments.length === 0) return enc.encode(h.join("\r\n") + "\r\n" + text);
  const boundary = "=_" + randomHex(16);
  const out: (string | Uint8Array)[] = [h.join("\r\n") + "\r\nContent-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n"];
  if (d.text.trim() !== "") out.push("--" + boundary + "\r\n" + text);
  for (const a of d.attachments) {
    const type = /^[\w.+-]+\/[\w.+-]+$/.test(a.type) ? a.type : "application/octet-stream";
    const msg = type.toLowerCase() === "message/rfc822" ? asMessage(a.data) : null;
    const head = "--" + boundary + "\r\nContent-Type: " + (msg || type.toLowerCase() !== "message/rfc822" ? type : "application/octet-stream") +
      "\r\nContent-Disposition: attachment; " + filename(a.name) + "\r\nContent-Transfer-Encoding: ";
    if (msg) out.push(head + msg.cte + "\r\n\r\n", msg.data);
    else out.push(head + "base64\r\n\r\n" + wrap76(b64(a.data)));
  }
  out.push("--" + boundary + "--\r\n");
  return concat(out);
}

// parseAddrs reads a comma-separated list typed by the user.
export function parseAddrs(s: string): Addr[] {
  const out: Addr[] = [];
  for (const part of s.split(/[,;]/)) {
    const p = part.trim();
    if (!p) continue;
    const m = p.match(/^(.*)<([^<>\s]+@[^<>\s]+)>$/);
    if (m) out.push({ name: m[1].trim().replace(/^"|"$/g, ""), email: m[2] });
    else out.push({ email: p });
  }
  return out;
}
