//! Compiling rule definitions into matchers and running them over a message.
//!
//! Compiled rules are immutable and shared by every scan (`Arc`). Rules whose
//! score is 0 in the active score set are not run, as in SpamAssassin, and
//! count as 0 inside metas.

mod area;
mod capture;
pub mod gate;
mod helper;
pub mod meta;
mod mimeheader;
pub mod perlre;
pub mod prefilter;
pub mod profile;
pub mod replace_tags;
pub mod translate;

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use crate::config::{Config, Diagnostic, EvalTarget, HeaderMod, RuleKind, TFlags};
use crate::eval::{self, EvalCtx, EvalFn};
use crate::message::Message;
pub use area::Area;
use perlre::Matcher;
pub use profile::{Profile, Stage};

thread_local! {
    /// The DNS tests' report lines (`test_log`) of the scan running on
    /// this thread, by rule; read when its hits are collected.
    static TEST_LOGS: std::cell::RefCell<HashMap<String, Vec<String>>> = std::cell::RefCell::new(HashMap::new());
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
        /// Index of the header request (name and modifiers) in
        /// `CompiledRules::header_requests`: rules reading the same value
        /// share one lookup per message.
        slot: usize,
    },
    Exists(String),
    Body(Matcher),
    Rawbody(Matcher),
    Full(Matcher),
    Uri(Matcher),
    Eval(EvalFn, Vec<String>),
    /// A DNS test (eval function name, arguments): its lookups are
    /// launched before the other rules run and it is decided after the
    /// harvest (`eval::dnsbl`).
    Net(String, Vec<String>),
    Mimeheader(Box<mimeheader::MimeheaderTest>),
    Meta(meta::Program),
    /// Defined but never hits here (unsupported eval, DNS, `reuse`).
    Never,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    test: Test,
    tflags: TFlags,
    area: Area,
    /// Compiles (an invalid rule stays in the table as one that never runs).
    valid: bool,
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
    /// The compiled rules, shared by every rule set derived from this one
    /// (users' preferences, the Bayes score set): only `scores` and
    /// `runnable` differ between them.
    rules: std::sync::Arc<Vec<Rule>>,
    /// Each rule's score in this set (0 turns it off).
    scores: Vec<f64>,
    /// Each meta's direct dependencies (rule indices).
    meta_deps: std::sync::Arc<HashMap<usize, HashSet<usize>>>,
    /// Non-meta rules first, then metas in dependency order.
    order: std::sync::Arc<Vec<usize>>,
    /// `order` without the disabled rules and the metas that can never be
    /// decided (they depend on a disabled meta): what a scan runs.
    runnable: Vec<usize>,
    pub score_set: usize,
    pub config: Config,
    /// Rules that are network tests (never hit in this build).
    pub network_rules: usize,
    /// Distinct header requests of header rules (`Subject`, `From:addr` ...).
    header_requests: std::sync::Arc<Vec<String>>,
    /// The literal prefilter, built at compile time.
    prefilter: std::sync::Arc<Prefilter>,
    /// Whether scans use the prefilter (on unless turned off).
    use_prefilter: bool,
    /// Every pattern compiled, for `compile_reusing`.
    patterns: std::sync::Arc<PatternCache>,
}

/// Per rule class, the literal automaton; per rule, its condition.
#[derive(Debug)]
struct Prefilter {
    /// Indexed by header request slot.
    header: Vec<prefilter::ClassFilter>,
    body: prefilter::ClassFilter,
    rawbody: prefilter::ClassFilter,
    uri: prefilter::ClassFilter,
    full: prefilter::ClassFilter,
    /// Indexed like `rules`; `Any` for rules the prefilter does not judge.
    conds: Vec<prefilter::Cond>,
    /// Multi-pattern gates for the body and rawbody rules it does not judge.
    gates: gate::Gates,
}

impl Prefilter {
    fn build(
        rules: &[Rule],
        formulas: &HashMap<&str, prefilter::Formula>,
        header_slots: usize,
        runnable: &[usize],
    ) -> Prefilter {
        let mut b: [prefilter::ClassBuilder; 4] = Default::default();
        // One automaton per header request: a header's value is searched
        // only for the literals of the rules that read that header.
        let mut hb: Vec<prefilter::ClassBuilder> = (0..header_slots)
            .map(|_| prefilter::ClassBuilder::default())
            .collect();
        let conds = rules
            .iter()
            .map(|r| {
                let builder = match r.test {
                    Test::Header { slot, .. } => match hb.get_mut(slot) {
                        Some(b) => b,
                        None => return prefilter::Cond::Any,
                    },
                    Test::Body(_) => &mut b[0],
                    Test::Rawbody(_) => &mut b[1],
                    Test::Uri(_) => &mut b[2],
                    Test::Full(_) => &mut b[3],
                    _ => return prefilter::Cond::Any,
                };
                // Capture templates are compiled per message: not judged.
                match formulas.get(r.name.as_str()) {
                    Some(f) if r.template.is_none() => builder.add(f),
                    _ => prefilter::Cond::Any,
                }
            })
            .collect::<Vec<_>>();
        // The rules it cannot judge and that run, in scan order, gated.
        let candidates = runnable
            .iter()
            .filter(|&&i| conds[i].is_any() && rules[i].template.is_none())
            .filter_map(|&i| {
                let (class, m) = match &rules[i].test {
                    Test::Body(m) => (gate::Class::Body, m),
                    Test::Rawbody(m) => (gate::Class::Rawbody, m),
                    _ => return None,
                };
                Some((i, class, m.gate()?.to_string()))
            })
            .collect();
        let gates = gate::Gates::build(rules.len(), candidates);
        let [body, rawbody, uri, full] = b.map(prefilter::ClassBuilder::build);
        Prefilter {
            header: hb.into_iter().map(prefilter::ClassBuilder::build).collect(),
            body,
            rawbody,
            uri,
            full,
            conds,
            gates,
        }
    }
}

/// The hits of one scan: (rule name, score of one hit, count, area).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub name: String,
    pub score: f64,
    pub count: u32,
    pub area: Area,
    /// Report lines under the description (`test_log`: the listed IP and
    /// zone of a blocklist hit ...).
    pub log: Vec<String>,
}

impl CompiledRules {
    /// Compile every rule of `config`. Problems (bad regex, unsupported
    /// eval, bad meta) are returned as diagnostics; the rule is dropped or
    /// never hits, as in SpamAssassin.
    pub fn compile(config: Config, opts: CompileOptions) -> (CompiledRules, Vec<Diagnostic>) {
        Self::compile_with(config, opts, None)
    }

    /// Compile `config`, taking every pattern `self` already compiled from
    /// the same text instead of compiling it again: a user's rules on top
    /// of the site's cost only the user's own patterns.
    pub fn compile_reusing(
        &self,
        config: Config,
        opts: CompileOptions,
    ) -> (CompiledRules, Vec<Diagnostic>) {
        Self::compile_with(config, opts, Some(&self.patterns))
    }

    fn compile_with(
        config: Config,
        opts: CompileOptions,
        reuse: Option<&PatternCache>,
    ) -> (CompiledRules, Vec<Diagnostic>) {
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
        let (compiled, patterns) = compile_patterns(&config, &names, &tags, reuse);
        let formulas: HashMap<&str, prefilter::Formula> = compiled
            .iter()
            .filter_map(|(n, r)| r.as_ref().ok().map(|(_, f)| (*n, f.clone())))
            .collect();
        let mut header_requests: Vec<String> = Vec::new();
        let mut slots: HashMap<String, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(names.len());
        let mut scores: Vec<f64> = Vec::with_capacity(names.len());
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
                match compiled.get(name.as_str()) {
                    Some(Ok((m, _))) => Ok(m.clone()),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err("pattern was not compiled".to_string()),
                }
            };
            let (test, area) = match &def.kind {
                RuleKind::Header {
                    header,
                    modifiers,
                    negate,
                    pattern,
                    if_unset,
                } => match compile_re(pattern) {
                    Ok(m) => {
                        let request = request_string(header, modifiers);
                        let next = header_requests.len();
                        let slot = *slots.entry(request.clone()).or_insert(next);
                        if slot == next {
                            header_requests.push(request);
                        }
                        (
                            Test::Header {
                                header: header.clone(),
                                mods: modifiers.clone(),
                                negate: *negate,
                                matcher: m,
                                if_unset: if_unset.clone(),
                                slot,
                            },
                            Area::Header,
                        )
                    }
                    Err(e) => {
                        diags.push(diag(e));
                        continue_rule(&mut rules, &mut scores, name, &config, set);
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
                        continue_rule(&mut rules, &mut scores, name, &config, set);
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
                        continue_rule(&mut rules, &mut scores, name, &config, set);
                        continue;
                    }
                },
                RuleKind::Meta { expr } => {
                    let mut resolve = |n: &str| index.get(n).copied();
                    match meta::compile(expr, &all_names, &mut resolve) {
                        Ok((e, deps)) => {
                            meta_deps.insert(i, deps);
                            (Test::Meta(meta::Program::new(&e)), Area::Meta)
                        }
                        Err(e) => {
                            diags.push(diag(e));
                            continue_rule(&mut rules, &mut scores, name, &config, set);
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
                        Some(_) if eval::dnsbl::is_dns_function(&call.function) => (
                            Test::Net(call.function.clone(), call.args.clone()),
                            // The label SpamAssassin's got_hit gives them.
                            match call.function.as_str() {
                                "askdns" => Area::AskDns,
                                "check_uridnsbl" | "check_hashbl_bodyre" => Area::FullEval,
                                "check_dns_sender" => area,
                                _ => Area::Rbl,
                            },
                        ),
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
            scores.push(score);
            rules.push(Rule {
                name: name.to_string(),
                test,
                tflags: config
                    .tflags
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_default(),
                area,
                valid: true,
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
        let runnable = runnable(&rules, &scores, &order, &meta_deps);
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
        let prefilter = std::sync::Arc::new(Prefilter::build(
            &rules,
            &formulas,
            header_requests.len(),
            &runnable,
        ));
        (
            CompiledRules {
                network_rules,
                header_requests: std::sync::Arc::new(header_requests),
                prefilter,
                use_prefilter: true,
                redirectors: std::sync::Arc::new(redirectors),
                rules: std::sync::Arc::new(rules),
                scores,
                meta_deps: std::sync::Arc::new(meta_deps),
                order: std::sync::Arc::new(order),
                runnable,
                score_set,
                config,
                patterns: std::sync::Arc::new(patterns),
            },
            diags,
        )
    }

    /// The same rules under another score set (e.g. the Bayes set once the
    /// database is usable), without compiling any regex again: only scores,
    /// which rules run, and the metas that cannot be decided change.
    pub fn for_score_set(&self, opts: CompileOptions) -> CompiledRules {
        self.rescored(self.config.clone(), opts.score_set())
    }

    /// The same compiled rules under another configuration that defines no
    /// rule of its own (a user's `user_prefs` without rule lines): scores,
    /// thresholds and report settings come from `config`, no regex is
    /// compiled again.
    pub fn with_config(&self, config: Config) -> CompiledRules {
        self.rescored(config, self.score_set)
    }

    fn rescored(&self, config: Config, set: usize) -> CompiledRules {
        let scores: Vec<f64> = self
            .rules
            .iter()
            .map(|r| config.score(&r.name, set))
            .collect();
        let runnable = runnable(&self.rules, &scores, &self.order, &self.meta_deps);
        CompiledRules {
            redirectors: self.redirectors.clone(),
            meta_deps: self.meta_deps.clone(),
            order: self.order.clone(),
            runnable,
            score_set: set,
            config,
            network_rules: self.network_rules,
            header_requests: self.header_requests.clone(),
            prefilter: self.prefilter.clone(),
            use_prefilter: self.use_prefilter,
            patterns: self.patterns.clone(),
            rules: self.rules.clone(),
            scores,
        }
    }

    /// Turn the literal prefilter on or off. Hits and counts are the same
    /// either way (the prefilter only skips lines that cannot match); off
    /// is for checking exactly that, and for measuring what it saves.
    pub fn set_prefilter(&mut self, on: bool) {
        self.use_prefilter = on;
    }

    /// Rules the prefilter can skip, per class: (class, judged, total).
    pub fn prefilter_stats(&self) -> Vec<(&'static str, usize, usize)> {
        let mut out: Vec<(&'static str, usize, usize)> =
            ["header", "body", "rawbody", "uri", "full"]
                .iter()
                .map(|c| (*c, 0, 0))
                .collect();
        for (r, c) in self.rules.iter().zip(&self.prefilter.conds) {
            let k = match r.test {
                Test::Header { .. } => 0,
                Test::Body(_) => 1,
                Test::Rawbody(_) => 2,
                Test::Uri(_) => 3,
                Test::Full(_) => 4,
                _ => continue,
            };
            out[k].2 += 1;
            if !c.is_any() {
                out[k].1 += 1;
            }
        }
        out
    }

    /// The gates of the rules the prefilter cannot judge: (groups, body
    /// rules gated, rawbody rules gated).
    pub fn gate_stats(&self) -> (usize, usize, usize) {
        let g = &self.prefilter.gates;
        (
            g.len(),
            g.gated(gate::Class::Body),
            g.gated(gate::Class::Rawbody),
        )
    }

    /// Whether the literal prefilter can skip rule `i` (it has required
    /// literals); false for rules that always run.
    pub fn prefilter_judges(&self, i: usize) -> bool {
        self.prefilter.conds.get(i).is_some_and(|c| !c.is_any())
    }

    /// Rule `i`'s name, the stage its test runs in and the regex engine
    /// that runs it, if any (for profiles).
    pub fn rule_label(&self, i: usize) -> Option<(&str, Stage, &'static str)> {
        self.rules.get(i).map(|r| {
            let engine = match &r.test {
                Test::Header { matcher: m, .. }
                | Test::Body(m)
                | Test::Rawbody(m)
                | Test::Full(m)
                | Test::Uri(m) => m.engine_name(),
                _ => "",
            };
            (r.name.as_str(), stage_of(&r.test, r.area), engine)
        })
    }

    /// Build every rule's regex automata now instead of on first use
    /// (spamd does this in the background once it answers; `--lint` before
    /// it reports). Returns the patterns neither engine could build, which
    /// never match.
    ///
    /// In scan order; the rules that run on every message (no literal for
    /// the prefilter) were built when the rules loaded.
    ///
    /// `pause` is called before each rule (spamd's waits while scans run,
    /// which build what they need themselves).
    pub fn warm(&self, mut pause: impl FnMut()) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        for &i in self.order.iter() {
            let Some(r) = self.rules.get(i) else { continue };
            pause();
            let m = match &r.test {
                Test::Header { matcher: m, .. }
                | Test::Body(m)
                | Test::Rawbody(m)
                | Test::Full(m)
                | Test::Uri(m) => m,
                Test::Mimeheader(t) => &t.matcher,
                _ => continue,
            };
            if let Err(e) = m.force() {
                diags.push(Diagnostic {
                    file: String::new(),
                    line: 0,
                    message: format!("{}: invalid regexp: {e}; the rule never matches", r.name),
                });
            }
        }
        diags
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
        let (counts, exceeded) = self.run_inner(msg, bayes, None);
        self.collect_hits(&counts, exceeded)
    }

    /// Every rule that hit, scoring or not, with its raw hit count (before
    /// `tflags multiple` decides whether the count is reported), sorted
    /// by name. For checking that two runs agree exactly.
    pub fn rule_counts(&self, msg: &Message) -> Vec<(&str, u32)> {
        let (counts, _) = self.run_inner(msg, None, None);
        self.rules
            .iter()
            .zip(counts)
            .filter(|(_, c)| *c > 0)
            .map(|(r, c)| (r.name.as_str(), c))
            .collect()
    }

    /// `run_with_bayes`, adding the time each stage took to `prof`.
    pub fn run_profiled(
        &self,
        msg: &Message,
        bayes: Option<f64>,
        prof: &mut Profile,
    ) -> (Vec<Hit>, Vec<String>) {
        let (counts, exceeded) = self.run_inner(msg, bayes, Some(prof));
        self.collect_hits(&counts, exceeded)
    }

    fn run_inner(
        &self,
        msg: &Message,
        bayes: Option<f64>,
        mut prof: Option<&mut Profile>,
    ) -> (Vec<u32>, bool) {
        let _running = helper::InFlight::enter();
        let mut counts = vec![0u32; self.rules.len()];
        let ctx = EvalCtx {
            msg,
            conf: &self.config,
            bayes,
        };
        let t_uris = prof.as_deref().map(Profile::now);
        let with_redirects;
        let uris: &[String] = if self.redirectors.is_empty() {
            msg.uris()
        } else {
            with_redirects = msg.uris_with(&self.redirectors);
            &with_redirects
        };
        if let (Some(p), Some(t)) = (prof.as_deref_mut(), t_uris) {
            let d = p.now().saturating_sub(t);
            p.add(Stage::Uris, d);
        }
        let views_gates = if self.use_prefilter {
            self.prefilter.gates.len()
        } else {
            0
        };
        let views = Views {
            msg,
            uris,
            pf: self.use_prefilter.then_some(&*self.prefilter),
            requests: &self.header_requests,
            headers: (0..self.header_requests.len())
                .map(|_| OnceCell::new())
                .collect(),
            header_seen: (0..self.header_requests.len())
                .map(|_| OnceCell::new())
                .collect(),
            scans: std::sync::Arc::new(helper::Scans::new(views_gates)),
        };
        // Profiles time each stage on this thread: no helper then.
        let _sharing = (prof.is_none() && self.use_prefilter)
            .then(|| {
                helper::share(&self.prefilter, &views.scans, || helper::Texts {
                    body: msg.body_lines_bytes().to_vec(),
                    rawbody: msg.rawbody_chunks().to_vec(),
                    uris: uris.to_vec(),
                    full: msg.pristine().to_vec(),
                })
            })
            .flatten();
        if let Some(p) = prof.as_deref_mut()
            && let Some(pf) = views.pf
        {
            // Scan every class up front (the gates' groups too) so the
            // automata's time shows apart.
            p.time(Stage::Prefilter, || {
                views.body_seen(pf);
                views.rawbody_seen(pf);
                views.uri_seen(pf);
                views.full_seen(pf);
                for slot in 0..views.requests.len() {
                    views.header_seen(pf, slot);
                }
                for g in 0..pf.gates.len() {
                    views.gate_lines(pf, g as u32);
                }
            });
        }
        let mut captured = capture::Tags::default();
        let deadline = DEADLINE.with(|d| d.get());
        let mut exceeded = false;
        let mut current: Option<(Stage, std::time::Duration)> = None;
        // DNS tests: every lookup is launched now, the other rules run
        // while they are in flight, and the answers are harvested before
        // the first meta rule.
        TEST_LOGS.with(|l| l.borrow_mut().clear());
        let mut net = self.plan_dns(&ctx, uris);
        for (n, &i) in self.runnable.iter().enumerate() {
            if n % 16 == 0
                && let Some(d) = deadline
                && std::time::Instant::now() >= d
            {
                exceeded = true;
                break;
            }
            let r = &self.rules[i];
            match r.test {
                Test::Meta(_) => self.harvest_dns(&mut net, &mut counts),
                Test::Net(..) => continue,
                _ => {}
            }
            if let Some(p) = prof.as_deref_mut() {
                // Rules run grouped by type: read the clock only when the
                // stage changes.
                let stage = stage_of(&r.test, r.area);
                if current.is_none_or(|(s, _)| s != stage) {
                    let now = p.now();
                    if let Some((s, t)) = current {
                        p.add(s, now.saturating_sub(t));
                    }
                    current = Some((stage, now));
                }
            }
            match prof.as_deref_mut() {
                Some(p) if p.times_rules() => {
                    let t = p.now();
                    self.run_rule(i, &views, &ctx, &mut counts, &mut captured);
                    let d = p.now().saturating_sub(t);
                    p.add_rule(i, d);
                }
                _ => self.run_rule(i, &views, &ctx, &mut counts, &mut captured),
            }
        }
        self.harvest_dns(&mut net, &mut counts);
        if let (Some(p), Some((s, t))) = (prof, current) {
            let d = p.now().saturating_sub(t);
            p.add(s, d);
        }
        (counts, exceeded)
    }

    /// Launch the lookups of the enabled DNS tests, when this score set
    /// runs network tests and DNS is not turned off (`-L`,
    /// `dns_available no`).
    fn plan_dns(&self, ctx: &EvalCtx<'_>, uris: &[String]) -> Option<eval::dnsbl::Plan> {
        if self.score_set & 1 == 0 || !eval::dnsbl::dns_enabled(ctx) {
            return None;
        }
        let net: Vec<eval::dnsbl::NetRule<'_>> = self
            .rules
            .iter()
            .zip(&self.scores)
            .filter(|(r, s)| r.valid && **s != 0.0)
            .filter_map(|(r, _)| match &r.test {
                Test::Net(f, args) => Some(eval::dnsbl::NetRule {
                    name: &r.name,
                    function: f,
                    args,
                    tflags: &r.tflags,
                }),
                _ => None,
            })
            .collect();
        if net.is_empty() {
            return None;
        }
        eval::dnsbl::plan(ctx, uris, &net)
    }

    /// Harvest the lookups (once) and set the DNS tests' counts.
    fn harvest_dns(&self, net: &mut Option<eval::dnsbl::Plan>, counts: &mut [u32]) {
        let Some(plan) = net.take() else { return };
        let results = eval::dnsbl::harvest(plan);
        for (i, r) in self.rules.iter().enumerate() {
            if matches!(r.test, Test::Net(..))
                && r.valid
                && self.scores[i] != 0.0
                && results.hit(&r.name)
            {
                counts[i] = 1;
            }
        }
        crate::dns::record_scan(&results.answers);
        TEST_LOGS.with(|l| *l.borrow_mut() = results.logs.clone());
    }

    /// Run rule `i`, storing its hit count in `counts[i]`.
    fn run_rule(
        &self,
        i: usize,
        views: &Views<'_>,
        ctx: &EvalCtx<'_>,
        counts: &mut [u32],
        captured: &mut capture::Tags,
    ) {
        let r = &self.rules[i];
        if let Some(t) = &r.template {
            // Not run at all when a tag it needs was not captured, nor when
            // the text holds none of a tag's values (most messages: the
            // pattern is then never compiled).
            if !t.possible(captured, &|v| views.contains_ci(&r.test, v)) {
                counts[i] = 0;
                return;
            }
            counts[i] = t
                .resolve(captured)
                .and_then(|m| r.test.with_matcher(m))
                .map(|test| run_test(&test, &prefilter::Cond::Any, &r.tflags, views, ctx))
                .unwrap_or(0);
            return;
        }
        counts[i] = match &r.test {
            Test::Meta(e) => {
                let v = e.eval(&|d| f64::from(counts[d]));
                if v > 0.0 {
                    v.round().max(1.0) as u32
                } else if v != 0.0 {
                    1
                } else {
                    0
                }
            }
            test => match views.pf.and_then(|pf| Some((pf, pf.gates.of(i)?))) {
                Some((pf, (g, p))) => match views.gate_lines(pf, g).of(p) {
                    Some(cands) => run_gated(test, cands, &r.tflags, views),
                    None => run_test(test, &self.prefilter.conds[i], &r.tflags, views, ctx),
                },
                None => run_test(test, &self.prefilter.conds[i], &r.tflags, views, ctx),
            },
        };
        if counts[i] > 0
            && !r.produces.is_empty()
            && let Test::Header {
                header,
                mods,
                matcher,
                ..
            } = &r.test
            && let Some(v) = header_value(views.msg, header, mods)
        {
            for (name, value) in matcher.named_captures(&v) {
                if r.produces.contains(&name) {
                    captured.add(name, value);
                }
            }
        }
    }

    /// The hits and `__` sub-rule names of a finished run.
    fn collect_hits(&self, counts: &[u32], exceeded: bool) -> (Vec<Hit>, Vec<String>) {
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
                log: Vec::new(),
            });
        }
        let mut logs = TEST_LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()));
        let mut fired: Vec<usize> = (0..self.rules.len()).filter(|&i| counts[i] > 0).collect();
        // DNS hits come in as SpamAssassin harvests them: blocklists of
        // relays and senders, then URIs, then HashBL and AskDNS.
        let net_order = |t: &Test| match t {
            Test::Net(f, _) if f == "check_uridnsbl" => 1,
            Test::Net(f, _) if f == "check_hashbl_bodyre" => 2,
            Test::Net(f, _) if f == "askdns" => 3,
            _ => 0,
        };
        // They are harvested after the rules of their priority have run
        // (never before priority 0), so they come after those rules'
        // hits and before the metas.
        let key = |i: usize| {
            let r = &self.rules[i];
            match r.test {
                Test::Net(..) => ((r.rank.0.max(0), 8), net_order(&r.test)),
                _ => (r.rank, 0),
            }
        };
        fired.sort_by_key(|&i| key(i));
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
                    score: self.scores[i],
                    count,
                    area: r.area,
                    log: if r.tflags.words.iter().any(|w| w == "nolog") {
                        vec!["*REDACTED*".to_string()]
                    } else {
                        logs.remove(&r.name).unwrap_or_default()
                    },
                });
            }
        }
        (hits, subs)
    }
}

/// Compile every rule regex, spread over the available cores: regex
/// compilation is most of start-up time, and each pattern is independent.
/// Compiled patterns by what they were compiled from (the delimited
/// pattern and its body after tag expansion), for reuse by a later compile.
type PatternCache = HashMap<String, (Matcher, prefilter::Formula)>;

/// Each rule's compiled pattern (or why it does not compile).
type Compiled<'a> = HashMap<&'a str, Result<(Matcher, prefilter::Formula), String>>;

fn compile_patterns<'a>(
    config: &'a Config,
    names: &[&'a String],
    tags: &replace_tags::ReplaceTags,
    reuse: Option<&PatternCache>,
) -> (Compiled<'a>, PatternCache) {
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
    type One = Result<(Matcher, prefilter::Formula, String), String>;
    let compile_one = |name: &str, p: &str| -> One {
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
        let key = format!("{p}\u{0}{}", pat.body);
        if let Some((m, f)) = reuse.and_then(|r| r.get(&key)) {
            return Ok((m.clone(), f.clone(), key));
        }
        let m = Matcher::compile(&pat).map_err(|e| format!("invalid regexp '{p}': {e}"))?;
        let f = m.required_literals();
        // A pattern without a required literal runs on every message, so
        // the first scan would build it: build it here, on all the
        // workers, rather than in that scan's one thread.
        if f.is_any() {
            let _ = m.force();
            // And what a gate would search for it (see `gate`).
            let _ = m.gate();
        }
        Ok((m, f, key))
    };
    let threads = load_workers();
    let mut out = HashMap::with_capacity(jobs.len());
    let mut cache = PatternCache::with_capacity(jobs.len());
    // Reusing, only the new patterns compile: one worker is enough.
    let threads = if reuse.is_some() { 1 } else { threads };
    // Longest first from a shared queue: a few patterns (obfuscation tags
    // expanded) are a hundred times the others, and fixed shares would
    // leave one worker with most of them.
    let mut jobs = jobs;
    jobs.sort_by_key(|(_, p)| std::cmp::Reverse(p.len()));
    let done = par_map(&jobs, threads, |(n, p)| compile_one(n, p));
    // A panic in a regex compiler leaves those rules "not compiled".
    for ((n, _), r) in jobs.iter().zip(done) {
        if let Some(r) = r {
            out.insert(
                *n,
                r.map(|(m, f, key)| {
                    cache.insert(key, (m.clone(), f.clone()));
                    (m, f)
                }),
            );
        }
    }
    (out, cache)
}

/// How many threads the rule load compiles on: the cores, at most 8.
pub(crate) fn load_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

/// `f` of every item, on up to `threads` workers that take items in turn
/// from one queue (so one long item does not hold up a fixed share of the
/// others); in item order. None for the items of a worker that panicked.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<R>> = items.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        for w in workers {
            for (i, r) in w.join().into_iter().flatten() {
                out[i] = Some(r);
            }
        }
    });
    out
}

fn continue_rule(
    rules: &mut Vec<Rule>,
    scores: &mut Vec<f64>,
    name: &str,
    config: &Config,
    set: usize,
) {
    // Keep indices aligned: an invalid rule stays as one that never hits.
    scores.push(config.score(name, set));
    rules.push(Rule {
        name: name.to_string(),
        test: Test::Never,
        tflags: TFlags::default(),
        area: Area::Header,
        valid: false,
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
                slot,
                ..
            } => Test::Header {
                header: header.clone(),
                mods: mods.clone(),
                negate: *negate,
                matcher: m,
                if_unset: if_unset.clone(),
                slot: *slot,
            },
            Test::Body(_) => Test::Body(m),
            Test::Rawbody(_) => Test::Rawbody(m),
            Test::Full(_) => Test::Full(m),
            Test::Uri(_) => Test::Uri(m),
            _ => return None,
        })
    }
}

/// The rules a scan runs, in `order`: the enabled ones, less the metas
/// that can never be decided: they depend on a disabled meta (which
/// SpamAssassin never marks ready), directly or through another such meta.
fn runnable(
    rules: &[Rule],
    scores: &[f64],
    order: &[usize],
    meta_deps: &HashMap<usize, HashSet<usize>>,
) -> Vec<usize> {
    let enabled = |i: usize| rules[i].valid && scores[i] != 0.0;
    let mut undecidable = HashSet::new();
    for &i in order {
        if let Some(deps) = meta_deps.get(&i)
            && deps
                .iter()
                .any(|d| (meta_deps.contains_key(d) && !enabled(*d)) || undecidable.contains(d))
        {
            undecidable.insert(i);
        }
    }
    order
        .iter()
        .copied()
        .filter(|i| enabled(*i) && !undecidable.contains(i))
        .collect()
}

/// The profile stage a rule's time counts in.
fn stage_of(t: &Test, area: Area) -> Stage {
    match t {
        Test::Header { .. } | Test::Exists(_) => Stage::HeaderRules,
        Test::Mimeheader(_) => Stage::MimeheaderRules,
        Test::Body(_) => Stage::BodyRules,
        Test::Rawbody(_) => Stage::RawbodyRules,
        Test::Full(_) => Stage::FullRules,
        Test::Uri(_) => Stage::UriRules,
        Test::Eval(..) | Test::Never | Test::Net(..) if area == Area::Header => Stage::HeaderEvals,
        Test::Eval(..) | Test::Never | Test::Net(..) => Stage::OtherEvals,
        Test::Meta(_) => Stage::Meta,
    }
}

/// SpamAssassin's order within one priority: header, header eval, body,
/// uri, body eval, rawbody, rawbody eval, full, full eval, meta.
fn type_rank(t: &Test) -> u8 {
    match t {
        Test::Header { .. } | Test::Exists(_) => 0,
        Test::Eval(..) | Test::Mimeheader(_) | Test::Never | Test::Net(..) => 1,
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

/// One scan's views of the message, with the prefilter's scans of each
/// class's text, all computed on first use: a class no enabled rule reads
/// is never scanned.
struct Views<'a> {
    msg: &'a Message,
    uris: &'a [String],
    pf: Option<&'a Prefilter>,
    requests: &'a [String],
    headers: Vec<OnceCell<Option<Vec<u8>>>>,
    header_seen: Vec<OnceCell<prefilter::Seen>>,
    /// The prefilter's scans of the body, rawbody, URI and full texts and
    /// the gates' scans, which the helper thread may be filling in too.
    scans: std::sync::Arc<helper::Scans>,
}

impl Views<'_> {
    /// The value of header request `slot` (shared by every rule reading it).
    fn header(&self, slot: usize) -> Option<&[u8]> {
        self.headers[slot]
            .get_or_init(|| self.msg.get(&self.requests[slot]))
            .as_deref()
    }

    /// Whether `needle` occurs (ASCII case ignored) in the text `test`
    /// matches against, on one line for line-wise classes; None when that
    /// cannot decide the test (negated or unset headers, evals).
    fn contains_ci(&self, test: &Test, needle: &[u8]) -> Option<bool> {
        let has = |l: &[u8]| prefilter::contains_ci(l, needle);
        match test {
            Test::Uri(_) => Some(self.uris.iter().any(|u| has(u.as_bytes()))),
            Test::Body(_) => Some(self.msg.body_lines_bytes().iter().any(|l| has(l))),
            Test::Rawbody(_) => Some(self.msg.rawbody_chunks().iter().any(|l| has(l))),
            Test::Full(_) => Some(has(self.msg.pristine())),
            Test::Header {
                negate: false,
                slot,
                ..
            } => self.header(*slot).map(has),
            _ => None,
        }
    }

    fn header_seen(&self, pf: &Prefilter, slot: usize) -> &prefilter::Seen {
        self.header_seen[slot].get_or_init(|| match pf.header.get(slot) {
            Some(f) => f.scan(std::iter::once(self.header(slot).unwrap_or_default())),
            None => prefilter::Seen::pass(),
        })
    }

    fn body_seen(&self, pf: &Prefilter) -> &prefilter::Seen {
        self.scans.body.get_or_init(|| {
            pf.body
                .scan(self.msg.body_lines_bytes().iter().map(|l| l.as_slice()))
        })
    }

    fn rawbody_seen(&self, pf: &Prefilter) -> &prefilter::Seen {
        self.scans.rawbody.get_or_init(|| {
            pf.rawbody
                .scan(self.msg.rawbody_chunks().iter().map(|l| l.as_slice()))
        })
    }

    fn uri_seen(&self, pf: &Prefilter) -> &prefilter::Seen {
        self.scans
            .uri
            .get_or_init(|| pf.uri.scan(self.uris.iter().map(|u| u.as_bytes())))
    }

    /// The lines each pattern of gate group `g` matched.
    fn gate_lines(&self, pf: &Prefilter, g: u32) -> &gate::Lines {
        self.scans.gates[g as usize].get_or_init(|| {
            let msg = self.msg;
            match pf.gates.class(g) {
                gate::Class::Body => pf
                    .gates
                    .scan(g, msg.body_lines_bytes().iter().map(|l| l.as_slice())),
                gate::Class::Rawbody => pf
                    .gates
                    .scan(g, msg.rawbody_chunks().iter().map(|l| l.as_slice())),
            }
        })
    }

    fn full_seen(&self, pf: &Prefilter) -> &prefilter::Seen {
        self.scans
            .full
            .get_or_init(|| pf.full.scan(std::iter::once(self.msg.pristine())))
    }
}

/// Run a line-oriented rule over `lines`, only on the lines the prefilter
/// lets through (all of them without one).
fn run_filtered<L: AsRef<[u8]>>(
    m: &Matcher,
    lines: &[L],
    skip: usize,
    seen: Option<&prefilter::Seen>,
    cond: &prefilter::Cond,
    t: &TFlags,
) -> u32 {
    match seen {
        None => run_lines(m, lines[skip..].iter().map(AsRef::as_ref), t),
        Some(seen) if !seen.any_line(cond) => 0,
        Some(seen) => match seen.lines(cond) {
            None => run_lines(m, lines[skip..].iter().map(AsRef::as_ref), t),
            Some(cands) => run_lines(
                m,
                cands
                    .iter()
                    .map(|&n| n as usize)
                    .filter(|&n| n >= skip)
                    .filter_map(|n| lines.get(n))
                    .map(AsRef::as_ref),
                t,
            ),
        },
    }
}

/// Run a gated body or rawbody rule on the lines its gate matched (only
/// those rules have gates).
fn run_gated(test: &Test, cands: &[u32], t: &TFlags, views: &Views<'_>) -> u32 {
    let msg = views.msg;
    let (m, lines, skip) = match test {
        Test::Body(m) => {
            let lines = msg.body_lines_bytes();
            (m, lines, usize::from(t.nosubject && !lines.is_empty()))
        }
        Test::Rawbody(m) => (m, msg.rawbody_chunks(), 0),
        _ => return 0,
    };
    let picked = cands
        .iter()
        .map(|&n| n as usize)
        .filter(|&n| n >= skip)
        .filter_map(|n| lines.get(n))
        .map(Vec::as_slice);
    run_lines(m, picked, t)
}

fn run_test(
    test: &Test,
    cond: &prefilter::Cond,
    t: &TFlags,
    views: &Views<'_>,
    ctx: &EvalCtx<'_>,
) -> u32 {
    let msg = views.msg;
    // The prefilter is consulted only for rules it can judge.
    let pf = views.pf.filter(|_| !cond.is_any());
    match test {
        Test::Header {
            negate,
            matcher,
            if_unset,
            slot,
            ..
        } => {
            let value = views.header(*slot);
            let unset;
            // A missing header is undef in SpamAssassin, which Perl
            // matches as the empty string: `!~` hits unless the pattern
            // matches "", and `=~ /^$/` hits.
            let v: &[u8] = match (value, if_unset) {
                (Some(v), _) => v,
                (None, Some(s)) => {
                    unset = s.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>();
                    &unset
                }
                (None, None) => b"",
            };
            let possible = match pf {
                Some(pf) if value.is_some() || if_unset.is_none() => {
                    views.header_seen(pf, *slot).any_line(cond)
                }
                _ => true,
            };
            if *negate {
                u32::from(!possible || !matcher.is_match(v))
            } else if !possible {
                0
            } else if t.multiple {
                matcher.count(v, max_hits(t))
            } else {
                u32::from(matcher.is_match(v))
            }
        }
        // `exists:` is `defined(get(name))`, so pseudo-headers such as
        // ToCc count too.
        Test::Exists(h) => u32::from(msg.get(h).is_some()),
        Test::Body(m) => {
            let lines = msg.body_lines_bytes();
            let skip = usize::from(t.nosubject && !lines.is_empty());
            let seen = pf.map(|pf| views.body_seen(pf));
            run_filtered(m, lines, skip, seen, cond, t)
        }
        Test::Rawbody(m) => {
            let seen = pf.map(|pf| views.rawbody_seen(pf));
            run_filtered(m, msg.rawbody_chunks(), 0, seen, cond, t)
        }
        Test::Full(m) => {
            let seen = pf.map(|pf| views.full_seen(pf));
            run_filtered(m, &[msg.pristine()], 0, seen, cond, t)
        }
        Test::Uri(m) => {
            let seen = pf.map(|pf| views.uri_seen(pf));
            run_filtered(m, views.uris, 0, seen, cond, t)
        }
        Test::Eval(f, args) => f(ctx, args),
        Test::Mimeheader(m) => m.run(msg, t),
        Test::Meta(_) | Test::Never | Test::Net(..) => 0,
    }
}

/// A header rule's request as `Message::get` takes it: the name followed
/// by its modifiers (`From:addr`, `Subject:raw`).
fn request_string(header: &str, mods: &[HeaderMod]) -> String {
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
    request
}

/// The value a header rule matches against, with its modifiers applied
/// (`From:addr`, `Subject:raw`, `ALL` ...), as SpamAssassin's `get` builds it.
fn header_value(msg: &Message, header: &str, mods: &[HeaderMod]) -> Option<Vec<u8>> {
    msg.get(&request_string(header, mods))
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

    /// The same hits, counts and scores with the prefilter (and gates) on
    /// as with them off.
    fn same_on_and_off(on: &CompiledRules, off: &CompiledRules, msgs: &[&[u8]]) {
        for m in msgs {
            let msg = Message::parse(m);
            assert_eq!(on.rule_counts(&msg), off.rule_counts(&msg));
            assert_eq!(on.run(&msg), off.run(&msg));
        }
    }

    #[test]
    fn prefilter_changes_nothing() {
        let cf = "body B1 /cheap\\s+meds/i\nbody B2 /(?:foo|bar)baz/\nbody B3 /viagra(?!x)/i\n\
                  body B4 /(\\w)\\1{3}zz/\nbody M /the/i\ntflags M multiple maxhits=5\n\
                  body NS /Subject line/\ntflags NS nosubject\nbody S /Subject line/\n\
                  header H1 Subject =~ /offer/i\nheader H2 Subject !~ /offer/i\n\
                  header H3 X-None =~ /none/ [if-unset: none here]\nheader H4 X-None !~ /none/\n\
                  rawbody R /barbaz, VIAGRA/\nuri U /example\\.com/\nfull F /^Subject: Subject line/m\n\
                  body ANY /\\d+/\n";
        let mut on = compile(cf);
        let mut off = compile(cf);
        off.set_prefilter(false);
        assert!(on.prefilter_stats().iter().map(|s| s.1).sum::<usize>() >= 12);
        let msgs: [&[u8]; 4] = [
            b"Subject: Subject line offer\n\nCheap   MEDS and barbaz, VIAGRA!\n\nthe the The tHe the the the\n\naaaazz http://example.com/ 12\n",
            b"Subject: hi\n\nnothing to see\n",
            b"Subject: x\n\nviagrax foobar baz bbbbzz\n",
            b"\n",
        ];
        same_on_and_off(&on, &off, &msgs);
        let msg = Message::parse(msgs[0]);
        let counts = on.rule_counts(&msg);
        for r in [
            "B1", "B2", "B3", "B4", "H1", "H3", "H4", "S", "R", "U", "F", "ANY",
        ] {
            assert!(
                counts.iter().any(|(n, _)| *n == r),
                "{r} should hit: {counts:?}"
            );
        }
        assert!(counts.contains(&("M", 5)), "{counts:?}");
        assert!(!counts.iter().any(|(n, _)| *n == "NS" || *n == "H2"));
        on.set_prefilter(true);
    }

    #[test]
    fn gates_change_nothing() {
        // No required literal in any of them: all gated, none judged.
        let cf = "body G1 /\\b[a-z]\\d[a-z]\\b/\nbody G2 /(?<![a-z])[xy]{2}(?!q)/i\n\
                  body G3 /(\\w)\\1\\1/\ntflags G3 multiple maxhits=4\n\
                  body G4 /\\d{3}/\ntflags G4 nosubject\n\
                  body G5 /^\\s*[a-z]+\\s*$/m\nrawbody G6 /<[a-z]>/\n";
        let on = compile(cf);
        let mut off = compile(cf);
        off.set_prefilter(false);
        assert_eq!(on.prefilter_stats().iter().map(|s| s.1).sum::<usize>(), 0);
        let (groups, body, rawbody) = on.gate_stats();
        assert!(groups >= 2, "{groups}");
        assert_eq!((body, rawbody), (5, 1));
        let msgs: [&[u8]; 5] = [
            b"Subject: 123 a1b\n\nXY here, xyq, aaa bbb ccc ddd eee\n\nword\n\n<p>text</p> 456\n",
            b"Subject: hi\n\nnothing to see\n",
            b"Subject: 789\n\nfoo xy\n\nZZZ \xff\xfe x2y\n",
            b"Content-Type: text/html\n\n<b>zzz</b> 1234\n",
            b"\n",
        ];
        same_on_and_off(&on, &off, &msgs);
        let counts = on.rule_counts(&Message::parse(msgs[0]));
        for want in [
            ("G1", 1),
            ("G2", 1),
            ("G3", 4),
            ("G4", 1),
            ("G5", 1),
            ("G6", 1),
        ] {
            assert!(counts.contains(&want), "{want:?} in {counts:?}");
        }
        // The subject's digits alone do not make G4 hit (nosubject).
        let counts = on.rule_counts(&Message::parse(b"Subject: 789\n\nno digits\n"));
        assert!(!counts.iter().any(|(n, _)| *n == "G4"), "{counts:?}");
    }

    #[test]
    fn helper_scans_equal_own() {
        let cf = "body G1 /\\b[a-z]\\d[a-z]\\b/\nbody G2 /(?<![a-z])[xy]{2}(?!q)/i\n\
                  body L1 /cheap\\s+meds/i\nrawbody R1 /<b>/\nrawbody G3 /<[a-z]>/\n\
                  uri U1 /example\\.com/\nfull F1 /^Subject: hi/m\n";
        let r = compile(cf);
        let pf = &r.prefilter;
        assert!(!pf.gates.is_empty());
        let raw = b"Subject: hi\nContent-Type: text/html\n\n<b>Cheap meds</b> a1b xy http://example.com/\n";
        let msg = Message::parse(raw);
        let texts = || helper::Texts {
            body: msg.body_lines_bytes().to_vec(),
            rawbody: msg.rawbody_chunks().to_vec(),
            uris: msg.uris().to_vec(),
            full: msg.pristine().to_vec(),
        };
        // Other tests may hold the helper for a moment.
        let scans = std::sync::Arc::new(helper::Scans::new(pf.gates.len()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let sharing = loop {
            if let Some(s) = helper::share(pf, &scans, texts) {
                break s;
            }
            assert!(std::time::Instant::now() < deadline, "helper never free");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        // The helper fills in everything on its own (nothing here asks).
        while scans.body.get().is_none() {
            assert!(std::time::Instant::now() < deadline, "helper never done");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(sharing);
        fn own(v: &[Vec<u8>]) -> Vec<&[u8]> {
            v.iter().map(Vec::as_slice).collect()
        }
        let (body, rawbody) = (own(msg.body_lines_bytes()), own(msg.rawbody_chunks()));
        let show = |s: Option<&prefilter::Seen>| format!("{s:?}");
        let expect = pf.body.scan(body.iter().copied());
        assert_eq!(show(scans.body.get()), show(Some(&expect)));
        let expect = pf.rawbody.scan(rawbody.iter().copied());
        assert_eq!(show(scans.rawbody.get()), show(Some(&expect)));
        let expect = pf.uri.scan(msg.uris().iter().map(|u| u.as_bytes()));
        assert_eq!(show(scans.uri.get()), show(Some(&expect)));
        let expect = pf.full.scan(std::iter::once(msg.pristine()));
        assert_eq!(show(scans.full.get()), show(Some(&expect)));
        for (g, cell) in scans.gates.iter().enumerate() {
            let g = g as u32;
            let lines = match pf.gates.class(g) {
                gate::Class::Body => &body,
                gate::Class::Rawbody => &rawbody,
            };
            let expect = pf.gates.scan(g, lines.iter().copied());
            assert_eq!(format!("{:?}", cell.get()), format!("{:?}", Some(&expect)));
        }
        // And the scan gives the same hits with the helper as without.
        let mut off = compile(cf);
        off.set_prefilter(false);
        assert_eq!(r.rule_counts(&msg), off.rule_counts(&msg));
        assert_eq!(r.rule_counts(&msg).len(), 7, "{:?}", r.rule_counts(&msg));
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
