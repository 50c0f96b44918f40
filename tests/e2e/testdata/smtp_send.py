# smtp_send.py HOST PORT MODE FROM TO SUBJECT [USER PASS]
# MODE: plain (port 25, no auth), starttls (587 + AUTH), tls (465 + AUTH).
# Sends one message with Python's smtplib and prints the server's reply.
import smtplib, ssl, sys
from email.message import EmailMessage

host, port, mode, sender, rcpt, subject = sys.argv[1:7]
user = sys.argv[7] if len(sys.argv) > 7 else None
password = sys.argv[8] if len(sys.argv) > 8 else None

msg = EmailMessage()
msg["From"] = sender
msg["To"] = rcpt
msg["Subject"] = subject
msg.set_content("Hello from smtplib.\nThe mountains were beautiful.\n.\nA line with a dot above.\n")

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == "tls":
    s = smtplib.SMTP_SSL(host, int(port), context=ctx, timeout=30)
else:
    s = smtplib.SMTP(host, int(port), timeout=30)
s.ehlo("client.example.test")
if mode == "starttls":
    s.starttls(context=ctx)
    s.ehlo("client.example.test")
if user:
    s.login(user, password)
refused = s.send_message(msg, from_addr=sender, to_addrs=[r for r in rcpt.split(",")])
print("refused:", refused)
s.quit()
print("sent")
