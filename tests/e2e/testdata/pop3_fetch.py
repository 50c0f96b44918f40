# pop3_fetch.py HOST PORT USER PASS [dele]
# Logs in with Python's poplib (STLS when offered), prints every message as
# "=== <uidl>" followed by its lines, optionally deletes them all.
import poplib, ssl, sys

host, port, user, password = sys.argv[1:5]
dele = len(sys.argv) > 5 and sys.argv[5] == "dele"
p = poplib.POP3(host, int(port), timeout=30)
caps = p.capa()
if "STLS" in caps:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    p.stls(context=ctx)
p.user(user)
p.pass_(password)
count, size = p.stat()
_, listing, _ = p.uidl()
for entry in listing:
    num, uid = entry.decode().split()
    _, body, _ = p.retr(int(num))
    print("===", uid)
    for line in body:
        print(line.decode("utf-8", "replace"))
    if dele:
        p.dele(int(num))
p.quit()
print("count", count)
