//! Auto-learning after a scan (`Plugin/AutoLearnThreshold.pm` and
//! `PerMsgStatus.pm` `_get_autolearn_points`): learn clear spam and clear
//! ham, judged by the points of the non-Bayes score set so that Bayes
//! cannot reinforce its own mistakes.

use crate::bayes::{Bayes, LearnResult};
use crate::config::{EvalTarget, RuleKind};
use crate::message::Message;
use crate::rules::CompiledRules;

use super::{Area, Verdict};

/// Points SpamAssassin's discriminator looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Points {
    /// All counted points (non-Bayes score set), rounded to 3 decimals.
    pub total: f64,
    pub head: f64,
    pub body: f64,
    /// Points of rules flagged `learn` (the BAYES_* rules), current set.
    pub learned: f64,
    /// Rules flagged `autolearn_force` hit.
    pub force: bool,
}

#[derive(PartialEq)]
enum Kind {
    Head,
    Body,
    Meta,
    Other,
}

fn rule_kind(rules: &CompiledRules, name: &str) -> Kind {
    match rules.config.rules.get(name).map(|d| &d.kind) {
        Some(RuleKind::Header { .. } | RuleKind::Exists { .. }) => Kind::Head,
        Some(RuleKind::Body { .. } | RuleKind::Rawbody { .. } | RuleKind::Uri { .. }) => Kind::Body,
        Some(RuleKind::Eval { target, .. }) => match target {
            EvalTarget::Header => Kind::Head,
            EvalTarget::Body | EvalTarget::Rawbody | EvalTarget::Uri => Kind::Body,
            EvalTarget::Full => Kind::Other,
        },
        Some(RuleKind::Meta { .. }) => Kind::Meta,
        _ => Kind::Other,
    }
}

/// Rule names a meta expression mentions directly.
fn meta_deps<'a>(rules: &'a CompiledRules, name: &str) -> Vec<&'a str> {
    let Some(RuleKind::Meta { expr }) = rules.config.rules.get(name).map(|d| &d.kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for w in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some((k, _)) = rules.config.rules.get_key_value(w) {
            out.push(k.as_str());
        }
    }
    out
}

fn round3(x: f64) -> f64 {
    format!("{x:.3}").parse().unwrap_or(x)
}

/// Sum the points of the rules that hit, as the discriminator sees them.
pub fn points(rules: &CompiledRules, v: &Verdict) -> Points {
    let set = rules.score_set & !2;
    let mut p = Points::default();
    for hit in &v.hits {
        let t = rules.config.tflags.get(&hit.name);
        if t.is_some_and(|t| t.noautolearn || t.userconf) {
            continue;
        }
        if t.is_some_and(|t| t.learn) {
            p.learned += hit.score;
            continue;
        }
        if t.is_some_and(|t| t.autolearn_force) {
            p.force = true;
        }
        let forced = t.and_then(|t| {
            t.words.iter().find_map(|w| match w.as_str() {
                "autolearn_header" => Some(Kind::Head),
                "autolearn_body" => Some(Kind::Body),
                _ => None,
            })
        });
        let score = rules.config.score(&hit.name, set);
        if score == 0.0 {
            continue;
        }
        let kind = forced.unwrap_or_else(|| match hit.area {
            Area::Meta => Kind::Meta,
            _ => rule_kind(rules, &hit.name),
        });
        match kind {
            Kind::Head => p.head += score,
            Kind::Body => p.body += score,
            Kind::Meta => {
                let deps = meta_deps(rules, &hit.name);
                let dh = deps
                    .iter()
                    .filter(|d| rule_kind(rules, d) == Kind::Head)
                    .count();
                let db = deps
                    .iter()
                    .filter(|d| rule_kind(rules, d) == Kind::Body)
                    .count();
                if dh + db > 0 {
                    let total = (dh + db) as f64;
                    p.head += round3(score * dh as f64 / total);
                    p.body += round3(score * db as f64 / total);
                }
            }
            Kind::Other => {}
        }
        p.total += score;
    }
    p.total = round3(p.total);
    p
}

/// Spam (`Some(true)`), ham (`Some(false)`) or neither, and whether an
/// `autolearn_force` rule hit.
pub fn decide(p: &Points, v: &Verdict, bayes: &Bayes) -> Option<bool> {
    let o = &bayes.opts;
    let is_spam = if p.total < o.auto_learn_threshold_nonspam {
        false
    } else if p.total >= o.auto_learn_threshold_spam {
        true
    } else {
        return None;
    };
    if is_spam {
        let need = if p.force { -99.0 } else { 3.0 };
        if p.body < need || p.head < need || p.learned < -1.0 || !v.is_spam {
            return None;
        }
    } else if p.learned > 1.0 || v.is_spam {
        return None;
    }
    if o.auto_learn_on_error {
        // Only learn what Bayes got wrong.
        if (is_spam && p.learned >= 1.0) || (!is_spam && p.learned <= -1.0) {
            return None;
        }
    }
    Some(is_spam)
}

/// Run the discriminator and learn; sets `autolearn` and
/// `autolearn_force` on the verdict. Returns a log line on failure.
pub fn run(rules: &CompiledRules, msg: &Message, v: &mut Verdict, bayes: &Bayes) -> Option<String> {
    if !bayes.opts.auto_learn || !bayes.opts.use_bayes {
        v.autolearn = "disabled".into();
        v.autolearn_force = None;
        return None;
    }
    let p = points(rules, v);
    v.autolearn_force = Some(p.force);
    let Some(is_spam) = decide(&p, v, bayes) else {
        v.autolearn = "no".into();
        return None;
    };
    let mut item = Bayes::learn_item(msg, &bayes.opts.tokenizer);
    // A message already learned as the other class (e.g. by hand) stays so.
    item.no_relearn = true;
    match bayes.write(&[(item, Some(is_spam))]) {
        Ok(r) if r.first() == Some(&LearnResult::Learned) => {
            v.autolearn = if is_spam { "spam" } else { "ham" }.into();
            None
        }
        Ok(_) => {
            v.autolearn = "unavailable".into();
            None
        }
        Err(e) => {
            v.autolearn = "failed".into();
            Some(format!("bayes: auto-learning failed: {e}"))
        }
    }
}
