//! ARC as SpamAssassin's DKIM plugin sees it through Mail::DKIM's
//! ARC::Verifier: every parsed `ARC-Seal` and `ARC-Message-Signature` is a
//! signature (ARC_SIGNED), and ARC_VALID needs only one of them to verify
//! on its own — the plugin reads each signature's result, never the chain
//! verdict. A seal therefore still counts when the body was changed after
//! sealing (only the message signature covers the body).
//!
//! mail-auth parses the headers and does the cryptography; its
//! `verify_arc` answers for the chain only, so each signature is checked
//! here one by one.

use std::collections::{BTreeSet, HashMap};

use mail_auth::common::crypto::{Algorithm, HashAlgorithm};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::Canonicalization;
use mail_auth::{AuthenticatedMessage, MessageAuthenticator};

use super::{AuthOptions, Input};
pub use crate::message::auth::SealResult;

/// What the ARC checks found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArcFacts {
    pub signed: bool,
    pub valid: bool,
    /// The lowest-instance seal's own result (None: no seal, or the
    /// verifier did not finish).
    pub first_seal: Option<SealResult>,
}

/// A header value without the value of its `b=` tag, as it is hashed when
/// the signature is checked; the header's own line end goes too, as
/// mail-auth's signer leaves it out.
fn strip_b(value: &[u8]) -> Vec<u8> {
    let body_len = if value.ends_with(b"\r\n") {
        value.len() - 2
    } else if value.ends_with(b"\n") {
        value.len() - 1
    } else {
        value.len()
    };
    strip_b_tag(&value[..body_len])
}

fn strip_b_tag(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut tag_start = true;
    let mut i = 0;
    while i < value.len() {
        let c = value[i];
        if tag_start && !c.is_ascii_whitespace() {
            tag_start = false;
            // Is this tag `b` (not `bh`)?
            let mut j = i + 1;
            while j < value.len() && value[j].is_ascii_whitespace() {
                j += 1;
            }
            if c.eq_ignore_ascii_case(&b'b') && value.get(j) == Some(&b'=') {
                out.extend_from_slice(&value[i..=j]);
                i = j + 1;
                while i < value.len() && value[i] != b';' {
                    i += 1;
                }
                continue;
            }
        }
        if c == b';' {
            tag_start = true;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The public key of `selector._domainkey.domain`, as mail-auth reads it.
async fn domain_key(auth: &MessageAuthenticator, name: String) -> Option<DomainKey> {
    super::dkim::txt_records(auth, name)
        .await
        .iter()
        .find_map(|t| DomainKey::parse(t).ok())
}

fn key_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}.")
}

fn algo_ok(a: Algorithm) -> bool {
    super::dkim::ED25519_VERIFIES || a != Algorithm::Ed25519Sha256
}

/// The key record names the ARC signatures of `am` point at.
fn key_names(am: &AuthenticatedMessage<'_>) -> BTreeSet<String> {
    let ams = am.ams_headers.iter().map(|h| (&h.header.s, &h.header.d));
    let seals = am.as_headers.iter().map(|h| (&h.header.s, &h.header.d));
    ams.chain(seals)
        .filter(|(s, d)| !s.is_empty() && !d.is_empty())
        .map(|(s, d)| key_name(s, d))
        .collect()
}

/// Whether any one ARC signature of `am` verifies by itself with the keys
/// found (`keys`, by record name), at time `now`.
fn any_passes(
    am: &AuthenticatedMessage<'_>,
    keys: &HashMap<String, DomainKey>,
    now: u64,
    algo_ok: impl Fn(Algorithm) -> bool,
) -> bool {
    // Message signatures: the body hash, then the signed header fields.
    for h in &am.ams_headers {
        let sig = &h.header;
        if !algo_ok(sig.a) || sig.h.iter().any(|n| n.eq_ignore_ascii_case("arc-seal")) {
            continue;
        }
        // Mail::DKIM's check_expiration (x=).
        if sig.x != 0 && sig.x < now {
            continue;
        }
        let ha = HashAlgorithm::from(sig.a);
        let body_ok = am
            .body_hashes
            .iter()
            .any(|(c, a, l, bh)| *c == sig.cb && *a == ha && *l == sig.l && *bh == sig.bh);
        if !body_ok {
            continue;
        }
        let Some(key) = keys.get(&key_name(&sig.s, &sig.d)) else {
            continue;
        };
        let stripped = strip_b(h.value);
        let mut headers = am.signed_headers(&sig.h, h.name, &stripped);
        if key.p.verify(&mut headers, &sig.b, sig.ch, sig.a).is_ok() {
            return true;
        }
    }
    // Seals: every ARC set up to the seal's own instance, relaxed.
    am.as_headers
        .iter()
        .any(|h| seal_verifies(am, h, keys, &algo_ok))
}

/// Whether one ARC-Seal verifies: the ARC sets up to its own instance,
/// relaxed, with its own `b=` emptied.
fn seal_verifies(
    am: &AuthenticatedMessage<'_>,
    h: &mail_auth::common::headers::Header<'_, mail_auth::arc::Seal>,
    keys: &HashMap<String, DomainKey>,
    algo_ok: &impl Fn(Algorithm) -> bool,
) -> bool {
    let seal = &h.header;
    if !algo_ok(seal.a) {
        return false;
    }
    let Some(key) = keys.get(&key_name(&seal.s, &seal.d)) else {
        return false;
    };
    let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for i in 1..=seal.i {
        let aar = am.aar_headers.iter().find(|x| x.header.i == i);
        let ams = am.ams_headers.iter().find(|x| x.header.i == i);
        let as_ = am.as_headers.iter().find(|x| x.header.i == i);
        let (Some(aar), Some(ams), Some(as_)) = (aar, ams, as_) else {
            return false;
        };
        fields.push((aar.name, aar.value.to_vec()));
        fields.push((ams.name, ams.value.to_vec()));
        if i == seal.i {
            fields.push((h.name, strip_b(h.value)));
        } else {
            fields.push((as_.name, as_.value.to_vec()));
        }
    }
    let mut headers = fields.iter().map(|(n, v)| (*n, v.as_slice()));
    key.p
        .verify(&mut headers, &seal.b, Canonicalization::Relaxed, seal.a)
        .is_ok()
}

/// The lowest-instance ARC-Seal's own result, which SpamAssassin's DMARC
/// plugin hands to Mail::DMARC as a DKIM result of the envelope domain.
fn first_seal(
    am: &AuthenticatedMessage<'_>,
    keys: &HashMap<String, DomainKey>,
    algo_ok: impl Fn(Algorithm) -> bool,
) -> Option<SealResult> {
    let h = am.as_headers.iter().min_by_key(|h| h.header.i)?;
    Some(if seal_verifies(am, h, keys, &algo_ok) {
        SealResult::Pass
    } else {
        SealResult::Fail
    })
}

/// Two ARC sets claiming the same instance make Mail::DKIM give up before
/// any signature is checked.
fn duplicate_instances(am: &AuthenticatedMessage<'_>) -> bool {
    let mut seen = BTreeSet::new();
    if !am.as_headers.iter().all(|h| seen.insert(h.header.i)) {
        return true;
    }
    seen.clear();
    !am.ams_headers.iter().all(|h| seen.insert(h.header.i))
}

/// SpamAssassin's ARC half of `_check_dkim_signature`: nothing on a
/// timeout (the verifier never hands its signatures over).
pub async fn check(auth: &MessageAuthenticator, opts: &AuthOptions, input: &Input) -> ArcFacts {
    let Some(am) = AuthenticatedMessage::parse_with_opts(&input.raw_crlf, None, false) else {
        return ArcFacts::default();
    };
    let signed = !am.ams_headers.is_empty() || !am.as_headers.is_empty();
    if !signed {
        return ArcFacts::default();
    }
    if duplicate_instances(&am) {
        return ArcFacts {
            signed,
            valid: false,
            first_seal: (!am.as_headers.is_empty()).then_some(SealResult::Unchecked),
        };
    }
    let fetch = async {
        let mut keys = HashMap::new();
        for name in key_names(&am) {
            if let Some(k) = domain_key(auth, name.clone()).await {
                keys.insert(name, k);
            }
        }
        keys
    };
    let Ok(keys) = tokio::time::timeout(opts.dkim_timeout, fetch).await else {
        return ArcFacts::default();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    ArcFacts {
        signed,
        valid: any_passes(&am, &keys, now, algo_ok),
        first_seal: first_seal(&am, &keys, algo_ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::arc::ArcSealer;
    use mail_auth::common::crypto::Ed25519Key;
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::{ArcOutput, AuthenticationResults};

    fn b64(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= c.len() {
                    out.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    const MSG: &str = "From: Ann <ann@sender.test>\r\nTo: bob@rcpt.test\r\nSubject: hi\r\nDate: Wed, 27 Nov 2024 09:59:58 +0000\r\n\r\nthe figures are in the shared folder\r\n";

    /// A message sealed with a fresh Ed25519 key, and that key's record.
    fn sealed() -> (String, HashMap<String, DomainKey>) {
        let pkcs8 = Ed25519Key::generate_pkcs8().expect("key");
        let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("key");
        let record = format!("v=DKIM1; k=ed25519; p={}", b64(&key.public_key()));
        let parsed = AuthenticatedMessage::parse(MSG.as_bytes()).expect("parse");
        let results = AuthenticationResults::new("fwd.test");
        let set = ArcSealer::from_key(key)
            .domain("fwd.test")
            .selector("s1")
            .headers(["From", "To", "Subject", "Date"])
            .seal(&parsed, &results, &ArcOutput::default())
            .expect("seal");
        let mut keys = HashMap::new();
        keys.insert(
            key_name("s1", "fwd.test"),
            DomainKey::parse(record.as_bytes()).expect("record"),
        );
        (format!("{}{MSG}", set.to_header()), keys)
    }

    fn passes(raw: &str, keys: &HashMap<String, DomainKey>) -> bool {
        let am = AuthenticatedMessage::parse_with_opts(raw.as_bytes(), None, false).expect("parse");
        assert!(!am.as_headers.is_empty() && !am.ams_headers.is_empty());
        any_passes(&am, keys, 0, |_| true)
    }

    #[test]
    fn each_arc_signature_counts_on_its_own() {
        let (raw, keys) = sealed();
        assert!(passes(&raw, &keys), "{raw}");
        // A changed body fails the message signature; the seal still holds.
        let body = raw.replace("shared folder", "evil link");
        assert!(passes(&body, &keys));
        // A changed ARC-Authentication-Results breaks only the seal.
        let aar = raw.replace("i=1; fwd.test", "i=1; forged.test");
        assert_ne!(aar, raw);
        assert!(passes(&aar, &keys));
        // Both: nothing verifies.
        let both = aar.replace("shared folder", "evil link");
        assert!(!passes(&both, &keys));
        // No key published: nothing verifies.
        assert!(!passes(&raw, &HashMap::new()));
        // Ed25519 as Mail::DKIM 1.20230212 sees it: unsupported.
        let am = AuthenticatedMessage::parse_with_opts(raw.as_bytes(), None, false).expect("parse");
        assert!(!any_passes(&am, &keys, 0, algo_ok));
        // The first seal alone: holds on a changed body, not on a changed
        // ARC-Authentication-Results.
        let first = |raw: &str| {
            let am =
                AuthenticatedMessage::parse_with_opts(raw.as_bytes(), None, false).expect("parse");
            first_seal(&am, &keys, |_| true)
        };
        assert_eq!(first(&body), Some(SealResult::Pass));
        assert_eq!(first(&aar), Some(SealResult::Fail));
        assert_eq!(first(MSG), None);
    }

    #[test]
    fn strips_only_the_b_tag() {
        assert_eq!(
            strip_b(b"i=1; a=rsa-sha256; bh=abc; b=sig\r\n ature; d=x"),
            b"i=1; a=rsa-sha256; bh=abc; b=; d=x".to_vec()
        );
        assert_eq!(strip_b(b"b = xyz"), b"b =".to_vec());
        assert_eq!(strip_b(b"cv=none; b=zz"), b"cv=none; b=".to_vec());
        assert_eq!(
            strip_b(b" i=1; cv=none; b=zz\r\n\tyy\r\n"),
            b" i=1; cv=none; b=".to_vec()
        );
    }
}
