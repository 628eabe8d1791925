//! The result of scanning one message.

pub use crate::rules::Area;

/// One scoring rule that hit.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    pub name: String,
    /// Score of one hit in the active score set.
    pub score: f64,
    /// How many times it hit (more than 1 only for `tflags multiple`).
    pub count: u32,
    pub area: Area,
    /// `describe` text, or "No description available.".
    pub description: String,
    /// Lines SpamAssassin's report prints under the description
    /// (`test_log`), e.g. `45.67.89.12 listed in zen.spamhaus.org`.
    pub log: Vec<String>,
}

/// The verdict on one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Total score, rounded to 3 decimals as SpamAssassin does before comparing.
    pub score: f64,
    pub required: f64,
    pub is_spam: bool,
    /// Scoring rules that hit, in the order they fired (reports list them
    /// so; `_TESTS_` sorts on its own).
    pub hits: Vec<RuleHit>,
    /// `__` sub-rules that hit, sorted by name.
    pub subtests: Vec<String>,
    /// `_AUTOLEARN_`: e.g. `no`, `ham`, `spam`, `disabled`, `unavailable`.
    pub autolearn: String,
    /// Whether the autolearn discriminator ran (adds ` autolearn_force=no`).
    pub autolearn_force: Option<bool>,
    /// Bayes probability when Bayes ran.
    pub bayes: Option<f64>,
}

impl Verdict {
    /// Names of the scoring rules hit, each repeated per hit, byte-sorted.
    pub fn test_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for h in &self.hits {
            for _ in 0..h.count.max(1) {
                names.push(h.name.as_str());
            }
        }
        names.sort_unstable();
        names
    }
}

/// `_SCORE_`: `%2.1f`, except that a ham whose rounded text would reach the
/// threshold shows `required - 0.1` (SpamAssassin's get_tag_value_for_score).
pub fn format_score(score: f64, required: f64, is_spam: bool) -> String {
    let text = format!("{score:.1}");
    let shown: f64 = text.parse().unwrap_or(score);
    let reqd: f64 = format_required(required).parse().unwrap_or(required);
    if is_spam || shown < reqd {
        text
    } else {
        // Perl prints `$rscore - 0.1` as a plain number (%.15g).
        perl_number_text(reqd - 0.1)
    }
}

/// A number as Perl stringifies it (`%.15g`): `4.9`, `0`, `-1.5`.
pub fn perl_number_text(x: f64) -> String {
    let rounded: f64 = format!("{x:.14e}").parse().unwrap_or(x);
    if rounded == 0.0 {
        return "0".to_string();
    }
    format!("{rounded}")
}

/// `_REQD_`: `%2.1f` of the threshold.
pub fn format_required(required: f64) -> String {
    format!("{required:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_display() {
        assert_eq!(format_score(999.998, 5.0, true), "1000.0");
        assert_eq!(format_score(4.96, 5.0, false), "4.9");
        assert_eq!(format_score(4.94, 5.0, false), "4.9");
        assert_eq!(format_score(-0.5, 5.0, false), "-0.5");
        assert_eq!(format_required(5.0), "5.0");
        assert_eq!(format_score(0.1, 0.1, false), "0");
        assert_eq!(perl_number_text(0.3 - 0.1), "0.2");
    }
}
