//! Arbitrary bytes as an inbound message, judged the way delivery judges it: parsed, its
//! links, forms and sender examined against a recipient's context, scored by a trained
//! classifier. Nothing may panic, the score is a number, and the header and warning text
//! that go into stored mail never carry a line break.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailkeep_verdict::{
    Classifier, Context, Correspondents, Mailbox, Policy, View, judge, learnable,
};

fuzz_target!(|data: &[u8]| {
    let mut correspondents = Correspondents::default();
    correspondents.add(&Mailbox {
        name: "Bob Jones".into(),
        address: "bob@partner.com".into(),
    });
    let ctx = Context {
        own_domains: vec!["example.org".into()],
        colleagues: vec![Mailbox {
            name: "Alice Smith".into(),
            address: "alice@example.org".into(),
        }],
        correspondents,
        knows_correspondents: true,
        mail_from: "bounce@partner.com".into(),
        ..Context::default()
    };
    let view = View::of(data);
    let mut model = Classifier::new();
    model.learn(&learnable(&view), true);
    model.learn(&learnable(&View::of(b"Subject: hello\r\n\r\nmeeting notes\r\n")), false);
    let v = judge(&view, &ctx, &model, &Policy::default());
    assert!(v.score.is_finite());
    for text in [Some(v.header()), v.warning(), Some(v.refusal())].into_iter().flatten() {
        assert!(!text.contains(['\r', '\n']), "{text:?}");
    }
});
