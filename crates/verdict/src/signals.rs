//! The signals a verdict weighs: what each means, its weight, and the words a reader is
//! given when it fires.

/// Something the verdict saw in a message or its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// A link's text shows one site while it goes to another.
    LinkTextMismatch,
    /// A link goes through a URL shortener, hiding where it leads.
    Shortener,
    /// A link goes to a bare IP address.
    IpHost,
    /// A link names a user before its host (`https://bank.com@evil.io`).
    UserInfo,
    /// A link's host is in punycode.
    PunycodeHost,
    /// A link's host mixes scripts (a homograph).
    MixedScriptHost,
    /// A link's site looks like a known one without being it.
    LookalikeHost,
    /// A form asks for a password.
    CredentialForm,
    /// An HTML attachment holds a form or links (a login page opened outside the mail client).
    HtmlAttachment,
    /// The From domain looks like one of our own domains.
    LookalikeOwnDomain,
    /// The From, Reply-To or envelope domain looks like a correspondent's or a known brand's.
    LookalikeSender,
    /// The display name is a colleague's while the address is outside.
    ImpersonatesColleague,
    /// The display name is a known correspondent's while the address is new.
    ImpersonatesCorrespondent,
    /// The display name names a brand or domain the address does not belong to.
    NameNamesOtherDomain,
    /// Replies go to another domain than the From.
    ReplyToElsewhere,
    /// Nobody here has exchanged mail with this sender.
    FirstTimeSender,
    /// DMARC failed.
    DmarcFail,
    /// SPF failed.
    SpfFail,
    /// SPF soft-failed.
    SpfSoftFail,
    /// Neither SPF nor DKIM passed.
    Unauthenticated,
    /// The sender's domain passed DMARC.
    DmarcPass,
    /// Mail from this sender was kept as good before.
    GoodReputation,
    /// Mail from this sender was judged or marked as spam before.
    BadReputation,
    /// The content classifier leans to spam (points: how sure it is).
    BayesSpam,
    /// The content classifier leans to ham (points: how sure it is).
    BayesHam,
}

impl Signal {
    /// Its name in headers and reports.
    pub fn name(self) -> &'static str {
        use Signal::*;
        match self {
            LinkTextMismatch => "link-text-mismatch",
            Shortener => "shortener",
            IpHost => "ip-host",
            UserInfo => "userinfo-host",
            PunycodeHost => "punycode-host",
            MixedScriptHost => "mixed-script-host",
            LookalikeHost => "lookalike-host",
            CredentialForm => "credential-form",
            HtmlAttachment => "html-attachment",
            LookalikeOwnDomain => "lookalike-own-domain",
            LookalikeSender => "lookalike-sender",
            ImpersonatesColleague => "impersonates-colleague",
            ImpersonatesCorrespondent => "impersonates-correspondent",
            NameNamesOtherDomain => "name-names-other-domain",
            ReplyToElsewhere => "reply-to-elsewhere",
            FirstTimeSender => "first-time-sender",
            DmarcFail => "dmarc-fail",
            SpfFail => "spf-fail",
            SpfSoftFail => "spf-softfail",
            Unauthenticated => "unauthenticated",
            DmarcPass => "dmarc-pass",
            GoodReputation => "good-reputation",
            BadReputation => "bad-reputation",
            BayesSpam => "bayes-spam",
            BayesHam => "bayes-ham",
        }
    }

    /// Points towards spam (negative: towards ham).
    pub fn weight(self) -> f64 {
        use Signal::*;
        match self {
            LinkTextMismatch => 3.0,
            Shortener => 1.0,
            IpHost => 2.5,
            UserInfo => 4.0,
            PunycodeHost => 1.5,
            MixedScriptHost => 4.0,
            LookalikeHost => 5.0,
            CredentialForm => 4.0,
            HtmlAttachment => 4.0,
            LookalikeOwnDomain => 10.0,
            LookalikeSender => 5.0,
            ImpersonatesColleague => 3.0,
            ImpersonatesCorrespondent => 3.0,
            NameNamesOtherDomain => 2.5,
            ReplyToElsewhere => 1.0,
            FirstTimeSender => 0.5,
            DmarcFail => 4.0,
            SpfFail => 2.0,
            SpfSoftFail => 1.0,
            Unauthenticated => 1.0,
            DmarcPass => -1.0,
            GoodReputation => -4.0,
            BadReputation => 4.0,
            // Computed from the classifier's probability.
            BayesSpam | BayesHam => 0.0,
        }
    }

    /// It marks a deception the reader should be told about (a warning banner), not only
    /// unwanted mail.
    pub fn deceives(self) -> bool {
        use Signal::*;
        matches!(
            self,
            LinkTextMismatch
                | UserInfo
                | MixedScriptHost
                | LookalikeHost
                | CredentialForm
                | HtmlAttachment
                | LookalikeOwnDomain
                | LookalikeSender
                | ImpersonatesColleague
                | ImpersonatesCorrespondent
                | NameNamesOtherDomain
        )
    }
}

/// A signal that fired, with what it saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    /// Which.
    pub signal: Signal,
    /// What it saw, for `verdict explain` and the warning.
    pub detail: String,
    /// Its points: the signal's weight, or for the classifier how sure it is.
    pub points: f64,
}

impl Fired {
    /// `signal` with its weight.
    pub fn new(signal: Signal, detail: impl Into<String>) -> Fired {
        Fired {
            signal,
            detail: detail.into(),
            points: signal.weight(),
        }
    }

    /// The warning a non-expert reader is given, in plain words.
    pub fn warning(&self) -> Option<String> {
        use Signal::*;
        let d = &self.detail;
        Some(match self.signal {
            LinkTextMismatch => format!("A link in this message shows {d}"),
            UserInfo => format!("A link in this message disguises where it goes: {d}"),
            MixedScriptHost | LookalikeHost => {
                format!("A link in this message goes to a site made to look like another: {d}")
            }
            CredentialForm => "This message contains a form that asks for a password. Never enter a password into an e-mail".into(),
            HtmlAttachment => "An attachment of this message is a web page with links or a form; it may imitate a login page".into(),
            LookalikeOwnDomain => format!("This message's sender imitates our own address: {d}"),
            LookalikeSender => format!("This message's sender address imitates another: {d}"),
            ImpersonatesColleague => format!("This message's sender is outside your organisation but uses the name of {d}, who works here"),
            ImpersonatesCorrespondent => format!("This message's sender uses the name of someone you have written to, {d}, from an address you have never had mail from"),
            NameNamesOtherDomain => format!("This message's sender name claims to be {d}, but the address belongs to someone else"),
            _ => return None,
        })
    }
}
