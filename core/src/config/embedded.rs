//! The project's own default configuration and rules, compiled into the
//! binaries and used when the machine has no SpamAssassin rules directory.

/// `(name, text)` of each embedded file, in load order.
pub const FILES: &[(&str, &str)] = &[
    (
        "(embedded)/10_default_prefs.cf",
        include_str!("../../../rules/10_default_prefs.cf"),
    ),
    (
        "(embedded)/20_gtube.cf",
        include_str!("../../../rules/20_gtube.cf"),
    ),
    (
        "(embedded)/30_welcomelist.cf",
        include_str!("../../../rules/30_welcomelist.cf"),
    ),
    (
        "(embedded)/40_bayes.cf",
        include_str!("../../../rules/40_bayes.cf"),
    ),
    (
        "(embedded)/50_heuristics.cf",
        include_str!("../../../rules/50_heuristics.cf"),
    ),
    (
        "(embedded)/60_japanese.cf",
        include_str!("../../../rules/60_japanese.cf"),
    ),
    (
        "(embedded)/70_spam.cf",
        include_str!("../../../rules/70_spam.cf"),
    ),
    (
        "(embedded)/90_scores.cf",
        include_str!("../../../rules/90_scores.cf"),
    ),
];

/// [`FILES`] as [`super::Sources::embedded`] wants them.
pub fn sources() -> Vec<(String, String)> {
    FILES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}
