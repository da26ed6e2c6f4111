//! Who the message claims to be from, against whom the recipient knows.

use crate::Context;
use crate::domains::{self, Resemblance};
use crate::signals::{Fired, Signal};
use crate::view::{Mailbox, View};

/// Domains phishers imitate most; a look-alike of one is suspicious for anyone.
pub const BRANDS: &[&str] = &[
    "paypal.com",
    "apple.com",
    "icloud.com",
    "microsoft.com",
    "office.com",
    "outlook.com",
    "live.com",
    "google.com",
    "gmail.com",
    "amazon.com",
    "facebook.com",
    "instagram.com",
    "linkedin.com",
    "netflix.com",
    "dropbox.com",
    "docusign.com",
    "fedex.com",
    "chase.com",
    "wellsfargo.com",
    "bankofamerica.com",
    "adobe.com",
    "github.com",
    "twitter.com",
    "whatsapp.com",
    "yahoo.com",
    "ebay.com",
    "coinbase.com",
    "binance.com",
];

/// The sender signals of `view` for the recipient described by `ctx`.
pub fn signals(view: &View, ctx: &Context, out: &mut Vec<Fired>) {
    let Some(from) = &view.from else {
        return;
    };
    let from_domain =
        domains::registrable(from.domain()).unwrap_or_else(|| from.domain().to_owned());
    let own = |d: &str| ctx.own_domains.iter().any(|o| o.eq_ignore_ascii_case(d));
    let from_is_own = own(&from_domain) || own(from.domain());

    // Look-alike domains: From, Reply-To and the envelope sender.
    let mut claimed = vec![("From", from.domain().to_owned())];
    claimed.extend(
        view.reply_to
            .iter()
            .map(|r| ("Reply-To", r.domain().to_owned())),
    );
    if let Some((_, d)) = ctx.mail_from.rsplit_once('@') {
        claimed.push(("envelope sender", d.to_lowercase()));
    }
    for (field, domain) in &claimed {
        let Some(reg) = domains::registrable(domain) else {
            continue;
        };
        if own(&reg) || ctx.correspondents.domains.contains(&reg) {
            continue;
        }
        if let Some(o) = ctx
            .own_domains
            .iter()
            .find(|o| domains::resembles(&reg, o).is_some() || domains::embeds(domain, o))
        {
            out.push(Fired::new(
                Signal::LookalikeOwnDomain,
                format!("{field} {reg} looks like {o}"),
            ));
            break;
        }
        let known = ctx
            .correspondents
            .domains
            .iter()
            .map(String::as_str)
            .chain(BRANDS.iter().copied())
            .find(|k| lookalike(&reg, k) || domains::embeds(domain, k));
        if let Some(k) = known {
            out.push(Fired::new(
                Signal::LookalikeSender,
                format!("{field} {reg} looks like {k}"),
            ));
            break;
        }
    }

    // Display names that borrow someone's identity.
    let name = normalize_name(&from.name);
    if !name.is_empty() && !from_is_own {
        // A colleague's personal address the recipient already knows is not a stranger.
        let known_address = ctx.correspondents.addresses.contains(&from.address);
        if let Some(c) = ctx.colleagues.iter().find(|c| {
            normalize_name(&c.name) == name
                && !c.address.eq_ignore_ascii_case(&from.address)
                && !known_address
        }) {
            out.push(Fired::new(Signal::ImpersonatesColleague, c.name.clone()));
        } else if let Some(known) = ctx.correspondents.names.get(&name)
            && !known.contains(&from.address)
            && !ctx.correspondents.addresses.contains(&from.address)
        {
            out.push(Fired::new(
                Signal::ImpersonatesCorrespondent,
                from.name.clone(),
            ));
        }
    }
    if let Some(brand) = named_domain(from, &from_domain, ctx) {
        out.push(Fired::new(Signal::NameNamesOtherDomain, brand));
    }

    // Replies that go elsewhere (a mailing list's Reply-To naming the list is normal).
    let list = ["List-Id", "List-Post", "Mailing-List"]
        .iter()
        .any(|h| view.header(h).is_some());
    for r in view.reply_to.iter().filter(|_| !list) {
        let reg = domains::registrable(r.domain()).unwrap_or_else(|| r.domain().to_owned());
        if !reg.is_empty()
            && reg != from_domain
            && !own(&reg)
            && !ctx.correspondents.domains.contains(&reg)
        {
            out.push(Fired::new(
                Signal::ReplyToElsewhere,
                format!("replies go to {reg}, not {from_domain}"),
            ));
            break;
        }
    }
    if ctx.knows_correspondents
        && !from_is_own
        && !ctx.correspondents.addresses.contains(&from.address)
    {
        out.push(Fired::new(Signal::FirstTimeSender, from.address.clone()));
    }
}

/// `domain` resembles `known` closely enough to mislead (not merely containing a short name).
fn lookalike(domain: &str, known: &str) -> bool {
    match domains::resembles(domain, known) {
        Some(Resemblance::Confusable | Resemblance::Edit(_)) => true,
        // "paypal-security.com", not "yahoogroups.com": the name as a word of its own, and
        // long enough not to be an ordinary word.
        Some(Resemblance::Contains) => {
            let name = brand_name(known);
            name.chars().count() >= 5 && domain.split(['.', '-']).any(|part| part == name)
        }
        None => false,
    }
}

/// The trusted domain (ours, a correspondent's, a brand's) the display name claims while
/// the address is not at it: "PayPal Service" or "paypal.com Security" from a stranger's
/// domain. Other domains in names are common and honest ("CNET News.com").
fn named_domain(from: &Mailbox, from_domain: &str, ctx: &Context) -> Option<String> {
    let lower = from.name.to_lowercase();
    if lower.is_empty() {
        return None;
    }
    let from_name = brand_name(from_domain);
    let trusted = |d: &str| {
        BRANDS.contains(&d)
            || ctx.own_domains.iter().any(|o| o.eq_ignore_ascii_case(d))
            || ctx.correspondents.domains.contains(d)
    };
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect();
    // A brand's word names the brand when it stands alone or next to a word of service
    // ("PayPal", "Amazon Security"), not in a person's name ("Chase Miller").
    let speaks_as_service = words.len() == 1 || words.iter().any(|w| SERVICE_WORDS.contains(w));
    for word in &words {
        if word.contains('.') {
            match domains::registrable(word) {
                Some(reg) if reg != from_domain && trusted(&reg) => return Some(reg),
                _ => continue,
            }
        }
        for b in BRANDS {
            let name = brand_name(b);
            if *word == name && name.len() >= 5 && !from_name.contains(name) && speaks_as_service {
                return Some((*b).to_owned());
            }
        }
    }
    None
}

/// Words with which a display name speaks for a company rather than a person.
const SERVICE_WORDS: &[&str] = &[
    "account",
    "accounts",
    "alert",
    "alerts",
    "billing",
    "customer",
    "help",
    "id",
    "no-reply",
    "noreply",
    "notification",
    "notifications",
    "online",
    "security",
    "service",
    "services",
    "support",
    "team",
    "verification",
];

/// A brand domain's name ("paypal" of "paypal.com").
fn brand_name(domain: &str) -> &str {
    domain.split('.').next().unwrap_or(domain)
}

/// A display name compared loosely: lower-cased, letters only, words sorted ("Smith,
/// Alice" is "Alice Smith").
pub fn normalize_name(name: &str) -> String {
    let mut words: Vec<String> = name
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.sort();
    words.join(" ")
}
