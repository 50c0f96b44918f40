"""Submit one message with Python's smtplib: STARTTLS, AUTH, sendmail.

usage: submit.py HOST PORT USER PASSWORD FROM TO
Prints the EHLO features seen after STARTTLS on one line, then "sent".
"""
import smtplib
import ssl
import sys

host, port, user, password, sender, rcpt = sys.argv[1:7]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with smtplib.SMTP(host, int(port), local_hostname="python.test", timeout=20) as s:
    s.ehlo()
    if "auth" in s.esmtp_features:
        sys.exit("AUTH offered before STARTTLS")
    s.starttls(context=ctx)
    s.ehlo()
    print(" ".join(sorted(s.esmtp_features)))
    s.login(user, password)
    msg = ("From: Alice <%s>\r\nTo: %s\r\nSubject: from python\r\n\r\nHello from smtplib.\r\n" % (sender, rcpt))
    refused = s.sendmail(sender, [rcpt], msg)
    if refused:
        sys.exit("refused: %r" % refused)
print("sent")
