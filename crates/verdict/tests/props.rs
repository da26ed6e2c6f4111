//! No input makes the URL, domain and message analysis panic.

use mailkeep_verdict::{Classifier, Context, Policy, View, domains, judge, links};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn domain_analysis_takes_any_text(a in "\\PC{0,40}", b in "[a-z0-9.\u{430}-\u{44f}-]{0,30}") {
        let _ = domains::registrable(&a);
        let _ = domains::is_ip(&a);
        let _ = domains::unicode(&a);
        let _ = domains::mixes_scripts(&a);
        let _ = domains::skeleton(&a);
        let _ = domains::resembles(&a, &b);
        let _ = domains::resembles(&b, "example.com");
        let _ = links::host_of(&a);
        let _ = links::shown_host(&a);
    }

    #[test]
    fn links_and_forms_take_any_markup(html in "(<a href=[\"']?[^>]{0,30}>[^<]{0,20}</a>|<form[^>]{0,20}>|<input type=password>|&#x?[0-9a-f]{0,8};?|[^<]{0,20}|<){0,12}") {
        let view = View {
            html: vec![mailkeep_verdict::view::Html { source: html.clone(), attached: true }],
            text: html,
            ..View::default()
        };
        let _ = links::links(&view);
        let _ = links::forms(&view);
    }

    #[test]
    fn the_verdict_takes_any_bytes(raw in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let v = judge(&View::of(&raw), &Context::default(), &Classifier::new(), &Policy::default());
        prop_assert!(v.score.is_finite());
    }
}
