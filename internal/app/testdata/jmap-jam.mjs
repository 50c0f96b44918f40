// Drives pochta with jmap-jam, a JMAP client nobody here wrote
// (internal/app TestJMAPJam). Prints one JSON line of what it saw.
import JamClient from "jmap-jam";

const [sessionUrl, token, bob] = process.argv.slice(2);
const jam = new JamClient({ sessionUrl, bearerToken: token });
const accountId = await jam.getPrimaryAccount();
const out = { accountId };

const [boxes] = await jam.api.Mailbox.get({ accountId });
const role = (r) => boxes.list.find((m) => m.role === r).id;
out.mailboxes = boxes.list.map((m) => m.name).sort();

// Query and get in one request, with a result reference.
const [{ emails }] = await jam.requestMany((t) => {
  const q = t.Email.query({ accountId, filter: { inMailbox: role("inbox") }, sort: [{ property: "receivedAt", isAscending: false }] });
  const emails = t.Email.get({ accountId, ids: q.$ref("/ids"), properties: ["subject", "keywords", "from"] });
  return { q, emails };
});
out.subjects = emails.list.map((e) => e.subject);

// Flag the first one.
const first = emails.list[0].id;
await jam.api.Email.set({ accountId, update: { [first]: { "keywords/$flagged": true } } });
const [again] = await jam.api.Email.get({ accountId, ids: [first], properties: ["keywords"] });
out.keywords = Object.keys(again.list[0].keywords).sort();

// Upload a message and import it into Archive.
const raw = "From: kate@example.test\r\nTo: kate@example.test\r\nSubject: Uploaded by jam\r\n\r\nhello\r\n";
const blob = await jam.uploadBlob(accountId, new Blob([raw], { type: "message/rfc822" }));
const [imported] = await jam.api.Email.import({ accountId, emails: { i: { blobId: blob.blobId, mailboxIds: { [role("archive")]: true }, keywords: { $seen: true } } } });
out.imported = !!imported.created?.i?.id;
const dl = await jam.downloadBlob({ accountId, blobId: blob.blobId, mimeType: "message/rfc822", fileName: "m.eml" });
out.downloaded = (await dl.text()) === raw;

// Write and send to another local user.
const [ids] = await jam.api.Identity.get({ accountId });
const [sent] = await jam.requestMany((t) => {
  const draft = t.Email.set({ accountId, create: { d: {
    mailboxIds: { [role("drafts")]: true }, keywords: { $draft: true },
    from: [{ email: "kate@example.test" }], to: [{ email: bob }], subject: "From jam",
    textBody: [{ partId: "1", type: "text/plain" }], bodyValues: { "1": { value: "sent by jmap-jam" } } } } });
  const sub = t.EmailSubmission.set({ accountId, create: { s: { identityId: ids.list[0].id, emailId: "#d" } } });
  return { draft, sub };
});
out.submitted = Object.keys(sent.sub.created ?? {}).length === 1;
console.log(JSON.stringify(out));
