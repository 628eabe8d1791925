//! The literal prefilter: which (rule, line) pairs can possibly match.
//!
//! From each rule regex's syntax tree we derive an AND/OR formula of
//! literals that every match must contain (lowercased, compared without
//! ASCII case). All literals of one rule class (header, body, rawbody, uri,
//! full) go into one Aho-Corasick automaton, scanned once per line of that
//! class's text; a rule's exact engine then runs only on the lines whose
//! literals satisfy its formula, and not at all when no line does.
//!
//! The formula is only ever a necessary condition: a line it rejects has
//! no match, so hits and `/g` counts are the same as running every rule on
//! every line. Rules with no usable literal (formula `Any`) always run.
//! A sub-expression repeated `{n,}` whose every copy holds one of a set of
//! literals needs `n` occurrences of them on the line (the copies are
//! disjoint), so those literals are counted, not just seen: SpamAssassin's
//! fill-in-the-form rules repeat a field name five times, and a field name
//! or two is on many lines, five on few.
//! Patterns that only PCRE2 runs get their formula from a weakened
//! translation (lookarounds and back-references removed), which matches a
//! superset of the original.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};
use regex_syntax::hir::{Class, Hir, HirKind};

/// Most strings an "exact set" may hold before it turns into a formula.
const MAX_EXACT: usize = 16;
/// Shortest literal worth searching for: shorter ones match almost every
/// line and would only slow the automaton down.
const MIN_LEN: usize = 3;

/// Literals a match must contain, before interning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Formula {
    /// No usable literal: always run.
    Any,
    Lit(Vec<u8>),
    And(Vec<Formula>),
    Or(Vec<Formula>),
    /// At least this many occurrences, on one line, of the literals of a
    /// `Lit` or an `Or` of them: a sub-expression repeated `{n,}` whose
    /// every copy contains one of them (the copies are disjoint, so their
    /// literals are distinct occurrences).
    AtLeast(u32, Box<Formula>),
}

impl Formula {
    fn and(parts: Vec<Formula>) -> Formula {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Formula::Any => {}
                Formula::And(v) => out.extend(v),
                f => out.push(f),
            }
        }
        match out.len() {
            0 => Formula::Any,
            1 => out.pop().unwrap_or(Formula::Any),
            _ => Formula::And(out),
        }
    }

    fn or(parts: Vec<Formula>) -> Formula {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Formula::Any => return Formula::Any,
                Formula::Or(v) => out.extend(v),
                f => out.push(f),
            }
        }
        match out.len() {
            0 => Formula::Any,
            1 => out.pop().unwrap_or(Formula::Any),
            _ => Formula::Or(out),
        }
    }

    /// Whether this formula can ever reject a line.
    pub fn is_any(&self) -> bool {
        matches!(self, Formula::Any)
    }

    /// Literals one of which occurs in every match (a cover): a literal
    /// itself, the union of an `Or`'s covers, the smallest cover among
    /// an `And`'s parts. None when some match may contain none.
    fn cover(&self) -> Option<Vec<Vec<u8>>> {
        match self {
            Formula::Any => None,
            Formula::Lit(l) => Some(vec![l.clone()]),
            Formula::AtLeast(_, f) => f.cover(),
            Formula::Or(v) => {
                let mut all = Vec::new();
                for f in v {
                    all.extend(f.cover()?);
                }
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
            Formula::And(v) => v.iter().filter_map(Formula::cover).min_by_key(Vec::len),
        }
    }

    /// What `n` disjoint copies of a sub-expression with this formula
    /// need: the formula, and `n` occurrences of its cover's literals
    /// (each copy holds one, at a place of its own).
    fn repeated(self, n: u32) -> Formula {
        if n < 2 {
            return self;
        }
        let Some(cover) = self.cover() else {
            return self;
        };
        let counted = Formula::AtLeast(
            n,
            Box::new(Formula::or(cover.into_iter().map(Formula::Lit).collect())),
        );
        match self {
            Formula::Lit(_) => counted,
            Formula::Or(v) if v.iter().all(|f| matches!(f, Formula::Lit(_))) => counted,
            f => Formula::and(vec![f, counted]),
        }
    }
}

/// What a sub-expression tells us: either the full set of (lowercased)
/// strings it can match, when small, or a formula of required literals
/// with, when known and small, the strings every match starts with and
/// ends with (so a neighbour in a concatenation can join them: `na` then
/// `(?:me|vne)` needs `name` or `navne`, though neither part has three
/// letters). Exact sets are short vectors, sorted and deduplicated when
/// turned into a formula: extraction runs over every rule at start-up, so
/// it avoids allocating per character.
enum Info {
    Exact(Vec<Vec<u8>>),
    Match {
        pre: Option<Vec<Vec<u8>>>,
        suf: Option<Vec<Vec<u8>>>,
        f: Formula,
    },
}

/// Every string of `a` followed by every string of `b`, if there are few.
fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len() * b.len() > MAX_EXACT {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut v = x.clone();
            v.extend_from_slice(y);
            out.push(v);
        }
    }
    Some(out)
}

impl Info {
    fn empty() -> Info {
        Info::Exact(vec![Vec::new()])
    }

    /// A formula and nothing known of the ends.
    fn formula(f: Formula) -> Info {
        Info::Match {
            pre: None,
            suf: None,
            f,
        }
    }

    fn into_formula(self) -> Formula {
        match self {
            Info::Match { f, .. } => f,
            Info::Exact(mut set) => {
                if set.is_empty() || set.iter().any(|s| s.len() < MIN_LEN) {
                    Formula::Any
                } else {
                    set.sort_unstable();
                    set.dedup();
                    Formula::or(set.into_iter().map(Formula::Lit).collect())
                }
            }
        }
    }
}

/// The formula of a `regex` crate pattern (as `Regex::as_str` gives it).
/// Any parse problem gives `Any`: the rule then always runs.
pub fn formula_of(pattern: &str) -> Formula {
    parse_formula(pattern).unwrap_or(Formula::Any)
}

/// As [`formula_of`], but a pattern that does not parse is an error: this
/// parse is the same the `regex` crate's bytes mode does, so it checks the
/// pattern's syntax before its automata are built.
pub fn parse_formula(pattern: &str) -> Result<Formula, String> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .map(|hir| info(&hir).into_formula())
        .map_err(|e| e.to_string())
}

/// The distinct lowercased bytes of a byte class, if there are few.
fn class_bytes(ranges: impl Iterator<Item = (u32, u32)>, utf8: bool) -> Info {
    let mut seen = [false; 256];
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (lo, hi) in ranges {
        if hi - lo > MAX_EXACT as u32 {
            return Info::formula(Formula::Any);
        }
        for c in lo..=hi {
            if c < 256 && !(utf8 && c >= 0x80) {
                let b = (c as u8).to_ascii_lowercase();
                if !seen[b as usize] {
                    seen[b as usize] = true;
                    out.push(vec![b]);
                }
            } else if let Some(ch) = char::from_u32(c) {
                let mut buf = [0u8; 4];
                out.push(ch.encode_utf8(&mut buf).as_bytes().to_vec());
            }
            if out.len() > MAX_EXACT {
                return Info::formula(Formula::Any);
            }
        }
    }
    Info::Exact(out)
}

fn info(h: &Hir) -> Info {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::empty(),
        HirKind::Literal(l) => Info::Exact(vec![l.0.to_ascii_lowercase()]),
        HirKind::Class(Class::Bytes(c)) => class_bytes(
            c.ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end()))),
            false,
        ),
        HirKind::Class(Class::Unicode(c)) => class_bytes(
            c.ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end()))),
            true,
        ),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                Info::formula(Formula::Any)
            } else if r.min == 1 && r.max == Some(1) {
                info(&r.sub)
            } else {
                // At least `min` copies of the sub-expression are in every
                // match, which starts with the first copy and ends with the
                // last.
                match info(&r.sub) {
                    Info::Exact(set) => Info::Match {
                        pre: Some(set.clone()),
                        suf: Some(set.clone()),
                        f: Info::Exact(set).into_formula().repeated(r.min),
                    },
                    Info::Match { pre, suf, f } => Info::Match {
                        pre,
                        suf,
                        f: f.repeated(r.min),
                    },
                }
            }
        }
        HirKind::Capture(c) => info(&c.sub),
        HirKind::Concat(subs) => {
            let mut conj = Vec::new();
            // The exact run since the last break (what every match has
            // just before the next part), and what all matches start with.
            let mut cur: Vec<Vec<u8>> = vec![Vec::new()];
            let mut pre: Option<Option<Vec<Vec<u8>>>> = None;
            for s in subs {
                match info(s) {
                    // The common case (a run of single strings) extends in place.
                    Info::Exact(set) if set.len() == 1 => {
                        for a in &mut cur {
                            a.extend_from_slice(&set[0]);
                        }
                    }
                    Info::Exact(set) => match product(&cur, &set) {
                        Some(next) => cur = next,
                        None => {
                            pre.get_or_insert_with(|| Some(cur.clone()));
                            conj.push(Info::Exact(std::mem::replace(&mut cur, set)).into_formula());
                        }
                    },
                    Info::Match { pre: p, suf, f } => {
                        // The run joins the part's starts when that does not
                        // multiply it or it is too short to search for on its
                        // own: `cheap` joined with each blank of `\s+` would
                        // be six literals for one.
                        let short = cur.iter().any(|c| c.len() < MIN_LEN);
                        let join = |p: &&[Vec<u8>]| short || p.len() == 1;
                        let joined = p.as_deref().filter(join).and_then(|p| product(&cur, p));
                        // A repeated string's own literal is in the joined run.
                        let implied = joined.is_some()
                            && p.is_some_and(|p| Info::Exact(p).into_formula() == f);
                        let run = joined.unwrap_or_else(|| std::mem::take(&mut cur));
                        pre.get_or_insert_with(|| Some(run.clone()));
                        conj.push(Info::Exact(run).into_formula());
                        if !implied {
                            conj.push(f);
                        }
                        // Likewise a single end string starts the next run
                        // (`ad+res` needs "dres").
                        cur = match suf {
                            Some(suf) if suf.len() == 1 => suf,
                            _ => vec![Vec::new()],
                        };
                    }
                }
            }
            match pre {
                None => Info::Exact(cur),
                Some(pre) => {
                    conj.push(Info::Exact(cur.clone()).into_formula());
                    Info::Match {
                        pre,
                        suf: Some(cur),
                        f: Formula::and(conj),
                    }
                }
            }
        }
        HirKind::Alternation(subs) => {
            let infos: Vec<Info> = subs.iter().map(info).collect();
            let total: usize = infos
                .iter()
                .map(|i| match i {
                    Info::Exact(set) => set.len(),
                    _ => MAX_EXACT + 1,
                })
                .sum();
            if total <= MAX_EXACT {
                return Info::Exact(
                    infos
                        .into_iter()
                        .flat_map(|i| match i {
                            Info::Exact(set) => set,
                            _ => Vec::new(),
                        })
                        .collect(),
                );
            }
            // Every match is one branch's: it starts as one of them starts.
            let ends = |pick: fn(&Info) -> Option<&Vec<Vec<u8>>>| {
                let mut all: Vec<Vec<u8>> = Vec::new();
                for i in &infos {
                    all.extend(pick(i)?.iter().cloned());
                    if all.len() > MAX_EXACT {
                        return None;
                    }
                }
                Some(all)
            };
            let pre = ends(|i| match i {
                Info::Exact(set) => Some(set),
                Info::Match { pre, .. } => pre.as_ref(),
            });
            let suf = ends(|i| match i {
                Info::Exact(set) => Some(set),
                Info::Match { suf, .. } => suf.as_ref(),
            });
            let mut parts = Vec::with_capacity(infos.len());
            for i in infos {
                let f = match i {
                    // Each string of a big exact branch is its own literal.
                    Info::Exact(set) => Formula::or(
                        set.into_iter()
                            .map(|u| Info::Exact(vec![u]).into_formula())
                            .collect(),
                    ),
                    m => m.into_formula(),
                };
                if f.is_any() {
                    return Info::Match {
                        pre,
                        suf,
                        f: Formula::Any,
                    };
                }
                parts.push(f);
            }
            Info::Match {
                pre,
                suf,
                f: Formula::or(parts),
            }
        }
    }
}

pub use crate::message::contains_ci;

/// Whether every match of a pattern with formula `f` contains a literal
/// that contains `part` (so `part` itself occurs in every match).
pub fn requires(f: &Formula, part: &[u8]) -> bool {
    match f {
        Formula::Any => false,
        Formula::Lit(l) => contains_ci(l, part),
        Formula::AtLeast(_, f) => requires(f, part),
        Formula::And(v) => v.iter().any(|f| requires(f, part)),
        Formula::Or(v) => v.iter().all(|f| requires(f, part)),
    }
}

/// A formula over interned literal ids.
#[derive(Debug, Clone)]
pub enum Cond {
    Any,
    Lit(u32),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// One of these literals: an `Or` of literals only (some hold hundreds,
    /// e.g. a list of shortener domains), tested in one loop.
    AnyOf(Vec<u32>),
    /// At least this many occurrences of these literals on one line.
    AtLeast(u32, Vec<u32>),
}

impl Cond {
    /// Evaluate with `has(id)` telling whether a literal was seen and
    /// `at_least(n, ids)` whether they occur `n` times.
    fn eval(&self, has: &impl Fn(u32) -> bool, at_least: &impl Fn(u32, &[u32]) -> bool) -> bool {
        match self {
            Cond::Any => true,
            Cond::Lit(id) => has(*id),
            Cond::And(v) => v.iter().all(|c| c.eval(has, at_least)),
            Cond::Or(v) => v.iter().any(|c| c.eval(has, at_least)),
            Cond::AnyOf(ids) => ids.iter().any(|&id| has(id)),
            Cond::AtLeast(n, ids) => at_least(*n, ids),
        }
    }

    /// Whether this condition never rejects anything.
    pub fn is_any(&self) -> bool {
        matches!(self, Cond::Any)
    }
}

/// The literal automaton of one rule class.
#[derive(Debug)]
pub struct ClassFilter {
    ac: Option<AhoCorasick>,
    literals: usize,
    /// Per literal: whether every occurrence is recorded.
    counted: Vec<bool>,
}

/// Builds one class's automaton while interning its rules' literals.
#[derive(Debug, Default)]
pub struct ClassBuilder {
    ids: HashMap<Vec<u8>, u32>,
    lits: Vec<Vec<u8>>,
    /// Literals whose every occurrence counts (in an `AtLeast`).
    counted: Vec<bool>,
}

impl ClassBuilder {
    /// Intern a formula's literals.
    pub fn add(&mut self, f: &Formula) -> Cond {
        match f {
            Formula::Any => Cond::Any,
            Formula::Lit(l) => Cond::Lit(self.intern(l)),
            Formula::AtLeast(n, f) => {
                let lits: Vec<&Vec<u8>> = match &**f {
                    Formula::Lit(l) => vec![l],
                    Formula::Or(v) => v
                        .iter()
                        .filter_map(|f| match f {
                            Formula::Lit(l) => Some(l),
                            _ => None,
                        })
                        .collect(),
                    // Not built by `repeated`; judged as the plain set.
                    other => return self.add(other),
                };
                let mut ids: Vec<u32> = lits.into_iter().map(|l| self.intern(l)).collect();
                ids.sort_unstable();
                ids.dedup();
                for &id in &ids {
                    self.counted[id as usize] = true;
                }
                Cond::AtLeast(*n, ids)
            }
            Formula::And(v) => Cond::And(v.iter().map(|f| self.add(f)).collect()),
            Formula::Or(v) => {
                let parts: Vec<Cond> = v.iter().map(|f| self.add(f)).collect();
                let ids: Vec<u32> = parts
                    .iter()
                    .filter_map(|c| match c {
                        Cond::Lit(id) => Some(*id),
                        _ => None,
                    })
                    .collect();
                if ids.len() == parts.len() {
                    Cond::AnyOf(ids)
                } else {
                    Cond::Or(parts)
                }
            }
        }
    }

    fn intern(&mut self, l: &[u8]) -> u32 {
        let next = self.lits.len() as u32;
        *self.ids.entry(l.to_vec()).or_insert_with(|| {
            self.lits.push(l.to_vec());
            self.counted.push(false);
            next
        })
    }

    /// The automaton over every literal added. A build failure leaves the
    /// class without one, and then every formula counts as satisfied.
    pub fn build(self) -> ClassFilter {
        let literals = self.lits.len();
        let ac = (literals > 0)
            .then(|| {
                // The default (contiguous NFA) kind: a full DFA scanned only
                // ~10% faster here but cost ~40 MB of resident memory.
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&self.lits)
                    .ok()
            })
            .flatten();
        ClassFilter {
            ac,
            literals,
            counted: self.counted,
        }
    }
}

/// Which literals occur in a class's text: in the whole text and per line.
#[derive(Debug, Default)]
pub struct Seen {
    /// No automaton: every formula is satisfied.
    all_pass: bool,
    /// Bit per literal: seen on some line.
    present: Vec<u64>,
    /// (literal, line), sorted and unique.
    occ: Vec<(u32, u32)>,
    /// (literal, line) of every occurrence of a counted literal, sorted.
    every: Vec<(u32, u32)>,
}

impl ClassFilter {
    /// Scan each line once with the class automaton.
    pub fn scan<'a>(&self, lines: impl IntoIterator<Item = &'a [u8]>) -> Seen {
        let Some(ac) = &self.ac else {
            return Seen::pass();
        };
        let words = self.literals.div_ceil(64);
        let mut present = vec![0u64; words];
        // Literals seen on the current line: each is recorded once per line
        // however often it occurs.
        let mut on_line = vec![0u64; words];
        let mut occ = Vec::new();
        let mut every = Vec::new();
        for (n, line) in lines.into_iter().enumerate() {
            on_line.fill(0);
            for m in ac.find_overlapping_iter(line) {
                let id = m.pattern().as_u32();
                if self.counted[id as usize] {
                    every.push((id, n as u32));
                }
                let (w, bit) = ((id / 64) as usize, 1u64 << (id % 64));
                if on_line[w] & bit == 0 {
                    on_line[w] |= bit;
                    present[w] |= bit;
                    occ.push((id, n as u32));
                }
            }
        }
        occ.sort_unstable();
        occ.dedup();
        every.sort_unstable();
        Seen {
            all_pass: false,
            present,
            occ,
            every,
        }
    }
}

impl Seen {
    /// Every formula satisfied (no automaton to judge by).
    pub fn pass() -> Seen {
        Seen {
            all_pass: true,
            ..Seen::default()
        }
    }

    /// Can a rule with `cond` match anywhere in this text?
    pub fn any_line(&self, cond: &Cond) -> bool {
        self.all_pass
            || cond.eval(
                &|id| {
                    self.present
                        .get((id / 64) as usize)
                        .is_some_and(|w| w & (1 << (id % 64)) != 0)
                },
                &|n, ids| !self.count_lines(n, ids).is_empty(),
            )
    }

    /// Can a rule with `cond` match line `n`?
    pub fn line(&self, cond: &Cond, n: usize) -> bool {
        self.all_pass
            || cond.is_any()
            || cond.eval(
                &|id| self.occ.binary_search(&(id, n as u32)).is_ok(),
                &|k, ids| self.count_lines(k, ids).binary_search(&(n as u32)).is_ok(),
            )
    }

    /// The lines where the literals `ids` occur `n` times or more in all.
    fn count_lines(&self, n: u32, ids: &[u32]) -> Vec<u32> {
        let mut lines: Vec<u32> = Vec::new();
        for &id in ids {
            let start = self.every.partition_point(|&(l, _)| l < id);
            let end = start + self.every[start..].partition_point(|&(l, _)| l == id);
            lines.extend(self.every[start..end].iter().map(|&(_, line)| line));
        }
        lines.sort_unstable();
        let mut out = Vec::new();
        for run in lines.chunk_by(|a, b| a == b) {
            if run.len() >= n as usize {
                out.push(run[0]);
            }
        }
        out
    }

    /// The lines of literal `id`, ascending (a run of `occ`).
    fn lines_of(&self, id: u32) -> &[(u32, u32)] {
        let start = self.occ.partition_point(|&(l, _)| l < id);
        let end = start + self.occ[start..].partition_point(|&(l, _)| l == id);
        &self.occ[start..end]
    }

    /// The lines a rule with `cond` can match, ascending; None when every
    /// line can (no automaton, or a condition that never rejects). Worked
    /// out on the lines where literals occur, as sets (a literal's lines,
    /// their union for `Or`, their intersection for `And`), so the cost
    /// follows the occurrences, not lines times the formula's size (a URI
    /// rule needing `http` and one of 300 shortener domains was evaluated
    /// in full on every URI of a message with thousands).
    pub fn lines(&self, cond: &Cond) -> Option<Vec<u32>> {
        if self.all_pass {
            return None;
        }
        self.line_set(cond)
    }

    fn line_set(&self, cond: &Cond) -> Option<Vec<u32>> {
        match cond {
            Cond::Any => None,
            Cond::AtLeast(n, ids) => Some(self.count_lines(*n, ids)),
            Cond::Lit(id) => {
                let mut out: Vec<u32> = self.lines_of(*id).iter().map(|&(_, n)| n).collect();
                out.dedup();
                Some(out)
            }
            Cond::Or(v) => {
                let mut out = Vec::new();
                for c in v {
                    out.extend(self.line_set(c)?);
                }
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            Cond::AnyOf(ids) => {
                let mut out: Vec<u32> = ids
                    .iter()
                    .flat_map(|&id| self.lines_of(id).iter().map(|&(_, n)| n))
                    .collect();
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            Cond::And(v) => {
                let mut sets: Vec<Vec<u32>> = v.iter().filter_map(|c| self.line_set(c)).collect();
                sets.sort_by_key(Vec::len);
                let mut sets = sets.into_iter();
                let mut out = sets.next()?;
                for other in sets {
                    if out.is_empty() {
                        break;
                    }
                    out.retain(|n| other.binary_search(n).is_ok());
                }
                Some(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Formula {
        Formula::Lit(s.as_bytes().to_vec())
    }

    #[test]
    fn formulas() {
        assert_eq!(formula_of("(?i-u)viagra"), lit("viagra"));
        assert_eq!(
            formula_of("(?-u)\\bcheap\\s+meds\\b"),
            Formula::And(vec![lit("cheap"), lit("meds")])
        );
        assert_eq!(
            formula_of("(?-u)(?:foo|bar)baz"),
            Formula::Or(vec![lit("barbaz"), lit("foobaz")])
        );
        assert_eq!(formula_of("(?-u)a.b"), Formula::Any);
        assert_eq!(formula_of("(?-u)(?:abc)?def"), lit("def"));
        assert_eq!(formula_of("(?-u)x*"), Formula::Any);
        assert_eq!(formula_of("(?-u)(?:abc)+"), lit("abc"));
        assert_eq!(
            formula_of("(?-u)click\\s+here|unsubscribe"),
            Formula::Or(vec![
                Formula::And(vec![lit("click"), lit("here")]),
                lit("unsubscribe")
            ])
        );
        // A repeated string inside a run joins both of its neighbours.
        assert_eq!(formula_of("(?i-u)ad+res+e?"), lit("dres"));
        assert_eq!(
            formula_of("(?-u)xx(?:abc)+yy"),
            Formula::And(vec![lit("xxabc"), lit("abcyy")])
        );
        assert_eq!(
            formula_of("(?-u)a(?:bc){2,}d"),
            Formula::And(vec![lit("abc"), lit("bcd")])
        );
        // A one-byte alternative makes the whole alternation unusable.
        assert_eq!(formula_of("(?-u)x|hello"), Formula::Any);
    }

    #[test]
    fn lines_and_case() {
        let mut b = ClassBuilder::default();
        let c = b.add(&formula_of("(?i-u)free\\s+money"));
        let any = b.add(&formula_of("(?-u)[a-z]+"));
        let f = b.build();
        let lines: [&[u8]; 3] = [b"nothing", b"FREE cash and MONEY", b"free"];
        let seen = f.scan(lines.iter().copied());
        assert!(seen.any_line(&c));
        assert!(!seen.line(&c, 0));
        assert!(seen.line(&c, 1));
        assert!(!seen.line(&c, 2));
        assert!(seen.line(&any, 0));
        assert_eq!(seen.lines(&c), Some(vec![1]));
        assert_eq!(seen.lines(&any), None);
        let seen = f.scan([b"free".as_slice()]);
        assert!(!seen.any_line(&c));
    }

    #[test]
    fn counted_repetitions() {
        let lit = |s: &str| Formula::Lit(s.as_bytes().to_vec());
        // Three disjoint copies, each holding "cat" or "dog".
        assert_eq!(
            formula_of("(?-u)(?:(?:cat|dog)\\s?){3}"),
            Formula::AtLeast(3, Box::new(Formula::Or(vec![lit("cat"), lit("dog")])))
        );
        // A part with literals of its own keeps them beside the count.
        assert_eq!(
            formula_of("(?-u)(?:name.(?:city|zip.)\\W){2,}"),
            Formula::And(vec![
                lit("name"),
                Formula::Or(vec![lit("city"), lit("zip")]),
                Formula::AtLeast(2, Box::new(lit("name")))
            ])
        );
        // Not every copy has a literal: nothing to count.
        assert_eq!(formula_of("(?-u)(?:cat|\\d){3}"), Formula::Any);

        let mut b = ClassBuilder::default();
        let c = b.add(&formula_of("(?i-u)(?:(?:name|city|phone)\\W+){3}"));
        let f = b.build();
        let lines: [&[u8]; 4] = [
            b"Name, City, Phone:",
            b"name name",
            b"our phone: call the city hall by name",
            b"nothing",
        ];
        let seen = f.scan(lines.iter().copied());
        assert!(seen.any_line(&c));
        assert_eq!(seen.lines(&c), Some(vec![0, 2]));
        let expect: Vec<u32> = (0..4u32).filter(|&n| seen.line(&c, n as usize)).collect();
        assert_eq!(expect, [0, 2]);
        // Occurrences on different lines do not add up.
        let seen = f.scan([b"name city".as_slice(), b"phone"]);
        assert!(!seen.any_line(&c));
        assert_eq!(seen.lines(&c), Some(vec![]));
    }

    #[test]
    fn lines_of_and_over_or() {
        let mut b = ClassBuilder::default();
        let c = b.add(&formula_of(
            "(?-u)^https?://(?:bit\\.ly|ow\\.ly|tinyurl\\.com)/",
        ));
        let f = b.build();
        let lines: [&[u8]; 5] = [
            b"http://bit.ly/x",
            b"http://example.com/ow.ly",
            b"ftp://bit.ly/",
            b"https://tinyurl.com/a http://bit.ly/b",
            b"http://example.com/",
        ];
        let seen = f.scan(lines.iter().copied());
        let expect: Vec<u32> = (0..5u32).filter(|&n| seen.line(&c, n as usize)).collect();
        assert_eq!(expect, [0, 3]);
        assert_eq!(seen.lines(&c), Some(expect));
    }
}
