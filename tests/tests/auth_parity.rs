//! SPF, DKIM and DMARC against SpamAssassin's own spamd (network tests on,
//! no `-L`), both answering from the same knotd zones.
//!
//! The test writes the zones (SPF and DMARC records, DKIM keys it generates:
//! RSA 2048 and 1024 with `openssl`, Ed25519 with ring through mail-auth),
//! signs messages with those keys (relaxed and simple canonicalisation, a
//! body-length tag, a tampered copy, a third-party signature), seals
//! messages with an ARC set (intact, tampered body, broken seal, both), and
//! asks both daemons for the headers of every message. The SPF_*, DKIM_*,
//! ARC_* and DMARC_* rules in `X-Spam-Status` must be the same set,
//! SpamAssassin's answer must contain the rule each message was built for
//! (so a silent oracle fails the test too), and both must hit exactly the
//! ARC_* rules the case names.
//!
//! SpamAssassin's DMARC plugin reads `/etc/resolv.conf` through Mail::DMARC,
//! so the whole test runs in a private network and mount namespace
//! (`unshare -n -m`): loopback up, a resolv.conf naming 127.0.0.1
//! bind-mounted over the real one, and knotd on 127.0.0.1 port 53.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::dns::{Knot, Zone};
use e2e::{Daemon, TempDir, our_bin, raw_request, require};
use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::{Algorithm, Ed25519Key, Sha256, SigningKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::dkim::{Canonicalization, DkimSigner};
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults};

/// The relay every test message comes from (external: trusted_networks
/// is 10.99.0.0/16).
const RELAY_IP: &str = "23.45.67.89";

// ---------------------------------------------------------------- keys

/// An RSA key in a PEM file; signs through `openssl dgst` so any size
/// works (ring signs only with 2048 bits and more).
struct OpensslRsa {
    pem: std::path::PathBuf,
}

impl OpensslRsa {
    fn generate(dir: &Path, name: &str, bits: u32) -> OpensslRsa {
        let pem = dir.join(format!("{name}.pem"));
        let st = Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
            .arg(format!("rsa_keygen_bits:{bits}"))
            .arg("-out")
            .arg(&pem)
            .stderr(Stdio::null())
            .status()
            .expect("run openssl genpkey");
        assert!(st.success(), "openssl genpkey failed");
        OpensslRsa { pem }
    }

    /// The public key as DKIM's p= (base64 DER SubjectPublicKeyInfo).
    fn public_b64(&self) -> String {
        let der = Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&self.pem)
            .output()
            .expect("openssl pkey");
        assert!(der.status.success());
        b64(&der.stdout)
    }
}

impl SigningKey for OpensslRsa {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let mut data: Vec<u8> = Vec::new();
        input.write(&mut data);
        Ok(openssl_io(
            &["dgst", "-sha256", "-sign", &self.pem.display().to_string()],
            &data,
        ))
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::RsaSha256
    }
}

fn openssl_io(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut c = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl");
    if let Some(mut i) = c.stdin.take() {
        i.write_all(input).expect("write to openssl");
    }
    let out = c.wait_with_output().expect("openssl output");
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

fn b64(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&openssl_io(&["base64", "-A"], bytes))
        .trim()
        .to_string()
}

// ------------------------------------------------------------ messages

/// One test message: what it is for and the rule SpamAssassin must hit.
struct Case {
    name: &'static str,
    expect: &'static [&'static str],
    /// Exactly the ARC_* rules both daemons must hit.
    arc: &'static [&'static str],
    raw: Vec<u8>,
}

/// A message from `user@from_dom`, envelope sender `env`, sent by
/// RELAY_IP that said HELO `helo`, with `extra` headers on top.
fn message(from_dom: &str, env: &str, helo: &str, extra: &str, body: &str) -> String {
    format!(
        "{extra}Return-Path: <{env}>\r\n\
         Received: from {helo} ({helo} [{RELAY_IP}])\r\n\
         \tby mx.rcpt-test.net (Postfix) with ESMTP id 4AB12C0D\r\n\
         \tfor <bob@rcpt-test.net>; Wed, 27 Nov 2024 10:00:00 +0000\r\n\
         From: Ann Sender <ann@{from_dom}>\r\n\
         To: Bob <bob@rcpt-test.net>\r\n\
         Subject: Quarterly figures for {from_dom}\r\n\
         Date: Wed, 27 Nov 2024 09:59:58 +0000\r\n\
         Message-ID: <20241127095958.{n}@{from_dom}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         {body}",
        n = from_dom.len()
    )
}

const BODY: &str = "Hello Bob,\r\n\r\nthe figures you asked for are attached to the shared folder.\r\nSee you on Monday.\r\n\r\nAnn\r\n";

/// `msg` with a DKIM-Signature from `key` on top.
fn sign<K: SigningKey>(
    key: K,
    domain: &str,
    selector: &str,
    c: Canonicalization,
    body_length: bool,
    msg: &str,
) -> String {
    let sig = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .header_canonicalization(c)
        .body_canonicalization(c)
        .body_length(body_length)
        .sign(msg.as_bytes())
        .expect("DKIM signing");
    format!("{}{msg}", sig.to_header())
}

/// `msg` with a first ARC set (ARC-Seal, ARC-Message-Signature,
/// ARC-Authentication-Results) from `key` on top, as a forwarder adds it.
fn arc_seal<K: SigningKey<Hasher = Sha256>>(
    key: K,
    domain: &str,
    selector: &str,
    msg: &str,
) -> String {
    let parsed = AuthenticatedMessage::parse(msg.as_bytes()).expect("parse message to seal");
    let results = AuthenticationResults::new(domain);
    let set = ArcSealer::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .seal(&parsed, &results, &ArcOutput::default())
        .expect("ARC sealing");
    format!("{}{msg}", set.to_header())
}

struct Keys {
    rsa2048: OpensslRsa,
    rsa1024: OpensslRsa,
    other2048: OpensslRsa,
    ed_pkcs8: Vec<u8>,
}

fn zones(keys: &Keys) -> Vec<Zone> {
    let spf = |dom: &str, rec: &str| {
        Zone::new(dom)
            .a("@", RELAY_IP)
            .a("mx", RELAY_IP)
            .txt("@", rec)
    };
    let ed = Ed25519Key::from_pkcs8_der(&keys.ed_pkcs8).expect("ed25519 key");
    vec![
        spf("spf-pass-test.net", "v=spf1 ip4:23.45.67.89 -all"),
        spf("spf-fail-test.net", "v=spf1 ip4:192.0.2.1 -all"),
        spf("spf-softfail-test.net", "v=spf1 ip4:192.0.2.1 ~all"),
        spf("spf-neutral-test.net", "v=spf1 ?all"),
        Zone::new("spf-none-test.net").a("@", RELAY_IP),
        spf(
            "spf-permerror-test.net",
            "v=spf1 ip4:23.45.67.89 bogus-mechanism -all",
        ),
        // HELO identities.
        Zone::new("helo-pass-test.net")
            .txt("@", "v=spf1 a:helo-pass-test.net -all")
            .a("@", RELAY_IP),
        Zone::new("helo-fail-test.net")
            .txt("@", "v=spf1 -all")
            .a("@", RELAY_IP),
        // DKIM keys; the From domain publishes SPF none and a p=none DMARC
        // policy for the signed messages.
        Zone::new("dkim-test.net")
            .a("@", RELAY_IP)
            .txt(
                "r2048._domainkey",
                &format!("v=DKIM1; k=rsa; p={}", keys.rsa2048.public_b64()),
            )
            .txt(
                "r1024._domainkey",
                &format!("v=DKIM1; k=rsa; p={}", keys.rsa1024.public_b64()),
            )
            .txt(
                "ed._domainkey",
                &format!("v=DKIM1; k=ed25519; p={}", b64(&ed.public_key())),
            )
            .txt("_dmarc", "v=DMARC1; p=quarantine"),
        Zone::new("other-test.net").a("@", RELAY_IP).txt(
            "o2048._domainkey",
            &format!("v=DKIM1; k=rsa; p={}", keys.other2048.public_b64()),
        ),
        // DMARC policies, SPF aligned or not.
        spf("dmarc-pass-test.net", "v=spf1 ip4:23.45.67.89 -all")
            .txt("_dmarc", "v=DMARC1; p=reject"),
        spf("dmarc-reject-test.net", "v=spf1 -all").txt("_dmarc", "v=DMARC1; p=reject"),
        spf("dmarc-quar-test.net", "v=spf1 -all").txt("_dmarc", "v=DMARC1; p=quarantine"),
        spf("dmarc-none-test.net", "v=spf1 -all").txt("_dmarc", "v=DMARC1; p=none"),
        spf("dmarc-sp-test.net", "v=spf1 -all").txt("_dmarc", "v=DMARC1; p=none; sp=reject"),
        // pct=0: the policy is never applied, the next milder one is.
        spf("dmarc-pct-test.net", "v=spf1 -all").txt("_dmarc", "v=DMARC1; p=reject; pct=0"),
        spf("rcpt-test.net", "v=spf1 -all"),
    ]
}

fn cases(keys: &Keys) -> Vec<Case> {
    let plain = |dom: &str| message(dom, &format!("ann@{dom}"), &format!("mx.{dom}"), "", BODY);
    let mut v = vec![
        Case {
            name: "spf pass",
            expect: &["SPF_PASS", "USER_IN_SPF_WELCOMELIST"],
            arc: &[],
            raw: plain("spf-pass-test.net").into_bytes(),
        },
        Case {
            name: "spf fail",
            expect: &["SPF_FAIL"],
            arc: &[],
            raw: plain("spf-fail-test.net").into_bytes(),
        },
        Case {
            name: "spf softfail",
            expect: &["SPF_SOFTFAIL"],
            arc: &[],
            raw: plain("spf-softfail-test.net").into_bytes(),
        },
        Case {
            name: "spf neutral",
            expect: &["SPF_NEUTRAL"],
            arc: &[],
            raw: plain("spf-neutral-test.net").into_bytes(),
        },
        Case {
            name: "spf none",
            expect: &["SPF_NONE"],
            arc: &[],
            raw: plain("spf-none-test.net").into_bytes(),
        },
        Case {
            name: "spf permerror",
            expect: &["T_SPF_PERMERROR"],
            arc: &[],
            raw: plain("spf-permerror-test.net").into_bytes(),
        },
        Case {
            // The server refuses the name: a temporary DNS error.
            name: "spf temperror",
            expect: &["T_SPF_TEMPERROR"],
            arc: &[],
            raw: message(
                "spf-pass-test.net",
                "ann@unserved-zone.net",
                "mx.spf-pass-test.net",
                "",
                BODY,
            )
            .into_bytes(),
        },
        Case {
            name: "spf helo pass",
            expect: &["SPF_HELO_PASS"],
            arc: &[],
            raw: message(
                "spf-none-test.net",
                "ann@spf-none-test.net",
                "helo-pass-test.net",
                "",
                BODY,
            )
            .into_bytes(),
        },
        Case {
            name: "spf helo fail",
            expect: &["SPF_HELO_FAIL"],
            arc: &[],
            raw: message(
                "spf-none-test.net",
                "ann@spf-none-test.net",
                "helo-fail-test.net",
                "",
                BODY,
            )
            .into_bytes(),
        },
        Case {
            // Our MTA's own verdict wins over the DNS (which says pass).
            name: "received-spf from an internal host",
            expect: &["SPF_SOFTFAIL"],
            arc: &[],
            raw: message(
                "spf-pass-test.net",
                "ann@spf-pass-test.net",
                "mx.spf-pass-test.net",
                "Received-SPF: softfail (mx.rcpt-test.net: domain of transitioning ann@spf-pass-test.net does not designate 23.45.67.89 as permitted sender) client-ip=23.45.67.89; envelope-from=ann@spf-pass-test.net; helo=mx.spf-pass-test.net; receiver=mx.rcpt-test.net; identity=mailfrom;\r\n",
                BODY,
            )
            .into_bytes(),
        },
        Case {
            name: "dmarc pass (aligned spf)",
            expect: &["DMARC_PASS", "USER_IN_DEF_SPF_WL"],
            arc: &[],
            raw: plain("dmarc-pass-test.net").into_bytes(),
        },
        Case {
            name: "dmarc reject",
            expect: &["DMARC_REJECT"],
            arc: &[],
            raw: plain("dmarc-reject-test.net").into_bytes(),
        },
        Case {
            name: "dmarc quarantine",
            expect: &["DMARC_QUAR"],
            arc: &[],
            raw: plain("dmarc-quar-test.net").into_bytes(),
        },
        Case {
            name: "dmarc none",
            expect: &["DMARC_NONE"],
            arc: &[],
            raw: plain("dmarc-none-test.net").into_bytes(),
        },
        Case {
            // No policy at the sub-domain: the organizational domain's sp=.
            name: "dmarc subdomain policy",
            expect: &["DMARC_REJECT"],
            arc: &[],
            raw: message(
                "news.dmarc-sp-test.net",
                "ann@dmarc-sp-test.net",
                "mx.dmarc-sp-test.net",
                "",
                BODY,
            )
            .into_bytes(),
        },
        Case {
            name: "dmarc reject at pct=0",
            expect: &["DMARC_QUAR"],
            arc: &[],
            raw: plain("dmarc-pct-test.net").into_bytes(),
        },
        Case {
            name: "dmarc missing",
            expect: &["DMARC_MISSING"],
            arc: &[],
            raw: plain("spf-pass-test.net").into_bytes(),
        },
    ];
    let base = |dom: &str| message(dom, &format!("ann@{dom}"), &format!("mx.{dom}"), "", BODY);
    let d = "dkim-test.net";
    let relaxed = sign(
        OpensslRsa {
            pem: keys.rsa2048.pem.clone(),
        },
        d,
        "r2048",
        Canonicalization::Relaxed,
        false,
        &base(d),
    );
    v.push(Case {
        name: "dkim rsa-sha256 2048 relaxed",
        expect: &["DKIM_VALID_AU", "DMARC_PASS", "USER_IN_DKIM_WELCOMELIST"],
        arc: &[],
        raw: relaxed.clone().into_bytes(),
    });
    v.push(Case {
        name: "dkim rsa-sha256 2048 simple",
        expect: &["DKIM_VALID_AU"],
        arc: &[],
        raw: sign(
            OpensslRsa {
                pem: keys.rsa2048.pem.clone(),
            },
            d,
            "r2048",
            Canonicalization::Simple,
            false,
            &base(d),
        )
        .into_bytes(),
    });
    v.push(Case {
        name: "dkim tampered body",
        expect: &["DKIM_INVALID"],
        arc: &[],
        raw: relaxed
            .replace("attached to the shared folder", "at https://evil.example/x")
            .into_bytes(),
    });
    v.push(Case {
        // l= covers the original body; a footer added later is allowed.
        name: "dkim body length tag",
        expect: &["DKIM_VALID_AU"],
        arc: &[],
        raw: format!(
            "{}-- \r\nSent through a mailing list footer\r\n",
            sign(
                OpensslRsa {
                    pem: keys.rsa2048.pem.clone()
                },
                d,
                "r2048",
                Canonicalization::Relaxed,
                true,
                &base(d),
            )
        )
        .into_bytes(),
    });
    v.push(Case {
        // dkim_minimum_key_bits 1536 (local.cf): valid, but not an author
        // signature.
        name: "dkim rsa 1024 below dkim_minimum_key_bits",
        expect: &["DKIM_VALID"],
        arc: &[],
        raw: sign(
            OpensslRsa {
                pem: keys.rsa1024.pem.clone(),
            },
            d,
            "r1024",
            Canonicalization::Relaxed,
            false,
            &base(d),
        )
        .into_bytes(),
    });
    v.push(Case {
        name: "dkim ed25519-sha256",
        expect: &["DKIM_SIGNED"],
        arc: &[],
        raw: sign(
            Ed25519Key::from_pkcs8_der(&keys.ed_pkcs8).expect("ed25519 key"),
            d,
            "ed",
            Canonicalization::Relaxed,
            false,
            &base(d),
        )
        .into_bytes(),
    });
    v.push(Case {
        name: "dkim third-party signature",
        expect: &["DKIM_VALID"],
        arc: &[],
        raw: sign(
            OpensslRsa {
                pem: keys.other2048.pem.clone(),
            },
            "other-test.net",
            "o2048",
            Canonicalization::Relaxed,
            false,
            &base(d),
        )
        .into_bytes(),
    });
    // ARC: sealed by a forwarder (other-test.net's key) for a message from
    // a domain without DKIM. SpamAssassin counts every ARC-Seal and
    // ARC-Message-Signature as a signature and calls ARC valid when any
    // one of them verifies on its own (not the chain verdict).
    let sealed = arc_seal(
        OpensslRsa {
            pem: keys.other2048.pem.clone(),
        },
        "other-test.net",
        "o2048",
        &base("spf-none-test.net"),
    );
    assert!(sealed.contains("ARC-Seal:") && sealed.contains("ARC-Message-Signature:"));
    v.push(Case {
        name: "arc sealed, valid chain",
        expect: &["ARC_SIGNED", "ARC_VALID"],
        arc: &["ARC_SIGNED", "ARC_VALID"],
        raw: sealed.clone().into_bytes(),
    });
    let tampered = sealed.replace("attached to the shared folder", "at https://evil.example/x");
    assert_ne!(tampered, sealed);
    v.push(Case {
        // The message signature fails; the seal covers only the ARC
        // headers and still verifies.
        name: "arc sealed, tampered body",
        expect: &["ARC_SIGNED", "ARC_VALID"],
        arc: &["ARC_SIGNED", "ARC_VALID"],
        raw: tampered.clone().into_bytes(),
    });
    // The seal signs the ARC-Authentication-Results header; the message
    // signature does not.
    let broken_seal = |m: &str| {
        let out = m.replacen(
            "ARC-Authentication-Results: i=1; other-test.net",
            "ARC-Authentication-Results: i=1; forged-test.net",
            1,
        );
        assert_ne!(out, m, "no ARC-Authentication-Results to break: {m}");
        out
    };
    v.push(Case {
        name: "arc broken seal, intact message signature",
        expect: &["ARC_SIGNED", "ARC_VALID"],
        arc: &["ARC_SIGNED", "ARC_VALID"],
        raw: broken_seal(&sealed).into_bytes(),
    });
    v.push(Case {
        name: "arc broken seal and tampered body",
        expect: &["ARC_SIGNED", "ARC_INVALID"],
        arc: &["ARC_SIGNED", "ARC_INVALID"],
        raw: broken_seal(&tampered).into_bytes(),
    });
    v.push(Case {
        // No key at the selector: no ARC signature can verify.
        name: "arc sealed with an unpublished key",
        expect: &["ARC_SIGNED", "ARC_INVALID"],
        arc: &["ARC_SIGNED", "ARC_INVALID"],
        raw: arc_seal(
            OpensslRsa {
                pem: keys.other2048.pem.clone(),
            },
            "other-test.net",
            "gone",
            &base("spf-none-test.net"),
        )
        .into_bytes(),
    });
    // A second copy of the ARC-Seal: Mail::DKIM stops at the duplicate
    // instance and checks none of the signatures. (The envelope sender is
    // at another domain than From, so DMARC does not look at the seal.)
    let resealed = arc_seal(
        OpensslRsa {
            pem: keys.other2048.pem.clone(),
        },
        "other-test.net",
        "o2048",
        &message(
            "spf-none-test.net",
            "ann@spf-pass-test.net",
            "mx.spf-none-test.net",
            "",
            BODY,
        ),
    );
    let seal_line_end = resealed
        .find("\r\nARC-Message-Signature:")
        .expect("the seal comes first");
    let duplicated = format!("{}\r\n{resealed}", &resealed[..seal_line_end]);
    v.push(Case {
        name: "arc duplicate seal",
        expect: &["ARC_SIGNED", "ARC_INVALID"],
        arc: &["ARC_SIGNED", "ARC_INVALID"],
        raw: duplicated.into_bytes(),
    });
    // DMARC over ARC: after a DMARC failure SpamAssassin retries with the
    // first seal's own result as a DKIM result of the envelope domain
    // (when it is an author domain), whoever sealed.
    let sealed_reject = arc_seal(
        OpensslRsa {
            pem: keys.other2048.pem.clone(),
        },
        "other-test.net",
        "o2048",
        &base("dmarc-reject-test.net"),
    );
    v.push(Case {
        name: "arc seal turns dmarc reject into pass",
        expect: &["DMARC_PASS", "SPF_FAIL"],
        arc: &["ARC_SIGNED", "ARC_VALID"],
        raw: sealed_reject.clone().into_bytes(),
    });
    v.push(Case {
        name: "arc broken seal leaves dmarc reject",
        expect: &["DMARC_REJECT"],
        arc: &["ARC_SIGNED", "ARC_VALID"],
        raw: broken_seal(&sealed_reject).into_bytes(),
    });
    let end = sealed_reject
        .find("\r\nARC-Message-Signature:")
        .expect("the seal comes first");
    v.push(Case {
        // The duplicate seal was never checked: Mail::DMARC dies on its
        // missing result and no DMARC rule hits.
        name: "arc duplicate seal, dmarc reject",
        expect: &["SPF_FAIL"],
        arc: &["ARC_SIGNED", "ARC_INVALID"],
        raw: format!("{}\r\n{sealed_reject}", &sealed_reject[..end]).into_bytes(),
    });
    v.push(Case {
        name: "arc none",
        expect: &["SPF_NONE"],
        arc: &[],
        raw: base("spf-none-test.net").into_bytes(),
    });
    v
}

// ------------------------------------------------------------- daemons

/// The X-Spam-Status tests= list of a HEADERS reply.
fn status_tests(port: u16, msg: &[u8]) -> (String, Vec<String>) {
    let mut req =
        format!("HEADERS SPAMC/1.5\r\nContent-length: {}\r\n\r\n", msg.len()).into_bytes();
    req.extend_from_slice(msg);
    let reply = String::from_utf8_lossy(&raw_request(port, &req)).into_owned();
    let unfolded = reply
        .replace("\r\n", "\n")
        .replace("\n\t", " ")
        .replace("\n ", " ");
    let status = unfolded
        .lines()
        .find(|l| l.starts_with("X-Spam-Status:"))
        .unwrap_or("")
        .to_string();
    // tests=A,B, C autolearn=... (folding leaves ", " between names).
    let tests = status
        .split("tests=")
        .nth(1)
        .and_then(|t| t.split(" autolearn=").next())
        .unwrap_or("")
        .trim();
    let names = tests
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "none")
        .map(str::to_string)
        .collect();
    (status, names)
}

fn is_auth_rule(r: &str) -> bool {
    [
        "ENV_AND_HDR_SPF_MATCH",
        "SPF_",
        "T_SPF_",
        "DKIM_",
        "DMARC_",
        "ARC_",
        "USER_IN_SPF",
        "USER_IN_DKIM",
        "USER_IN_DEF_SPF",
        "USER_IN_DEF_DKIM",
    ]
    .iter()
    .any(|p| r.starts_with(p))
}

// ---------------------------------------------------------------- tests

/// Runs [`in_namespace`] in a private network and mount namespace.
#[test]
fn auth_parity_with_spamassassin() {
    if e2e::dns::in_namespace() {
        return;
    }
    require("/usr/bin/openssl", "openssl");
    // Build before entering the namespace.
    let _ = our_bin("spamd");
    let dir = TempDir::new("authns");
    let exe = std::env::current_exe().expect("test executable");
    let mut child = e2e::dns::namespace_command(dir.path(), &exe)
        .args(["--exact", "in_namespace", "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run unshare");
    // Bounded: the inner test gives up long before this.
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("namespace run output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the parity run in the namespace failed"
    );
    assert!(
        stdout.contains("1 passed"),
        "the namespace run did not run the parity test"
    );
}

/// The parity run itself; does nothing unless started by
/// [`auth_parity_with_spamassassin`] inside the namespace.
#[test]
fn in_namespace() {
    if !e2e::dns::in_namespace() {
        return;
    }
    let dir = TempDir::new("auth");
    let keys = Keys {
        rsa2048: OpensslRsa::generate(dir.path(), "rsa2048", 2048),
        rsa1024: OpensslRsa::generate(dir.path(), "rsa1024", 1024),
        other2048: OpensslRsa::generate(dir.path(), "other2048", 2048),
        ed_pkcs8: Ed25519Key::generate_pkcs8().expect("ed25519 key"),
    };
    let knot = Knot::start_on(53, &zones(&keys));

    // One site configuration for both: SpamAssassin's .pre files (they
    // load the SPF, DKIM and DMARC plugins) and our local.cf.
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("site dir");
    for e in std::fs::read_dir("/etc/spamassassin")
        .expect("/etc/spamassassin")
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "pre") {
            std::fs::copy(&p, site.join(e.file_name())).expect("copy .pre");
        }
    }
    std::fs::write(
        site.join("local.cf"),
        format!(
            "dns_available yes\ndns_server 127.0.0.1:{}\ntrusted_networks 10.99.0.0/16\n\
             internal_networks 10.99.0.0/16\ndkim_minimum_key_bits 1536\nuse_bayes 0\n\
             skip_rbl_checks 1\nskip_uribl_checks 1\n\
             welcomelist_from_spf *@spf-pass-test.net\n\
             def_welcomelist_from_spf *@dmarc-pass-test.net\n\
             welcomelist_from_dkim *@dkim-test.net\n",
            knot.port
        ),
    )
    .expect("local.cf");
    let rules = "/usr/share/spamassassin";
    // Ours first: SpamAssassin's start-up takes both cores for a while.
    let site_s = site.display().to_string();
    let ours = Daemon::ours(&["-C", rules, "--siteconfigpath", &site_s]);
    let sa = Daemon::spamassassin_network(&[
        "-x",
        "-m",
        "1",
        "-C",
        rules,
        &format!("--siteconfigpath={site_s}"),
    ]);

    let mut failures = Vec::new();
    for c in cases(&keys) {
        let (sa_status, sa_all) = status_tests(sa.port, &c.raw);
        let (our_status, our_all) = status_tests(ours.port, &c.raw);
        let sa_auth: Vec<&String> = sa_all.iter().filter(|r| is_auth_rule(r)).collect();
        let our_auth: Vec<&String> = our_all.iter().filter(|r| is_auth_rule(r)).collect();
        println!(
            "{:<45} SA: {:?}\n{:<45} us: {:?}",
            c.name, sa_auth, "", our_auth
        );
        if sa_auth != our_auth {
            failures.push(format!(
                "{}: SpamAssassin {sa_auth:?}, ours {our_auth:?}\n  SA:  {sa_status}\n  us:  {our_status}",
                c.name
            ));
        }
        let arc_of = |all: &[String]| -> Vec<String> {
            let mut v: Vec<String> = all
                .iter()
                .filter(|r| r.starts_with("ARC_"))
                .cloned()
                .collect();
            v.sort();
            v
        };
        let mut want_arc: Vec<String> = c.arc.iter().map(|r| r.to_string()).collect();
        want_arc.sort();
        for (who, all) in [("SpamAssassin", &sa_all), ("ours", &our_all)] {
            if arc_of(all) != want_arc {
                failures.push(format!(
                    "{}: {who} hit ARC rules {:?}, the case wants exactly {want_arc:?}",
                    c.name,
                    arc_of(all)
                ));
            }
        }
        for want in c.expect {
            if !sa_all.iter().any(|r| r == want) {
                failures.push(format!(
                    "{}: SpamAssassin did not hit {want} (the case is not what it claims): {sa_status}",
                    c.name
                ));
            }
        }
    }
    drop(knot);
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
