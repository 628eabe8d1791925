//! Bayes: SpamAssassin 4.0.1's tokenizer, probability combination and
//! learning rules over a `Store` (SQLite by default).
//!
//! A SpamAssassin database imports through `sa-learn --backup` text
//! (`backup`), since keys are the same (`tokenizer::key`) and so are the
//! probabilities computed from them (`combine`).

pub mod backup;
pub mod cjk;
pub mod combine;
pub mod expire;
pub mod options;
pub mod redis;
pub mod resp;
pub mod sqlite;
pub mod store;
pub mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha1::{Digest, Sha1};

pub use expire::{ExpirePolicy, ExpireReport};
pub use options::{BayesOptions, TokenizerOptions};
pub use store::{LearnItem, LearnResult, Magic, Store, StoreError, TokenCounts};
pub use tokenizer::Key;

use crate::message::{Instances, Message};

/// A Bayes database with the options it is used under.
#[derive(Clone)]
pub struct Bayes {
    pub store: Arc<dyn Store>,
    pub opts: Arc<BayesOptions>,
}

/// The outcome of classifying one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Spam probability, 0..=1.
    pub prob: f64,
    pub nspam: u64,
    pub nham: u64,
    /// Distinct tokens in the message, and how many the database knew.
    pub tokens: usize,
    pub learned: usize,
}

/// The SQLite file for a `bayes_path` prefix (SpamAssassin's DBM files are
/// `<prefix>_toks` and `<prefix>_seen`; ours is one file beside them).
pub fn sqlite_path(prefix: &str, home: Option<&Path>) -> PathBuf {
    let expanded = match (prefix.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(prefix),
    };
    let mut s = expanded.into_os_string();
    s.push(".sqlite");
    PathBuf::from(s)
}

/// What a journal sync applied (for sa-learn's report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Distinct tokens touched, and journal lines read.
    pub unique: u64,
    pub total: u64,
    pub seconds: u64,
}

/// SpamAssassin's default `bayes_path`.
pub const DEFAULT_BAYES_PATH: &str = "~/.spamassassin/bayes";

impl Bayes {
    /// Open the store the configuration selects: SpamAssassin's Redis
    /// store layout when `bayes_store_module` names it (on the server in
    /// `bayes_sql_dsn`, connected on first use), else SQLite at `sqlite`.
    pub fn open(opts: BayesOptions, sqlite: &Path) -> Result<Bayes, StoreError> {
        if !redis::is_redis_module(&opts.store_module) {
            return Self::open_sqlite(sqlite, opts);
        }
        let dsn = redis::Dsn::parse(&opts.sql_dsn).map_err(StoreError::Db)?;
        let ttl = |t: i64| (opts.auto_expire && t > 0).then_some(t);
        let ttls = redis::Ttls {
            token: ttl(opts.token_ttl),
            seen: ttl(opts.seen_ttl),
        };
        let store = redis::RedisStore::new(dsn, opts.redis_timeout, ttls);
        Ok(Bayes {
            store: Arc::new(store),
            opts: Arc::new(opts),
        })
    }

    /// Whether the configuration selects the shared Redis store.
    pub fn uses_redis(opts: &BayesOptions) -> bool {
        redis::is_redis_module(&opts.store_module)
    }

    /// Open the SQLite store at `path`.
    pub fn open_sqlite(path: &Path, opts: BayesOptions) -> Result<Bayes, StoreError> {
        Ok(Bayes {
            store: Arc::new(sqlite::SqliteStore::open(path)?),
            opts: Arc::new(opts),
        })
    }

    /// Whether enough spam and ham were learned for Bayes to answer
    /// (`bayes_min_spam_num` / `bayes_min_ham_num`).
    pub fn is_usable(&self) -> Result<bool, StoreError> {
        if !self.opts.use_bayes || !self.opts.use_learner {
            return Ok(false);
        }
        let (ns, nh) = self.store.nspam_nham()?;
        Ok(ns >= self.opts.min_spam_num && nh >= self.opts.min_ham_num)
    }

    /// Classify `msg`. Ok(None) when Bayes cannot answer (not enough
    /// learned, no known token, message ignored by bayes_ignore_from/to).
    pub fn classify(&self, msg: &Message) -> Result<Option<Classification>, StoreError> {
        if !self.opts.use_bayes || !self.opts.use_learner {
            return Ok(None);
        }
        // As SpamAssassin: a due journal sync before reading the counts,
        // a due expiry (or sync) after the scan, whatever it found.
        let _ = self.maintain(true);
        let (ns, nh) = self.store.nspam_nham()?;
        if ns < self.opts.min_spam_num || nh < self.opts.min_ham_num {
            return Ok(None);
        }
        let r = self.classify_now(msg, ns, nh);
        let _ = self.maintain(false);
        // The touches reach the journal after the opportunistic sync and
        // expiry, as SpamAssassin writes its journal (`cleanup`) only
        // after them: this scan's touches do not save tokens from the
        // expiry the scan itself starts.
        match r {
            Ok(Some((c, used, atime))) => {
                // Useful tokens stay young; a busy writer just means no touch.
                let _ = self.store.touch(&used, atime);
                Ok(Some(c))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The classification proper, once the counts say Bayes is usable: one
    /// read of the message's tokens (one round trip on a network store).
    fn classify_now(
        &self,
        msg: &Message,
        ns: u64,
        nh: u64,
    ) -> Result<Option<(Classification, Vec<Key>, i64)>, StoreError> {
        if self.ignored(msg) {
            return Ok(None);
        }
        let toks = tokenizer::tokenize(msg, &self.opts.tokenizer);
        // In key order: equally strong tokens at the cut to the 150 most
        // significant are then chosen the same way in every scan and every
        // run (Perl's hash order, which decides this in SpamAssassin, is
        // also the same for every message of a process).
        let mut keys: Vec<Key> = toks.keys().copied().collect();
        keys.sort_unstable();
        let counts = self.store.tokens(&keys)?;
        let mut probs = Vec::new();
        let mut learned = 0;
        for (i, c) in counts.iter().enumerate() {
            let Some(c) = c else { continue };
            if let Some(p) = combine::token_prob(c.spam, c.ham, ns, nh, self.opts.use_hapaxes) {
                learned += 1;
                probs.push((i, p));
            }
        }
        if probs.is_empty() {
            return Ok(None);
        }
        let sig = combine::significant(probs);
        let values: Vec<f64> = sig.iter().map(|(_, p)| *p).collect();
        let Some(prob) = combine::combine(ns, nh, &values) else {
            return Ok(None);
        };
        let used: Vec<Key> = sig.iter().map(|(i, _)| keys[*i]).collect();
        let now = now();
        let atime = receive_date(msg).map_or(now, |t| t.min(now));
        Ok(Some((
            Classification {
                prob,
                nspam: ns,
                nham: nh,
                tokens: keys.len(),
                learned,
            },
            used,
            atime,
        )))
    }

    /// The expiry settings, with `--force-expire` or not.
    pub fn expire_policy(&self, force: bool) -> ExpirePolicy {
        ExpirePolicy {
            force,
            auto_expire: self.opts.auto_expire,
            max_db_size: self.opts.expiry_max_db_size,
            ..ExpirePolicy::default()
        }
    }

    /// Apply recorded touches, then expire if due (or `force`): what
    /// sa-learn does before learning, and `--sync` / `--force-expire`.
    /// Returns what the sync applied (distinct tokens, journal lines), and
    /// what the expiry did.
    pub fn sync_and_expire(
        &self,
        force: bool,
    ) -> Result<(Option<Synced>, ExpireReport), StoreError> {
        let now = now();
        let started = std::time::Instant::now();
        let synced = self.store.sync(now)?.map(|(unique, total)| Synced {
            unique,
            total,
            seconds: started.elapsed().as_secs(),
        });
        let started = std::time::Instant::now();
        let mut report = self.store.expire(&self.expire_policy(force), now)?;
        report.seconds = started.elapsed().as_secs();
        Ok((synced, report))
    }

    /// SpamAssassin's opportunistic calls around a scan: unless an expiry
    /// gave up in the last five minutes, expire when due (not when
    /// `journal_only`), else sync the touches when their journal is due.
    pub fn maintain(&self, journal_only: bool) -> Result<(), StoreError> {
        if !self.store.keeps_atimes() {
            return Ok(());
        }
        let now = now();
        let m = self.store.magic()?;
        if m.running_expire + expire::RUNNING_VALID > now {
            return Ok(());
        }
        if !journal_only && expire::due(&self.expire_policy(false), &m, now) {
            self.sync_and_expire(false)?;
        } else if self.store.sync_due(self.opts.journal_max_size, now)? {
            self.store.sync(now)?;
        }
        Ok(())
    }

    /// `bayes_ignore_from` / `bayes_ignore_to`.
    pub fn is_ignored(&self, msg: &Message) -> bool {
        self.ignored(msg)
    }

    fn ignored(&self, msg: &Message) -> bool {
        let glob = |list: &[String], addrs: &[String]| {
            addrs
                .iter()
                .any(|a| list.iter().any(|g| glob_matches(g, a)))
        };
        if !self.opts.ignore_from.is_empty() && glob(&self.opts.ignore_from, msg.from_addrs()) {
            return true;
        }
        if !self.opts.ignore_to.is_empty() {
            let mut to = msg.header_addrs("To");
            to.extend(msg.header_addrs("Cc"));
            if glob(&self.opts.ignore_to, &to) {
                return true;
            }
        }
        false
    }

    /// What learning `msg` writes: its ids, token keys and atime. Pure CPU
    /// work, so callers can prepare many in parallel.
    pub fn learn_item(msg: &Message, opts: &TokenizerOptions) -> LearnItem {
        let toks = tokenizer::tokenize(msg, opts);
        let mut keys = Vec::with_capacity(toks.len());
        let mut texts = Vec::with_capacity(toks.len());
        for (k, t) in toks {
            keys.push(k);
            texts.push(t);
        }
        let mut msgids = vec![generated_msgid(msg)];
        msgids.extend(header_msgid(msg));
        let now = now();
        let atime = receive_date(msg).unwrap_or(now);
        // A date more than a day ahead is wrong; use now.
        let atime = if atime - now > 86400 { now } else { atime };
        LearnItem {
            msgids,
            keys,
            texts,
            atime,
            no_relearn: false,
        }
    }

    /// Learn `msg` as spam or ham.
    pub fn learn(&self, msg: &Message, is_spam: bool) -> Result<LearnResult, StoreError> {
        let item = Self::learn_item(msg, &self.opts.tokenizer);
        let r = self.write(&[(item, Some(is_spam))])?;
        Ok(r.first().copied().unwrap_or(LearnResult::NotLearned))
    }

    /// Learn or forget a batch: into the journal under
    /// `bayes_learn_to_journal`, else straight into the counts.
    pub fn write(
        &self,
        items: &[(LearnItem, Option<bool>)],
    ) -> Result<Vec<LearnResult>, StoreError> {
        if self.opts.learn_to_journal {
            self.store.learn_batch_journal(items)
        } else {
            self.store.learn_batch(items)
        }
    }

    /// Forget `msg` if it was learned.
    pub fn forget(&self, msg: &Message) -> Result<LearnResult, StoreError> {
        let item = Self::learn_item(msg, &self.opts.tokenizer);
        let r = self.write(&[(item, None)])?;
        Ok(r.first().copied().unwrap_or(LearnResult::NotLearned))
    }
}

/// An address glob (`*@example.com`, `?ob@x.org`), case-insensitive.
fn glob_matches(glob: &str, addr: &str) -> bool {
    fn rec(g: &[u8], a: &[u8]) -> bool {
        match (g.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&g[1..], a) || (!a.is_empty() && rec(g, &a[1..])),
            (Some(b'?'), Some(_)) => rec(&g[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => rec(&g[1..], &a[1..]),
            _ => false,
        }
    }
    rec(glob.as_bytes(), addr.as_bytes())
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn sha1_hex(data: &[u8]) -> String {
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SpamAssassin's generated message id for the seen database:
/// SHA-1 of To, Date and the pristine body's SHA-1, `@sa_generated`.
pub fn generated_msgid(msg: &Message) -> String {
    let to = msg
        .header_instances("To", Instances::Last)
        .unwrap_or_default();
    let date = msg
        .header_instances("Date", Instances::Last)
        .unwrap_or_default();
    let raw = msg.raw();
    let body = &raw[msg.body_offset().min(raw.len())..];
    let header_crlf = raw[..msg.body_offset().min(raw.len())]
        .windows(2)
        .any(|w| w == b"\r\n");
    let digest = if header_crlf {
        let mut v = Vec::with_capacity(body.len());
        let mut i = 0;
        while i < body.len() {
            if body[i] == b'\r' && body.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            v.push(body[i]);
            i += 1;
        }
        sha1_hex(&v)
    } else {
        sha1_hex(body)
    };
    let mut data = to.into_bytes();
    data.push(0);
    data.extend_from_slice(date.as_bytes());
    data.push(0);
    data.extend_from_slice(digest.as_bytes());
    format!("{}@sa_generated", sha1_hex(&data))
}

/// The message's own Message-Id, without angle brackets.
pub fn header_msgid(msg: &Message) -> Option<String> {
    let v = msg.header_instances("Message-Id", Instances::Last)?;
    let t = v.trim();
    let inner = t.strip_prefix('<')?.strip_suffix('>')?;
    (!inner.is_empty()).then(|| inner.to_string())
}

/// When the message was received, as SpamAssassin's `receive_date` reads
/// it: the newest Received header's date (one added by a local qmail, a
/// localhost relay or fetchmail is passed over), then the mbox From line,
/// the other Received headers, Resent-Date, Date.
pub fn receive_date(msg: &Message) -> Option<i64> {
    use crate::message::date::parse_rfc822_date;
    let first_date = |items: &[Vec<u8>]| {
        items
            .iter()
            .find_map(|s| parse_rfc822_date(s).filter(|&t| t != 0))
    };
    let unfold = |v: &[u8]| -> Vec<u8> {
        let mut out = Vec::with_capacity(v.len());
        let mut i = 0;
        while i < v.len() {
            if v[i] == b'\n' && matches!(v.get(i + 1), Some(b' ' | b'\t')) {
                out.push(b' ');
                i += 2;
                continue;
            }
            if v[i] != b'\n' {
                out.push(v[i]);
            }
            i += 1;
        }
        out
    };
    let mut rcvd: Vec<Vec<u8>> = msg
        .get_list("Received:raw")
        .iter()
        .map(|v| unfold(v))
        .collect();
    let mut local: Vec<Vec<u8>> = Vec::new();
    static LOCAL: std::sync::LazyLock<Option<regex::bytes::Regex>> = std::sync::LazyLock::new(
        || {
            regex::bytes::Regex::new(
                r"(?i-u)qmail \d+ invoked by uid \d+|\bfrom (?:localhost\s|(?:\S+ ){1,2}\S*\b127\.0\.0\.1\b)",
            )
            .ok()
        },
    );
    static FETCHMAIL: std::sync::LazyLock<Option<regex::bytes::Regex>> =
        std::sync::LazyLock::new(|| {
            regex::bytes::Regex::new(r"(?i-u)\bby localhost with \w+ \(fetchmail-[\d.]+").ok()
        });
    let is =
        |re: &Option<regex::bytes::Regex>, s: &[u8]| re.as_ref().is_some_and(|r| r.is_match(s));
    if let Some(top) = rcvd.first()
        && is(&LOCAL, top)
    {
        local.push(rcvd.remove(0));
    }
    if let Some(top) = rcvd.first()
        && is(&FETCHMAIL, top)
    {
        local.push(rcvd.remove(0));
    } else if let Some(l) = local.pop() {
        rcvd.insert(0, l);
    }
    if let Some(top) = rcvd.first()
        && let Some(t) = first_date(std::slice::from_ref(top))
    {
        return Some(t);
    }
    if !rcvd.is_empty() {
        rcvd.remove(0);
    }
    if let Some(t) = first_date(&local) {
        return Some(t);
    }
    let from_line = msg
        .mbox_separator()
        .and_then(|l| l.strip_prefix(b"From"))
        .map(<[u8]>::to_vec)
        .or_else(|| msg.get_list("X-From-Line:raw").into_iter().next());
    if let Some(mut l) = from_line.map(|l| unfold(&l))
        && l.first().is_some_and(u8::is_ascii_whitespace)
    {
        // No zone written: the local one (UTC here, as on servers).
        static ZONE: std::sync::LazyLock<Option<regex::bytes::Regex>> =
            std::sync::LazyLock::new(|| {
                regex::bytes::Regex::new(r"(?-u)[-+]\d{4}|\b[A-Z]{2,4}\b").ok()
            });
        if !is(&ZONE, &l) {
            l.extend_from_slice(b" +0000");
        }
        if let Some(t) = first_date(&[l]) {
            return Some(t);
        }
    }
    if let Some(t) = first_date(&rcvd) {
        return Some(t);
    }
    for h in ["Resent-Date:raw", "Date:raw"] {
        if let Some(v) = msg.get_list(h).into_iter().next()
            && let Some(t) = first_date(&[unfold(&v)])
        {
            return Some(t);
        }
    }
    None
}

/// A lenient RFC 2822 date: `[Day,] D Mon YYYY HH:MM[:SS] [zone]`.
pub fn parse_date(s: &str) -> Option<i64> {
    let words: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mi = words
        .iter()
        .position(|w| w.len() >= 3 && MONTHS.contains(&w[..3].to_ascii_lowercase().as_str()))?;
    let month = MONTHS
        .iter()
        .position(|m| *m == words[mi][..3].to_ascii_lowercase())? as i64
        + 1;
    let day: i64 = words.get(mi.checked_sub(1)?)?.parse().ok()?;
    let mut year: i64 = words.get(mi + 1)?.parse().ok()?;
    if year < 50 {
        year += 2000;
    } else if year < 100 {
        year += 1900;
    }
    let hms: Vec<i64> = words
        .get(mi + 2)?
        .split(':')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let (h, m, sec) = (
        *hms.first()?,
        hms.get(1).copied().unwrap_or(0),
        hms.get(2).copied().unwrap_or(0),
    );
    let offset = words.get(mi + 3).map_or(0, |z| {
        let b = z.as_bytes();
        if z.len() == 5 && (b[0] == b'+' || b[0] == b'-') {
            let v: i64 = z[1..].parse().unwrap_or(0);
            let mins = (v / 100) * 60 + v % 100;
            if b[0] == b'-' { -mins } else { mins }
        } else {
            0
        }
    });
    if !(1..=31).contains(&day) || h > 23 || m > 59 {
        return None;
    }
    // Days from civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86400 + h * 3600 + m * 60 + sec - offset * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("Tue, 14 Oct 2025 09:12:45 +0900 (JST)"),
            Some(1_760_400_765)
        );
        assert_eq!(parse_date("garbage"), None);
    }

    #[test]
    fn msgids() {
        let m = Message::parse(b"To: a@b\nDate: x\nMessage-Id: <abc@d>\n\nbody\n");
        assert_eq!(header_msgid(&m).as_deref(), Some("abc@d"));
        assert!(generated_msgid(&m).ends_with("@sa_generated"));
    }

    #[test]
    fn paths() {
        assert_eq!(
            sqlite_path("~/.spamassassin/bayes", Some(Path::new("/home/u"))),
            PathBuf::from("/home/u/.spamassassin/bayes.sqlite")
        );
    }
}
