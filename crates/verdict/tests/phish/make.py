#!/usr/bin/env python3
"""Writes the phishing test set: 50 phishing messages covering every signal of the verdict
(with a re-creation of the "Someone has your password" message) and 50 legitimate messages
that look like them, plus expected.tsv (file, expected outcome, what it shows).

The recipient is alice@example.org at example.org; tests/phish.rs gives the verdict the same
context (colleagues, correspondents). Run it again to regenerate; the files are committed.
"""
import os
import pathlib

HERE = pathlib.Path(__file__).parent
BRANDS = [
    ("Google", "google.com", "https://myaccount.google.com/security"),
    ("PayPal", "paypal.com", "https://www.paypal.com/signin"),
    ("Microsoft", "microsoft.com", "https://account.microsoft.com/security"),
    ("Apple", "apple.com", "https://appleid.apple.com/"),
    ("Amazon", "amazon.com", "https://www.amazon.com/your-account"),
    ("Netflix", "netflix.com", "https://www.netflix.com/account"),
    ("LinkedIn", "linkedin.com", "https://www.linkedin.com/psettings/"),
    ("Dropbox", "dropbox.com", "https://www.dropbox.com/account/security"),
    ("DocuSign", "docusign.com", "https://app.docusign.com/documents"),
    ("Chase", "chase.com", "https://secure.chase.com/web/auth/"),
]


def message(sender, subject, html, extra="", attachment=None):
    head = (
        f"From: {sender}\r\nTo: Alice Smith <alice@example.org>\r\nSubject: {subject}\r\n"
        f"Date: Sat, 19 Mar 2016 08:34:30 +0000\r\nMIME-Version: 1.0\r\n{extra}"
    )
    if attachment is None:
        return (head + "Content-Type: text/html; charset=utf-8\r\n\r\n"
                f"<html><body>{html}</body></html>\r\n")
    name, page = attachment
    return (head + "Content-Type: multipart/mixed; boundary=part\r\n\r\n"
            "--part\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            f"<html><body>{html}</body></html>\r\n"
            f"--part\r\nContent-Type: text/html; name={name}\r\n"
            f"Content-Disposition: attachment; filename={name}\r\n\r\n{page}\r\n--part--\r\n")


def main():
    out = []

    def put(kind, name, shows, text):
        (HERE / f"{kind}-{name}.eml").write_text(text, newline="")
        out.append((f"{kind}-{name}.eml", "caught" if kind == "phish" else "untouched", shows))

    # The message that started it: a look-alike sender with Google's name, a button showing
    # Google's real page, its link through a shortener.
    put("phish", "00-someone-has-your-password", "lookalike sender, link text vs shortener",
        message('"Google" <no-reply@accounts-google.com>', "*Someone has your password*",
                "<p>Hi Alice,</p><p>Someone just used your password to try to sign in to your "
                "Google Account alice@example.org.</p><p>Details:<br>Saturday, 19 March, 8:34:30 "
                "UTC<br>IP Address: 134.249.139.239<br>Location: Ukraine</p><p>Google stopped "
                "this sign-in attempt. You should change your password immediately.</p>"
                '<p><a href="https://bit.ly/1PibSU0" style="background:#4184F3;color:#fff">'
                "https://myaccount.google.com/security</a></p><p>Best,<br>The Gmail Team</p>"))
    # Link text showing a brand's page, the link elsewhere (shortener or IP).
    for i, (brand, domain, page) in enumerate(BRANDS[1:], 1):
        target = "https://tinyurl.com/y7x%d" % i if i % 2 else "http://203.0.113.%d/login" % i
        put("phish", f"{i:02}-link-text-{brand.lower()}", "link text shows a brand, goes elsewhere",
            message(f'"{brand} Support" <support@account-notice{i}.example.net>',
                    "Your account has been limited",
                    f"<p>We noticed unusual activity. Confirm your details at "
                    f'<a href="{target}">{page}</a> within 24 hours.</p>'))
    # user@host tricks.
    for i, (brand, domain, page) in enumerate(BRANDS[:5], 10):
        put("phish", f"{i:02}-userinfo-{brand.lower()}", "user@host link",
            message(f'"Billing" <billing@invoices{i}.example.net>', "Invoice overdue",
                    f'<p>Pay now: <a href="https://www.{domain}@pay-now{i}.example.net/">'
                    f"Open invoice</a></p>"))
    # Homographs in punycode.
    homographs = ["p\u0430ypal.com", "\u0430pple.com", "g\u043e\u043egle.com",
                  "micr\u043esoft.com", "\u0430mazon.com"]
    for i, h in enumerate(homographs, 15):
        puny = h.encode("idna").decode()
        put("phish", f"{i:02}-homograph", "punycode, mixed-script, look-alike host",
            message(f'"Security" <security@alerts{i}.example.net>', "Verify your account",
                    f'<p><a href="https://{puny}/verify">Verify now</a></p>'))
    # Forms asking for a password, in the body.
    for i in range(20, 25):
        put("phish", f"{i:02}-password-form", "a form asking for a password",
            message(f'"Mail Administrator" <admin@mailbox-quota{i}.example.net>',
                    "Mailbox quota exceeded",
                    f'<form method="post" action="https://quota{i}.example.net/p">'
                    '<p>Email: <input name="e" value="alice@example.org"></p>'
                    '<p>Password: <input type="password" name="p"></p>'
                    "<input type=submit value=Upgrade></form>"))
    # HTML attachments with a login page.
    for i in range(25, 30):
        put("phish", f"{i:02}-html-attachment", "HTML attachment with a form",
            message(f'"Voicemail" <voicemail@pbx{i}.example.net>', "New voicemail (00:42)",
                    "<p>You have a new voicemail. Open the attachment to listen.</p>",
                    attachment=("voicemail.html",
                                f'<form action="https://listen{i}.example.net/"><input name=u>'
                                "<input type=password name=p></form>")))
    # Look-alikes of our own domain: refused.
    for i, d in enumerate(["examp1e.org", "exarnple.org", "example-org.com", "exmaple.org",
                           "example.org.secure-login.net"], 30):
        put("phish", f"{i:02}-lookalike-own", "sender imitates our own domain",
            message(f'"IT Helpdesk" <helpdesk@{d}>', "Password expires today",
                    "<p>Your password expires today. Keep it by replying with it.</p>"))
    # A colleague's name from an outside address (CEO fraud).
    for i, addr in enumerate(["alice.smith.ceo@gmail.com", "carol.white.office@outlook.com",
                              "dave.brown.exec@yahoo.com", "carol.white@mail.example.net",
                              "dave.brown@executive-office.example.net"], 35):
        name = {"alice": "Alice Smith", "carol": "Carol White", "dave": "Dave Brown"}[addr[:5].rstrip(".")]
        put("phish", f"{i:02}-colleague-name", "a colleague's name from outside",
            message(f'"{name}" <{addr}>', "Quick favour",
                    "<p>Are you at your desk? I need you to buy gift cards for a client "
                    "today. Keep this between us.</p>"))
    # Look-alikes of a correspondent's domain, in From, Reply-To and the envelope.
    for i, (sender, extra) in enumerate([
            ("Bob Jones <bob@partnre.com>", ""),
            ("Bob Jones <bob@partner-invoices.com>", ""),
            ("Bob Jones <bob@partner.com>", "Reply-To: <bob@partnerr.com>\r\n"),
            ("Accounts <accounts@parlner.com>", ""),
            ("Bob Jones <bob.jones@mail.example.net>", "")], 40):
        put("phish", f"{i:02}-lookalike-correspondent", "imitates a correspondent",
            message(sender, "Updated bank details",
                    "<p>Please note our new bank details for the attached invoice: "
                    "IBAN GB00 0000 0000 0000 0000 00.</p>", extra))
    # Brands' names from strangers' domains.
    for i, (brand, domain, page) in enumerate(BRANDS[:5], 45):
        put("phish", f"{i:02}-brand-name", "display name claims a brand",
            message(f'"{brand} Account Team" <no-reply@service-mail{i}.example.net>',
                    "Action required", f"<p>Your {brand} account needs attention. "
                    f'<a href="https://service-mail{i}.example.net/a">Review</a></p>'))

    # Legitimate look-alikes: real password-reset mail from the domain it claims.
    for i, (brand, domain, page) in enumerate(BRANDS):
        put("legit", f"{i:02}-reset-{brand.lower()}", "real reset mail from the brand",
            message(f'"{brand}" <no-reply@accounts.{domain}>', "Security alert",
                    f"<p>A new sign-in to your account. If this was not you, review your "
                    f'account: <a href="{page}">{page}</a></p>'))
    # Newsletters with tracking redirects (text shows the sender's site or none).
    for i, site in enumerate(["dilbert.com", "nytimes.com", "theguardian.com", "lwn.net",
                              "economist.com", "wired.com", "arstechnica.com", "bbc.co.uk",
                              "spiegel.de", "lemonde.fr"], 10):
        put("legit", f"{i:02}-newsletter", "newsletter with click tracking",
            message(f'"{site} newsletter" <news@{site}>', "This week's stories",
                    f'<p><a href="https://click.mailer{i}.example.com/c?u=1">www.{site}</a> — '
                    f'<a href="https://click.mailer{i}.example.com/c?u=2">Read more</a> — '
                    f'<a href="https://click.mailer{i}.example.com/unsub">Unsubscribe</a></p>',
                    "List-Unsubscribe: <https://click.mailer%d.example.com/unsub>\r\n" % i))
    # A colleague writing from her personal address the recipient already knows.
    for i in range(20, 25):
        put("legit", f"{i:02}-colleague-personal", "a colleague's known personal address",
            message('"Alice Smith" <alice.smith.home@gmail.com>', "From home",
                    "<p>Forwarding the draft from my home account, see you tomorrow.</p>"))
    # Correspondents, with links to their own sites, a shortener, a search form.
    for i in range(25, 35):
        body = [
            '<p>Slides: <a href="https://partner.com/slides">partner.com/slides</a></p>',
            '<p>The short link: <a href="https://bit.ly/partner-slides">slides</a></p>',
            '<form action="https://partner.com/search"><input name=q></form>',
            '<p>Reply to me or to the team: see you Monday.</p>',
            '<p><a href="https://www.partner.com/">www.partner.com</a></p>',
        ][i % 5]
        put("legit", f"{i:02}-correspondent", "a known correspondent",
            message("Bob Jones <bob@partner.com>", "Next meeting", body,
                    "Reply-To: <team@partner.com>\r\n" if i % 5 == 3 else ""))
    # Mailing lists whose Reply-To names the list.
    for i in range(35, 40):
        put("legit", f"{i:02}-mailing-list", "mailing list Reply-To",
            message(f"Someone <someone{i}@lists-user.example.net>", "[dev] Release notes",
                    "<p>The release is out.</p>",
                    "Reply-To: <dev@lists.example.com>\r\nList-Id: <dev.lists.example.com>\r\n"))
    # Colleagues from our own domain, and their names in forwarded mail.
    for i in range(40, 45):
        put("legit", f"{i:02}-colleague", "a colleague at our own domain",
            message('"Carol White" <carol@example.org>', "Lunch?",
                    '<p>Lunch at noon? Menu: <a href="https://example.org/menu">example.org/menu</a></p>'))
    # Brands' names from the brands' own mail domains.
    for i, (brand, domain, page) in enumerate(BRANDS[:5], 45):
        put("legit", f"{i:02}-brand-own-domain", "a brand's name from its own domain",
            message(f'"{brand} Account Team" <no-reply@{domain}>', "Your receipt",
                    f'<p>Your receipt is ready: <a href="{page}">view it</a></p>'))

    with open(HERE / "expected.tsv", "w") as f:
        for row in out:
            f.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
