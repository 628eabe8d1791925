//! Plugin::Bayes: `check_bayes(min, max)`, the BAYES_* rules.

use super::{EvalCtx, EvalFn};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_bayes" => check_bayes,
        _ => return None,
    })
}

/// Hits when the message's Bayes probability p (computed once per scan,
/// before rules run) satisfies `(min == 0 or p > min) and p <= max`.
/// Never hits when Bayes could not answer.
pub fn check_bayes(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(p) = ctx.bayes else { return 0 };
    let num = |i: usize| {
        args.get(i)
            .and_then(|a| a.trim().trim_matches(['\'', '"']).parse::<f64>().ok())
    };
    let Some(min) = num(0) else { return 0 };
    // SpamAssassin accepts the literal "undef" for an open upper bound.
    let max = num(1).unwrap_or(f64::INFINITY);
    u32::from((min == 0.0 || p > min) && p <= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::message::Message;

    #[test]
    fn bands() {
        let msg = Message::parse(b"\n");
        let conf = Config::default();
        let hit = |p: Option<f64>, min: &str, max: &str| {
            let ctx = EvalCtx {
                msg: &msg,
                conf: &conf,
                bayes: p,
            };
            check_bayes(&ctx, &[min.to_string(), max.to_string()])
        };
        assert_eq!(hit(Some(0.0), "0.00", "0.01"), 1);
        assert_eq!(hit(Some(0.01), "0.01", "0.05"), 0);
        assert_eq!(hit(Some(0.999), "0.99", "1.00"), 1);
        assert_eq!(hit(Some(0.9995), "0.999", "1.00"), 1);
        assert_eq!(hit(None, "0.00", "1.00"), 0);
    }
}
