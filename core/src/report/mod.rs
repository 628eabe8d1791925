//! TEMPORARY placeholder until the report module lands.

use crate::scan::Verdict;

/// Report-related configuration.
#[derive(Debug, Clone, Default)]
pub struct ReportConf {}

impl ReportConf {
    /// Apply a report directive; None if `name` is not one.
    pub fn directive(&mut self, _name: &str, _value: &str) -> Option<Result<(), String>> {
        None
    }
}

/// Values the engine supplies to templates.
#[derive(Debug, Clone, Default)]
pub struct TagContext {
    pub hostname: String,
    pub remote_hostname: String,
    pub remote_addr: String,
    pub preview_lines: Vec<String>,
}

/// PROCESS output.
pub fn rewrite_mail(
    raw: &[u8],
    verdict: &Verdict,
    _conf: &ReportConf,
    _ctx: &TagContext,
) -> Vec<u8> {
    let mut out = format!(
        "X-Spam-Status: {}, score={:.1}\n",
        if verdict.is_spam { "Yes" } else { "No" },
        verdict.score
    )
    .into_bytes();
    out.extend_from_slice(raw);
    out
}

/// REPORT output.
pub fn report_text(verdict: &Verdict, _conf: &ReportConf, _ctx: &TagContext) -> String {
    verdict
        .hits
        .iter()
        .map(|h| format!("{} {}\n", h.score, h.name))
        .collect()
}

/// SYMBOLS output.
pub fn symbols(verdict: &Verdict) -> String {
    verdict.test_names().join(",")
}
