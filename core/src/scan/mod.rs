//! The pipeline: message + compiled rules -> verdict.

pub mod autolearn;
mod verdict;

pub use verdict::*;

use crate::bayes::Bayes;
use crate::message::Message;
use crate::rules::CompiledRules;

/// Round to 3 decimals as SpamAssassin does (`sprintf "%0.3f"`) before
/// comparing with the threshold.
pub fn round_score(x: f64) -> f64 {
    format!("{x:.3}").parse().unwrap_or(x)
}

/// Scan one parsed message.
pub fn scan(rules: &CompiledRules, msg: &Message) -> Verdict {
    verdict(rules, msg, None)
}

/// `scan`, adding the time of each rules stage to `prof`.
pub fn scan_profiled(
    rules: &CompiledRules,
    msg: &Message,
    prof: &mut crate::rules::Profile,
) -> Verdict {
    let (hits, subtests) = rules.run_profiled(msg, None, prof);
    verdict_from(rules, hits, subtests)
}

/// What a scan with Bayes produced besides the verdict.
#[derive(Debug, Default)]
pub struct BayesNotes {
    /// Problems worth a log line (locked or corrupt database ...). The scan
    /// still completed, without Bayes.
    pub warnings: Vec<String>,
}

/// Scan with Bayes: classify, run the rules of the right score set, then
/// auto-learn.
///
/// SpamAssassin switches to score sets 2/3 as soon as the database holds
/// enough spam and ham; our rules are compiled per score set (scores and
/// the set of rules that run are baked in), so callers compile both sets
/// once at load time and pass the Bayes one as `rules_bayes`: picking one
/// per scan is free, recompiling is not.
pub fn scan_with_bayes(
    rules: &CompiledRules,
    rules_bayes: Option<&CompiledRules>,
    msg: &Message,
    bayes: Option<&Bayes>,
) -> (Verdict, BayesNotes) {
    let mut notes = BayesNotes::default();
    let Some(b) = bayes else {
        let mut v = verdict(rules, msg, None);
        // SpamAssassin skips the discriminator (status `disabled`, no
        // `autolearn_force`) when use_bayes or bayes_auto_learn is off.
        let conf = &rules.config;
        if !conf.bool_setting("use_bayes", true) || !conf.bool_setting("bayes_auto_learn", true) {
            v.autolearn = "disabled".into();
            v.autolearn_force = None;
        }
        return (v, notes);
    };
    let mut usable = false;
    let mut prob = None;
    match b.is_usable() {
        Ok(u) => usable = u,
        Err(e) => notes
            .warnings
            .push(format!("bayes: {e}; scanning without Bayes")),
    }
    if usable && b.opts.use_bayes_rules {
        match b.classify(msg) {
            Ok(c) => prob = c.map(|c| c.prob),
            Err(e) => notes
                .warnings
                .push(format!("bayes: {e}; scanning without Bayes")),
        }
    }
    let active = match rules_bayes {
        Some(rb) if usable => rb,
        _ => rules,
    };
    let mut v = verdict(active, msg, prob);
    v.bayes = prob;
    if let Some(w) = autolearn::run(active, msg, &mut v, b) {
        notes.warnings.push(w);
    }
    (v, notes)
}

fn verdict(rules: &CompiledRules, msg: &Message, bayes: Option<f64>) -> Verdict {
    let (hits, subtests) = rules.run_with_bayes(msg, bayes);
    verdict_from(rules, hits, subtests)
}

fn verdict_from(
    rules: &CompiledRules,
    hits: Vec<crate::rules::Hit>,
    mut subtests: Vec<String>,
) -> Verdict {
    let total: f64 = hits.iter().map(|h| h.score * f64::from(h.count)).sum();
    let score = round_score(total);
    let required = rules.config.required_score;
    let hits: Vec<RuleHit> = hits
        .into_iter()
        .map(|h| RuleHit {
            description: rules
                .config
                .describe
                .get(&h.name)
                .cloned()
                .unwrap_or_else(|| "No description available.".to_string()),
            name: h.name,
            score: h.score,
            count: h.count,
            area: h.area,
            log: h.log,
        })
        .collect();
    subtests.sort();
    Verdict {
        score,
        required,
        is_spam: score >= required,
        hits,
        subtests,
        // Without a Bayes store SpamAssassin reports `no`: auto-learning
        // was considered and not done. scan_with_bayes fills these in.
        autolearn: "no".to_string(),
        autolearn_force: Some(false),
        bayes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::rules::CompileOptions;

    #[test]
    fn gtube_like() {
        let conf = Config::from_text(
            "t.cf",
            "body GT /XJS\\*C4JDBQADN1/\nscore GT 1000\nheader NR X-Nothing =~ /x/\nmeta NORCVD !NR\nscore NORCVD -0.001\n",
        );
        let (rules, d) = CompiledRules::compile(conf, CompileOptions::default());
        assert!(d.is_empty());
        let v = scan(&rules, &Message::parse(b"Subject: t\n\nXJS*C4JDBQADN1\n"));
        assert_eq!(v.score, 999.999);
        assert!(v.is_spam);
        assert_eq!(v.test_names(), ["GT", "NORCVD"]);
        assert_eq!(format_score(v.score, v.required, v.is_spam), "1000.0");
    }

    #[test]
    fn autolearn_disabled_without_use_bayes_or_auto_learn() {
        let msg = Message::parse(b"Subject: t\n\nhello\n");
        for (text, status, force) in [
            ("", "no", Some(false)),
            ("use_bayes 0\n", "disabled", None),
            ("bayes_auto_learn 0\n", "disabled", None),
        ] {
            let conf = Config::from_text("t.cf", &format!("{text}body B /hello/\n"));
            let (rules, _) = CompiledRules::compile(conf, CompileOptions::default());
            let (v, _) = scan_with_bayes(&rules, None, &msg, None);
            assert_eq!(
                (v.autolearn.as_str(), v.autolearn_force),
                (status, force),
                "{text}"
            );
        }
    }

    #[test]
    fn rounding() {
        assert_eq!(round_score(4.9995), 5.0);
        assert_eq!(round_score(0.1 + 0.2), 0.3);
    }
}
