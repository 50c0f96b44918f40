// A small JMAP client (RFC 8620, 8621) over the webmail's session cookie:
// every request that changes something carries the session's CSRF token.

export interface Session {
  apiUrl: string;
  downloadUrl: string;
  uploadUrl: string;
  eventSourceUrl: string;
  primaryAccounts: Record<string, string>;
  username: string;
}

export type Invocation = [string, Record<string, unknown>, string];

const using = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission", "urn:ietf:params:jmap:vacationresponse"];

export class NotLoggedIn extends Error {}

export class Client {
  session!: Session;
  accountId = "";

  constructor(public csrf: string) {}

  async start(): Promise<void> {
    const r = await fetch("/jmap/session", { credentials: "same-origin" });
    if (r.status === 401) throw new NotLoggedIn();
    if (!r.ok) throw new Error("session: " + r.status);
    this.session = await r.json();
    this.accountId = this.session.primaryAccounts["urn:ietf:params:jmap:mail"];
  }

  // call runs method calls in one request and returns the responses by
  // call id; a method error becomes an exception.
  async call(calls: Invocation[]): Promise<Record<string, any>> {
    const r = await fetch(this.session.apiUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": this.csrf },
      body: JSON.stringify({ using, methodCalls: calls }),
    });
    if (r.status === 401) throw new NotLoggedIn();
    if (!r.ok) throw new Error("JMAP: " + r.status + " " + (await r.text()));
    const body = await r.json();
    const out: Record<string, any> = {};
    for (const [name, args, id] of body.methodResponses as Invocation[]) {
      if (name === "error") throw new Error("JMAP " + id + ": " + String(args.type) + (args.description ? " " + String(args.description) : ""));
      out[id] = args;
    }
    return out;
  }

  async upload(data: Blob, type: string): Promise<string> {
    const url = this.session.uploadUrl.replace("{accountId}", encodeURIComponent(this.accountId));
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": type, "X-CSRF-Token": this.csrf },
      body: data,
    });
    if (!r.ok) throw new Error("upload: " + r.status);
    return (await r.json()).blobId;
  }

  downloadURL(blobId: string, name: string, type: string): string {
    return this.session.downloadUrl
      .replace("{accountId}", encodeURIComponent(this.accountId))
      .replace("{blobId}", encodeURIComponent(blobId))
      .replace("{name}", encodeURIComponent(name || "download"))
      .replace("{type}", encodeURIComponent(type || "application/octet-stream"));
  }

  // events calls onChange on every state change the server pushes.
  events(onChange: () => void): EventSource {
    const url = this.session.eventSourceUrl.replace("{types}", "*").replace("{closeafter}", "no").replace("{ping}", "30");
    const es = new EventSource(url, { withCredentials: true });
    es.addEventListener("state", () => onChange());
    return es;
  }
}
