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
//! Patterns that only PCRE2 runs get their formula from a weakened
//! translation (lookarounds and back-references removed), which matches a
//! superset of the original.

use std::collections::{BTreeSet, HashMap};

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
}

/// What a sub-expression tells us: either the full set of (lowercased)
/// strings it can match, when small, or a formula of required literals.
enum Info {
    Exact(BTreeSet<Vec<u8>>),
    Match(Formula),
}

impl Info {
    fn empty() -> Info {
        Info::Exact(BTreeSet::from([Vec::new()]))
    }

    fn into_formula(self) -> Formula {
        match self {
            Info::Match(f) => f,
            Info::Exact(set) => {
                if set.is_empty() || set.iter().any(|s| s.len() < MIN_LEN) {
                    Formula::Any
                } else {
                    Formula::or(set.into_iter().map(Formula::Lit).collect())
                }
            }
        }
    }
}

/// The formula of a `regex` crate pattern (as `Regex::as_str` gives it).
/// Any parse problem gives `Any`: the rule then always runs.
pub fn formula_of(pattern: &str) -> Formula {
    match regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
    {
        Ok(hir) => info(&hir).into_formula(),
        Err(_) => Formula::Any,
    }
}

fn info(h: &Hir) -> Info {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::empty(),
        HirKind::Literal(l) => Info::Exact(BTreeSet::from([l.0.to_ascii_lowercase()])),
        HirKind::Class(Class::Bytes(c)) => {
            let mut set = BTreeSet::new();
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    set.insert(vec![b.to_ascii_lowercase()]);
                    if set.len() > MAX_EXACT {
                        return Info::Match(Formula::Any);
                    }
                }
            }
            Info::Exact(set)
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut set = BTreeSet::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    set.insert(ch.encode_utf8(&mut buf).as_bytes().to_ascii_lowercase());
                    if set.len() > MAX_EXACT {
                        return Info::Match(Formula::Any);
                    }
                }
            }
            Info::Exact(set)
        }
        HirKind::Repetition(r) => {
            if r.min == 0 {
                Info::Match(Formula::Any)
            } else if r.min == 1 && r.max == Some(1) {
                info(&r.sub)
            } else {
                // At least one copy of the sub-expression is in every match.
                Info::Match(info(&r.sub).into_formula())
            }
        }
        HirKind::Capture(c) => info(&c.sub),
        HirKind::Concat(subs) => {
            let mut conj = Vec::new();
            let mut cur = BTreeSet::from([Vec::new()]);
            let mut exact = true;
            for s in subs {
                match info(s) {
                    Info::Exact(set) if cur.len() * set.len() <= MAX_EXACT => {
                        let mut next = BTreeSet::new();
                        for a in &cur {
                            for b in &set {
                                let mut v = a.clone();
                                v.extend_from_slice(b);
                                next.insert(v);
                            }
                        }
                        cur = next;
                    }
                    Info::Exact(set) => {
                        exact = false;
                        conj.push(Info::Exact(std::mem::replace(&mut cur, set)).into_formula());
                    }
                    Info::Match(f) => {
                        exact = false;
                        let run = std::mem::replace(&mut cur, BTreeSet::from([Vec::new()]));
                        conj.push(Info::Exact(run).into_formula());
                        conj.push(f);
                    }
                }
            }
            if exact {
                Info::Exact(cur)
            } else {
                conj.push(Info::Exact(cur).into_formula());
                Info::Match(Formula::and(conj))
            }
        }
        HirKind::Alternation(subs) => {
            let infos: Vec<Info> = subs.iter().map(info).collect();
            let mut union = BTreeSet::new();
            let mut all_exact = true;
            for i in &infos {
                match i {
                    Info::Exact(s) => union.extend(s.iter().cloned()),
                    Info::Match(_) => all_exact = false,
                }
            }
            if all_exact && union.len() <= MAX_EXACT {
                Info::Exact(union)
            } else {
                Info::Match(Formula::or(
                    infos.into_iter().map(Info::into_formula).collect(),
                ))
            }
        }
    }
}

/// A formula over interned literal ids.
#[derive(Debug, Clone)]
pub enum Cond {
    Any,
    Lit(u32),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

impl Cond {
    /// Evaluate with `has(id)` telling whether a literal was seen.
    pub fn eval(&self, has: &impl Fn(u32) -> bool) -> bool {
        match self {
            Cond::Any => true,
            Cond::Lit(id) => has(*id),
            Cond::And(v) => v.iter().all(|c| c.eval(has)),
            Cond::Or(v) => v.iter().any(|c| c.eval(has)),
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
}

/// Builds one class's automaton while interning its rules' literals.
#[derive(Debug, Default)]
pub struct ClassBuilder {
    ids: HashMap<Vec<u8>, u32>,
    lits: Vec<Vec<u8>>,
}

impl ClassBuilder {
    /// Intern a formula's literals.
    pub fn add(&mut self, f: &Formula) -> Cond {
        match f {
            Formula::Any => Cond::Any,
            Formula::Lit(l) => {
                let next = self.lits.len() as u32;
                let id = *self.ids.entry(l.clone()).or_insert_with(|| {
                    self.lits.push(l.clone());
                    next
                });
                Cond::Lit(id)
            }
            Formula::And(v) => Cond::And(v.iter().map(|f| self.add(f)).collect()),
            Formula::Or(v) => Cond::Or(v.iter().map(|f| self.add(f)).collect()),
        }
    }

    /// The automaton over every literal added. A build failure leaves the
    /// class without one, and then every formula counts as satisfied.
    pub fn build(self) -> ClassFilter {
        let literals = self.lits.len();
        let ac = (literals > 0)
            .then(|| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&self.lits)
                    .ok()
            })
            .flatten();
        ClassFilter { ac, literals }
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
}

impl ClassFilter {
    /// Scan each line once with the class automaton.
    pub fn scan<'a>(&self, lines: impl IntoIterator<Item = &'a [u8]>) -> Seen {
        let Some(ac) = &self.ac else {
            return Seen {
                all_pass: true,
                ..Seen::default()
            };
        };
        let mut present = vec![0u64; self.literals.div_ceil(64)];
        let mut occ = Vec::new();
        for (n, line) in lines.into_iter().enumerate() {
            for m in ac.find_overlapping_iter(line) {
                let id = m.pattern().as_u32();
                present[(id / 64) as usize] |= 1 << (id % 64);
                occ.push((id, n as u32));
            }
        }
        occ.sort_unstable();
        occ.dedup();
        Seen {
            all_pass: false,
            present,
            occ,
        }
    }
}

impl Seen {
    /// Can a rule with `cond` match anywhere in this text?
    pub fn any_line(&self, cond: &Cond) -> bool {
        self.all_pass
            || cond.eval(&|id| {
                self.present
                    .get((id / 64) as usize)
                    .is_some_and(|w| w & (1 << (id % 64)) != 0)
            })
    }

    /// Can a rule with `cond` match line `n`?
    pub fn line(&self, cond: &Cond, n: usize) -> bool {
        self.all_pass
            || cond.is_any()
            || cond.eval(&|id| self.occ.binary_search(&(id, n as u32)).is_ok())
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
        let seen = f.scan([b"free".as_slice()]);
        assert!(!seen.any_line(&c));
    }
}
