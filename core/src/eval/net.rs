//! Network tests: DNS blocklists (DNSEval, URIDNSBL, AskDNS, HashBL), SPF,
//! DKIM, DMARC, and the Razor/Pyzor/DCC services.
//!
//! The DNS ones (DNSEval, URIDNSBL, AskDNS) run through [`dnsbl`]: the
//! scan plans every lookup before it runs the other rules, and decides
//! these rules after the harvest. Through the plain eval table they never
//! hit, which is what SpamAssassin does with `-L` (local tests only).
//! The rest are known functions, not unsupported ones: `--lint` counts
//! them apart.

pub mod dnsbl;

use super::{EvalCtx, EvalFn};

/// Every network eval function of SpamAssassin 4.0.1's stock plugins.
pub const NETWORK_FUNCTIONS: &[&str] = &[
    "check_rbl",
    "check_rbl_sub",
    "check_rbl_txt",
    "check_rbl_envfrom",
    "check_rbl_from_host",
    "check_rbl_from_domain",
    "check_rbl_ns_from",
    "check_rbl_rcvd",
    "check_rbl_headers",
    "check_rbl_accreditor",
    "check_dns_sender",
    "check_uridnsbl",
    "askdns",
    "check_hashbl_emails",
    "check_hashbl_uris",
    "check_hashbl_bodyre",
    "check_hashbl_attachments",
    "check_hashbl_tag",
    "check_dkim_signed",
    "check_dkim_valid",
    "check_dkim_valid_author_sig",
    "check_dkim_valid_envelopefrom",
    "check_dkim_dependable",
    "check_dkim_adsp",
    "check_dkim_signall",
    "check_dkim_signsome",
    "check_dkim_testing",
    "check_for_dkim_welcomelist_from",
    "check_for_dkim_whitelist_from",
    "check_for_def_dkim_welcomelist_from",
    "check_for_def_dkim_whitelist_from",
    "check_arc_signed",
    "check_arc_valid",
    "check_for_spf_pass",
    "check_for_spf_neutral",
    "check_for_spf_none",
    "check_for_spf_fail",
    "check_for_spf_softfail",
    "check_for_spf_permerror",
    "check_for_spf_temperror",
    "check_for_spf_helo_pass",
    "check_for_spf_helo_neutral",
    "check_for_spf_helo_none",
    "check_for_spf_helo_fail",
    "check_for_spf_helo_softfail",
    "check_for_spf_helo_permerror",
    "check_for_spf_helo_temperror",
    "check_for_spf_welcomelist_from",
    "check_for_spf_whitelist_from",
    "check_for_def_spf_welcomelist_from",
    "check_for_def_spf_whitelist_from",
    "check_dmarc_pass",
    "check_dmarc_reject",
    "check_dmarc_quarantine",
    "check_dmarc_none",
    "check_dmarc_missing",
    "check_razor2",
    "check_razor2_range",
    "check_pyzor",
    "check_dcc",
    "check_dcc_reputation_range",
    "check_spamcop",
];

/// Whether `name` is a network test.
pub fn is_network(name: &str) -> bool {
    NETWORK_FUNCTIONS.contains(&name)
}

fn never(_: &EvalCtx<'_>, _: &[String]) -> u32 {
    0
}

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    is_network(name).then_some(never as EvalFn)
}
