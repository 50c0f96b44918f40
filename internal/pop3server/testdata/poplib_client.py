"""Drives pochta's POP3 server with Python's poplib, for server_test.go.

Usage: poplib_client.py HOST PORT USER PASSWORD CAFILE
Prints one JSON object with what the server answered.
"""
import json
import poplib
import ssl
import sys

host, port, user, password, cafile = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False  # the certificate names 127.0.0.1 by IP only

out = {}
p = poplib.POP3(host, int(port), timeout=10)
out["welcome"] = p.getwelcome().decode()
out["capa_before"] = sorted(p.capa().keys())
p.stls(context=ctx)
out["capa_after"] = sorted(p.capa().keys())
p.user(user)
p.pass_(password)
count, size = p.stat()
out["stat"] = [count, size]
_, listing, _ = p.list()
out["list"] = [l.decode() for l in listing]
_, uidl, _ = p.uidl()
out["uidl"] = [l.decode() for l in uidl]
msgs = []
for i in range(1, count + 1):
    _, lines, octets = p.retr(i)
    # poplib strips the CRLFs and undoes byte-stuffing.
    msgs.append({"lines": [l.decode() for l in lines], "octets": octets})
out["retr"] = msgs
_, top, _ = p.top(1, 0)
out["top"] = [l.decode() for l in top]
p.dele(1)
out["quit"] = p.quit().decode()
print(json.dumps(out))
