//! When and how far a Bayes database is expired, decided as SpamAssassin
//! 4.0.1 decides it (`BayesStore.pm` `expiry_due`,
//! `expire_old_tokens_trapped`), so that a database learned from the same
//! mail keeps the same tokens here and there.
//!
//! The decision is pure: it reads the magic counters and, when the previous
//! run gives no usable estimate, a histogram of token ages. The store then
//! removes tokens older than `newest atime - delta` in one transaction.

use std::collections::BTreeMap;

use super::store::Magic;

/// Never expire below this many tokens, whatever the configuration says.
pub const MIN_KEEP: u64 = 100_000;
/// Skip an expiry that would remove fewer tokens than this.
pub const MIN_REDUCTION: u64 = 1_000;
/// At most one automatic expiry in this many seconds.
pub const SAFETY_PERIOD: i64 = 43_200;
/// A "running expire" mark younger than this holds back automatic runs.
pub const RUNNING_VALID: i64 = 300;

/// The settings an expiry reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpirePolicy {
    /// `--force-expire`: run whatever the counters say.
    pub force: bool,
    /// `bayes_auto_expire`.
    pub auto_expire: bool,
    /// `bayes_expiry_max_db_size`.
    pub max_db_size: u64,
    /// Share of `max_db_size` kept (SpamAssassin fixes it at 0.75).
    pub keep_pct: f64,
    /// Smallest atime delta tried, in seconds (12 hours).
    pub period: i64,
    /// The age search doubles up to `period << max_exponent` (256 days).
    pub max_exponent: u32,
}

impl Default for ExpirePolicy {
    fn default() -> Self {
        ExpirePolicy {
            force: false,
            auto_expire: true,
            max_db_size: 150_000,
            keep_pct: 0.75,
            period: 43_200,
            max_exponent: 9,
        }
    }
}

/// Whether an expiry should run now.
pub fn due(p: &ExpirePolicy, m: &Magic, now: i64) -> bool {
    if p.force {
        return true;
    }
    if !p.auto_expire || now - m.last_expire < SAFETY_PERIOD {
        return false;
    }
    !(m.ntokens <= MIN_KEEP
        || p.max_db_size > m.ntokens
        || m.newest_atime - m.oldest_atime < SAFETY_PERIOD)
}

/// What an expiry run decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to remove; record `now` as the last expiry.
    Skip,
    /// No token is even `period` older than the newest: stop without
    /// recording anything (SpamAssassin leaves its running mark behind).
    Abandon,
    /// Remove tokens whose atime is below `newest - delta`.
    Expire { delta: i64 },
}

/// How many tokens must go for the database to shrink to its target size
/// (negative when it is already smaller).
pub fn goal_reduction(p: &ExpirePolicy, ntokens: u64) -> i64 {
    let keep = ((p.max_db_size as f64 * p.keep_pct) as u64).max(MIN_KEEP);
    ntokens as i64 - keep as i64
}

/// Choose the atime delta. `m.newest_atime` must already be capped at
/// `now`. `ages` is asked, only when the previous run's figures give no
/// estimate, for how many tokens are at least `start * mult` seconds older
/// than the newest, for `mult` = 1, 2, 4 ... `max_mult` (missing or zero
/// entries mean none).
pub fn decide(
    p: &ExpirePolicy,
    m: &Magic,
    now: i64,
    ages: impl FnOnce(i64, i64, u64) -> BTreeMap<u64, u64>,
) -> Decision {
    let goal = goal_reduction(p, m.ntokens);
    if goal < MIN_REDUCTION as i64 {
        return Decision::Skip;
    }
    let (old_delta, old_reduce) = (m.last_expire_atime_delta, m.last_expire_reduce);
    // A smaller delta removes more tokens, so scale the last delta by how
    // many it removed against how many must go now.
    let estimate = if old_reduce > 0 {
        (old_delta as f64 * old_reduce as f64 / goal as f64) as i64
    } else {
        0
    };
    let ratio = if old_reduce == 0 || old_reduce as i64 > goal {
        old_reduce as f64 / goal as f64
    } else {
        goal as f64 / old_reduce as f64
    };
    let estimable = !(now - m.last_expire > 86_400 * 30
        || old_delta < p.period
        || old_reduce < MIN_REDUCTION
        || estimate < p.period
        || ratio > 1.5);
    if estimable {
        return Decision::Expire { delta: estimate };
    }
    let max_mult = 1u64 << p.max_exponent;
    let counts: BTreeMap<u64, u64> = ages(m.newest_atime, p.period, max_mult)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    if counts.is_empty() {
        return Decision::Abandon;
    }
    // The largest delta whose removal stays within the goal: walk down from
    // the oldest cut until one removes too much, then step back up.
    let mut mult = max_mult;
    while mult > 0 {
        if let Some(&n) = counts.get(&mult)
            && n as i64 > goal
        {
            mult <<= 1;
            break;
        }
        mult >>= 1;
    }
    let mult = mult.max(1);
    match counts.get(&mult) {
        Some(&n) if n >= MIN_REDUCTION => Decision::Expire {
            delta: p.period * mult as i64,
        },
        _ => Decision::Skip,
    }
}

/// Count, for each power-of-two multiple of `start` up to `max_mult`, the
/// atimes at least that far below `newest`.
pub fn age_histogram(
    atimes: impl Iterator<Item = i64>,
    newest: i64,
    start: i64,
    max_mult: u64,
) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for a in atimes {
        let age = newest - a;
        let mut i = 1u64;
        while i <= max_mult && age >= start * i as i64 {
            *out.entry(i).or_insert(0) += 1;
            i <<= 1;
        }
    }
    out
}

/// What an expiry run did, for `sa-learn --force-expire`'s report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireReport {
    /// Whether tokens were examined for removal (the report is printed).
    pub ran: bool,
    pub kept: u64,
    pub deleted: u64,
    /// Kept tokens seen in exactly one message.
    pub hapaxes: u64,
    /// Kept tokens with fewer than 8 spam and 8 ham (hapaxes excluded).
    pub lowfreq: u64,
    pub seconds: u64,
}

/// Bytes SpamAssassin's journal grows by for one token touch
/// (`t <atime> <hex key>\n`), which decides when a sync is due.
pub fn touch_line_len(atime: i64) -> u64 {
    (2 + atime.to_string().len() + 1 + 10 + 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn magic(ntokens: u64) -> Magic {
        Magic {
            ntokens,
            oldest_atime: 1_000_000,
            newest_atime: 1_000_000 + 400 * 86_400,
            ..Magic::default()
        }
    }

    #[test]
    fn due_needs_size_age_spread_and_time() {
        let p = ExpirePolicy::default();
        let now = 2_000_000_000;
        assert!(due(&p, &magic(150_000), now));
        assert!(!due(&p, &magic(149_999), now));
        let mut m = magic(200_000);
        m.last_expire = now - 3600;
        assert!(!due(&p, &m, now));
        m.newest_atime = m.oldest_atime + 3600;
        m.last_expire = 0;
        assert!(!due(&p, &m, now));
        assert!(due(&ExpirePolicy { force: true, ..p }, &m, now));
        assert!(!due(
            &ExpirePolicy {
                auto_expire: false,
                ..p
            },
            &magic(200_000),
            now
        ));
    }

    #[test]
    fn too_few_to_remove_is_skipped() {
        let p = ExpirePolicy::default();
        assert_eq!(
            decide(&p, &magic(113_000), 0, |_, _, _| unreachable!()),
            Decision::Skip
        );
    }

    #[test]
    fn first_pass_picks_the_largest_delta_within_the_goal() {
        let p = ExpirePolicy::default();
        let m = magic(185_848);
        let goal = goal_reduction(&p, m.ntokens) as u64; // 73,348
        let hist: BTreeMap<u64, u64> = [(1, 150_000), (2, 120_000), (4, 80_000), (8, 60_000)]
            .into_iter()
            .collect();
        assert!(hist[&8] <= goal && hist[&4] > goal);
        let d = decide(&p, &m, 2_000_000_000, |_, start, max| {
            assert_eq!((start, max), (43_200, 512));
            hist.clone()
        });
        assert_eq!(d, Decision::Expire { delta: 8 * 43_200 });
    }

    #[test]
    fn everything_older_than_the_longest_delta_means_skip() {
        // Mail spanning years: even the 256-day cut removes too much, so
        // SpamAssassin removes nothing and only records the attempt.
        let p = ExpirePolicy::default();
        let m = magic(185_848);
        let d = decide(&p, &m, 2_000_000_000, |n, s, max| {
            let atimes = (0..185_848i64).map(|i| n - 600 * 86_400 + i);
            age_histogram(atimes, n, s, max)
        });
        assert_eq!(d, Decision::Skip);
    }

    #[test]
    fn young_database_is_abandoned() {
        let p = ExpirePolicy::default();
        let m = magic(185_848);
        assert_eq!(
            decide(&p, &m, 0, |_, _, _| BTreeMap::new()),
            Decision::Abandon
        );
    }

    #[test]
    fn estimate_from_the_last_run() {
        let p = ExpirePolicy::default();
        let mut m = magic(190_000);
        m.last_expire = 1_000;
        m.last_expire_atime_delta = 10 * 86_400;
        m.last_expire_reduce = 70_000;
        let goal = goal_reduction(&p, m.ntokens); // 77,500
        let d = decide(&p, &m, 2_000, |_, _, _| unreachable!());
        let want = (10.0 * 86_400.0 * 70_000.0 / goal as f64) as i64;
        assert_eq!(d, Decision::Expire { delta: want });
    }

    #[test]
    fn histogram_counts_each_power() {
        let h = age_histogram([0, 10, 25, 100].into_iter(), 100, 10, 8);
        // Ages 100, 90, 75, 0: >=10 three, >=20 three, >=40 three, >=80 two.
        assert_eq!(h.get(&1), Some(&3));
        assert_eq!(h.get(&4), Some(&3));
        assert_eq!(h.get(&8), Some(&2));
        assert_eq!(touch_line_len(1_000_000_000), 24);
    }
}
