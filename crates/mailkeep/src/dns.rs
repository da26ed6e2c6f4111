//! `mailkeep dns DOMAIN`: the records to publish, as zone-file lines.

use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use mailkeep_core::config::Config;
use mailkeep_server::dkim::{ED25519_SELECTOR, RSA_SELECTOR, key_paths};

/// A TXT value split into quoted strings of at most 255 bytes (RFC 1035 §3.3.14).
fn txt(value: &str) -> String {
    value
        .as_bytes()
        .chunks(250)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn public_key(path: &Path, raw: bool) -> Result<String> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading DKIM key {}", path.display()))?;
    let key = rcgen::KeyPair::from_pem(&pem)
        .with_context(|| format!("parsing DKIM key {}", path.display()))?;
    let bytes = if raw {
        key.public_key_raw().to_vec()
    } else {
        rcgen::PublicKeyData::subject_public_key_info(&key)
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

pub fn run(dir: &Path, domain: &str) -> Result<()> {
    let config = Config::load(dir)?;
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    let domain = mailkeep_core::address::parse_domain(domain)?;
    if !store.has_domain(&domain)? {
        bail!("{domain} is not one of this server's domains (see `mailkeep domain list`)");
    }
    let host = &config.hostname;
    let (rsa, ed) = key_paths(&dir.join("keys"), &domain);
    let rsa = public_key(&rsa, false)?;
    let ed = public_key(&ed, true)?;
    let id = chrono_free_id();
    println!("; DNS records for {domain}, served by {host}. Paste into the zone of {domain}.");
    println!("; Replace nothing: the names end in a dot and the values are final.");
    println!("{domain}.\t\t\tIN MX\t10 {host}.");
    println!("{domain}.\t\t\tIN TXT\t{}", txt("v=spf1 mx -all"));
    println!(
        "{RSA_SELECTOR}._domainkey.{domain}.\tIN TXT\t{}",
        txt(&format!("v=DKIM1; k=rsa; h=sha256; p={rsa}"))
    );
    println!(
        "{ED25519_SELECTOR}._domainkey.{domain}.\tIN TXT\t{}",
        txt(&format!("v=DKIM1; k=ed25519; h=sha256; p={ed}"))
    );
    println!(
        "_dmarc.{domain}.\t\tIN TXT\t{}",
        txt(&format!(
            "v=DMARC1; p=reject; rua=mailto:postmaster@{domain}; adkim=s; aspf=s"
        ))
    );
    println!(
        "_mta-sts.{domain}.\t\tIN TXT\t{}",
        txt(&format!("v=STSv1; id={id}"))
    );
    println!("mta-sts.{domain}.\t\tIN CNAME\t{host}.");
    println!("autoconfig.{domain}.\t\tIN CNAME\t{host}.");
    println!(
        "_smtp._tls.{domain}.\t\tIN TXT\t{}",
        txt(&format!("v=TLSRPTv1; rua=mailto:postmaster@{domain}"))
    );
    println!("_submissions._tcp.{domain}.\tIN SRV\t0 1 465 {host}.");
    println!("_submission._tcp.{domain}.\tIN SRV\t0 1 587 {host}.");
    println!("_imaps._tcp.{domain}.\t\tIN SRV\t0 1 993 {host}.");
    println!("_imap._tcp.{domain}.\t\tIN SRV\t0 1 143 {host}.");
    println!();
    println!("; With [listen] https configured, `serve` itself answers");
    println!(";   https://mta-sts.{domain}/.well-known/mta-sts.txt (the MTA-STS policy) and");
    println!(";   http(s)://autoconfig.{domain}/mail/config-v1.1.xml (mail client set-up);");
    println!("; its certificate must then cover both names. Otherwise publish this policy there:");
    for line in mailkeep_core::mta_sts::own_policy(host).lines() {
        println!(";   {line}");
    }
    Ok(())
}

/// A policy id that changes whenever the records are regenerated (RFC 8461 §3.1).
fn chrono_free_id() -> String {
    format!("{}", mailkeep_core::time::now())
}

/// `mailkeep check spf`: prints the result keyword, then the explanation of a `fail`.
pub fn check_spf(
    ip: std::net::IpAddr,
    helo: &str,
    mail_from: &str,
    resolver: Option<&str>,
    timeout_secs: u64,
) -> Result<()> {
    // SPF is nothing but DNS answers: without a resolver there is no result to give, and
    // saying so beats a parse error about "none" or a bare temperror.
    let resolver = match resolver {
        None => None,
        Some("none") => bail!(
            "check spf needs DNS, and the resolver is \"none\" ($MAILKEEP_DNS_RESOLVER or \
             --resolver); give --resolver HOST:PORT, or unset it to use the system's"
        ),
        Some(r) => Some(r.parse::<std::net::SocketAddr>().map_err(|_| {
            anyhow::anyhow!(
                "--resolver {r:?}: expected HOST:PORT with an IP address, e.g. 127.0.0.1:53"
            )
        })?),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (word, explanation) = rt.block_on(async {
        let r = mailkeep_server::dns::resolver_with_timeout(
            resolver,
            false,
            std::time::Duration::from_secs(timeout_secs),
        )
        .map_err(|e| anyhow::anyhow!("{e}; no DNS resolver to ask (give --resolver HOST:PORT)"))?;
        Ok::<_, anyhow::Error>(
            mailkeep_server::dns::check_spf(&r, ip, helo, mail_from, "localhost").await,
        )
    })?;
    println!("{word}");
    if let Some(e) = explanation {
        println!("{e}");
    }
    Ok(())
}
