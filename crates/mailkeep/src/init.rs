//! `mailkeep init`: a new data directory with config, store, TLS certificate and keys.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mailkeep_core::address::parse_domain;
use mailkeep_core::config::{self, Config};
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::{accounts, time::now};

use crate::files::{create_dir, write_durable};

/// Creates everything a data directory needs. Refuses a directory that already holds one.
pub fn init(dir: &Path, domain: &str, hostname: &str) -> Result<()> {
    let domain = parse_domain(domain).context("--domain")?;
    let hostname = parse_domain(hostname).context("--hostname")?;
    if dir.join("FORMAT").exists() {
        bail!("{} is already initialised", dir.display());
    }
    if dir.join(config::FILE_NAME).exists() {
        bail!(
            "{} already holds a {}; refusing to overwrite it",
            dir.display(),
            config::FILE_NAME
        );
    }
    create_dir(dir, 0o700)?;
    let keys = dir.join("keys");
    create_dir(&keys, 0o700)?;

    // Self-signed certificate for the host name and the names the https listener answers
    // for (MTA-STS policy, client autoconfig); replace with a real one in [tls].
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating TLS key")?;
    let params = rcgen::CertificateParams::new(vec![
        hostname.clone(),
        format!("mta-sts.{domain}"),
        format!("autoconfig.{domain}"),
        "localhost".into(),
        "127.0.0.1".into(),
    ])
    .context("certificate parameters")?;
    let cert = params
        .self_signed(&key)
        .context("self-signing the certificate")?;
    write_durable(
        &keys.join("tls-key.pem"),
        key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_durable(&keys.join("tls-cert.pem"), cert.pem().as_bytes(), 0o600)?;

    dkim_keys(&keys, &domain)?;
    mailkeep_core::journal::create_key(dir)?;

    write_durable(
        &dir.join(config::FILE_NAME),
        Config::template(&hostname).as_bytes(),
        0o600,
    )?;
    Store::create(dir)?;
    let store = Store::open(dir, OpenOptions::default())?.acting(crate::admin());
    accounts::add_domain(&store, &domain, now())?;
    store.close();
    Ok(())
}

/// Generates a domain's DKIM keys for outgoing mail (RFC 6376 rsa-sha256 and RFC 8463
/// ed25519-sha256) unless they exist.
pub fn dkim_keys(keys: &Path, domain: &str) -> Result<()> {
    Ok(mailkeep_core::admin::dkim_keys(keys, domain)?)
}
