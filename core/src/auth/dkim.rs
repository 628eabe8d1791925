//! DKIM as SpamAssassin's DKIM plugin sees it through Mail::DKIM: every
//! `DKIM-Signature` is a signature (valid or not), a valid one is one that
//! verified, and the key size counts only for author-domain signatures and
//! for domain-restricted checks (`dkim_minimum_key_bits`).

use std::collections::BTreeSet;

use hickory_resolver::proto::rr::{RData, RecordType};
use mail_auth::common::crypto::Algorithm;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};

use super::{AuthOptions, Input};
use crate::message::auth::DkimSignature;

/// Debian's SpamAssassin 4.0.1 verifies with Mail::DKIM 1.20230212, which
/// has no ed25519-sha256 algorithm class: such signatures count as present
/// but invalid ("unsupported algorithm"). We answer as the oracle does.
pub(super) const ED25519_VERIFIES: bool = false;

/// What the DKIM checks found.
#[derive(Debug, Default)]
pub struct DkimFacts {
    pub signatures: Vec<DkimSignature>,
    pub authors: Vec<String>,
    pub author_domains: BTreeSet<String>,
    pub valid_author_domains: BTreeSet<String>,
    pub adsp: std::collections::BTreeMap<String, char>,
}

/// The author addresses (every From address) and their domains, as
/// SpamAssassin's `_get_authors`.
fn authors(input: &Input) -> (Vec<String>, BTreeSet<String>) {
    let authors = input.from_addrs.clone();
    let mut domains = BTreeSet::new();
    for a in &authors {
        if let Some((_, d)) = a.rsplit_once('@') {
            let d = d.trim_end_matches([' ', '\t']);
            if !d.is_empty() {
                domains.insert(d.to_lowercase());
            }
        }
    }
    (authors, domains)
}

/// The signing domain SpamAssassin matches: the domain of `i=` when given,
/// else `d=`.
fn sdid(i: &str, d: &str) -> Option<String> {
    if !i.is_empty() {
        return i
            .rsplit_once('@')
            .map(|(_, dom)| dom)
            .filter(|d| !d.is_empty() && !d.contains(char::is_whitespace))
            .map(str::to_lowercase);
    }
    (!d.is_empty()).then(|| d.to_lowercase())
}

/// The size in bits of an RSA public key given as DKIM's `p=` (a DER
/// SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey): the modulus's byte
/// length times 8, as Crypt::OpenSSL::RSA's `size` reports it.
pub fn rsa_key_bits(der: &[u8]) -> Option<u32> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let l0 = *b.get(1)? as usize;
        let (len, hdr) = if l0 < 0x80 {
            (l0, 2)
        } else {
            let n = l0 & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let body = b.get(hdr..hdr + len)?;
        Some((tag, body, &b[hdr + len..]))
    }
    fn modulus_bits(rsa_pub: &[u8]) -> Option<u32> {
        let (tag, seq, _) = tlv(rsa_pub)?;
        if tag != 0x30 {
            return None;
        }
        let (tag, n, _) = tlv(seq)?;
        if tag != 0x02 {
            return None;
        }
        let n = match n.iter().position(|&x| x != 0) {
            Some(i) => &n[i..],
            None => return None,
        };
        Some(u32::try_from(n.len()).ok()? * 8)
    }
    let (tag, outer, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, first, rest) = tlv(outer)?;
    if tag == 0x30 {
        // SubjectPublicKeyInfo: AlgorithmIdentifier, BIT STRING.
        let _ = first;
        let (tag, bits, _) = tlv(rest)?;
        if tag != 0x03 {
            return None;
        }
        return modulus_bits(bits.get(1..)?);
    }
    modulus_bits(der)
}

/// The `p=` tag of a DKIM key record, base64-decoded.
fn key_from_record(txt: &[u8]) -> Option<Vec<u8>> {
    let s = String::from_utf8_lossy(txt);
    let p = s.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        (k.trim() == "p").then(|| v.chars().filter(|c| !c.is_whitespace()).collect::<String>())
    })?;
    if p.is_empty() {
        return None;
    }
    mail_parser::decoders::base64::base64_decode(p.as_bytes())
}

/// The TXT records at `name`, each one's strings joined, in answer order
/// (none when the lookup fails).
pub(super) async fn txt_records(auth: &MessageAuthenticator, name: String) -> Vec<Vec<u8>> {
    let Ok(lookup) = auth.0.lookup(name, RecordType::TXT).await else {
        return Vec::new();
    };
    lookup
        .answers()
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .flat_map(|p| p.iter().copied())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The RSA key size of `selector._domainkey.domain`.
async fn key_bits(auth: &MessageAuthenticator, selector: &str, domain: &str) -> Option<u32> {
    let name = format!("{selector}._domainkey.{domain}.");
    let der = txt_records(auth, name)
        .await
        .iter()
        .find_map(|t| key_from_record(t))?;
    rsa_key_bits(&der)
}

/// SpamAssassin's `_check_dkim_signature` and `_check_valid_signature`.
pub async fn check(auth: &MessageAuthenticator, opts: &AuthOptions, input: &Input) -> DkimFacts {
    let (authors, author_domains) = authors(input);
    let mut f = DkimFacts {
        authors,
        author_domains,
        ..Default::default()
    };
    let raw = &input.raw_crlf;
    // Not strict: Mail::DKIM accepts body-length (l=) signatures.
    let Some(am) = AuthenticatedMessage::parse_with_opts(raw, None, false) else {
        f.adsp = adsp(auth, opts, &f).await;
        return f;
    };
    if am.dkim_headers.is_empty() && !am.has_dkim_errors {
        f.adsp = adsp(auth, opts, &f).await;
        return f;
    }
    let verify = async {
        let outputs = auth.verify_dkim(&am).await;
        let mut sigs = Vec::new();
        for out in &outputs {
            let Some(sig) = out.signature() else {
                // A signature mail-auth could not parse: present, invalid.
                sigs.push(DkimSignature::default());
                continue;
            };
            let algo_ok = ED25519_VERIFIES || sig.a != Algorithm::Ed25519Sha256;
            let valid = algo_ok && matches!(out.result(), DkimResult::Pass);
            let key_bits =
                if valid && opts.dkim_minimum_key_bits > 0 && sig.a != Algorithm::Ed25519Sha256 {
                    key_bits(auth, &sig.s, &sig.d).await
                } else {
                    None
                };
            sigs.push(DkimSignature {
                sdid: sdid(&sig.i, &sig.d),
                domain: sig.d.clone(),
                selector: sig.s.clone(),
                valid,
                key_bits,
            });
        }
        sigs
    };
    // On a timeout Mail::DKIM never hands its signatures over: none.
    if let Ok(sigs) = tokio::time::timeout(opts.dkim_timeout, verify).await {
        for s in &sigs {
            if s.selector.is_empty() {
                continue;
            }
            if let Some(d) = &s.sdid
                && f.author_domains.contains(d)
                && s.valid
                && s.key_bits.is_some_and(|b| b >= opts.dkim_minimum_key_bits)
            {
                f.valid_author_domains.insert(d.clone());
            }
        }
        f.signatures = sigs;
    }
    f.adsp = adsp(auth, opts, &f).await;
    f
}

/// SpamAssassin's `_check_dkim_adsp`: for each author domain without a
/// valid author signature, an `adsp_override` entry, else the published
/// `_adsp._domainkey` practice, else `N` when the domain does not exist
/// (Mail::DKIM's MX probe), else `U`.
async fn adsp(
    auth: &MessageAuthenticator,
    opts: &AuthOptions,
    f: &DkimFacts,
) -> std::collections::BTreeMap<String, char> {
    let mut out = std::collections::BTreeMap::new();
    for d in &f.author_domains {
        // Only fully qualified names (`x.tld`, letters or '-' in the TLD).
        let tld_ok = d.rsplit_once('.').is_some_and(|(head, tld)| {
            !head.is_empty()
                && tld.len() >= 2
                && tld.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
        });
        if !tld_ok || f.valid_author_domains.contains(d) {
            continue;
        }
        let labels: Vec<&str> = d.split('.').collect();
        let mut keys = vec![d.clone()];
        for i in 1..labels.len() {
            keys.push(format!("*.{}", labels[i..].join(".")));
        }
        if let Some(code) = keys.iter().find_map(|k| {
            opts.adsp_override
                .iter()
                .find(|(o, _)| o == k)
                .map(|(_, c)| *c)
        }) {
            out.insert(d.clone(), code);
            continue;
        }
        let lookup = async {
            let name = format!("_adsp._domainkey.{d}.");
            if let Ok(l) = auth.0.lookup(name, RecordType::TXT).await {
                for rec in l.answers() {
                    if let RData::TXT(t) = &rec.data {
                        let s: Vec<u8> =
                            t.txt_data.iter().flat_map(|p| p.iter().copied()).collect();
                        let s = String::from_utf8_lossy(&s).to_ascii_lowercase();
                        if let Some(v) = s.split(';').find_map(|t| {
                            let (k, v) = t.split_once('=')?;
                            (k.trim() == "dkim").then(|| v.trim().to_string())
                        }) {
                            return match v.as_str() {
                                "all" => 'A',
                                "discardable" | "strict" => 'D',
                                _ => 'U',
                            };
                        }
                    }
                }
            }
            match auth.0.lookup(format!("{d}."), RecordType::MX).await {
                Err(e)
                    if super::spf::response_code(&e)
                        == Some(hickory_resolver::proto::op::ResponseCode::NXDomain) =>
                {
                    'N'
                }
                _ => 'U',
            }
        };
        if let Ok(code) = tokio::time::timeout(opts.dkim_timeout, lookup).await {
            out.insert(d.clone(), code);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdid_prefers_identity() {
        assert_eq!(
            sdid("@Mail.Example.com", "example.com").as_deref(),
            Some("mail.example.com")
        );
        assert_eq!(sdid("", "Example.com").as_deref(), Some("example.com"));
        assert_eq!(sdid("noat", "example.com"), None);
    }

    #[test]
    fn key_sizes_from_der() {
        // SPKI of a 1024-bit key: 30 81 9f 30 0d <alg> 03 81 8d 00 30 81 89 02 81 81 00 <128 bytes> 02 03 01 00 01
        let mut modulus = vec![0x00];
        modulus.extend(std::iter::repeat_n(0xc5u8, 128));
        let mut rsapub = vec![0x02, 0x81, 0x81];
        rsapub.extend(&modulus);
        rsapub.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut seq = vec![0x30, 0x81, rsapub.len() as u8];
        seq.extend(&rsapub);
        assert_eq!(rsa_key_bits(&seq), Some(1024));
        let alg = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let mut bits = vec![0x03, 0x81, (seq.len() + 1) as u8, 0x00];
        bits.extend(&seq);
        let mut inner = alg.to_vec();
        inner.extend(&bits);
        let mut spki = vec![0x30, 0x81, inner.len() as u8];
        spki.extend(&inner);
        assert_eq!(rsa_key_bits(&spki), Some(1024));
        assert_eq!(rsa_key_bits(b"junk"), None);
    }
}
