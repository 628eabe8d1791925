//! The verdict rendered as SpamAssassin 4.0.1 renders it: the X-Spam-*
//! headers, report texts with their template tags, `rewrite_header`, and
//! `report_safe` 0/1/2 message rewriting.
//!
//! Everything here is a pure function of the raw message, the [`Verdict`],
//! the [`ReportConf`] and a [`TagContext`] of engine-supplied values.

mod rewrite;
mod tags;
mod text;

pub use crate::config::ReportConf;
pub use rewrite::rewrite_mail;
pub use tags::{TagContext, content_preview, rule_lines, rule_score_text};

use crate::scan::Verdict;
use tags::Tagger;

/// Expand the template tags (`_SCORE_`, `_TESTS(,)_` ...) in `template`;
/// unknown tags are left as they are.
pub fn expand_tags(
    template: &str,
    verdict: &Verdict,
    conf: &ReportConf,
    ctx: &TagContext,
) -> String {
    Tagger { verdict, conf, ctx }.expand(template)
}

/// The value of `X-Spam-<name>` for `template`: tags expanded, folded as
/// `fold_headers` says, RFC 2047 encoded where not ASCII. No trailing newline.
pub fn header_value(
    name: &str,
    template: &str,
    verdict: &Verdict,
    conf: &ReportConf,
    ctx: &TagContext,
) -> String {
    let value = expand_tags(template, verdict, conf, ctx);
    let folded = text::fold_header_value(name, &value, conf.fold_headers);
    text::mime_encode_header(&folded)
}

/// The X-Spam-* header fields for this verdict, in configured order, each
/// `X-Spam-<Name>: <value>\n` (LF line endings).
pub fn added_headers(verdict: &Verdict, conf: &ReportConf, ctx: &TagContext) -> String {
    let mut out = String::new();
    for (name, template) in conf.headers_for(verdict.is_spam) {
        out.push_str("X-Spam-");
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&header_value(name, template, verdict, conf, ctx));
        out.push('\n');
    }
    out
}

/// The report text (`get_report`): the `report` template expanded, ending
/// in exactly one blank line. spamd's REPORT and REPORT_IFSPAM send this.
pub fn report_text(verdict: &Verdict, conf: &ReportConf, ctx: &TagContext) -> String {
    let template = if conf.report_template.is_empty() {
        "(no report template found)"
    } else {
        conf.report_template.as_str()
    };
    let mut report = expand_tags(template, verdict, conf, ctx);
    let keep = report.trim_end_matches('\n').len();
    report.truncate(keep);
    report.push_str("\n\n");
    report
}

/// spamd's SYMBOLS answer: names of the rules hit, sorted, comma-joined
/// (a `multiple` rule once per hit), empty when none hit.
pub fn symbols(verdict: &Verdict) -> String {
    verdict.test_names().join(",")
}

/// spamd's HEADERS answer from a rewritten message: everything up to and
/// including the first blank line (`s/(\r?\n\r?\n).*$/$1/s`); the whole
/// text when there is none, as SpamAssassin adds no blank line of its own.
pub fn headers_only(rewritten: &[u8]) -> &[u8] {
    let b = rewritten;
    let nl_at = |i: usize| -> Option<usize> {
        // `\r?\n` at i: where it ends.
        match (b.get(i), b.get(i + 1)) {
            (Some(b'\r'), Some(b'\n')) => Some(i + 2),
            (Some(b'\n'), _) => Some(i + 1),
            _ => None,
        }
    };
    for i in 0..b.len() {
        if let Some(j) = nl_at(i)
            && let Some(k) = nl_at(j)
        {
            return &b[..k];
        }
    }
    b
}

/// An RFC 2822 date as SpamAssassin writes it (`time_to_rfc822_date`), for
/// `unix` seconds in a zone `offset_minutes` east of UTC.
pub fn rfc2822_date(unix: i64, offset_minutes: i32) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = unix + i64::from(offset_minutes) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Perl's sprintf("%+.2d%.2d", $z/60, $z%60): hours truncate toward
    // zero, minutes take the sign of the divisor.
    let hours = offset_minutes / 60;
    let sign = if hours < 0 { '-' } else { '+' };
    format!(
        "{}, {day:02} {} {year:4} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        hours.abs(),
        offset_minutes.rem_euclid(60)
    )
}

#[cfg(test)]
mod tests;
