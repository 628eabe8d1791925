//! What the sender-authentication checks (SPF, DKIM, DMARC) found for one
//! message: plain facts, filled in by `crate::auth` before the rules run
//! (it needs DNS) and read by the `eval:` functions of SpamAssassin's SPF,
//! DKIM and DMARC plugins. A message that was never checked (local tests
//! only, `dns_available no`) has none, and those rules do not hit.

use std::collections::BTreeSet;

/// Waits for checks running in the background; None if they never answer.
pub type Waiter = Box<dyn FnOnce() -> Option<AuthFacts> + Send>;

/// The waiter of a message whose checks were launched, until first read.
#[derive(Default)]
pub struct Pending(std::sync::Mutex<Option<Waiter>>);

impl Pending {
    pub fn set(&self, w: Waiter) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(w);
        }
    }

    pub fn take(&self) -> Option<Waiter> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

/// Whether `tld` (lower-case, no dot) is a top-level domain SpamAssassin
/// knows (`util_rb_tld`). Mail::DMARC refuses author domains under any
/// other, and SpamAssassin then records no DMARC result.
pub fn is_known_tld(tld: &str) -> bool {
    super::tlds::TLDS.binary_search(&tld).is_ok()
}

/// One SPF result, as Mail::SPF names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpfOutcome {
    Pass,
    Neutral,
    None,
    Fail,
    SoftFail,
    PermError,
    TempError,
}

impl SpfOutcome {
    /// From the words of a `Received-SPF` or `Authentication-Results`
    /// header (`hardfail` is `fail`, as RFC 5451 allows).
    pub fn from_word(w: &str) -> Option<SpfOutcome> {
        Some(match w.to_ascii_lowercase().as_str() {
            "pass" => SpfOutcome::Pass,
            "neutral" => SpfOutcome::Neutral,
            "none" => SpfOutcome::None,
            "fail" | "hardfail" => SpfOutcome::Fail,
            "softfail" => SpfOutcome::SoftFail,
            "permerror" => SpfOutcome::PermError,
            "temperror" | "error" => SpfOutcome::TempError,
            _ => return None,
        })
    }
}

/// The result of one ARC-Seal by itself, as Mail::DKIM leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealResult {
    Pass,
    Fail,
    /// The verifier gave up on the chain's structure before checking any
    /// signature (a duplicate instance): no result at all.
    Unchecked,
}

/// One DKIM signature of the message, as SpamAssassin's DKIM plugin sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DkimSignature {
    /// The signing domain SpamAssassin matches against: the domain of `i=`
    /// when present, else `d=`, lower-cased.
    pub sdid: Option<String>,
    /// `d=` as written.
    pub domain: String,
    /// `s=` as written (empty when missing).
    pub selector: String,
    /// The signature verified (and had not expired).
    pub valid: bool,
    /// The public key's size in bits, when it verified, the key is RSA and
    /// `dkim_minimum_key_bits` is not 0 (SpamAssassin measures nothing else).
    pub key_bits: Option<u32>,
}

/// Everything the authentication checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFacts {
    /// SPF on the envelope sender (None: not checked or no usable input).
    pub spf: Option<SpfOutcome>,
    /// SPF on the HELO name of the first external relay.
    pub spf_helo: Option<SpfOutcome>,
    /// The lower-cased envelope sender SPF used (SpamAssassin's `spf_sender`).
    pub spf_sender: Option<String>,
    /// The "SPF failed: ..." comment SpamAssassin logs for a fail.
    pub spf_failure_comment: Option<String>,
    /// DKIM verification ran (DNS was available).
    pub dkim_ready: bool,
    /// `check_dkim_dependable`: the signatures can be trusted to be complete.
    pub dkim_dependable: bool,
    pub dkim_signatures: Vec<DkimSignature>,
    /// The author addresses (From) and their lower-cased domains.
    pub dkim_authors: Vec<String>,
    pub dkim_author_domains: BTreeSet<String>,
    /// Author domains with a valid signature of at least the minimum size.
    pub dkim_valid_author_domains: BTreeSet<String>,
    /// ADSP per author domain (`N`, `U`, `A`, `D`, `1`, `2`, `3`), for the
    /// author domains without a valid author signature.
    pub dkim_adsp: std::collections::BTreeMap<String, char>,
    /// Any ARC-Seal or ARC-Message-Signature header (ARC_SIGNED).
    pub arc_signed: bool,
    /// One of them verified by itself (ARC_VALID).
    pub arc_valid: bool,
    /// The lowest-instance ARC-Seal's own result (DMARC reads it).
    pub arc_first_seal: Option<SealResult>,
    /// DMARC: Mail::DMARC's result (`pass`, `fail`, `none`) and the policy
    /// SpamAssassin derives from it (`reject`, `quarantine`, `none`, or
    /// `no policy available`). None when DMARC was not evaluated.
    pub dmarc: Option<(String, String)>,
}

impl AuthFacts {
    /// Any signature at all (DKIM_SIGNED).
    pub fn dkim_signed(&self) -> bool {
        !self.dkim_signatures.is_empty()
    }

    /// Any valid signature, whatever its key size (DKIM_VALID).
    pub fn dkim_valid(&self) -> bool {
        self.dkim_signatures.iter().any(|s| s.valid)
    }
}
