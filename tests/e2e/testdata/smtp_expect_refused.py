# smtp_expect_refused.py HOST PORT FROM RCPT — prints the RCPT reply code and text.
import smtplib, sys

host, port, sender, rcpt = sys.argv[1:5]
s = smtplib.SMTP(host, int(port), timeout=30)
s.ehlo("client.example.test")
s.mail(sender)
code, text = s.rcpt(rcpt)
print(code, text.decode())
s.quit()
