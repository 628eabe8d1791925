//! `spamd learn ...` and `sa-learn ...`: SpamAssassin's sa-learn command
//! line over our Bayes store, so cron jobs and scripts keep working.
//!
//! Messages are read and tokenized on every core, then written in
//! transactions of whole messages: an interrupted run leaves each message
//! either learned or not, never half.

use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use clap::{ArgAction, Parser};
use spamcore::bayes::{self, Bayes, BayesOptions, LearnItem, LearnResult, Store, backup, combine};
use spamcore::config::{Config, Sources, default_rules_dir, default_site_dir};
use spamcore::message::{Message, MessageOptions};

/// sa-learn's options, with its names and meanings.
#[derive(Parser, Debug)]
#[command(
    name = "sa-learn",
    about = "Train the Bayes classifier (SpamAssassin sa-learn compatible)",
    disable_version_flag = true
)]
pub struct LearnCli {
    /// Learn the following messages as ham (non-spam).
    #[arg(long)]
    ham: bool,
    /// Learn the following messages as spam.
    #[arg(long)]
    spam: bool,
    /// Forget the following messages.
    #[arg(long)]
    forget: bool,
    /// Use bayes_ignore_from and bayes_ignore_to.
    #[arg(long = "use-ignores")]
    use_ignores: bool,
    /// Apply recorded token touches (the journal) and expire if due.
    #[arg(long)]
    sync: bool,
    /// Force an expiry run.
    #[arg(long = "force-expire", alias = "force-expiry")]
    force_expire: bool,
    /// Where the database is (bayes_path form, or a directory).
    #[arg(long = "dbpath", alias = "db")]
    dbpath: Option<String>,
    /// Display the database: all, data or magic.
    #[arg(long, num_args = 0..=1, default_missing_value = "all")]
    dump: Option<String>,
    /// For --dump: only tokens matching this regular expression.
    #[arg(long = "regexp")]
    regexp: Option<String>,
    /// Read the list of files/directories to learn from this file.
    #[arg(short = 'f', long = "folders")]
    folders: Option<String>,
    /// Ignored; historical compatibility.
    #[arg(long)]
    dir: bool,
    /// Ignored; historical compatibility.
    #[arg(long)]
    file: bool,
    /// Input sources are in mbox format.
    #[arg(long)]
    mbox: bool,
    /// Input sources are in mbx format (read as mbox).
    #[arg(long)]
    mbx: bool,
    /// Skip messages larger than this many bytes (0: no limit).
    #[arg(long = "max-size", default_value_t = 500 * 1024)]
    max_size: usize,
    /// Show progress using dots.
    #[arg(long)]
    showdots: bool,
    /// Show progress using a progress bar.
    #[arg(long)]
    progress: bool,
    /// Skip the sync and expiry check before learning.
    #[arg(long = "no-sync", alias = "nosync")]
    no_sync: bool,
    /// Operate locally (we never use the network for learning).
    #[arg(short = 'L', long)]
    local: bool,
    /// Migrate old databases (not needed: use --backup/--restore).
    #[arg(long)]
    import: bool,
    /// Wipe out the existing database.
    #[arg(long)]
    clear: bool,
    /// Write the database to standard output as backup text.
    #[arg(long)]
    backup: bool,
    /// Replace the database with the backup text in this file.
    #[arg(long)]
    restore: Option<String>,
    /// Whose database (with per-user paths).
    #[arg(short = 'u', long = "username")]
    username: Option<String>,
    /// Path to the standard configuration directory.
    #[arg(short = 'C', long = "configpath", alias = "config-file")]
    configpath: Option<String>,
    /// User preferences file.
    #[arg(short = 'p', long = "prefspath", alias = "prefs-file")]
    prefspath: Option<String>,
    /// Path for site configs.
    #[arg(long = "siteconfigpath")]
    siteconfigpath: Option<String>,
    /// Additional line of configuration.
    #[arg(long = "cf", action = ArgAction::Append)]
    cf: Vec<String>,
    /// Print debugging messages.
    #[arg(short = 'D', long, num_args = 0..=1, default_missing_value = "all")]
    debug: Option<String>,
    /// Print version.
    #[arg(short = 'V', long)]
    version: bool,
    /// Quiet: no summary line.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Files, directories or mbox files ("-" is standard input).
    targets: Vec<String>,
}

/// Entry point: `args` excludes the program name.
pub fn main(program: &str, args: Vec<std::ffi::OsString>) -> ExitCode {
    let mut argv = vec![std::ffi::OsString::from(program)];
    argv.extend(args);
    let cli = match LearnCli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    background_priority();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Learning is batch work that shares the machine with spamd: lower our own
/// CPU priority (nice +10, as cron jobs running sa-learn usually are), so
/// scans keep their throughput while a learn runs and the learn still uses
/// every idle cycle. `SPAMD_LEARN_NICE=0` keeps the normal priority.
fn background_priority() {
    let inc: i32 = std::env::var("SPAMD_LEARN_NICE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    if inc > 0 {
        // SAFETY: nice(2) only changes this process's scheduling weight.
        unsafe {
            libc::nice(inc);
        }
    }
}

fn load_config(cli: &LearnCli) -> Config {
    let rules_dir = cli
        .configpath
        .as_ref()
        .map(PathBuf::from)
        .or_else(default_rules_dir);
    let mut extra = cli.cf.clone();
    if let Some(p) = &cli.dbpath {
        let path = if Path::new(p).is_dir() {
            format!("{}/bayes", p.trim_end_matches('/'))
        } else {
            p.clone()
        };
        extra.push(format!("bayes_path {path}"));
    }
    let sources = Sources {
        embedded: if rules_dir.is_none() {
            crate::engine::EMBEDDED
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect()
        } else {
            Vec::new()
        },
        rules_dir,
        site_dir: cli
            .siteconfigpath
            .as_ref()
            .map(PathBuf::from)
            .or_else(default_site_dir),
        extra_lines: extra,
        local_tests_only: true,
    };
    let mut conf = Config::load(&sources);
    if let Some(p) = &cli.prefspath
        && let Ok(text) = std::fs::read_to_string(p)
    {
        let user = Config::from_text(p, &text);
        conf.settings.extend(user.settings);
        for (k, v) in user.lists {
            conf.lists.entry(k).or_default().extend(v);
        }
    }
    conf
}

fn db_path(cli: &LearnCli, opts: &BayesOptions) -> PathBuf {
    let prefix = opts
        .path
        .clone()
        .unwrap_or_else(|| bayes::DEFAULT_BAYES_PATH.to_string());
    let home = match &cli.username {
        Some(u) => nix::unistd::User::from_name(u)
            .ok()
            .flatten()
            .map(|u| u.dir),
        None => std::env::var_os("HOME").map(PathBuf::from),
    };
    bayes::sqlite_path(&prefix, home.as_deref())
}

fn run(cli: &LearnCli) -> Result<ExitCode, String> {
    if cli.version {
        println!(
            "SpamAssassin version {} (Rust sa-learn {})",
            spamcore::SA_VERSION,
            env!("CARGO_PKG_VERSION")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if cli.showdots && cli.progress {
        println!("--showdots and --progress may not be used together, please select just one");
        return Ok(ExitCode::from(64));
    }
    let conf = load_config(cli);
    let mut opts = BayesOptions::from_config(&conf);
    // Like sa-learn: these work on the database even with use_bayes 0.
    opts.use_bayes = true;
    // As sa-learn: --no-sync, not bayes_learn_to_journal, decides whether
    // learning goes to the journal (a forget always writes directly).
    opts.learn_to_journal = cli.no_sync && !cli.forget;
    let path = db_path(cli, &opts);
    let bayes = Bayes::open(opts, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    let store: &dyn Store = bayes.store.as_ref();
    // As sa-learn's start-up (SpamAssassin's init asks whether Bayes can
    // scan, which syncs a journal that is due): before any other action,
    // --dump included.
    let _ = bayes.maintain(true);

    if cli.clear {
        store.clear().map_err(|e| e.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    if cli.backup {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        backup::write(store, &mut out).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(file) = &cli.restore {
        let f = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
        let st = backup::restore(store, &mut BufReader::new(f), bayes::now())
            .map_err(|e| format!("{file}: {e}"))?;
        if cli.showdots || cli.debug.is_some() {
            eprintln!(
                "restored {} tokens and {} seen messages ({} empty tokens skipped)",
                st.tokens, st.seen, st.skipped
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(what) = &cli.dump {
        // `--dump data REGEX` also works, as with sa-learn.
        let regexp = cli.regexp.clone().or_else(|| cli.targets.first().cloned());
        return dump(store, &bayes, what, regexp.as_deref()).map(|()| ExitCode::SUCCESS);
    }
    if cli.force_expire || cli.sync {
        // As sa-learn: sync and (forced) expiry, then stop; targets given
        // with these options are not learned.
        let (synced, report) = bayes
            .sync_and_expire(cli.force_expire)
            .map_err(|e| e.to_string())?;
        if !cli.quiet {
            print_maintenance(synced, &report);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let class = match (cli.spam, cli.ham, cli.forget) {
        (true, false, false) => Some(true),
        (false, true, false) => Some(false),
        (false, false, true) => None,
        _ => {
            println!("Please select either --spam or --ham or --forget before the first target");
            return Ok(ExitCode::from(64));
        }
    };
    let mut targets = cli.targets.clone();
    if let Some(f) = &cli.folders {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        targets.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if targets.is_empty() {
        println!("sa-learn: no targets given");
        return Ok(ExitCode::from(64));
    }
    // Before learning, as sa-learn does: apply the journal and expire if
    // due (with --no-sync, neither; a forget needs the database current).
    if cli.no_sync && cli.forget {
        eprintln!(
            "sa-learn warning: --forget requires read/write access to the database, and is incompatible with --no-sync"
        );
    }
    if !cli.no_sync || cli.forget {
        bayes.sync_and_expire(false).map_err(|e| e.to_string())?;
    }
    let (learned, examined) = learn(cli, &bayes, &conf.message_options(), &targets, class)?;
    if !cli.quiet {
        let phrase = if class.is_none() { "Forgot" } else { "Learned" };
        println!("{phrase} tokens from {learned} message(s) ({examined} message(s) examined)");
    }
    Ok(ExitCode::SUCCESS)
}

/// sa-learn's verbose report of a sync and an expiry that examined tokens.
fn print_maintenance(synced: Option<bayes::Synced>, r: &bayes::ExpireReport) {
    if let Some(s) = synced {
        println!(
            "bayes: synced databases from journal in {} seconds: {} unique entries ({} total entries)",
            s.seconds, s.unique, s.total
        );
    }
    if r.ran {
        let pc = |n: u64| {
            if r.kept == 0 {
                0.0
            } else {
                n as f64 * 100.0 / r.kept as f64
            }
        };
        println!(
            "expired old bayes database entries in {} seconds",
            r.seconds
        );
        println!("{} entries kept, {} deleted", r.kept, r.deleted);
        println!(
            "token frequency: 1-occurrence tokens: {:3.2}%",
            pc(r.hapaxes)
        );
        println!(
            "token frequency: less than 8 occurrences: {:3.2}%",
            pc(r.lowfreq)
        );
    }
}

/// One source of messages.
enum Source {
    File(PathBuf),
    Mbox(PathBuf),
    Stdin,
}

fn is_mbox(path: &Path) -> bool {
    let mut head = [0u8; 5];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"From "
}

/// Expand targets into message sources: directories are walked (dot files
/// skipped), files are mbox when asked or when they start with "From ".
fn sources(targets: &[String], mbox: bool) -> Vec<Source> {
    let mut out = Vec::new();
    for t in targets {
        if t == "-" {
            out.push(Source::Stdin);
            continue;
        }
        add_source(PathBuf::from(t), mbox, &mut out);
    }
    out
}

fn add_source(p: PathBuf, mbox: bool, out: &mut Vec<Source>) {
    if !p.is_dir() {
        if mbox || is_mbox(&p) {
            out.push(Source::Mbox(p));
        } else {
            out.push(Source::File(p));
        }
        return;
    }
    // As sa-learn walks a directory: entries in the order the file system
    // lists them (not sorted: which of two copies of a message is learned,
    // and which is skipped as already seen, depends on it), names starting
    // with '.' or ',' skipped, files first, then each subdirectory.
    let entries: Vec<PathBuf> = std::fs::read_dir(&p)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    !n.starts_with('.') && !n.starts_with(',')
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|e| e.is_dir());
    for f in files {
        add_source(f, mbox, out);
    }
    for d in dirs {
        add_source(d, mbox, out);
    }
}

/// Split an mbox into messages at "From " lines (">From " stays quoted).
fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        cur.extend_from_slice(line);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A progress bar on standard error: count, rate and a bar.
struct Progress {
    total: usize,
    done: usize,
    start: Instant,
    last: Instant,
    dots: bool,
    bar: bool,
}

impl Progress {
    fn tick(&mut self, n: usize) {
        self.done += n;
        if self.dots {
            eprint!("{}", ".".repeat(n));
        } else if self.bar && (self.last.elapsed().as_millis() > 200 || self.done == self.total) {
            self.last = Instant::now();
            let width = 40;
            let filled = (self.done * width)
                .checked_div(self.total)
                .unwrap_or(0)
                .min(width);
            let secs = self.start.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\r{:>3}% [{}{}] {}/{} {:.0} msgs/sec",
                (self.done * 100).checked_div(self.total).unwrap_or(100),
                "=".repeat(filled),
                " ".repeat(width - filled),
                self.done,
                self.total,
                self.done as f64 / secs
            );
        }
    }

    fn finish(&self) {
        if self.dots || self.bar {
            eprintln!();
        }
    }
}

/// Messages per write transaction: large enough to be fast, small enough
/// that spamd's auto-learning never waits long for the lock.
const BATCH: usize = 100;

fn learn(
    cli: &LearnCli,
    bayes: &Bayes,
    msg_opts: &MessageOptions,
    targets: &[String],
    class: Option<bool>,
) -> Result<(u64, u64), String> {
    let srcs = sources(targets, cli.mbox || cli.mbx);
    // Read everything first so the bar knows the total; mail folders fit.
    let mut raws: Vec<Vec<u8>> = Vec::new();
    for s in &srcs {
        match s {
            Source::File(p) => match std::fs::read(p) {
                Ok(d) => raws.push(d),
                Err(e) => eprintln!("sa-learn: {}: {e}", p.display()),
            },
            Source::Mbox(p) => match std::fs::read(p) {
                Ok(d) => raws.extend(split_mbox(&d)),
                Err(e) => eprintln!("sa-learn: {}: {e}", p.display()),
            },
            Source::Stdin => {
                let mut d = Vec::new();
                if std::io::stdin().lock().read_to_end(&mut d).is_ok() {
                    raws.push(d);
                }
            }
        }
    }
    let examined = raws.len() as u64;
    raws.retain(|r| cli.max_size == 0 || r.len() <= cli.max_size);
    let mut progress = Progress {
        total: raws.len(),
        done: 0,
        start: Instant::now(),
        last: Instant::now(),
        dots: cli.showdots,
        // A bar when asked, or on a terminal for large runs.
        bar: cli.progress || (raws.len() >= 1000 && std::io::stderr().is_terminal()),
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let opts = &bayes.opts;
    let use_ignores = cli.use_ignores;
    let mut learned = 0u64;
    let mut failure: Option<String> = None;
    std::thread::scope(|scope| {
        // Workers tokenize; this thread writes, in input order per batch.
        let (tx, rx) = mpsc::sync_channel::<(usize, Option<LearnItem>)>(BATCH * 2);
        let chunks: Vec<Vec<(usize, &Vec<u8>)>> = {
            let mut c: Vec<Vec<(usize, &Vec<u8>)>> = vec![Vec::new(); threads];
            for (i, r) in raws.iter().enumerate() {
                c[i % threads].push((i, r));
            }
            c
        };
        for chunk in chunks {
            let tx = tx.clone();
            scope.spawn(move || {
                for (i, raw) in chunk {
                    let msg = Message::parse_with(raw, msg_opts);
                    let item = if use_ignores && bayes.is_ignored(&msg) {
                        None
                    } else {
                        Some(Bayes::learn_item(&msg, &opts.tokenizer))
                    };
                    if tx.send((i, item)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut batch: Vec<(LearnItem, Option<bool>)> = Vec::with_capacity(BATCH);
        let mut flush = |batch: &mut Vec<(LearnItem, Option<bool>)>, progress: &mut Progress| {
            if batch.is_empty() || failure.is_some() {
                return;
            }
            match bayes.write(batch) {
                Ok(rs) => {
                    learned += rs
                        .iter()
                        .filter(|r| matches!(r, LearnResult::Learned | LearnResult::Forgotten))
                        .count() as u64;
                }
                Err(e) => failure = Some(e.to_string()),
            }
            progress.tick(batch.len());
            batch.clear();
        };
        // Write in input order whatever order the workers finish in, so a
        // run is reproducible (which of two messages with the same seen id
        // is learned must not depend on thread timing).
        let mut pending: std::collections::BTreeMap<usize, Option<LearnItem>> =
            std::collections::BTreeMap::new();
        let mut next = 0usize;
        for (i, item) in rx {
            pending.insert(i, item);
            while let Some(item) = pending.remove(&next) {
                next += 1;
                match item {
                    Some(it) => batch.push((it, class)),
                    None => progress.tick(1),
                }
                if batch.len() >= BATCH {
                    flush(&mut batch, &mut progress);
                }
            }
        }
        flush(&mut batch, &mut progress);
    });
    progress.finish();
    match failure {
        Some(e) => Err(e),
        None => Ok((learned, examined)),
    }
}

fn dump(store: &dyn Store, bayes: &Bayes, what: &str, regexp: Option<&str>) -> Result<(), String> {
    let (magic, data) = match what {
        "all" => (true, true),
        "magic" => (true, false),
        "data" => (false, true),
        other => return Err(format!("unknown --dump type '{other}': all, data or magic")),
    };
    let m = store.magic().map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let line = |out: &mut dyn Write, p: f64, s: u64, h: u64, a: i64, t: &str| {
        writeln!(out, "{p:.3} {s:>10} {h:>10} {a:>10}  {t}")
    };
    let io = |e: std::io::Error| e.to_string();
    if magic {
        for (v, name) in [
            (3i64, "bayes db version"),
            (m.nspam as i64, "nspam"),
            (m.nham as i64, "nham"),
            (m.ntokens as i64, "ntokens"),
            (m.oldest_atime, "oldest atime"),
            (m.newest_atime, "newest atime"),
            (m.last_journal_sync, "last journal sync atime"),
            (m.last_expire, "last expiry atime"),
            (m.last_expire_atime_delta, "last expire atime delta"),
            (m.last_expire_reduce as i64, "last expire reduction count"),
        ] {
            writeln!(
                out,
                "0.000 {:>10} {v:>10} {:>10}  non-token data: {name}",
                0, 0
            )
            .map_err(io)?;
        }
    }
    if data {
        let re = match regexp {
            Some(r) => Some(
                regex::bytes::Regex::new(r)
                    .map_err(|e| format!("Invalid dump_tokens regex '{r}': {e}"))?,
            ),
            None => None,
        };
        let mut err = None;
        store
            .for_each_token(&mut |k, t, text| {
                let shown = match text {
                    Some(tx) => String::from_utf8_lossy(tx).into_owned(),
                    None => backup::hex(&k),
                };
                if let Some(re) = &re
                    && !re.is_match(shown.as_bytes())
                {
                    return;
                }
                let p = combine::token_prob(t.spam, t.ham, m.nspam, m.nham, bayes.opts.use_hapaxes)
                    .unwrap_or(0.5);
                if err.is_none()
                    && let Err(e) = line(&mut out, p, t.spam, t.ham, t.atime, &shown)
                {
                    err = Some(e);
                }
            })
            .map_err(|e| e.to_string())?;
        if let Some(e) = err {
            return Err(e.to_string());
        }
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_in_listing_order_files_first() {
        // sa-learn takes a folder's messages as the file system lists
        // them (which of two copies of a message is learned depends on it),
        // skips names starting with '.' or ',', and enters subfolders last.
        let dir = std::env::temp_dir().join(format!("learn-order-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("0sub")).unwrap();
        for n in ["m3", "m1", "m2", ".hidden", ",deleted", "0sub/inner"] {
            std::fs::write(dir.join(n), b"Subject: x\n\nbody\n").unwrap();
        }
        let listed: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(['.', ','])
            })
            .collect();
        let got: Vec<PathBuf> = sources(&[dir.display().to_string()], false)
            .into_iter()
            .map(|s| match s {
                Source::File(p) => p,
                _ => PathBuf::new(),
            })
            .collect();
        let mut want = listed;
        want.push(dir.join("0sub/inner"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn mbox_split() {
        let m = split_mbox(b"From a\nSubject: 1\n\nx\n>From b\nFrom c\nSubject: 2\n\ny\n");
        assert_eq!(m.len(), 2);
        assert!(m[0].ends_with(b">From b\n"));
    }

    #[test]
    fn sa_learn_flags() {
        let c = LearnCli::try_parse_from(["sa-learn", "--spam", "--dbpath", "/tmp/x", "a", "b"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.spam);
        assert_eq!(c.targets, ["a", "b"]);
        let c = LearnCli::try_parse_from(["sa-learn", "--dump", "magic"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.dump.as_deref(), Some("magic"));
    }
}
