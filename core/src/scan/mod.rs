//! The pipeline: message + compiled rules -> verdict.

mod verdict;

pub use verdict::*;

use crate::message::Message;
use crate::rules::CompiledRules;

/// Round to 3 decimals as SpamAssassin does (`sprintf "%0.3f"`) before
/// comparing with the threshold.
pub fn round_score(x: f64) -> f64 {
    format!("{x:.3}").parse().unwrap_or(x)
}

/// Scan one parsed message.
pub fn scan(rules: &CompiledRules, msg: &Message) -> Verdict {
    let (hits, mut subtests) = rules.run(msg);
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
        })
        .collect();
    subtests.sort();
    Verdict {
        score,
        required,
        is_spam: score >= required,
        hits,
        subtests,
        // No Bayes yet: SpamAssassin reports `no` when auto-learning was
        // considered and not done.
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
    fn rounding() {
        assert_eq!(round_score(4.9995), 5.0);
        assert_eq!(round_score(0.1 + 0.2), 0.3);
    }
}
