//! Compiling rule definitions into matchers and running them over a message.
//!
//! Compiled rules are immutable and shared by every scan (`Arc`). Rules whose
//! score is 0 in the active score set are not run, as in SpamAssassin, and
//! count as 0 inside metas.

mod area;
mod capture;
pub mod meta;
mod mimeheader;
pub mod perlre;
pub mod replace_tags;
pub mod translate;

use std::collections::{HashMap, HashSet};

use crate::config::{Config, Diagnostic, EvalTarget, HeaderMod, RuleKind, TFlags};
use crate::eval::{self, EvalCtx, EvalFn};
use crate::message::Message;
pub use area::Area;
use perlre::Matcher;

thread_local! {
    static DEADLINE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Run `f` with a scan deadline on this thread: past it, scans stop running
/// rules and report `TIME_LIMIT_EXCEEDED`, as SpamAssassin does with its
/// master deadline, so a pathological message gets an answer (and stops
/// using CPU) before spamd's child timeout.
pub fn with_deadline<R>(deadline: Option<std::time::Instant>, f: impl FnOnce() -> R) -> R {
    let old = DEADLINE.with(|d| d.replace(deadline));
    let r = f();
    DEADLINE.with(|d| d.set(old));
    r
}

/// Options that pick the score set and what may run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions {
    /// Network tests enabled (score sets 1/3). `-L` turns this off.
    pub net: bool,
    /// Bayes usable (score sets 2/3).
    pub bayes: bool,
}

impl CompileOptions {
    /// SpamAssassin's score set index.
    pub fn score_set(self) -> usize {
        usize::from(self.net) + 2 * usize::from(self.bayes)
    }
}

#[derive(Debug, Clone)]
enum Test {
    Header {
        header: String,
        mods: Vec<HeaderMod>,
        negate: bool,
        matcher: Matcher,
        if_unset: Option<String>,
    },
    Exists(String),
    Body(Matcher),
    Rawbody(Matcher),
    Full(Matcher),
    Uri(Matcher),
    Eval(EvalFn, Vec<String>),
    Mimeheader(Box<mimeheader::MimeheaderTest>),
    Meta(meta::Expr),
    /// Defined but never hits here (unsupported eval, DNS, `reuse`).
    Never,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    test: Test,
    score: f64,
    tflags: TFlags,
    area: Area,
    /// Runs at all (non-zero score in the active set).
    enabled: bool,
    /// When SpamAssassin runs it: (priority, rule type).
    rank: (i32, u8),
    /// `%{NAME}` capture templates in the pattern, resolved per message.
    template: Option<std::sync::Arc<capture::Template>>,
    /// Upper-case named groups this (header) rule captures into tags.
    produces: Vec<String>,
}

/// Rules ready to run.
pub struct CompiledRules {
    /// `redirector_pattern`s: URIs they match are also tested as the
    /// target they wrap.
    redirectors: std::sync::Arc<Vec<Box<crate::message::Redirector>>>,
    rules: Vec<Rule>,
    /// Each meta's direct dependencies (rule indices).
    meta_deps: HashMap<usize, HashSet<usize>>,
    /// Non-meta rules first, then metas in dependency order.
    order: Vec<usize>,
    /// Metas that can never be decided (depend on a disabled meta).
    undecidable: HashSet<usize>,
    pub score_set: usize,
    pub config: Config,
    /// Rules that are network tests (never hit in this build).
    pub network_rules: usize,
}

/// The hits of one scan: (rule name, score of one hit, count, area).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f64,
    pub count: u32,
    pub area: Area,
}

impl CompiledRules {
    /// Compile every rule of `config`. Problems (bad regex, unsupported
    /// eval, bad meta) are returned as diagnostics; the rule is dropped or
    /// never hits, as in SpamAssassin.
    pub fn compile(config: Config, opts: CompileOptions) -> (CompiledRules, Vec<Diagnostic>) {
        let set = opts.score_set();
        let mut diags = Vec::new();
        let mut names: Vec<&String> = config.rules.keys().collect();
        names.sort();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let all_names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        let tags = replace_tags::ReplaceTags::from_config(&config);
        let compiled = compile_patterns(&config, &names, &tags);
        let mut rules = Vec::with_capacity(names.len());
        let mut network_rules = 0;
        let mut meta_deps: HashMap<usize, HashSet<usize>> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let def = &config.rules[name.as_str()];
            let diag = |m: String| Diagnostic {
                file: def.origin.file.clone(),
                line: def.origin.line,
                message: format!("{name}: {m}"),
            };
            let compile_re = |_: &str| -> Result<Matcher, String> {
                compiled
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_else(|| Err("pattern was not compiled".to_string()))
            };
            let (test, area) = match &def.kind {
                RuleKind::Header {
                    header,
                    modifiers,
                    negate,
                    pattern,
                    if_unset,
                } => match compile_re(pattern) {
                    Ok(m) => (
                        Test::Header {
                            header: header.clone(),
                            mods: modifiers.clone(),
                            negate: *negate,
                            matcher: m,
                            if_unset: if_unset.clone(),
                        },
                        Area::Header,
                    ),
                    Err(e) => {
                        diags.push(diag(e));
                        continue_rule(&mut rules, name, &config, set);
                        continue;
                    }
                },
                RuleKind::Exists { header } => (Test::Exists(header.clone()), Area::Header),
                RuleKind::Body { pattern }
                | RuleKind::Rawbody { pattern }
                | RuleKind::Full { pattern }
                | RuleKind::Uri { pattern } => match compile_re(pattern) {
                    Ok(m) => match &def.kind {
                        RuleKind::Body { .. } => (Test::Body(m), Area::Body),
                        RuleKind::Rawbody { .. } => (Test::Rawbody(m), Area::Rawbody),
                        RuleKind::Full { .. } => (Test::Full(m), Area::Full),
                        _ => (Test::Uri(m), Area::Uri),
                    },
                    Err(e) => {
                        diags.push(diag(e));
                        continue_rule(&mut rules, name, &config, set);
                        continue;
                    }
                },
                RuleKind::Mimeheader {
                    header,
                    raw,
                    negate,
                    pattern,
                } => match compile_re(pattern) {
                    Ok(m) => (
                        Test::Mimeheader(Box::new(mimeheader::MimeheaderTest {
                            header: header.clone(),
                            raw: *raw,
                            negate: *negate,
                            matcher: m,
                        })),
                        // Reported without an area label, like header rules.
                        Area::Header,
                    ),
                    Err(e) => {
                        diags.push(diag(e));
                        continue_rule(&mut rules, name, &config, set);
                        continue;
                    }
                },
                RuleKind::Meta { expr } => {
                    let mut resolve = |n: &str| index.get(n).copied();
                    match meta::compile(expr, &all_names, &mut resolve) {
                        Ok((e, deps)) => {
                            meta_deps.insert(i, deps);
                            (Test::Meta(e), Area::Meta)
                        }
                        Err(e) => {
                            diags.push(diag(e));
                            continue_rule(&mut rules, name, &config, set);
                            continue;
                        }
                    }
                }
                RuleKind::Eval { target, call } => {
                    let area = match target {
                        EvalTarget::Header => Area::Header,
                        EvalTarget::Body => Area::Body,
                        EvalTarget::Uri => Area::Uri,
                        EvalTarget::Rawbody => Area::Rawbody,
                        EvalTarget::Full => Area::FullEval,
                    };
                    if eval::is_network(&call.function) {
                        network_rules += 1;
                    }
                    match eval::lookup(&call.function) {
                        Some(f) => (Test::Eval(f, call.args.clone()), area),
                        None => {
                            diags.push(diag(format!(
                                "eval function {}() is not implemented; the rule never hits",
                                call.function
                            )));
                            (Test::Never, area)
                        }
                    }
                }
                RuleKind::Reuse => (Test::Never, Area::Header),
            };
            let score = config.score(name, set);
            let pattern_text = match &def.kind {
                RuleKind::Header { pattern, .. }
                | RuleKind::Body { pattern }
                | RuleKind::Rawbody { pattern }
                | RuleKind::Full { pattern }
                | RuleKind::Uri { pattern }
                | RuleKind::Mimeheader { pattern, .. } => Some(pattern.as_str()),
                _ => None,
            };
            let template = pattern_text.and_then(|p| capture::Template::new(name, p, &tags));
            let produces = match &def.kind {
                RuleKind::Header { pattern, .. } => capture::produced_names(pattern),
                _ => Vec::new(),
            };
            // SpamAssassin runs capturing rules before everything else.
            let priority = if produces.is_empty() {
                config.priority.get(name.as_str()).copied().unwrap_or(0)
            } else {
                -10000
            };
            let rank = (priority, type_rank(&test));
            rules.push(Rule {
                name: name.to_string(),
                test,
                score,
                tflags: config
                    .tflags
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_default(),
                area,
                enabled: score != 0.0,
                rank,
                template: template.map(std::sync::Arc::new),
                produces,
            });
        }
        // Metas in dependency order; a cycle makes its members constant 0.
        // Non-metas in SpamAssassin's running order (priority, type), so
        // capturing rules run before the rules that use their captures.
        let mut order: Vec<usize> = (0..rules.len())
            .filter(|i| !meta_deps.contains_key(i))
            .collect();
        order.sort_by_key(|&i| rules[i].rank);
        let mut state: HashMap<usize, u8> = HashMap::new(); // 1 visiting, 2 done
        let mut cyclic = HashSet::new();
        let mut metas: Vec<usize> = meta_deps.keys().copied().collect();
        metas.sort_unstable();
        for m in metas {
            visit(m, &meta_deps, &mut state, &mut order, &mut cyclic);
        }
        for &c in &cyclic {
            diags.push(Diagnostic {
                file: String::new(),
                line: 0,
                message: format!("{}: meta rule depends on itself", rules[c].name),
            });
            rules[c].test = Test::Never;
        }
        let undecidable = undecidable_metas(&rules, &order, &meta_deps);
        let score_set = set;
        let mut redirectors: Vec<Box<crate::message::Redirector>> = Vec::new();
        for p in config.lists.get("redirector_pattern").into_iter().flatten() {
            match Matcher::compile_delimited(p.trim()) {
                Ok(m) => redirectors.push(Box::new(move |uri: &[u8]| m.capture1(uri))),
                Err(e) => diags.push(Diagnostic {
                    file: String::new(),
                    line: 0,
                    message: format!("invalid redirector_pattern '{p}': {e}"),
                }),
            }
        }
        (
            CompiledRules {
                network_rules,
                redirectors: std::sync::Arc::new(redirectors),
                rules,
                meta_deps,
                order,
                undecidable,
                score_set,
                config,
            },
            diags,
        )
    }

    /// The same rules under another score set (e.g. the Bayes set once the
    /// database is usable), without compiling any regex again: only scores,
    /// which rules run, and the metas that cannot be decided change.
    pub fn for_score_set(&self, opts: CompileOptions) -> CompiledRules {
        let set = opts.score_set();
        let mut rules = self.rules.clone();
        for r in &mut rules {
            r.score = self.config.score(&r.name, set);
            r.enabled = r.score != 0.0;
        }
        let undecidable = undecidable_metas(&rules, &self.order, &self.meta_deps);
        CompiledRules {
            redirectors: self.redirectors.clone(),
            meta_deps: self.meta_deps.clone(),
            order: self.order.clone(),
            undecidable,
            score_set: set,
            config: self.config.clone(),
            network_rules: self.network_rules,
            rules,
        }
    }

    /// Number of rules defined.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Run every enabled rule over `msg`. Returns scoring hits (non-`__`)
    /// in the order SpamAssassin fires them (priority, then rule type, then
    /// name), and the names of `__` sub-rules that hit.
    pub fn run(&self, msg: &Message) -> (Vec<Hit>, Vec<String>) {
        self.run_with_bayes(msg, None)
    }

    /// `run`, with the message's Bayes probability for `check_bayes`.
    pub fn run_with_bayes(&self, msg: &Message, bayes: Option<f64>) -> (Vec<Hit>, Vec<String>) {
        let mut counts = vec![0u32; self.rules.len()];
        let ctx = EvalCtx {
            msg,
            conf: &self.config,
            bayes,
        };
        let with_redirects;
        let uris: &[String] = if self.redirectors.is_empty() {
            msg.uris()
        } else {
            with_redirects = msg.uris_with(&self.redirectors);
            &with_redirects
        };
        let mut captured = capture::Tags::default();
        let deadline = DEADLINE.with(|d| d.get());
        let mut exceeded = false;
        for (n, &i) in self.order.iter().enumerate() {
            if n % 16 == 0
                && let Some(d) = deadline
                && std::time::Instant::now() >= d
            {
                exceeded = true;
                break;
            }
            let r = &self.rules[i];
            if !r.enabled || self.undecidable.contains(&i) {
                continue;
            }
            if let Some(t) = &r.template {
                // Not run at all when a tag it needs was not captured.
                counts[i] = t
                    .resolve(&captured)
                    .and_then(|m| r.test.with_matcher(m))
                    .map(|test| run_test(&test, &r.tflags, msg, uris, &ctx))
                    .unwrap_or(0);
                continue;
            }
            counts[i] = match &r.test {
                Test::Meta(e) => {
                    let v = meta::eval(e, &|d| f64::from(counts[d]));
                    if v > 0.0 {
                        v.round().max(1.0) as u32
                    } else if v != 0.0 {
                        1
                    } else {
                        0
                    }
                }
                test => run_test(test, &r.tflags, msg, uris, &ctx),
            };
            if counts[i] > 0
                && !r.produces.is_empty()
                && let Test::Header {
                    header,
                    mods,
                    matcher,
                    ..
                } = &r.test
                && let Some(v) = header_value(msg, header, mods)
            {
                for (name, value) in matcher.named_captures(&v) {
                    if r.produces.contains(&name) {
                        captured.add(name, value);
                    }
                }
            }
        }
        let mut hits = Vec::new();
        let mut subs = Vec::new();
        if exceeded {
            let score = if self.config.scores.contains_key("TIME_LIMIT_EXCEEDED") {
                self.config.score("TIME_LIMIT_EXCEEDED", self.score_set)
            } else {
                0.001
            };
            hits.push(Hit {
                name: "TIME_LIMIT_EXCEEDED".to_string(),
                score,
                count: 1,
                area: Area::Header,
            });
        }
        let mut fired: Vec<usize> = (0..self.rules.len()).filter(|&i| counts[i] > 0).collect();
        fired.sort_by_key(|&i| self.rules[i].rank);
        for i in fired {
            let r = &self.rules[i];
            if counts[i] == 0 {
                continue;
            }
            if r.name.starts_with("__") {
                subs.push(r.name.clone());
            } else {
                let count = if r.tflags.multiple { counts[i] } else { 1 };
                hits.push(Hit {
                    name: r.name.clone(),
                    score: r.score,
                    count,
                    area: r.area,
                });
            }
        }
        (hits, subs)
    }
}

/// Compile every rule regex, spread over the available cores: regex
/// compilation is most of start-up time, and each pattern is independent.
fn compile_patterns<'a>(
    config: &'a Config,
    names: &[&'a String],
    tags: &replace_tags::ReplaceTags,
) -> HashMap<&'a str, Result<Matcher, String>> {
    let jobs: Vec<(&str, &str)> = names
        .iter()
        .filter_map(|n| {
            let p = match &config.rules[n.as_str()].kind {
                RuleKind::Header { pattern, .. }
                | RuleKind::Body { pattern }
                | RuleKind::Rawbody { pattern }
                | RuleKind::Full { pattern }
                | RuleKind::Uri { pattern }
                | RuleKind::Mimeheader { pattern, .. } => pattern.as_str(),
                _ => return None,
            };
            Some((n.as_str(), p))
        })
        .collect();
    let compile_one = |name: &str, p: &str| -> Result<Matcher, String> {
        let mut pat =
            perlre::parse_delimited(p).map_err(|e| format!("invalid regexp '{p}': {e}"))?;
        if tags.applies_to(name) {
            pat.body = tags.expand(&pat.body);
        }
        // A capture template compiles with its `%{NAME}` taken literally;
        // the real pattern is built per message (see `Template`).
        if !capture::template_names(&pat.body).is_empty() {
            pat.body = capture::escape_templates(&pat.body);
        }
        Matcher::compile(&pat).map_err(|e| format!("invalid regexp '{p}': {e}"))
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = jobs.len().div_ceil(threads).max(1);
    let mut out = HashMap::with_capacity(jobs.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(n, p)| (*n, compile_one(n, p)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            // A panic in a regex compiler leaves those rules "not compiled".
            if let Ok(v) = h.join() {
                out.extend(v);
            }
        }
    });
    out
}

fn continue_rule(rules: &mut Vec<Rule>, name: &str, config: &Config, set: usize) {
    // Keep indices aligned: an invalid rule stays as one that never hits.
    rules.push(Rule {
        name: name.to_string(),
        test: Test::Never,
        score: config.score(name, set),
        tflags: TFlags::default(),
        area: Area::Header,
        enabled: false,
        rank: (0, 0),
        template: None,
        produces: Vec::new(),
    });
}

impl Test {
    /// The same test with another compiled pattern (capture templates).
    fn with_matcher(&self, m: Matcher) -> Option<Test> {
        Some(match self {
            Test::Header {
                header,
                mods,
                negate,
                if_unset,
                ..
            } => Test::Header {
                header: header.clone(),
                mods: mods.clone(),
                negate: *negate,
                matcher: m,
                if_unset: if_unset.clone(),
            },
            Test::Body(_) => Test::Body(m),
            Test::Rawbody(_) => Test::Rawbody(m),
            Test::Full(_) => Test::Full(m),
            Test::Uri(_) => Test::Uri(m),
            _ => return None,
        })
    }
}

/// Metas that can never be decided: they depend on a disabled meta (which
/// SpamAssassin never marks ready), directly or through another such meta.
fn undecidable_metas(
    rules: &[Rule],
    order: &[usize],
    meta_deps: &HashMap<usize, HashSet<usize>>,
) -> HashSet<usize> {
    let mut undecidable = HashSet::new();
    for &i in order {
        if let Some(deps) = meta_deps.get(&i)
            && deps.iter().any(|d| {
                (meta_deps.contains_key(d) && !rules[*d].enabled) || undecidable.contains(d)
            })
        {
            undecidable.insert(i);
        }
    }
    undecidable
}

/// SpamAssassin's order within one priority: header, header eval, body,
/// uri, body eval, rawbody, rawbody eval, full, full eval, meta.
fn type_rank(t: &Test) -> u8 {
    match t {
        Test::Header { .. } | Test::Exists(_) => 0,
        Test::Eval(..) | Test::Mimeheader(_) | Test::Never => 1,
        Test::Body(_) => 2,
        Test::Uri(_) => 3,
        Test::Rawbody(_) => 5,
        Test::Full(_) => 7,
        Test::Meta(_) => 9,
    }
}

fn visit(
    n: usize,
    deps: &HashMap<usize, HashSet<usize>>,
    state: &mut HashMap<usize, u8>,
    order: &mut Vec<usize>,
    cyclic: &mut HashSet<usize>,
) {
    match state.get(&n) {
        Some(2) => return,
        Some(1) => {
            cyclic.insert(n);
            return;
        }
        _ => {}
    }
    state.insert(n, 1);
    if let Some(ds) = deps.get(&n) {
        let mut ds: Vec<usize> = ds
            .iter()
            .copied()
            .filter(|d| deps.contains_key(d))
            .collect();
        ds.sort_unstable();
        for d in ds {
            visit(d, deps, state, order, cyclic);
            if cyclic.contains(&d) {
                cyclic.insert(n);
            }
        }
    }
    state.insert(n, 2);
    order.push(n);
}

fn max_hits(t: &TFlags) -> u32 {
    if t.multiple {
        t.maxhits.unwrap_or(u32::MAX).max(1)
    } else {
        1
    }
}

fn run_lines<'a, I: IntoIterator<Item = &'a [u8]>>(m: &Matcher, lines: I, t: &TFlags) -> u32 {
    let cap = max_hits(t);
    let mut n = 0;
    for line in lines {
        if t.multiple {
            n += m.count(line, cap - n);
        } else if m.is_match(line) {
            return 1;
        }
        if n >= cap {
            break;
        }
    }
    n
}

fn run_test(test: &Test, t: &TFlags, msg: &Message, uris: &[String], ctx: &EvalCtx<'_>) -> u32 {
    match test {
        Test::Header {
            header,
            mods,
            negate,
            matcher,
            if_unset,
        } => {
            let value = header_value(msg, header, mods).or_else(|| {
                if_unset
                    .as_ref()
                    .map(|s| s.chars().map(|c| c as u32 as u8).collect())
            });
            // A missing header is undef in SpamAssassin, which Perl
            // matches as the empty string: `!~` hits unless the pattern
            // matches "", and `=~ /^$/` hits.
            let v = value.unwrap_or_default();
            if *negate {
                u32::from(!matcher.is_match(&v))
            } else if t.multiple {
                matcher.count(&v, max_hits(t))
            } else {
                u32::from(matcher.is_match(&v))
            }
        }
        // `exists:` is `defined(get(name))`, so pseudo-headers such as
        // ToCc count too.
        Test::Exists(h) => u32::from(msg.get(h).is_some()),
        Test::Body(m) => {
            let lines = msg.body_lines_bytes();
            let skip = usize::from(t.nosubject && !lines.is_empty());
            run_lines(m, lines[skip..].iter().map(|l| l.as_slice()), t)
        }
        Test::Rawbody(m) => run_lines(m, msg.rawbody_chunks().iter().map(|c| c.as_slice()), t),
        Test::Full(m) => run_lines(m, std::iter::once(msg.pristine()), t),
        Test::Uri(m) => run_lines(m, uris.iter().map(|u| u.as_bytes()), t),
        Test::Eval(f, args) => f(ctx, args),
        Test::Mimeheader(m) => m.run(msg, t),
        Test::Meta(_) | Test::Never => 0,
    }
}

/// The value a header rule matches against, with its modifiers applied
/// (`From:addr`, `Subject:raw`, `ALL` ...), as SpamAssassin's `get` builds it.
fn header_value(msg: &Message, header: &str, mods: &[HeaderMod]) -> Option<Vec<u8>> {
    if mods.is_empty() {
        return msg.get(header);
    }
    let mut request = header.to_string();
    for m in mods {
        request.push_str(match m {
            HeaderMod::Raw => ":raw",
            HeaderMod::Addr => ":addr",
            HeaderMod::Name => ":name",
            HeaderMod::Host => ":host",
            HeaderMod::Domain => ":domain",
            HeaderMod::Ip => ":ip",
            HeaderMod::Revip => ":revip",
            HeaderMod::First => ":first",
            HeaderMod::Last => ":last",
        });
    }
    msg.get(&request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(cf: &str) -> CompiledRules {
        let (r, d) =
            CompiledRules::compile(Config::from_text("t.cf", cf), CompileOptions::default());
        assert!(d.is_empty(), "{d:?}");
        r
    }

    fn names(r: &CompiledRules, msg: &[u8]) -> Vec<String> {
        let (hits, _) = r.run(&Message::parse(msg));
        let mut n: Vec<String> = hits.into_iter().map(|h| h.name).collect();
        n.sort();
        n
    }

    #[test]
    fn kinds_and_metas() {
        let r = compile(
            "body __A /cheap/i\nheader __B Subject =~ /offer/i\nmeta BOTH __A && __B\nscore BOTH 3\n\
             header NOTO To !~ /./\nheader MISSING X-Nope =~ /./\nheader EXISTS exists:Subject\n\
             full FULLR /^Subject: special/m\nmeta NEVER __A && !__A\n",
        );
        let msg = b"Subject: special offer\n\nreally cheap stuff\n";
        assert_eq!(names(&r, msg), ["BOTH", "EXISTS", "FULLR", "NOTO"]);
        assert_eq!(names(&r, b"Subject: hi\nTo: a@b\n\nnothing\n"), ["EXISTS"]);
    }

    #[test]
    fn zero_scores_do_not_run() {
        let r = compile("body A /x/\nscore A 0\nmeta B A || 1 > 2\nbody C /x/\nscore C 0 2 0 2\n");
        assert!(names(&r, b"\nx\n").is_empty());
        let (r, _) = CompiledRules::compile(
            Config::from_text("t.cf", "body C /x/\nscore C 0 2 0 2\n"),
            CompileOptions {
                net: true,
                bayes: false,
            },
        );
        assert_eq!(names(&r, b"\nx\n"), ["C"]);
    }

    #[test]
    fn firing_order() {
        let r = compile(
            "body A_BODY /x/\nheader Z_HEAD Subject =~ /x/\nmeta B_META A_BODY\npriority Z_LATE 10\nheader Z_LATE Subject =~ /x/\n",
        );
        let (hits, _) = r.run(&Message::parse(b"Subject: x\n\nx\n"));
        let order: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(order, ["Z_HEAD", "A_BODY", "B_META", "Z_LATE"]);
    }

    #[test]
    fn rescoring_matches_a_fresh_compile() {
        let cf = "body A /x/\nscore A 0 0 2 2\nbody B /x/\nscore B 1 1 0 0\nmeta C A\nscore C 0 0 1 1\nmeta D C || B\n";
        let set0 = compile(cf);
        let set2 = set0.for_score_set(CompileOptions {
            net: false,
            bayes: true,
        });
        let (fresh, _) = CompiledRules::compile(
            Config::from_text("t.cf", cf),
            CompileOptions {
                net: false,
                bayes: true,
            },
        );
        let msg = Message::parse(b"\nx\n");
        assert_eq!(set2.run(&msg), fresh.run(&msg));
        // D depends on C, a meta disabled in set 0: never decided there.
        assert_eq!(names(&set0, b"\nx\n"), ["B"]);
        assert_eq!(names(&set2, b"\nx\n"), ["A", "C", "D"]);
    }

    #[test]
    fn deadline_stops_rules() {
        let r = compile("body A /x/\nheader B Subject =~ /x/\n");
        let msg = Message::parse(b"Subject: x\n\nx\n");
        let past = Some(std::time::Instant::now());
        let (hits, _) = with_deadline(past, || r.run(&msg));
        let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["TIME_LIMIT_EXCEEDED"]);
        assert_eq!(hits[0].score, 0.001);
        let (hits, _) = with_deadline(None, || r.run(&msg));
        assert_eq!(hits.len(), 2);
    }

    #[test]
    fn multiple_hits() {
        let r = compile("body M /a/\ntflags M multiple maxhits=3\n");
        let (hits, _) = r.run(&Message::parse(b"\na a\n\na\n\na a a\n"));
        assert_eq!(hits[0].count, 3);
    }

    #[test]
    fn bad_rules_are_reported() {
        let (_, d) = CompiledRules::compile(
            Config::from_text(
                "t.cf",
                "body A /(/\nmeta B A &&& $x\nheader C eval:no_such_fn()\n",
            ),
            CompileOptions::default(),
        );
        assert_eq!(d.len(), 3, "{d:?}");
    }
}
