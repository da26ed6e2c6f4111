//! Signed checkpoints in the C2SP `tlog-checkpoint` form inside a C2SP `signed-note`:
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 root hash>
//! timestamp <unix seconds>
//!
//! — <key name> <base64(key id ‖ Ed25519 signature)>
//! ```
//!
//! The key id is the first 4 bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key); outsiders
//! verify with the verifier key `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// A checkpoint's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log (our host name plus `/journal`).
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// The tree head.
    pub root: Hash,
    /// When it was made (unix seconds).
    pub time: i64,
}

impl Checkpoint {
    /// The note text that is signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntimestamp {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.time
        )
    }

    fn parse_body(body: &str) -> Option<Checkpoint> {
        let mut lines = body.strip_suffix('\n')?.split('\n');
        let origin = lines.next()?.to_owned();
        let size = lines.next()?.parse().ok()?;
        let root = B64.decode(lines.next()?).ok()?.try_into().ok()?;
        let time = lines.next()?.strip_prefix("timestamp ")?.parse().ok()?;
        if origin.is_empty() || lines.next().is_some() {
            return None;
        }
        Some(Checkpoint {
            origin,
            size,
            root,
            time,
        })
    }
}

/// Why a note was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// Not a signed note with a checkpoint body.
    Malformed,
    /// The verifier key is not `<name>+<hex id>+<base64 key>` for Ed25519.
    BadKey,
    /// No signature by this key.
    NoSignature,
    /// A signature by this key that does not verify.
    BadSignature,
}

impl std::fmt::Display for NoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoteError::Malformed => "not a signed checkpoint",
            NoteError::BadKey => "not an Ed25519 verifier key",
            NoteError::NoSignature => "not signed by this key",
            NoteError::BadSignature => {
                "signature does not verify: the checkpoint was altered or forged"
            }
        })
    }
}

fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([1u8]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The server's journal signing key.
pub struct Signer {
    name: String,
    key: Ed25519KeyPair,
}

impl Signer {
    /// A new random key, PKCS#8-encoded.
    pub fn generate_pkcs8() -> Option<Vec<u8>> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng)
            .ok()
            .map(|d| d.as_ref().to_vec())
    }

    /// From a PKCS#8 Ed25519 key; `name` names the key in signatures (our host name).
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Option<Signer> {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).ok()?;
        if name.is_empty() || name.contains([' ', '+', '\n']) {
            return None;
        }
        Some(Signer {
            name: name.to_owned(),
            key,
        })
    }

    /// The verifier key outsiders check signatures with.
    pub fn verifier_key(&self) -> String {
        let public = self.key.public_key().as_ref();
        let mut encoded = vec![1u8];
        encoded.extend_from_slice(public);
        format!(
            "{}+{}+{}",
            self.name,
            hex_lower(&key_id(&self.name, public)),
            B64.encode(encoded)
        )
    }

    /// The signed note for `cp`.
    pub fn sign(&self, cp: &Checkpoint) -> String {
        let body = cp.body();
        let sig = self.key.sign(body.as_bytes());
        let mut blob = key_id(&self.name, self.key.public_key().as_ref()).to_vec();
        blob.extend_from_slice(sig.as_ref());
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Verifies a signed checkpoint against a verifier key and returns its content.
pub fn verify(note: &str, verifier_key: &str) -> Result<Checkpoint, NoteError> {
    let mut parts = verifier_key.trim().splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(NoteError::BadKey);
    };
    let key = B64.decode(key_b64).map_err(|_| NoteError::BadKey)?;
    let Some((&1, public)) = key.split_first() else {
        return Err(NoteError::BadKey);
    };
    if public.len() != 32 || hex_lower(&key_id(name, public)) != id_hex {
        return Err(NoteError::BadKey);
    }
    let (body, sigs) = note.split_once("\n\n").ok_or(NoteError::Malformed)?;
    let body = format!("{body}\n");
    let cp = Checkpoint::parse_body(&body).ok_or(NoteError::Malformed)?;
    let mut found = false;
    for line in sigs.lines().filter(|l| !l.is_empty()) {
        let rest = line.strip_prefix("\u{2014} ").ok_or(NoteError::Malformed)?;
        let (signer, sig_b64) = rest.rsplit_once(' ').ok_or(NoteError::Malformed)?;
        if signer != name {
            continue;
        }
        let blob = B64.decode(sig_b64).map_err(|_| NoteError::Malformed)?;
        if blob.len() != 68 || hex_lower(&blob[..4]) != id_hex {
            continue;
        }
        found = true;
        UnparsedPublicKey::new(&ED25519, public)
            .verify(body.as_bytes(), &blob[4..])
            .map_err(|_| NoteError::BadSignature)?;
    }
    if found {
        Ok(cp)
    } else {
        Err(NoteError::NoSignature)
    }
}
