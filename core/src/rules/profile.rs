//! Where a scan's time goes, stage by stage (`xtask profile`, `xtask bench`).
//!
//! Collected only when asked for, so a normal scan pays nothing. The clock
//! is the caller's choice: wall time by default, or the thread's CPU time,
//! which a loaded machine does not inflate. The engine reads it only when
//! the stage changes (rules run grouped by type), not once per rule.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The stages of one scan, in pipeline order. The first five are the
/// message views (timed by the caller that forces them); the rest are
/// timed inside the rules engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Parse,
    /// Body text decoded and rendered (HTML to text included).
    Render,
    Rawbody,
    Uris,
    Relays,
    Prefilter,
    HeaderRules,
    MimeheaderRules,
    BodyRules,
    RawbodyRules,
    FullRules,
    UriRules,
    HeaderEvals,
    OtherEvals,
    Meta,
    /// The verdict turned into the reply (headers, report).
    Report,
}

impl Stage {
    /// Every stage, in the order they are printed.
    pub const ALL: [Stage; 16] = [
        Stage::Parse,
        Stage::Render,
        Stage::Rawbody,
        Stage::Uris,
        Stage::Relays,
        Stage::Prefilter,
        Stage::HeaderRules,
        Stage::MimeheaderRules,
        Stage::BodyRules,
        Stage::RawbodyRules,
        Stage::FullRules,
        Stage::UriRules,
        Stage::HeaderEvals,
        Stage::OtherEvals,
        Stage::Meta,
        Stage::Report,
    ];

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Parse => "parse (MIME, headers)",
            Stage::Render => "decode/render body (HTML)",
            Stage::Rawbody => "rawbody view",
            Stage::Uris => "URI list",
            Stage::Relays => "relays (Received)",
            Stage::Prefilter => "literal prefilter + gates",
            Stage::HeaderRules => "header rules",
            Stage::MimeheaderRules => "mimeheader rules",
            Stage::BodyRules => "body rules",
            Stage::RawbodyRules => "rawbody rules",
            Stage::FullRules => "full rules",
            Stage::UriRules => "uri rules",
            Stage::HeaderEvals => "header evals",
            Stage::OtherEvals => "body/uri/full evals",
            Stage::Meta => "meta rules",
            Stage::Report => "report rendering",
        }
    }
}

/// Accumulated time per stage over any number of scans.
#[derive(Debug, Clone)]
pub struct Profile {
    times: [Duration; Stage::ALL.len()],
    clock: fn() -> Duration,
    /// Time per rule index (the profile's clock), when asked for
    /// (`xtask profile --rules`).
    per_rule: Option<Vec<Duration>>,
}

/// Monotonic time since the first call.
fn wall() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

impl Default for Profile {
    fn default() -> Self {
        Profile::with_clock(wall)
    }
}

impl Profile {
    /// A profile read from `clock` (e.g. the thread's CPU time).
    pub fn with_clock(clock: fn() -> Duration) -> Profile {
        Profile {
            times: [Duration::ZERO; Stage::ALL.len()],
            clock,
            per_rule: None,
        }
    }

    /// Also time every rule on its own (two clock reads per rule, so stage
    /// times grow by that overhead).
    pub fn with_rule_times(mut self) -> Profile {
        self.per_rule = Some(Vec::new());
        self
    }

    /// Whether per-rule times are collected.
    pub fn times_rules(&self) -> bool {
        self.per_rule.is_some()
    }

    /// Add `d` to rule `i`'s time.
    pub fn add_rule(&mut self, i: usize, d: Duration) {
        if let Some(v) = &mut self.per_rule {
            if v.len() <= i {
                v.resize(i + 1, Duration::ZERO);
            }
            v[i] += d;
        }
    }

    /// Time per rule index (empty unless `with_rule_times`).
    pub fn rule_times(&self) -> &[Duration] {
        self.per_rule.as_deref().unwrap_or_default()
    }

    /// The current reading of this profile's clock.
    pub fn now(&self) -> Duration {
        (self.clock)()
    }

    /// Add `d` to `stage`.
    pub fn add(&mut self, stage: Stage, d: Duration) {
        self.times[stage as usize] += d;
    }

    /// Run `f`, adding its time to `stage`.
    pub fn time<R>(&mut self, stage: Stage, f: impl FnOnce() -> R) -> R {
        let t = self.now();
        let r = f();
        let d = self.now().saturating_sub(t);
        self.add(stage, d);
        r
    }

    /// Time spent in `stage`.
    pub fn get(&self, stage: Stage) -> Duration {
        self.times[stage as usize]
    }

    /// Time over all stages.
    pub fn total(&self) -> Duration {
        self.times.iter().sum()
    }

    /// Add another profile's times to this one.
    pub fn merge(&mut self, other: &Profile) {
        for (a, b) in self.times.iter_mut().zip(other.times.iter()) {
            *a += *b;
        }
    }
}
