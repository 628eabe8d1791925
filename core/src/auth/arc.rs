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

use std::collections::BTreeSet;

use hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::common::crypto::{Algorithm, HashAlgorithm};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::Canonicalization;
use mail_auth::{AuthenticatedMessage, MessageAuthenticator};

use super::{AuthOptions, Input};

/// What the ARC checks found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArcFacts {
    pub signed: bool,
    pub valid: bool,
}

/// A header value without the value of its `b=` tag, as it is hashed when
/// the signature is checked (the line end stays).
fn strip_b(value: &[u8]) -> Vec<u8> {
    let body_len = if value.ends_with(b"\r\n") {
        value.len() - 2
    } else if value.ends_with(b"\n") {
        value.len() - 1
    } else {
        value.len()
    };
    let (value, eol) = value.split_at(body_len);
    let mut out = strip_b_tag(value);
    out.extend_from_slice(eol);
    out
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
    let lookup = auth.0.lookup(name, RecordType::TXT).await.ok()?;
    for rec in lookup.answers() {
        if let RData::TXT(txt) = &rec.data {
            let joined: Vec<u8> = txt
                .txt_data
                .iter()
                .flat_map(|p| p.iter().copied())
                .collect();
            if let Ok(k) = DomainKey::parse(&joined) {
                return Some(k);
            }
        }
    }
    None
}

fn key_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}.")
}

fn algo_ok(a: Algorithm) -> bool {
    super::dkim::ED25519_VERIFIES || a != Algorithm::Ed25519Sha256
}

/// Whether any one ARC signature of `am` verifies by itself.
async fn any_passes(auth: &MessageAuthenticator, am: &AuthenticatedMessage<'_>) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Message signatures: the body hash, then the signed header fields.
    for h in &am.ams_headers {
        let sig = &h.header;
        if !algo_ok(sig.a)
            || sig.s.is_empty()
            || sig.d.is_empty()
            || sig.h.iter().any(|n| n.eq_ignore_ascii_case("arc-seal"))
        {
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
        let Some(key) = domain_key(auth, key_name(&sig.s, &sig.d)).await else {
            continue;
        };
        let stripped = strip_b(h.value);
        let mut headers = am.signed_headers(&sig.h, h.name, &stripped);
        if key.p.verify(&mut headers, &sig.b, sig.ch, sig.a).is_ok() {
            return true;
        }
    }
    // Seals: every ARC set up to the seal's own instance, relaxed.
    for h in &am.as_headers {
        let seal = &h.header;
        if !algo_ok(seal.a) || seal.s.is_empty() || seal.d.is_empty() {
            continue;
        }
        let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::new();
        let mut complete = true;
        for i in 1..=seal.i {
            let aar = am.aar_headers.iter().find(|x| x.header.i == i);
            let ams = am.ams_headers.iter().find(|x| x.header.i == i);
            let as_ = am.as_headers.iter().find(|x| x.header.i == i);
            let (Some(aar), Some(ams), Some(as_)) = (aar, ams, as_) else {
                complete = false;
                break;
            };
            fields.push((aar.name, aar.value.to_vec()));
            fields.push((ams.name, ams.value.to_vec()));
            if i == seal.i {
                fields.push((h.name, strip_b(h.value)));
            } else {
                fields.push((as_.name, as_.value.to_vec()));
            }
        }
        if !complete {
            continue;
        }
        let Some(key) = domain_key(auth, key_name(&seal.s, &seal.d)).await else {
            continue;
        };
        let mut headers = fields.iter().map(|(n, v)| (*n, v.as_slice()));
        if key
            .p
            .verify(&mut headers, &seal.b, Canonicalization::Relaxed, seal.a)
            .is_ok()
        {
            return true;
        }
    }
    false
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
        };
    }
    match tokio::time::timeout(opts.dkim_timeout, any_passes(auth, &am)).await {
        Ok(valid) => ArcFacts { signed, valid },
        Err(_) => ArcFacts::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            b" i=1; cv=none; b=\r\n".to_vec()
        );
    }
}
