//! Each signal, on a message made to show it and on a near twin that must not.

use mailkeep_verdict::{
    Action, Auth, Classifier, Context, Correspondents, Mailbox, Outcome, Policy, Reputation,
    Signal, View, judge,
};

fn message(from: &str, extra_headers: &str, html: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: alice@example.org\r\nSubject: Hello\r\n{extra_headers}\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>{html}</body></html>\r\n"
    )
    .into_bytes()
}

fn ours() -> Context {
    let mut correspondents = Correspondents::default();
    correspondents.add(&Mailbox {
        name: "Bob Jones".into(),
        address: "bob@partner.com".into(),
    });
    Context {
        own_domains: vec!["example.org".into()],
        colleagues: vec![Mailbox {
            name: "Alice Smith".into(),
            address: "alice@example.org".into(),
        }],
        correspondents,
        knows_correspondents: true,
        ..Context::default()
    }
}

fn signals(raw: &[u8], ctx: &Context) -> Vec<Signal> {
    judge(&View::of(raw), ctx, &Classifier::new(), &Policy::default())
        .fired
        .into_iter()
        .map(|f| f.signal)
        .collect()
}

/// `signal` fires on `bad` and not on `good`.
fn shows(signal: Signal, bad: &[u8], good: &[u8], ctx: &Context) {
    let (b, g) = (signals(bad, ctx), signals(good, ctx));
    assert!(b.contains(&signal), "{signal:?} missing: {b:?}");
    assert!(
        !g.contains(&signal),
        "{signal:?} fired on the honest twin: {g:?}"
    );
}

const BOB: &str = "Bob Jones <bob@partner.com>";

#[test]
fn link_text_showing_a_trusted_site_while_going_elsewhere() {
    let ctx = ours();
    shows(
        Signal::LinkTextMismatch,
        &message(
            BOB,
            "",
            r#"<a href="https://secure-login.example.net/x">https://myaccount.google.com/security</a>"#,
        ),
        &message(
            BOB,
            "",
            r#"<a href="https://myaccount.google.com/security">https://myaccount.google.com/security</a>"#,
        ),
        &ctx,
    );
    // A newsletter's click tracker showing its own site is not a deception.
    let tracker = message(
        "News <news@dilbert.com>",
        "",
        r#"<a href="http://click.unitedmedia.com/c?x=1">www.dilbert.com</a>"#,
    );
    assert!(!signals(&tracker, &ctx).contains(&Signal::LinkTextMismatch));
}

#[test]
fn shorteners_ip_hosts_and_userinfo() {
    let ctx = ours();
    shows(
        Signal::Shortener,
        &message(BOB, "", r#"<a href="https://bit.ly/3abc">report</a>"#),
        &message(
            BOB,
            "",
            r#"<a href="https://partner.com/report">report</a>"#,
        ),
        &ctx,
    );
    shows(
        Signal::IpHost,
        &message(
            BOB,
            "",
            r#"<a href="http://198.51.100.7/login">sign in</a>"#,
        ),
        &message(BOB, "", r#"<a href="http://partner.com/login">sign in</a>"#),
        &ctx,
    );
    shows(
        Signal::UserInfo,
        &message(
            BOB,
            "",
            r#"<a href="https://www.paypal.com@evil.example.net/">PayPal</a>"#,
        ),
        &message(BOB, "", r#"<a href="https://www.paypal.com/">PayPal</a>"#),
        &ctx,
    );
}

#[test]
fn punycode_mixed_scripts_and_look_alike_hosts() {
    let ctx = ours();
    let homograph = idna::domain_to_ascii("p\u{430}ypal.com").unwrap();
    let bad = message(
        BOB,
        "",
        &format!(r#"<a href="https://{homograph}/signin">sign in</a>"#),
    );
    let good = message(
        BOB,
        "",
        r#"<a href="https://paypal.com/signin">sign in</a>"#,
    );
    shows(Signal::PunycodeHost, &bad, &good, &ctx);
    shows(Signal::MixedScriptHost, &bad, &good, &ctx);
    shows(Signal::LookalikeHost, &bad, &good, &ctx);
    // One letter off a correspondent's domain.
    shows(
        Signal::LookalikeHost,
        &message(
            BOB,
            "",
            r#"<a href="https://partnerr.com/invoice">invoice</a>"#,
        ),
        &message(
            BOB,
            "",
            r#"<a href="https://partner.com/invoice">invoice</a>"#,
        ),
        &ctx,
    );
}

#[test]
fn forms_asking_for_passwords_and_html_attachments() {
    let ctx = ours();
    shows(
        Signal::CredentialForm,
        &message(
            BOB,
            "",
            r#"<form action="https://collect.example.net/p"><input type="password" name="p"></form>"#,
        ),
        &message(
            BOB,
            "",
            r#"<form action="https://partner.com/search"><input name="q"></form>"#,
        ),
        &ctx,
    );
    let attached = |page: &str| {
        format!(
            "From: {BOB}\r\nSubject: Voicemail\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
             You have a new voicemail.\r\n--b\r\nContent-Type: text/html; name=voicemail.html\r\n\
             Content-Disposition: attachment; filename=voicemail.html\r\n\r\n{page}\r\n--b--\r\n"
        )
        .into_bytes()
    };
    shows(
        Signal::HtmlAttachment,
        &attached(r#"<form action="https://collect.example.net/"><input type=password></form>"#),
        &attached("<p>Your voicemail: 00:42</p>"),
        &ctx,
    );
}

#[test]
fn senders_that_imitate_us_our_correspondents_or_a_brand() {
    let ctx = ours();
    let plain = |from: &str| message(from, "", "<p>Please see the attached invoice.</p>");
    shows(
        Signal::LookalikeOwnDomain,
        &plain("IT Desk <it@examp1e.org>"),
        &plain("IT Desk <it@example.org>"),
        &ctx,
    );
    shows(
        Signal::LookalikeSender,
        &plain("Bob Jones <bob@partnre.com>"),
        &plain(BOB),
        &ctx,
    );
    shows(
        Signal::LookalikeSender,
        &plain("PayPal <service@paypal-security.com>"),
        &plain("PayPal <service@paypal.com>"),
        &ctx,
    );
    // The envelope sender and Reply-To are looked at too.
    let mut via_envelope = ours();
    via_envelope.mail_from = "bounce@partnre.com".into();
    assert!(signals(&plain(BOB), &via_envelope).contains(&Signal::LookalikeSender));
    let v = judge(
        &View::of(&plain("IT Desk <it@examp1e.org>")),
        &ctx,
        &Classifier::new(),
        &Policy::default(),
    );
    assert_eq!(
        v.action,
        Action::Refuse,
        "a look-alike of our own domain is refused"
    );
}

#[test]
fn display_names_borrowed_from_colleagues_correspondents_and_brands() {
    let ctx = ours();
    let plain = |from: &str| message(from, "", "<p>Can you buy gift cards for me today?</p>");
    shows(
        Signal::ImpersonatesColleague,
        &plain("Alice Smith <alice.smith.ceo@gmail.com>"),
        &plain("Alice Smith <alice@example.org>"),
        &ctx,
    );
    shows(
        Signal::ImpersonatesCorrespondent,
        &plain("Bob Jones <bob.jones@mail.example.net>"),
        &plain(BOB),
        &ctx,
    );
    shows(
        Signal::NameNamesOtherDomain,
        &plain("PayPal Security <alerts@secure-mail.example.net>"),
        &plain("PayPal Security <alerts@paypal.com>"),
        &ctx,
    );
    // A person whose name is a brand's word is not the brand.
    shows(
        Signal::NameNamesOtherDomain,
        &plain("Chase Support <help@secure-mail.example.net>"),
        &plain("Chase Miller <chase.miller@mail.example.net>"),
        &ctx,
    );
    let warning = judge(
        &View::of(&plain("Alice Smith <alice.smith.ceo@gmail.com>")),
        &ctx,
        &Classifier::new(),
        &Policy::default(),
    )
    .warning()
    .unwrap();
    assert!(
        warning
            .contains("outside your organisation but uses the name of Alice Smith, who works here"),
        "{warning}"
    );
}

#[test]
fn reply_to_elsewhere_and_first_time_senders() {
    let ctx = ours();
    shows(
        Signal::ReplyToElsewhere,
        &message(
            BOB,
            "Reply-To: <payments@elsewhere.example.net>\r\n",
            "<p>hi</p>",
        ),
        &message(BOB, "Reply-To: <bob@partner.com>\r\n", "<p>hi</p>"),
        &ctx,
    );
    // A mailing list's Reply-To naming the list is how lists work.
    let list = message(
        BOB,
        "Reply-To: <list@lists.example.net>\r\nList-Id: <list.lists.example.net>\r\n",
        "<p>hi</p>",
    );
    assert!(!signals(&list, &ctx).contains(&Signal::ReplyToElsewhere));
    shows(
        Signal::FirstTimeSender,
        &message("Stranger <who@unknown.example.net>", "", "<p>hi</p>"),
        &message(BOB, "", "<p>hi</p>"),
        &ctx,
    );
}

#[test]
fn authentication_and_reputation() {
    let raw = message(BOB, "", "<p>hi</p>");
    let with = |auth: Auth, reputation: Option<Reputation>| {
        let ctx = Context {
            auth: Some(auth),
            reputation,
            ..ours()
        };
        signals(&raw, &ctx)
    };
    let failing = with(
        Auth {
            spf: Outcome::Fail,
            dkim: Outcome::None,
            dmarc: Outcome::Fail,
        },
        None,
    );
    for s in [Signal::DmarcFail, Signal::SpfFail, Signal::Unauthenticated] {
        assert!(failing.contains(&s), "{s:?}: {failing:?}");
    }
    let passing = with(
        Auth {
            spf: Outcome::Pass,
            dkim: Outcome::Pass,
            dmarc: Outcome::Pass,
        },
        Some(Reputation { good: 5, bad: 0 }),
    );
    assert!(passing.contains(&Signal::DmarcPass) && passing.contains(&Signal::GoodReputation));
    assert!(!passing.contains(&Signal::Unauthenticated));
    let soft = with(
        Auth {
            spf: Outcome::SoftFail,
            ..Auth::default()
        },
        Some(Reputation { good: 0, bad: 3 }),
    );
    assert!(soft.contains(&Signal::SpfSoftFail) && soft.contains(&Signal::BadReputation));
}

#[test]
fn the_classifier_learns_and_decides() {
    let ctx = ours();
    let spam = |i: usize| {
        message(
            "Deals <deals@promo.example.net>",
            "",
            &format!("<p>cheap pills discount offer number {i} buy now</p>"),
        )
    };
    let ham = |i: usize| {
        message(
            BOB,
            "",
            &format!("<p>minutes of meeting {i} about the project schedule</p>"),
        )
    };
    let mut model = Classifier::new();
    for i in 0..30 {
        model.learn(&mailkeep_verdict::learnable(&View::of(&spam(i))), true);
        model.learn(&mailkeep_verdict::learnable(&View::of(&ham(i))), false);
    }
    let judged = |raw: &[u8]| judge(&View::of(raw), &ctx, &model, &Policy::default());
    let s = judged(&spam(99));
    assert!(
        s.fired.iter().any(|f| f.signal == Signal::BayesSpam),
        "{s:?}"
    );
    assert_eq!(s.action, Action::Junk);
    let h = judged(&ham(99));
    assert!(h.fired.iter().any(|f| f.signal == Signal::BayesHam));
    assert_eq!(h.action, Action::Deliver);
    assert!(s.header().starts_with("junk; score="), "{}", s.header());
}
