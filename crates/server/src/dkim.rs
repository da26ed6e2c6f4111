//! DKIM signing of outgoing mail (RFC 6376) with both of a domain's keys: rsa-sha256 and
//! ed25519-sha256 (RFC 8463), relaxed/relaxed.

use std::collections::HashMap;
use std::path::Path;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;

/// Selector of the RSA key in DNS (`<selector>._domainkey.<domain>`).
pub const RSA_SELECTOR: &str = "mkrsa";
/// Selector of the Ed25519 key.
pub const ED25519_SELECTOR: &str = "mked";

/// Signed header fields. From, To, Subject and Date are listed twice ("oversigned") so that
/// adding a second instance after signing breaks the signature (RFC 6376 §8.15).
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "To",
    "To",
    "Subject",
    "Subject",
    "Date",
    "Date",
    "Cc",
    "Reply-To",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
];

/// The key files of a domain, as `init` and `domain add` write them.
pub fn key_paths(keys_dir: &Path, domain: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        keys_dir.join(format!("dkim-{domain}-rsa.pem")),
        keys_dir.join(format!("dkim-{domain}-ed25519.pem")),
    )
}

struct DomainKeys {
    rsa: Option<DkimSigner<RsaKey<Sha256>, Done>>,
    ed: Option<DkimSigner<Ed25519Key, Done>>,
}

/// Every domain's signing keys, loaded once at start.
#[derive(Default)]
pub struct Signer {
    domains: HashMap<String, DomainKeys>,
}

fn pkcs8(path: &Path) -> Option<Vec<u8>> {
    let der = PrivatePkcs8KeyDer::from_pem_file(path).ok()?;
    Some(der.secret_pkcs8_der().to_vec())
}

impl Signer {
    /// Loads the keys of `domains` from `keys_dir`; a domain without keys is logged and
    /// sends unsigned.
    pub fn load(keys_dir: &Path, domains: &[String]) -> Signer {
        let mut s = Signer::default();
        for d in domains {
            let (rsa_path, ed_path) = key_paths(keys_dir, d);
            let rsa = pkcs8(&rsa_path).and_then(|der| {
                RsaKey::<Sha256>::from_key_der(PrivatePkcs8KeyDer::from(der).into()).ok()
            });
            let ed = pkcs8(&ed_path)
                .and_then(|der| Ed25519Key::from_pkcs8_maybe_unchecked_der(&der).ok());
            if rsa.is_none() && ed.is_none() {
                tracing::warn!(domain = %d, "no DKIM keys found; mail from this domain is sent unsigned");
                continue;
            }
            let rsa = rsa.map(|k| {
                DkimSigner::from_key(k)
                    .domain(d.as_str())
                    .selector(RSA_SELECTOR)
                    .headers(SIGNED_HEADERS.iter().copied())
            });
            let ed = ed.map(|k| {
                DkimSigner::from_key(k)
                    .domain(d.as_str())
                    .selector(ED25519_SELECTOR)
                    .headers(SIGNED_HEADERS.iter().copied())
            });
            s.domains
                .insert(d.to_ascii_lowercase(), DomainKeys { rsa, ed });
        }
        s
    }

    /// The `DKIM-Signature:` header fields for `message` from `domain` (empty if the domain
    /// has no keys), to be prepended.
    pub fn sign(&self, domain: &str, message: &[u8]) -> String {
        let Some(keys) = self.domains.get(&domain.to_ascii_lowercase()) else {
            return String::new();
        };
        let mut out = String::new();
        if let Some(ed) = &keys.ed {
            match ed.sign(message) {
                Ok(sig) => out.push_str(&sig.to_header()),
                Err(e) => tracing::error!(%domain, error = %e, "ed25519 DKIM signing failed"),
            }
        }
        if let Some(rsa) = &keys.rsa {
            match rsa.sign(message) {
                Ok(sig) => out.push_str(&sig.to_header()),
                Err(e) => tracing::error!(%domain, error = %e, "rsa DKIM signing failed"),
            }
        }
        out
    }
}
