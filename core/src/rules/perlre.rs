//! Perl regular expressions as SpamAssassin rules write them, compiled for
//! matching bytes.
//!
//! SpamAssassin compiles every rule regex with Perl's `/aa` over byte
//! strings: `\d \s \w` and POSIX classes are ASCII-only and `.` is any byte
//! but `\n`. We translate each pattern to the `regex` crate's syntax in
//! bytes mode (`(?-u)`) when every construct in it has a known, identical
//! meaning there; anything else (lookaround, back-references, possessive or
//! atomic groups, `/x`, unusual escapes) runs on PCRE2, which speaks Perl's
//! dialect natively, in non-UTF byte mode.

use std::fmt;

use regex_automata::meta::Cache;
use regex_automata::{Input, PatternID};

/// A rule regex split into body and modifiers (`/re/flags`, `m{re}flags` ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerlPattern {
    /// Pattern text; each char is one byte (Latin-1 mapping of the .cf file).
    pub body: String,
    pub mods: String,
}

/// Why a pattern could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Split delimiters and modifiers the way SpamAssassin's compile_regexp does.
pub fn parse_delimited(text: &str) -> Result<PerlPattern, PatternError> {
    let err = |m: &str| Err(PatternError(m.to_string()));
    let (rest, close) = if let Some(r) = text.strip_prefix('/') {
        (r, '/')
    } else {
        let r = text
            .strip_prefix("qr")
            .or_else(|| text.strip_prefix('m'))
            .ok_or_else(|| PatternError("missing regexp delimiters".into()))?;
        let Some(open) = r.chars().next() else {
            return err("missing regexp delimiters");
        };
        let close = match open {
            '{' => '}',
            '(' => ')',
            '<' => '>',
            '[' => ']',
            '\\' => return err("backslash delimiter not allowed"),
            c if c.is_alphanumeric() || c == '_' || c.is_whitespace() => {
                return err("missing regexp delimiters");
            }
            c => c,
        };
        (&r[open.len_utf8()..], close)
    };
    // Modifiers: [a-df-z]* after the final delimiter.
    let mods_start = rest
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_lowercase() && *c != 'e')
        .last()
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    let before_mods = &rest[..mods_start];
    let Some(body) = before_mods.strip_suffix(close) else {
        return err("invalid end delimiter/mods");
    };
    let mods = rest[mods_start..].to_string();
    if body.contains("(?{") || body.contains("(??{") {
        return err("eval (?{}) found");
    }
    if !matches!(close, '}' | ')' | ']') {
        // An unescaped delimiter inside the body is an error in SpamAssassin.
        let stripped = body.replace("\\\\", "");
        let b: Vec<char> = stripped.chars().collect();
        for i in 0..b.len() {
            if b[i] == close && (i == 0 || b[i - 1] != '\\') {
                return Err(PatternError(format!("unquoted delimiter '{close}' found")));
            }
        }
    }
    Ok(PerlPattern {
        body: body.to_string(),
        mods,
    })
}

/// A compiled matcher, shared behind an `Arc`: cloning a
/// `regex::bytes::Regex` gives the clone a new, empty pool of match caches
/// (lazy DFA states included), so rule sets derived from one another (a
/// user's preferences, the Bayes score set) share one matcher per pattern
/// instead of each warming and holding its own.
///
/// Patterns the `regex` crate runs are parsed (and so checked) when the
/// rules load, which also gives the prefilter its formula, but the
/// automata are built on first use, or by [`Matcher::force`] (the rule
/// load builds the patterns with no required literal, which every scan
/// runs; spamd warms the others in the background once it answers, and
/// `--lint` builds all of them): building them is most of the start-up
/// time. PCRE2 patterns compile at once.
#[derive(Debug, Clone)]
pub struct Matcher(std::sync::Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// The `regex` crate pattern (flags and `(?-u)` included), when the
    /// translation is exact.
    rust: Option<String>,
    /// The rule's own pattern, for PCRE2 if the `regex` build fails.
    perl: PerlPattern,
    /// The prefilter formula of `rust`, from the parse at load time.
    formula: Option<super::prefilter::Formula>,
    engine: std::sync::OnceLock<Engine>,
    /// The pattern a gate searches for this one, once worked out.
    gate: std::sync::OnceLock<Option<String>>,
}

#[derive(Debug)]
enum Engine {
    Rust(RustRegex),
    Pcre(pcre2::bytes::Regex),
    /// Neither engine could build it: never matches ([`Matcher::force`]
    /// returns why).
    Broken(String),
}

impl Matcher {
    /// Compile a delimited rule pattern (`/re/i`).
    pub fn compile_delimited(text: &str) -> Result<Matcher, PatternError> {
        Matcher::compile(&parse_delimited(text)?)
    }

    /// Check and prepare a parsed pattern: the `regex` crate when the
    /// translation is exact (built on first use), PCRE2 otherwise.
    pub fn compile(p: &PerlPattern) -> Result<Matcher, PatternError> {
        for m in p.mods.chars() {
            if !matches!(
                m,
                'i' | 'm' | 's' | 'x' | 'g' | 'o' | 'a' | 'u' | 'l' | 'd' | 'n' | 'p' | 'c'
            ) {
                return Err(PatternError(format!("unknown regexp modifier '{m}'")));
            }
        }
        let flags = mod_flags(&p.mods, "ims");
        let translated = if p.mods.contains('x') {
            None
        } else {
            super::translate::to_rust(&p.body).ok().map(|tr| {
                if flags.is_empty() {
                    format!("(?-u){tr}")
                } else {
                    format!("(?{flags}-u){tr}")
                }
            })
        };
        if let Some(m) = translated.and_then(|f| Matcher::lazy_rust(f, p)) {
            return Ok(m);
        }
        let re = compile_pcre(p).map_err(|e| PatternError(e.to_string()))?;
        let engine = std::sync::OnceLock::new();
        let _ = engine.set(Engine::Pcre(re));
        Ok(Matcher(std::sync::Arc::new(Inner {
            rust: None,
            perl: p.clone(),
            formula: None,
            engine,
            gate: std::sync::OnceLock::new(),
        })))
    }

    /// A `regex` crate matcher for the translated pattern `full`, parsed now
    /// (None if it does not parse) and built on first use.
    fn lazy_rust(full: String, p: &PerlPattern) -> Option<Matcher> {
        let formula = super::prefilter::parse_formula(&full).ok()?;
        Some(Matcher(std::sync::Arc::new(Inner {
            rust: Some(full),
            perl: p.clone(),
            formula: Some(formula),
            engine: std::sync::OnceLock::new(),
            gate: std::sync::OnceLock::new(),
        })))
    }

    /// The engine, built now if this is its first use.
    fn engine(&self) -> &Engine {
        self.0.engine.get_or_init(|| {
            if let Some(full) = &self.0.rust
                && let Some(re) = RustRegex::build(full)
            {
                return Engine::Rust(re);
            }
            // Beyond the `regex` crate's size limits: PCRE2 runs it, as
            // it would have had the build failed at load time.
            match compile_pcre(&self.0.perl) {
                Ok(re) => Engine::Pcre(re),
                Err(e) => Engine::Broken(e.to_string()),
            }
        })
    }

    /// Build the matcher's automata now (see the type's notes); the error
    /// if neither engine can, in which case the pattern never matches.
    pub fn force(&self) -> Result<(), PatternError> {
        match self.engine() {
            Engine::Broken(e) => Err(PatternError(e.clone())),
            _ => Ok(()),
        }
    }

    /// Does the pattern match anywhere in `hay`? A PCRE2 run that exceeds its
    /// match limit counts as no match (bounded cost per rule).
    pub fn is_match(&self, hay: &[u8]) -> bool {
        match self.engine() {
            Engine::Rust(r) => r.with_cache(|re, cache| {
                re.search_half_with(cache, &Input::new(hay).earliest(true))
                    .is_some()
            }),
            Engine::Pcre(r) => r.is_match(hay).unwrap_or(false),
            Engine::Broken(_) => false,
        }
    }

    /// Number of non-overlapping matches (Perl's `/g` loop), at most `cap`.
    pub fn count(&self, hay: &[u8], cap: u32) -> u32 {
        let mut n = 0;
        match self.engine() {
            Engine::Rust(r) => r.with_cache(|re, cache| {
                let mut it = regex_automata::util::iter::Searcher::new(Input::new(hay));
                while let Ok(Some(_)) = it.try_advance(|input| Ok(re.search_with(cache, input))) {
                    n += 1;
                    if n >= cap {
                        break;
                    }
                }
            }),
            Engine::Pcre(r) => {
                for m in r.find_iter(hay) {
                    if m.is_err() {
                        break;
                    }
                    n += 1;
                    if n >= cap {
                        break;
                    }
                }
            }
            Engine::Broken(_) => {}
        }
        n
    }

    /// The bytes of capture group 1 of the first match, if any.
    pub fn capture1(&self, hay: &[u8]) -> Option<Vec<u8>> {
        match self.engine() {
            Engine::Rust(r) => {
                let caps = r.captures(hay)?;
                let span = caps.get_group(1)?;
                Some(hay[span.range()].to_vec())
            }
            Engine::Pcre(r) => r
                .captures(hay)
                .ok()
                .flatten()?
                .get(1)
                .map(|m| m.as_bytes().to_vec()),
            Engine::Broken(_) => None,
        }
    }

    /// Named groups of the first match: (name, bytes) for each group that
    /// took part in it.
    pub fn named_captures(&self, hay: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        match self.engine() {
            Engine::Rust(r) => {
                if let Some(c) = r.captures(hay) {
                    let names = r.re.group_info().pattern_names(PatternID::ZERO);
                    for (i, name) in names.enumerate() {
                        if let (Some(name), Some(span)) = (name, c.get_group(i)) {
                            out.push((name.to_string(), hay[span.range()].to_vec()));
                        }
                    }
                }
            }
            Engine::Pcre(r) => {
                if let Ok(Some(c)) = r.captures(hay) {
                    for (i, name) in r.capture_names().iter().enumerate() {
                        if let (Some(name), Some(m)) = (name, c.get(i)) {
                            out.push((name.clone(), m.as_bytes().to_vec()));
                        }
                    }
                }
            }
            Engine::Broken(_) => {}
        }
        out
    }

    /// Literals every match of this pattern contains, for the prefilter.
    /// PCRE2 patterns are judged by a weakened translation (lookarounds and
    /// back-references removed), which matches a superset; `/x` patterns
    /// and anything that does not translate always run.
    pub fn required_literals(&self) -> super::prefilter::Formula {
        use super::prefilter::{Formula, formula_of};
        if let Some(f) = &self.0.formula {
            return f.clone();
        }
        self.gate_pattern().map_or(Formula::Any, |p| formula_of(&p))
    }

    /// A `regex` crate pattern (flags inline, bytes mode) that matches
    /// wherever this one does, for [`super::gate`]: the pattern itself when
    /// the `regex` crate runs it, the weakened translation of a PCRE2 one;
    /// None for `/x` patterns and anything that does not translate.
    pub fn gate_pattern(&self) -> Option<String> {
        if let Some(full) = &self.0.rust {
            return Some(full.clone());
        }
        let p = &self.0.perl;
        if p.mods.contains('x') {
            return None;
        }
        let tr = super::translate::to_rust_weakened(&p.body).ok()?;
        Some(format!("(?{}-u){tr}", mod_flags(&p.mods, "ims")))
    }

    /// The pattern a multi-pattern gate searches for this one: the
    /// [`Matcher::gate_pattern`], unless it counts repetitions of a wide
    /// class ([`super::gate`] leaves those out). Worked out once (parsing
    /// the big obfuscation patterns is costly, so the rule load does it on
    /// its compile workers).
    pub fn gate(&self) -> Option<&str> {
        self.0
            .gate
            .get_or_init(|| self.gate_pattern().filter(|g| !super::gate::counts_wide(g)))
            .as_deref()
    }

    /// Which engine runs this pattern (for `--lint` statistics): "regex"
    /// for a pattern not built yet that the `regex` crate will run.
    pub fn engine_name(&self) -> &'static str {
        match self.0.engine.get() {
            Some(Engine::Pcre(_)) => "pcre2",
            Some(Engine::Broken(_)) => "none",
            _ => "regex",
        }
    }
}

/// A pattern the `regex` crate's engines run, with match caches that the
/// scanning threads share.
///
/// `regex::bytes::Regex` keeps a cache (lazy DFA states included) for each
/// thread that runs it, so with two scanner threads every regex builds its
/// states twice, once per thread, for text the other has already seen:
/// most of the cost of the big rules is building states, not using them.
/// Here the threads share them through a [`CachePool`].
#[derive(Debug)]
struct RustRegex {
    re: regex_automata::meta::Regex,
    caches: CachePool<Cache>,
}

/// Match caches the scanning threads share: one that they take turns
/// with, and spares for a thread that finds it in use (made the first time,
/// kept for the next time), so there are never more caches than threads
/// running the pattern at once.
#[derive(Debug)]
pub(crate) struct CachePool<C> {
    shared: std::sync::Mutex<Option<Box<C>>>,
    spare: std::sync::Mutex<Vec<C>>,
}

impl<C> Default for CachePool<C> {
    fn default() -> Self {
        CachePool {
            shared: std::sync::Mutex::new(None),
            spare: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl<C> CachePool<C> {
    /// Run `f` with a cache no other thread is using (`make` builds one).
    pub(crate) fn with<R>(&self, make: impl Fn() -> C, f: impl FnOnce(&mut C) -> R) -> R {
        use std::sync::TryLockError;
        let shared = match self.shared.try_lock() {
            Ok(g) => Some(g),
            // A panic inside a search cannot leave a cache half-updated
            // in a way a later search trusts (each search resets what it
            // reads), so a poisoned cache is still usable.
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(mut g) = shared {
            let cache = g.get_or_insert_with(|| Box::new(make()));
            return f(cache);
        }
        let taken = self.spare.lock().ok().and_then(|mut v| v.pop());
        let mut cache = taken.unwrap_or_else(make);
        let out = f(&mut cache);
        if let Ok(mut v) = self.spare.lock() {
            v.push(cache);
        }
        out
    }
}

impl RustRegex {
    /// Built as `regex::bytes::Regex` builds a pattern (leftmost-first,
    /// empty matches anywhere, no UTF-8 requirement), with larger limits.
    fn build(full: &str) -> Option<RustRegex> {
        use regex_automata::{MatchKind, meta, util::syntax};
        let re = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .utf8_empty(false)
                    .nfa_size_limit(Some(64 << 20))
                    .hybrid_cache_capacity(8 << 20),
            )
            .syntax(syntax::Config::new().utf8(false))
            .build(full)
            .ok()?;
        Some(RustRegex {
            re,
            caches: CachePool::default(),
        })
    }

    /// Run `f` with a cache no other thread is using.
    fn with_cache<R>(&self, f: impl FnOnce(&regex_automata::meta::Regex, &mut Cache) -> R) -> R {
        self.caches
            .with(|| self.re.create_cache(), |cache| f(&self.re, cache))
    }

    /// Capture groups of the first match.
    fn captures(&self, hay: &[u8]) -> Option<regex_automata::util::captures::Captures> {
        self.with_cache(|re, cache| {
            let mut caps = re.create_captures();
            re.search_captures_with(cache, &Input::new(hay), &mut caps);
            caps.is_match().then_some(caps)
        })
    }
}

/// The modifiers of `mods` that are among `keep`, each once, in order.
fn mod_flags(mods: &str, keep: &str) -> String {
    let mut out = String::new();
    for c in mods.chars().filter(|c| keep.contains(*c)) {
        if !out.contains(c) {
            out.push(c);
        }
    }
    out
}

/// Compile for PCRE2, in Perl's byte semantics (no UTF, no Unicode classes).
fn compile_pcre(p: &PerlPattern) -> Result<pcre2::bytes::Regex, pcre2::Error> {
    let body = latin1_to_pcre(&p.body);
    let pflags = mod_flags(&p.mods, "imsx");
    let full = if pflags.is_empty() {
        body
    } else {
        format!("(?{pflags}){body}")
    };
    pcre2::bytes::RegexBuilder::new()
        .utf(false)
        .ucp(false)
        .jit_if_available(true)
        .build(&full)
}

/// PCRE2 patterns are passed as UTF-8 text; write the pattern's high bytes
/// as `\x{HH}` so PCRE2 (in non-UTF mode) sees the same bytes Perl does.
fn latin1_to_pcre(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for c in body.chars() {
        if (c as u32) < 0x80 {
            out.push(c);
        } else if (c as u32) <= 0xFF {
            out.push_str(&format!("\\x{{{:02x}}}", c as u32));
        } else {
            // Not a byte: cannot occur with Latin-1 mapped files; keep the
            // character so PCRE2 reports it.
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(
            parse_delimited("/foo/i").unwrap(),
            PerlPattern {
                body: "foo".into(),
                mods: "i".into()
            }
        );
        assert_eq!(parse_delimited("m{a/b}s").unwrap().body, "a/b");
        assert_eq!(parse_delimited("m!x!").unwrap().body, "x");
        assert_eq!(parse_delimited("m,a\\,b,").unwrap().body, "a\\,b");
        assert!(parse_delimited("foo").is_err());
        assert!(parse_delimited("/a/b/").is_err());
        assert!(parse_delimited("/a\\/b/").is_ok());
        assert!(parse_delimited("/(?{ 1 })/").is_err());
    }

    #[test]
    fn engines() {
        let m = Matcher::compile_delimited("/\\bviagra\\b/i").unwrap();
        assert_eq!(m.engine_name(), "regex");
        assert!(m.is_match(b"Buy VIAGRA now"));
        let m = Matcher::compile_delimited("/foo(?!bar)/").unwrap();
        assert_eq!(m.engine_name(), "pcre2");
        assert!(m.is_match(b"foobaz"));
        assert!(!m.is_match(b"foobar"));
        let m = Matcher::compile_delimited("/(a)\\1/").unwrap();
        assert!(m.is_match(b"xaax"));
        assert!(!m.is_match(b"xabx"));
    }

    #[test]
    fn perl_dollar() {
        // Perl's `$` matches before a final newline.
        let m = Matcher::compile_delimited("/foo$/").unwrap();
        assert!(m.is_match(b"foo\n"));
        assert!(m.is_match(b"foo"));
        assert!(!m.is_match(b"foo\nbar"));
    }

    #[test]
    fn high_bytes() {
        let m = Matcher::compile_delimited("/caf\u{e9}/").unwrap();
        assert!(m.is_match(b"caf\xe9"));
        assert!(!m.is_match("café".as_bytes()));
        let m = Matcher::compile_delimited("/x(?=caf\u{e9})/").unwrap();
        assert_eq!(m.engine_name(), "pcre2");
        assert!(m.is_match(b"xcaf\xe9"));
    }

    #[test]
    fn built_on_first_use_and_checked_at_load() {
        let m = Matcher::compile_delimited("/\\b(?:w00001x|w00002x)\\b/").unwrap();
        assert!(m.0.engine.get().is_none(), "not built before its first use");
        assert!(m.is_match(b"a w00002x b"));
        assert_eq!(m.engine_name(), "regex");
        assert_eq!(m.force(), Ok(()));
        // Checked at load time all the same: neither engine takes it.
        assert!(Matcher::compile_delimited("/a{2,1}/").is_err());
        // Beyond the regex crate's size limit when built: PCRE2 then.
        let big = "/(?:(?:[a-h]x){1000}){2000}/";
        let m = Matcher::compile_delimited(big).unwrap();
        assert!(m.0.engine.get().is_none());
        assert!(m.force().is_err(), "too large for both engines");
        assert_eq!(m.engine_name(), "none");
        assert!(!m.is_match(b"ax"));
    }

    #[test]
    fn counting() {
        let m = Matcher::compile_delimited("/a/").unwrap();
        assert_eq!(m.count(b"aaaa", 3), 3);
        assert_eq!(m.count(b"aaaa", 10), 4);
    }
}
