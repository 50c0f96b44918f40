# imap_state.py HOST PORT USER PASS [flag MAILBOX SUBJECT FLAG]
# With Python's imaplib over STARTTLS.
# Without arguments after PASS: prints every mailbox as "mailbox <name>" and
# every message in it as "msg <mailbox> <uid> <flags> <subject>".
# With "flag": adds FLAG (e.g. \Flagged) to the messages of MAILBOX whose
# Subject contains SUBJECT, and prints "flagged <uid>" for each.
import email, imaplib, re, ssl, sys

host, port, user, password = sys.argv[1:5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4(host, int(port), timeout=30)
m.starttls(ssl_context=ctx)
m.login(user, password)

list_re = re.compile(r'\((?P<attrs>[^)]*)\) (?P<delim>"[^"]*"|NIL) (?P<name>.+)')


def unquote(s):
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return s


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def messages(mailbox, readonly):
    typ, data = m.select(quote(mailbox), readonly=readonly)
    assert typ == "OK", (mailbox, data)
    typ, data = m.uid("SEARCH", None, "ALL")
    assert typ == "OK", data
    for uid in data[0].split():
        typ, resp = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK", resp
        meta = resp[0][0].decode()
        flags = re.search(r"FLAGS \(([^)]*)\)", meta)
        if flags is None:  # FLAGS may come after the literal
            flags = re.search(r"FLAGS \(([^)]*)\)", resp[1].decode() if isinstance(resp[1], bytes) else "")
        subject = email.message_from_bytes(resp[0][1]).get("Subject", "")
        yield uid.decode(), "(" + (flags.group(1) if flags else "?") + ")", subject


if len(sys.argv) > 5 and sys.argv[5] == "flag":
    mailbox, subject, flag = sys.argv[6:9]
    for uid, flags, subj in list(messages(mailbox, False)):
        if subject in subj:
            typ, data = m.uid("STORE", uid, "+FLAGS", "(" + flag + ")")
            assert typ == "OK", data
            print("flagged", uid)
    m.logout()
    sys.exit(0)

typ, data = m.list()
assert typ == "OK", data
names = []
for line in data:
    if line is None:
        continue
    mt = list_re.match(line.decode())
    assert mt, line
    names.append(unquote(mt.group("name")))
for name in sorted(names):
    print("mailbox", name)
    for uid, flags, subject in messages(name, True):
        print("msg", name, uid, flags, subject)
m.logout()
