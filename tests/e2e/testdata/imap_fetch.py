# imap_fetch.py HOST PORT USER PASS MAILBOX — with Python's imaplib over
# STARTTLS, prints "uid <n>" and the full message for every message.
import imaplib, ssl, sys

host, port, user, password, mailbox = sys.argv[1:6]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4(host, int(port), timeout=30)
m.starttls(ssl_context=ctx)
m.login(user, password)
typ, data = m.select(mailbox, readonly=True)
assert typ == "OK", data
typ, data = m.uid("SEARCH", None, "ALL")
for uid in data[0].split():
    typ, msg = m.uid("FETCH", uid, "(BODY.PEEK[])")
    print("uid", uid.decode())
    print(msg[0][1].decode("utf-8", "replace"))
m.logout()
