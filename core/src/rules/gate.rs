//! Multi-pattern gates for the rules the literal prefilter cannot judge.
//!
//! About 150 body and rawbody rules have no required literal (the
//! obfuscation tags of `replace_tags` turn every letter into a class, some
//! alternatives hold none), so they ran on every line of every message, one
//! regex at a time. Here their patterns are grouped into a few lazy DFAs
//! that each find, in one pass over a line, every pattern of the group that
//! matches somewhere in it; a rule's own engine then runs only on the lines
//! its pattern matched. This is the same trade Hyperscan makes for rspamd,
//! kept exact: a rule the `regex` crate runs is gated by its own pattern; a
//! rule only PCRE2 runs is gated by its weakened translation (lookarounds
//! and atomic groups dropped, back-references widened to `.*`), which
//! matches wherever the original does. So a gate never hides a line a rule
//! could match on, and hits and `/g` counts stay the same. Patterns that
//! repeat a wide class a counted number of times (`[a-z]{8,}`,
//! `[1-9A-Za-z]{26,33}`) are left out: their DFA states multiply with the
//! other patterns' and the group costs more than the rules run alone.
//!
//! Memory: one lazy DFA cache per group and scanning thread, each bounded
//! by [`CACHE_BYTES`] (cleared and rebuilt when full, never grown).

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet};

use super::perlre::CachePool;

/// Most pattern text (bytes) one group holds: larger groups make larger
/// DFA states and more of them.
const GROUP_TEXT: usize = 20_000;
/// Most patterns one group holds.
const GROUP_PATTERNS: usize = 16;
/// The lazy DFA cache of one group, per scanning thread.
pub const CACHE_BYTES: usize = 4 << 20;

/// The class of text a gate group scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Body,
    Rawbody,
}

/// One group: a lazy DFA over several rules' gate patterns.
#[derive(Debug)]
struct Group {
    class: Class,
    dfa: DFA,
    caches: CachePool<Cache>,
}

/// All gate groups of a rule set, and which group and pattern gates each
/// rule.
#[derive(Debug, Default)]
pub struct Gates {
    groups: Vec<Group>,
    /// Per rule: (group, pattern in the group).
    of_rule: Vec<Option<(u32, u32)>>,
}

/// Which lines each pattern of a group matched in one message's text.
#[derive(Debug, Default)]
pub struct Lines {
    /// Per pattern, the line numbers (ascending) where it matches.
    per_pattern: Vec<Vec<u32>>,
    /// The scan could not finish (the DFA gave up): every line stays a
    /// candidate for every rule of the group.
    all: bool,
}

impl Lines {
    /// The candidate lines of pattern `p`; None means all lines.
    pub fn of(&self, p: u32) -> Option<&[u32]> {
        if self.all {
            return None;
        }
        Some(self.per_pattern.get(p as usize).map_or(&[], Vec::as_slice))
    }
}

impl Gates {
    /// Build the groups. `candidates` lists, per rule to gate, the rule's
    /// index, the class its text comes from and its gate pattern (with
    /// its flags inline, bytes mode: [`super::perlre::Matcher::gate`]);
    /// `rules` is the rule count. The groups' DFAs are built on all cores
    /// (it is part of start-up).
    pub fn build(rules: usize, candidates: Vec<(usize, Class, String)>) -> Gates {
        let mut plans: Vec<Vec<&Candidate>> = Vec::new();
        for class in [Class::Body, Class::Rawbody] {
            let mine: Vec<&Candidate> = candidates.iter().filter(|c| c.1 == class).collect();
            let mut start = 0;
            while start < mine.len() {
                let mut end = start;
                let mut text = 0;
                while end < mine.len()
                    && end - start < GROUP_PATTERNS
                    && (end == start || text + mine[end].2.len() <= GROUP_TEXT)
                {
                    text += mine[end].2.len();
                    end += 1;
                }
                plans.push(mine[start..end].to_vec());
                start = end;
            }
        }
        // A plan whose worker panicked leaves its rules ungated.
        let built = super::par_map(&plans, super::load_workers(), |plan| build_plan(plan));
        let mut gates = Gates {
            groups: Vec::new(),
            of_rule: vec![None; rules],
        };
        for (members, dfa) in built.into_iter().flatten().flatten() {
            let g = gates.groups.len() as u32;
            for (p, m) in members.iter().enumerate() {
                gates.of_rule[m.0] = Some((g, p as u32));
            }
            gates.groups.push(Group {
                class: members[0].1,
                dfa,
                caches: CachePool::default(),
            });
        }
        gates
    }

    /// The group and pattern gating rule `i`, if any.
    pub fn of(&self, i: usize) -> Option<(u32, u32)> {
        self.of_rule.get(i).copied().flatten()
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// How many rules are gated, per class.
    pub fn gated(&self, class: Class) -> usize {
        self.of_rule
            .iter()
            .flatten()
            .filter(|(g, _)| self.groups[*g as usize].class == class)
            .count()
    }

    /// The class group `g` scans.
    pub fn class(&self, g: u32) -> Class {
        self.groups[g as usize].class
    }

    /// Scan `lines` with group `g`.
    pub fn scan<'l>(&self, g: u32, lines: impl Iterator<Item = &'l [u8]>) -> Lines {
        let group = &self.groups[g as usize];
        let n = group.dfa.pattern_len();
        group.caches.with(
            || group.dfa.create_cache(),
            |cache| {
                let mut out = Lines {
                    per_pattern: vec![Vec::new(); n],
                    all: false,
                };
                let mut set = PatternSet::new(n);
                for (ln, line) in lines.enumerate() {
                    set.clear();
                    if group
                        .dfa
                        .try_which_overlapping_matches(cache, &Input::new(line), &mut set)
                        .is_err()
                    {
                        out.all = true;
                        return out;
                    }
                    for p in set.iter() {
                        out.per_pattern[p.as_usize()].push(ln as u32);
                    }
                }
                out
            },
        )
    }
}

/// Whether a pattern repeats a wide class (eight bytes or more) a counted
/// number of times: `[a-z]{8,}`, `(?:\w+\s){6}`. Lazy DFA states multiply
/// with such counters, and more so with several patterns in one DFA, so
/// these stay out of the groups and run by themselves.
pub(crate) fn counts_wide(p: &str) -> bool {
    use regex_syntax::hir::{Hir, HirKind};
    fn wide(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Class(c) => match c {
                regex_syntax::hir::Class::Bytes(b) => {
                    b.ranges()
                        .iter()
                        .map(|r| usize::from(r.end() - r.start()) + 1)
                        .sum::<usize>()
                        >= 8
                }
                regex_syntax::hir::Class::Unicode(u) => {
                    u.ranges()
                        .iter()
                        .map(|r| r.end() as usize - r.start() as usize + 1)
                        .sum::<usize>()
                        >= 8
                }
            },
            HirKind::Repetition(r) => wide(&r.sub),
            HirKind::Capture(c) => wide(&c.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(wide),
            _ => false,
        }
    }
    fn walk(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Repetition(r) => {
                let counted = r.min >= 4 || r.max.is_some_and(|m| m >= 8);
                (counted && wide(&r.sub)) || walk(&r.sub)
            }
            HirKind::Capture(c) => walk(&c.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(walk),
            _ => false,
        }
    }
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(p)
        .map_or(true, |h| walk(&h))
}

/// A rule to gate: its index, its class, its gate pattern.
type Candidate = (usize, Class, String);

/// Build one planned group; if its patterns do not build together, halve
/// it (a single pattern that cannot build stays ungated: it always runs).
fn build_plan<'c>(members: &[&'c Candidate]) -> Vec<(Vec<&'c Candidate>, DFA)> {
    let pats: Vec<&str> = members.iter().map(|m| m.2.as_str()).collect();
    match build_dfa(&pats) {
        Some(dfa) => vec![(members.to_vec(), dfa)],
        None if members.len() > 1 => {
            let (a, b) = members.split_at(members.len() / 2);
            let mut out = build_plan(a);
            out.extend(build_plan(b));
            out
        }
        None => Vec::new(),
    }
}

/// A lazy DFA finding every pattern of `pats` that matches (bytes mode, as
/// the rules' own `regex` builds).
fn build_dfa(pats: &[&str]) -> Option<DFA> {
    DFA::builder()
        .configure(
            DFA::config()
                .match_kind(MatchKind::All)
                .cache_capacity(CACHE_BYTES),
        )
        .syntax(syntax::Config::new().utf8(false))
        .thompson(
            thompson::Config::new()
                .utf8(false)
                .nfa_size_limit(Some(16 << 20)),
        )
        .build_many(pats)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_counters() {
        for p in [
            r"(?-u)\b(?:[a-z]{8,}[\s.]+){6}",
            r"(?-u)\b[LM3][a-km-zA-HJ-NP-Z1-9]{26,33}\b",
            r"(?i-u)(?:\w+\s){6}",
            r"(?-u)x[^<]{1,30}y",
            "(?-u)(",
        ] {
            assert!(counts_wide(p), "{p}");
        }
        for p in [
            r"(?-u)\b[a-z]\d[a-z]\b",
            r"(?i-u)\bfoo\s+bar",
            r"(?-u)[xy]{2,5}",
            r"(?-u)\d{1,3}",
            r"(?-u)(?:ab|cd){4,}",
        ] {
            assert!(!counts_wide(p), "{p}");
        }
    }

    #[test]
    fn lines_per_pattern() {
        let g = Gates::build(
            4,
            vec![
                (1, Class::Body, r"(?i-u)\bfoo\b".into()),
                (3, Class::Body, r"(?-u)ba+r".into()),
                (0, Class::Rawbody, r"(?-u)x".into()),
            ],
        );
        assert_eq!(g.len(), 2);
        let (gb, p_foo) = g.of(1).unwrap();
        let (gb2, p_bar) = g.of(3).unwrap();
        assert_eq!(gb, gb2);
        assert_eq!(g.of(2), None);
        assert_eq!(g.class(gb), Class::Body);
        let lines: [&[u8]; 4] = [b"FOO and baar", b"food", b"bar \xff", b"foo"];
        let l = g.scan(gb, lines.iter().copied());
        assert_eq!(l.of(p_foo), Some(&[0u32, 3][..]));
        assert_eq!(l.of(p_bar), Some(&[0u32, 2][..]));
        assert_eq!(g.gated(Class::Body), 2);
        assert_eq!(g.gated(Class::Rawbody), 1);
    }
}
