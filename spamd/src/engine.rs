//! The loaded rule set and the work done per request: parse, scan, render.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use spamcore::bayes::{self, Bayes, BayesOptions};

use spamcore::config::{Config, Diagnostic, Sources, default_rules_dir, default_site_dir};
use spamcore::message::{Message, MessageOptions};
use spamcore::protocol::{Command, SpamHeader};
use spamcore::report::{self, TagContext};
use spamcore::rules::{CompileOptions, CompiledRules};
use spamcore::scan::{self, Verdict, format_required, format_score};

use crate::cli::Cli;
use crate::users::{self, Identity, UserSettings};

/// The project's own default configuration and rules, used when the machine
/// has no SpamAssassin rules directory.
pub use spamcore::config::embedded::FILES as EMBEDDED;

/// Where the Bayes databases are and the ones opened so far.
pub struct BayesSource {
    pub opts: BayesOptions,
    open: Mutex<HashMap<PathBuf, Bayes>>,
}

impl BayesSource {
    /// Build from the loaded configuration.
    pub fn new(opts: BayesOptions) -> BayesSource {
        BayesSource {
            opts,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The database file for the request's user (None when Bayes is off):
    /// `bayes_path` with `~/` as the user's home and `__userstate__` as the
    /// user's state directory; by default `bayes` in the state directory
    /// (`~/.spamassassin`), or in the daemon's `$HOME` when the request has
    /// no user of its own.
    pub fn path_for(&self, id: &Identity) -> Option<PathBuf> {
        if !self.opts.use_bayes {
            return None;
        }
        // One database for every user and host, as SpamAssassin's Redis
        // store has.
        if Bayes::uses_redis(&self.opts) {
            return Some(PathBuf::from(format!("redis:{}", self.opts.sql_dsn)));
        }
        let home = id
            .home
            .clone()
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from));
        let prefix = match (&self.opts.path, &id.state_dir) {
            (Some(p), Some(st)) if p.starts_with("__userstate__/") => {
                st.join(&p["__userstate__/".len()..]).display().to_string()
            }
            (Some(p), _) => p.clone(),
            (None, Some(st)) => st.join("bayes").display().to_string(),
            (None, None) => bayes::DEFAULT_BAYES_PATH.to_string(),
        };
        Some(bayes::sqlite_path(&prefix, home.as_deref()))
    }

    /// The database for the request's user, opened on first use (with the
    /// rights in force on the calling thread). Err is a log line: the scan
    /// goes on without Bayes and the next one tries again.
    pub fn get(&self, id: &Identity) -> Result<Option<Bayes>, String> {
        let Some(path) = self.path_for(id) else {
            return Ok(None);
        };
        if let Ok(open) = self.open.lock()
            && let Some(b) = open.get(&path)
        {
            return Ok(Some(b.clone()));
        }
        if !Bayes::uses_redis(&self.opts)
            && let (Some(st), Some(dir)) = (&id.state_dir, path.parent())
            && dir == st.as_path()
        {
            users::make_state_dir(st)
                .map_err(|e| format!("bayes: cannot create {}: {e}", st.display()))?;
        }
        let b = Bayes::open(self.opts.clone(), &path)
            .map_err(|e| format!("bayes: cannot open {}: {e}", path.display()))?;
        if let Ok(mut open) = self.open.lock() {
            open.insert(path, b.clone());
        }
        Ok(Some(b))
    }
}

/// A user's rules: the site rules with that user's `user_prefs` on top.
pub struct UserRules {
    pub rules: CompiledRules,
    pub rules_bayes: Option<CompiledRules>,
    pub message_options: MessageOptions,
}

/// What the cache keeps per `user_prefs` file: the file's identity when it
/// was read, and what it gave.
struct CachedPrefs {
    stamp: (i64, i64, u64, u64),
    rules: Arc<UserRules>,
    /// When it was last used (a counter): the least recently used entry
    /// goes first when the cache is full.
    used: u64,
}

/// Users whose preferences stay compiled. A user's rule set shares the
/// site's compiled rules and most of its configuration, but still takes
/// about 1.5 MB (scores, settings, lookup tables): the cache is
/// bounded so memory does not grow with the number of users. A user
/// pushed out is read again at their next message, as SpamAssassin's
/// spamd reads user_prefs for every message.
const USER_PREFS_CACHED: usize = 64;

/// The user-preferences cache: entries and the use counter.
#[derive(Default)]
struct PrefsCache {
    entries: HashMap<PathBuf, CachedPrefs>,
    tick: u64,
}

impl PrefsCache {
    fn get(&mut self, path: &Path, stamp: (i64, i64, u64, u64)) -> Option<Arc<UserRules>> {
        self.tick += 1;
        let tick = self.tick;
        let c = self.entries.get_mut(path).filter(|c| c.stamp == stamp)?;
        c.used = tick;
        Some(c.rules.clone())
    }

    fn insert(&mut self, path: PathBuf, stamp: (i64, i64, u64, u64), rules: Arc<UserRules>) {
        if !self.entries.contains_key(&path)
            && self.entries.len() >= USER_PREFS_CACHED
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(p, _)| p.clone())
        {
            self.entries.remove(&oldest);
        }
        self.tick += 1;
        let used = self.tick;
        self.entries
            .insert(path, CachedPrefs { stamp, rules, used });
    }
}

/// Who a request ran as, and what to log about it.
pub struct Who {
    pub id: Identity,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// What one request scans with.
pub struct Session<'a> {
    pub rules: &'a CompiledRules,
    pub rules_bayes: Option<&'a CompiledRules>,
    pub message_options: &'a MessageOptions,
    pub bayes: Option<Bayes>,
    pub id: Identity,
    /// Lines to log at info level (user look-up, prefs read).
    pub notes: Vec<String>,
    /// Problems to log as warnings.
    pub warnings: Vec<String>,
}

/// Everything a scan needs, immutable once built; swapped whole on reload.
pub struct Engine {
    pub rules: CompiledRules,
    /// The same rules under the Bayes score set (2/3), used once the
    /// database is usable. Compiled at load because scores and the set of
    /// rules that run are fixed at compile time.
    pub rules_bayes: Option<CompiledRules>,
    pub bayes: BayesSource,
    /// How requests map to users and their preferences.
    pub users: UserSettings,
    user_prefs: Mutex<PrefsCache>,
    /// Trust settings etc. the message parser needs, derived once.
    pub message_options: MessageOptions,
    pub hostname: String,
    /// Where the rules came from, for the start-up log line.
    pub origin: String,
    /// Network tests on (not `-L`), for compiling user rules.
    net: bool,
    /// SPF/DKIM/DMARC checks; None with `-L`, `dns_available no` or `--lint`.
    pub auth: Option<spamcore::auth::Checker>,
}

/// What one scanning request produced.
pub struct Outcome {
    pub verdict: Verdict,
    pub spam: SpamHeader,
    pub body: Vec<u8>,
    pub msgid: Option<String>,
    pub rmsgid: Option<String>,
    /// Problems to log (Bayes database locked or corrupt ...).
    pub warnings: Vec<String>,
    /// Lines to log at info level (the user, their preferences).
    pub notes: Vec<String>,
    /// The user the scan ran as, and its uid, for the log lines.
    pub user: String,
    pub uid: u32,
}

/// Decide where configuration comes from, as SpamAssassin does: `-C` or the
/// first existing rules directory; `--siteconfigpath` or /etc/spamassassin.
/// With no rules directory at all, our embedded rules.
pub fn sources(cli: &Cli) -> Sources {
    let rules_dir = match &cli.configpath {
        Some(p) => Some(PathBuf::from(p)),
        None => default_rules_dir(),
    };
    let site_dir = match &cli.siteconfigpath {
        Some(p) => Some(PathBuf::from(p)),
        None => default_site_dir(),
    };
    let mut extra = cli.pre.clone();
    extra.extend(cli.cf.iter().cloned());
    Sources {
        embedded: if rules_dir.is_none() {
            EMBEDDED
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect()
        } else {
            Vec::new()
        },
        rules_dir,
        site_dir,
        extra_lines: extra,
        local_tests_only: cli.local,
    }
}

impl Engine {
    /// Load and compile. Returns the engine and every diagnostic.
    pub fn load(cli: &Cli) -> (Engine, Vec<Diagnostic>) {
        let src = sources(cli);
        let origin = match &src.rules_dir {
            Some(d) => d.display().to_string(),
            None => "embedded default rules".to_string(),
        };
        let mut config = Config::load(&src);
        let mut diags = std::mem::take(&mut config.diagnostics);
        let opts = CompileOptions {
            net: !cli.local,
            bayes: false,
        };
        let bayes_opts = BayesOptions::from_config(&config);
        let message_options = config.message_options();
        let auth = if cli.local || cli.lint {
            None
        } else {
            match spamcore::auth::Checker::from_config(&config) {
                Ok(c) => c,
                Err(e) => {
                    diags.push(Diagnostic {
                        file: "spamd".into(),
                        line: 0,
                        message: format!("{e}; SPF, DKIM and DMARC tests are off"),
                    });
                    None
                }
            }
        };
        let (rules, more) = CompiledRules::compile(config, opts);
        diags.extend(more);
        let rules_bayes = (bayes_opts.use_bayes && !cli.lint).then(|| {
            rules.for_score_set(CompileOptions {
                bayes: true,
                ..opts
            })
        });
        (
            Engine {
                rules,
                rules_bayes,
                bayes: BayesSource::new(bayes_opts),
                users: UserSettings::from_cli(cli),
                user_prefs: Mutex::new(PrefsCache::default()),
                message_options,
                hostname: hostname(),
                origin,
                net: !cli.local,
                auth,
            },
            diags,
        )
    }

    /// Run `f` as the request's user: that user's file-system rights on
    /// this thread (when spamd runs as root), preferences and Bayes
    /// database. The rights are given back before this returns.
    pub fn with_user<R>(
        &self,
        user: Option<&str>,
        f: impl FnOnce(&mut Session<'_>) -> R,
    ) -> Result<(R, Who), String> {
        let id = users::resolve(&self.users, user)?;
        let guard = match &id.creds {
            Some(c) => Some(c.assume()?),
            None => None,
        };
        let mut notes = id.notes.clone();
        let mut warnings = Vec::new();
        if let Some(prefs) = &id.prefs
            && self.users.create_prefs
        {
            notes.extend(users::create_prefs(&self.users, prefs));
        }
        let user_rules = id
            .prefs
            .as_deref()
            .and_then(|p| self.user_rules(p, &id.name, &mut notes, &mut warnings));
        let bayes = self.bayes.get(&id).unwrap_or_else(|e| {
            warnings.push(e);
            None
        });
        let (rules, rules_bayes, message_options) = match &user_rules {
            Some(u) => (&u.rules, u.rules_bayes.as_ref(), &u.message_options),
            None => (
                &self.rules,
                self.rules_bayes.as_ref(),
                &self.message_options,
            ),
        };
        let mut session = Session {
            rules,
            rules_bayes,
            message_options,
            bayes,
            id,
            notes,
            warnings,
        };
        let r = f(&mut session);
        drop(guard);
        Ok((
            r,
            Who {
                id: session.id,
                notes: session.notes,
                warnings: session.warnings,
            },
        ))
    }

    /// The rules for a user whose preferences are in `prefs`: None when the
    /// file is absent or unreadable (the site rules apply). Read and
    /// compiled once per file and kept until the file changes.
    fn user_rules(
        &self,
        prefs: &Path,
        user: &str,
        notes: &mut Vec<String>,
        warnings: &mut Vec<String>,
    ) -> Option<Arc<UserRules>> {
        use std::os::unix::fs::MetadataExt;
        let meta = match std::fs::metadata(prefs) {
            Ok(m) => m,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warnings.push(format!(
                        "config: cannot read user preferences {} for {user}: {e}",
                        prefs.display()
                    ));
                }
                return None;
            }
        };
        let stamp = (meta.mtime(), meta.mtime_nsec(), meta.size(), meta.ino());
        if let Ok(mut cache) = self.user_prefs.lock()
            && let Some(rules) = cache.get(prefs, stamp)
        {
            return Some(rules);
        }
        // Readable by the user? (The open is checked with the user's rights.)
        if let Err(e) = std::fs::File::open(prefs) {
            warnings.push(format!(
                "config: cannot read user preferences {} for {user}: {e}",
                prefs.display()
            ));
            return None;
        }
        let mut config = self.rules.config.clone();
        let site_files: std::collections::HashSet<String> = config.files.iter().cloned().collect();
        let read = config.read_user_prefs(prefs);
        notes.extend(read.refused.iter().cloned());
        let mut diags = std::mem::take(&mut config.diagnostics);
        let message_options = config.message_options();
        let rules = if read.rules_changed {
            let (rules, more) = self.rules.compile_reusing(config, self.compile_options());
            diags.extend(more);
            rules
        } else {
            self.rules.with_config(config)
        };
        for d in diags
            .iter()
            .filter(|d| !d.file.is_empty() && !site_files.contains(&d.file))
        {
            warnings.push(format!(
                "config: user_prefs of {user}: {d} (only {user}'s scans are affected)"
            ));
        }
        let rules_bayes = self.rules_bayes.as_ref().map(|_| {
            rules.for_score_set(CompileOptions {
                bayes: true,
                ..self.compile_options()
            })
        });
        let user_rules = Arc::new(UserRules {
            rules,
            rules_bayes,
            message_options,
        });
        notes.push(format!(
            "spamd: read user preferences {} for {user}{}",
            prefs.display(),
            if read.rules_changed {
                " (with user rules)"
            } else {
                ""
            }
        ));
        if let Ok(mut cache) = self.user_prefs.lock() {
            cache.insert(prefs.to_path_buf(), stamp, user_rules.clone());
        }
        Some(user_rules)
    }

    fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            net: self.net,
            bayes: false,
        }
    }

    /// Scan `raw` and render the reply body for `command`.
    pub fn process(
        self: &Arc<Self>,
        command: Command,
        raw: &[u8],
        remote_hostname: &str,
        remote_addr: &str,
        user: Option<&str>,
    ) -> Result<Outcome, String> {
        let (out, session) = self.with_user(user, |s| {
            self.scan_in(s, command, raw, remote_hostname, remote_addr)
        })?;
        let mut out = out;
        out.notes = session.notes;
        out.warnings.splice(0..0, session.warnings);
        out.user = session.id.name;
        out.uid = session.id.uid;
        Ok(out)
    }

    fn scan_in(
        &self,
        s: &mut Session<'_>,
        command: Command,
        raw: &[u8],
        remote_hostname: &str,
        remote_addr: &str,
    ) -> Outcome {
        let msg = Message::parse_with(raw, s.message_options);
        // SPF/DKIM/DMARC lookups start now and overlap with the rules.
        if let Some(a) = &self.auth {
            a.launch(&msg);
        }
        let mut warnings = Vec::new();
        let (verdict, notes) =
            scan::scan_with_bayes(s.rules, s.rules_bayes, &msg, s.bayes.as_ref());
        warnings.extend(notes.warnings);
        if let Some(st) = spamcore::dns::take_scan_stats() {
            log_dns(&st);
        }
        let spam = SpamHeader {
            is_spam: verdict.is_spam,
            score: format_score(verdict.score, verdict.required, verdict.is_spam),
            threshold: format_required(verdict.required),
        };
        let header = |name: &str| msg.header(name).unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let rewriting = matches!(command, Command::Process | Command::Headers);
        let ctx = TagContext {
            hostname: self.hostname.clone(),
            // spamd sets these tags only for PROCESS and HEADERS.
            remote_hostname: rewriting.then(|| remote_hostname.to_string()),
            remote_hostaddr: rewriting.then(|| remote_addr.to_string()),
            body_lines: msg.body_lines(),
            header: Some(&header),
            date: report::rfc2822_date(now.as_secs() as i64, local_offset_minutes(now.as_secs())),
            time: now.as_secs(),
            random: boundary_random(now),
            ..Default::default()
        };
        let conf = &s.rules.config.report;
        let body = match command {
            Command::Process => report::rewrite_mail(raw, &verdict, conf, &ctx),
            Command::Headers => {
                report::headers_only(&report::rewrite_mail(raw, &verdict, conf, &ctx)).to_vec()
            }
            Command::Report | Command::ReportIfSpam => {
                report::report_text(&verdict, conf, &ctx).into_bytes()
            }
            Command::Symbols => report::symbols(&verdict).into_bytes(),
            _ => Vec::new(),
        };
        let (msgid, rmsgid) = msg.log_msgids();
        Outcome {
            verdict,
            spam,
            body,
            msgid,
            rmsgid,
            warnings,
            notes: Vec::new(),
            user: String::new(),
            uid: 0,
        }
    }
}

/// The local time zone's offset from UTC at `unix`, in minutes.
fn local_offset_minutes(unix: u64) -> i32 {
    let t = unix as libc::time_t;
    // SAFETY: localtime_r fills the tm we own; a zeroed tm is valid input.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&t, &mut tm) };
    (tm.tm_gmtoff / 60) as i32
}

/// The random half of a report_safe MIME boundary: it only has to differ
/// between messages, not be secret.
fn boundary_random(now: std::time::Duration) -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut x = u64::from(now.subsec_nanos())
        ^ (u64::from(std::process::id()) << 32)
        ^ u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x as u32
}

/// The machine's name, as `_HOSTNAME_` uses it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// One line per scan with DNS tests: how many lookups, how long the
/// harvest took, and why lookups failed when they did.
fn log_dns(st: &spamcore::dns::ScanStats) {
    let secs = st.elapsed.as_secs_f64();
    // Unanswered lookups, or no lookup answered at all, are worth a warning;
    // a few error answers (REFUSED, SERVFAIL) are not.
    let answered = st.queries - st.timed_out - st.failed;
    if st.timed_out > 0 || (st.problem.is_some() && answered == 0) {
        crate::log::warning!(
            "spamd: dns: {} lookups in {secs:.3} s, {} timed out, {} failed{}",
            st.queries,
            st.timed_out,
            st.failed,
            st.problem
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        );
    } else {
        crate::log::info!("spamd: dns: {} lookups in {secs:.3} s", st.queries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_load_clean() {
        let sources = Sources {
            embedded: EMBEDDED
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            ..Default::default()
        };
        let mut config = Config::load(&sources);
        assert!(config.diagnostics.is_empty(), "{:?}", config.diagnostics);
        config.diagnostics.clear();
        let (rules, diags) = CompiledRules::compile(config, CompileOptions::default());
        assert!(diags.is_empty(), "{diags:?}");
        assert!(rules.len() > 20);
    }

    #[test]
    fn user_prefs_cache_is_bounded_and_keeps_the_recently_used() {
        let (rules, _) = CompiledRules::compile(
            Config::from_text("t", "body T_X /x/\n"),
            CompileOptions::default(),
        );
        let user = Arc::new(UserRules {
            rules,
            rules_bayes: None,
            message_options: MessageOptions::default(),
        });
        let stamp = (1, 2, 3, 4);
        let path = |n: usize| PathBuf::from(format!("/home/u{n}/.spamassassin/user_prefs"));
        let mut cache = PrefsCache::default();
        for n in 0..USER_PREFS_CACHED {
            cache.insert(path(n), stamp, user.clone());
        }
        // User 0 reads again: user 1 is now the least recently used.
        assert!(cache.get(&path(0), stamp).is_some());
        // A changed file is not served from the cache.
        assert!(cache.get(&path(2), (9, 9, 9, 9)).is_none());
        cache.insert(path(USER_PREFS_CACHED), stamp, user.clone());
        assert_eq!(cache.entries.len(), USER_PREFS_CACHED);
        assert!(cache.get(&path(1), stamp).is_none());
        assert!(cache.get(&path(0), stamp).is_some());
        assert!(cache.get(&path(USER_PREFS_CACHED), stamp).is_some());
    }
}
