//! The default store: one SQLite file in WAL mode. Scans read through their
//! own connections and never block on a writer (WAL readers see the last
//! committed state); learning writes one transaction per batch of whole
//! messages, so a crash never leaves a message half-learned.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use super::expire::{self, Decision, ExpirePolicy, ExpireReport};
use super::store::{
    LearnItem, LearnResult, Magic, Result, Store, StoreError, TokenCounts, TokenVisitor,
};
use super::tokenizer::Key;

/// Schema version of our database (not SpamAssassin's DB_VERSION).
/// 2: magic counters kept as SpamAssassin keeps them (token count, oldest
/// and newest atime updated as tokens are written) and a touch journal.
const SCHEMA_VERSION: i64 = 2;
/// How long a scan may wait for the database (it then runs without Bayes).
const READ_TIMEOUT: Duration = Duration::from_millis(5);
/// How long a learner waits for another writer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// An SQLite Bayes database.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked,
        _ => StoreError::Db(e.to_string()),
    }
}

fn key_to_i64(k: &Key) -> i64 {
    let mut b = [0u8; 8];
    b[3..].copy_from_slice(k);
    i64::from_be_bytes(b)
}

fn i64_to_key(v: i64) -> Key {
    let b = v.to_be_bytes();
    let mut k = [0u8; 5];
    k.copy_from_slice(&b[3..]);
    k
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let store = SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
        };
        // Create the schema now, so that errors (corrupt file) show at once.
        store.with_writer(|_| Ok(()))?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self, timeout: Duration) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        conn.busy_timeout(timeout).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        // Durable at each checkpoint; a crash loses at most the last
        // transactions, never consistency.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        Ok(conn)
    }

    fn init_schema(conn: &Connection) -> Result<()> {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS tokens (
                 key INTEGER PRIMARY KEY, spam INTEGER NOT NULL, ham INTEGER NOT NULL,
                 atime INTEGER NOT NULL, token BLOB);
             CREATE TABLE IF NOT EXISTS seen (msgid TEXT PRIMARY KEY, class TEXT NOT NULL)
                 WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS journal (key INTEGER PRIMARY KEY, atime INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS pending (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
                 key INTEGER, ds INTEGER NOT NULL DEFAULT 0, dh INTEGER NOT NULL DEFAULT 0,
                 atime INTEGER NOT NULL DEFAULT 0, token BLOB, msgid TEXT);",
        )
        .map_err(db_err)?;
        let v: Option<i64> = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        match v {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::Db(format!(
                    "schema version {v} is newer than this program's ({SCHEMA_VERSION})"
                )));
            }
            Some(SCHEMA_VERSION) => {}
            old => {
                // New, or version 1 (counters computed on the fly): store
                // the counters from what the tokens table holds now.
                conn.execute_batch(
                    "BEGIN IMMEDIATE;
                     INSERT OR REPLACE INTO meta (name, value)
                         SELECT 'ntokens', COUNT(*) FROM tokens;
                     INSERT OR REPLACE INTO meta (name, value)
                         SELECT 'oldest_atime', MIN(atime) FROM tokens HAVING COUNT(*) > 0;
                     INSERT OR REPLACE INTO meta (name, value)
                         SELECT 'newest_atime', MAX(atime) FROM tokens HAVING COUNT(*) > 0;",
                )
                .map_err(db_err)?;
                let r = Self::meta_set(conn, "schema_version", SCHEMA_VERSION);
                let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
                conn.execute_batch(end).map_err(db_err)?;
                r?;
                let _ = old;
            }
        }
        Ok(())
    }

    fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| StoreError::Db("writer lock poisoned".into()))?;
        if guard.is_none() {
            let conn = self.connect(WRITE_TIMEOUT)?;
            Self::init_schema(&conn)?;
            *guard = Some(conn);
        }
        match guard.as_mut() {
            Some(c) => f(c),
            None => Err(StoreError::Db("no connection".into())),
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().ok().and_then(|mut v| v.pop());
        let conn = match pooled {
            Some(c) => c,
            None => self.connect(READ_TIMEOUT)?,
        };
        let r = f(&conn);
        if let Ok(mut v) = self.readers.lock()
            && v.len() < 16
        {
            v.push(conn);
        }
        r
    }

    fn meta_get(conn: &Connection, name: &str) -> Result<i64> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?
            .unwrap_or(0))
    }

    fn meta_add(conn: &Connection, name: &str, delta: i64) -> Result<()> {
        conn.execute(
            "INSERT INTO meta (name, value) VALUES (?1, MAX(?2, 0))
             ON CONFLICT(name) DO UPDATE SET value = MAX(value + ?2, 0)",
            params![name, delta],
        )
        .map_err(db_err)?;
        Ok(())
    }

    /// Keep the larger (`max`) or smaller of the stored value and `v`;
    /// an absent value takes `v`.
    fn meta_extreme(conn: &Connection, name: &str, v: i64, max: bool) -> Result<()> {
        let sql = if max {
            "INSERT INTO meta (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = MAX(value, ?2)"
        } else {
            "INSERT INTO meta (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = MIN(value, ?2)"
        };
        conn.execute(sql, params![name, v]).map_err(db_err)?;
        Ok(())
    }

    fn read_magic(c: &Connection) -> Result<Magic> {
        let g = |n: &str| Self::meta_get(c, n);
        Ok(Magic {
            nspam: g("nspam")?.max(0) as u64,
            nham: g("nham")?.max(0) as u64,
            ntokens: g("ntokens")?.max(0) as u64,
            oldest_atime: g("oldest_atime")?,
            newest_atime: g("newest_atime")?,
            last_journal_sync: g("last_journal_sync")?,
            last_expire: g("last_expire")?,
            last_expire_atime_delta: g("last_expire_atime_delta")?,
            last_expire_reduce: g("last_expire_reduce")?.max(0) as u64,
            running_expire: g("running_expire")?,
        })
    }

    /// SpamAssassin's `token_expiration`: remove tokens older than
    /// `newest - delta`, unless fewer than 100,000 would remain.
    fn remove_older(
        tx: &rusqlite::Transaction<'_>,
        m: &Magic,
        newest: i64,
        delta: i64,
        now: i64,
    ) -> Result<ExpireReport> {
        let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<u64> {
            tx.query_row(sql, p, |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
                .map_err(db_err)
        };
        let too_old = newest - delta;
        let kept = count("SELECT COUNT(*) FROM tokens WHERE atime >= ?1", &[&too_old])?;
        if kept < expire::MIN_KEEP {
            Self::meta_set(tx, "last_expire", now)?;
            Self::meta_set(tx, "last_expire_reduce", 0)?;
            Self::meta_set(tx, "last_expire_atime_delta", 0)?;
            return Ok(ExpireReport {
                ran: true,
                kept: m.ntokens,
                ..ExpireReport::default()
            });
        }
        let deleted = tx
            .execute("DELETE FROM tokens WHERE atime < ?1", [too_old])
            .map_err(db_err)? as u64;
        tx.execute("UPDATE tokens SET atime = ?1 WHERE atime > ?1", [newest])
            .map_err(db_err)?;
        let oldest: i64 = tx
            .query_row("SELECT MIN(atime) FROM tokens", [], |r| r.get(0))
            .map_err(db_err)?;
        let hapaxes = count("SELECT COUNT(*) FROM tokens WHERE spam + ham = 1", &[])?;
        let lowfreq = count(
            "SELECT COUNT(*) FROM tokens WHERE spam + ham <> 1 AND spam < 8 AND ham < 8",
            &[],
        )?;
        for (n, v) in [
            ("last_expire_atime_delta", delta),
            ("ntokens", kept as i64),
            ("last_expire", now),
            ("oldest_atime", oldest),
            ("newest_atime", newest),
            ("last_expire_reduce", deleted as i64),
        ] {
            Self::meta_set(tx, n, v)?;
        }
        Ok(ExpireReport {
            ran: true,
            kept,
            deleted,
            hapaxes,
            lowfreq,
            seconds: 0,
        })
    }

    fn meta_set(conn: &Connection, name: &str, v: i64) -> Result<()> {
        conn.execute(
            "INSERT INTO meta (name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = ?2",
            params![name, v],
        )
        .map_err(db_err)?;
        Ok(())
    }
}

/// The seen-database entry of the first of `msgids` that has one.
fn seen_of(tx: &rusqlite::Transaction<'_>, msgids: &[String]) -> Result<Option<(String, String)>> {
    for id in msgids {
        let c: Option<String> = tx
            .query_row("SELECT class FROM seen WHERE msgid = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        if let Some(c) = c {
            return Ok(Some((id.clone(), c)));
        }
    }
    Ok(None)
}

/// Learn or forget one message into the journal (`bayes_learn_to_journal`,
/// `sa-learn --no-sync`), as SpamAssassin's DBM store does: the seen
/// check reads the database only (a message journaled twice before a
/// sync counts twice), and nothing reaches the counts until `sync`. The
/// journal's size grows by the bytes SpamAssassin's journal lines take.
fn apply_journal(
    tx: &rusqlite::Transaction<'_>,
    item: &LearnItem,
    class: Option<bool>,
) -> Result<LearnResult> {
    let seen = seen_of(tx, &item.msgids)?;
    let mut ins = tx
        .prepare(
            "INSERT INTO pending (kind, key, ds, dh, atime, token, msgid)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(db_err)?;
    let mut bytes = 0u64;
    let mut lines = 0i64;
    let mut change = |ds: i64, dh: i64, atime: i64| -> Result<()> {
        ins.execute(params![
            "n",
            None::<i64>,
            ds,
            dh,
            0,
            None::<Vec<u8>>,
            None::<String>
        ])
        .map_err(db_err)?;
        bytes += format!("n {ds} {dh}\n").len() as u64;
        let c_len = format!("c {ds} {dh} {atime} 0123456789\n").len() as u64;
        for (i, k) in item.keys.iter().enumerate() {
            let text = item.texts.get(i).filter(|t| !t.is_empty() && ds + dh > 0);
            ins.execute(params![
                "c",
                key_to_i64(k),
                ds,
                dh,
                atime,
                text,
                None::<String>
            ])
            .map_err(db_err)?;
        }
        bytes += c_len * item.keys.len() as u64;
        lines += 1 + item.keys.len() as i64;
        Ok(())
    };
    let seen_line = |class: &str, id: &str| -> Result<(u64, i64)> {
        tx.execute(
            "INSERT INTO pending (kind, msgid, token) VALUES ('m', ?1, ?2)",
            params![id, class.as_bytes()],
        )
        .map_err(db_err)?;
        Ok((format!("m {class} {id}\n").len() as u64, 1))
    };
    let mut extra = (0u64, 0i64);
    let result = match class {
        None => match &seen {
            Some((id, c)) => {
                if c == "s" {
                    change(-1, 0, 0)?;
                } else {
                    change(0, -1, 0)?;
                }
                extra = seen_line("f", id)?;
                LearnResult::Forgotten
            }
            None => LearnResult::NotLearned,
        },
        Some(is_spam) => {
            if let Some((id, c)) = &seen {
                if (c == "s") == is_spam || item.no_relearn {
                    return Ok(LearnResult::AlreadyLearned);
                }
                // Learned as the other class: forget it first, journaled too.
                if c == "s" {
                    change(-1, 0, 0)?;
                } else {
                    change(0, -1, 0)?;
                }
                let (b, l) = seen_line("f", id)?;
                extra = (extra.0 + b, extra.1 + l);
            }
            if is_spam {
                change(1, 0, item.atime)?;
            } else {
                change(0, 1, item.atime)?;
            }
            if let Some(id) = item.msgids.first() {
                let (b, l) = seen_line(if is_spam { "s" } else { "h" }, id)?;
                extra = (extra.0 + b, extra.1 + l);
            }
            LearnResult::Learned
        }
    };
    SqliteStore::meta_add(tx, "journal_bytes", (bytes + extra.0) as i64)?;
    SqliteStore::meta_add(tx, "journal_lines", lines + extra.1)?;
    Ok(result)
}

/// One journal line as stored: kind, key, spam and ham deltas, atime,
/// token text (or the seen class of an `m` line), message id.
type PendingRow = (
    String,
    Option<i64>,
    i64,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<String>,
);

/// Apply the journaled learning in order (SpamAssassin's sync of `c`, `n`
/// and `m` journal lines): counts add up and stop at zero, a token whose
/// counts reach zero goes, atimes never move back. Returns the lines
/// applied.
fn apply_pending(tx: &rusqlite::Transaction<'_>) -> Result<u64> {
    let mut rows: Vec<PendingRow> = Vec::new();
    {
        let mut st = tx
            .prepare("SELECT kind, key, ds, dh, atime, token, msgid FROM pending ORDER BY seq")
            .map_err(db_err)?;
        let mut q = st.query([]).map_err(db_err)?;
        while let Some(r) = q.next().map_err(db_err)? {
            rows.push((
                r.get(0).map_err(db_err)?,
                r.get(1).map_err(db_err)?,
                r.get(2).map_err(db_err)?,
                r.get(3).map_err(db_err)?,
                r.get(4).map_err(db_err)?,
                r.get(5).map_err(db_err)?,
                r.get(6).map_err(db_err)?,
            ));
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let mut get = tx
        .prepare("SELECT spam, ham, atime FROM tokens WHERE key = ?1")
        .map_err(db_err)?;
    let mut put = tx
        .prepare(
            "INSERT INTO tokens (key, spam, ham, atime, token) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(key) DO UPDATE SET spam = ?2, ham = ?3, atime = ?4,
                 token = COALESCE(token, ?5)",
        )
        .map_err(db_err)?;
    let mut del = tx
        .prepare("DELETE FROM tokens WHERE key = ?1")
        .map_err(db_err)?;
    let (mut added, mut newest, mut oldest) = (0i64, None::<i64>, None::<i64>);
    for (kind, key, ds, dh, atime, token, msgid) in &rows {
        match kind.as_str() {
            "c" => {
                let Some(key) = key else { continue };
                let old: Option<(i64, i64, i64)> = get
                    .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
                    .map_err(db_err)?;
                let (ts, th, at) = old.unwrap_or((0, 0, 0));
                let (ts, th) = ((ts + ds).max(0), (th + dh).max(0));
                let at = at.max(*atime);
                if ts == 0 && th == 0 {
                    if old.is_some() {
                        del.execute([key]).map_err(db_err)?;
                        added -= 1;
                    }
                } else {
                    put.execute(params![key, ts, th, at, token])
                        .map_err(db_err)?;
                    if old.is_none() {
                        added += 1;
                    }
                    newest = Some(newest.map_or(at, |n| n.max(at)));
                    oldest = Some(oldest.map_or(at, |o| o.min(at)));
                }
            }
            "n" => {
                SqliteStore::meta_add(tx, "nspam", *ds)?;
                SqliteStore::meta_add(tx, "nham", *dh)?;
            }
            "m" => {
                let Some(id) = msgid else { continue };
                match token.as_deref() {
                    Some(b"f") => {
                        tx.execute("DELETE FROM seen WHERE msgid = ?1", [id])
                            .map_err(db_err)?;
                    }
                    Some(c) => {
                        tx.execute(
                            "INSERT OR REPLACE INTO seen (msgid, class) VALUES (?1, ?2)",
                            params![id, String::from_utf8_lossy(c)],
                        )
                        .map_err(db_err)?;
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }
    SqliteStore::meta_add(tx, "ntokens", added)?;
    if let Some(n) = newest {
        SqliteStore::meta_extreme(tx, "newest_atime", n, true)?;
    }
    if let Some(o) = oldest {
        SqliteStore::meta_extreme(tx, "oldest_atime", o, false)?;
    }
    tx.execute("DELETE FROM pending", []).map_err(db_err)?;
    Ok(rows.len() as u64)
}

/// Apply one learn or forget inside an open transaction.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    item: &LearnItem,
    class: Option<bool>,
) -> Result<LearnResult> {
    let mut seen: Option<(String, String)> = None;
    for id in &item.msgids {
        let c: Option<String> = tx
            .query_row("SELECT class FROM seen WHERE msgid = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        if let Some(c) = c {
            seen = Some((id.clone(), c));
            break;
        }
    }
    let change = |spam: i64, ham: i64, atime: Option<i64>| -> Result<()> {
        SqliteStore::meta_add(tx, "nspam", spam)?;
        SqliteStore::meta_add(tx, "nham", ham)?;
        if item.keys.is_empty() {
            return Ok(());
        }
        if spam > 0 || ham > 0 {
            let at = atime.unwrap_or(0);
            let mut ins = tx
                .prepare(
                    "INSERT INTO tokens (key, spam, ham, atime, token) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(key) DO NOTHING",
                )
                .map_err(db_err)?;
            let mut upd = tx
                .prepare(
                    "UPDATE tokens SET spam = spam + ?2, ham = ham + ?3,
                         atime = MAX(atime, ?4), token = COALESCE(token, ?5) WHERE key = ?1",
                )
                .map_err(db_err)?;
            let mut added = 0i64;
            for (i, k) in item.keys.iter().enumerate() {
                let text = item.texts.get(i).filter(|t| !t.is_empty());
                let p = params![key_to_i64(k), spam, ham, at, text];
                if ins.execute(p).map_err(db_err)? == 1 {
                    added += 1;
                } else {
                    upd.execute(p).map_err(db_err)?;
                }
            }
            // As SpamAssassin's tok_put: the newest atime only grows, the
            // oldest only shrinks, whatever later leaves the database.
            SqliteStore::meta_add(tx, "ntokens", added)?;
            SqliteStore::meta_extreme(tx, "newest_atime", at, true)?;
            if added > 0 {
                SqliteStore::meta_extreme(tx, "oldest_atime", at, false)?;
            }
        } else {
            let mut st = tx
                .prepare(
                    "UPDATE tokens SET spam = MAX(spam + ?2, 0), ham = MAX(ham + ?3, 0)
                     WHERE key = ?1",
                )
                .map_err(db_err)?;
            let mut del = tx
                .prepare("DELETE FROM tokens WHERE key = ?1 AND spam = 0 AND ham = 0")
                .map_err(db_err)?;
            let mut gone = 0i64;
            for k in &item.keys {
                st.execute(params![key_to_i64(k), spam, ham])
                    .map_err(db_err)?;
                gone += del.execute([key_to_i64(k)]).map_err(db_err)? as i64;
            }
            SqliteStore::meta_add(tx, "ntokens", -gone)?;
        }
        Ok(())
    };
    let forget_seen = |id: &str, c: &str| -> Result<()> {
        if c == "s" {
            change(-1, 0, None)?;
        } else {
            change(0, -1, None)?;
        }
        tx.execute("DELETE FROM seen WHERE msgid = ?1", [id])
            .map_err(db_err)?;
        Ok(())
    };
    match class {
        None => match seen {
            Some((id, c)) => {
                forget_seen(&id, &c)?;
                Ok(LearnResult::Forgotten)
            }
            None => Ok(LearnResult::NotLearned),
        },
        Some(is_spam) => {
            if let Some((id, c)) = &seen {
                if (c == "s") == is_spam || item.no_relearn {
                    return Ok(LearnResult::AlreadyLearned);
                }
                // Learned as the other class: move it.
                forget_seen(id, c)?;
            }
            if is_spam {
                change(1, 0, Some(item.atime))?;
            } else {
                change(0, 1, Some(item.atime))?;
            }
            if let Some(id) = item.msgids.first() {
                tx.execute(
                    "INSERT OR REPLACE INTO seen (msgid, class) VALUES (?1, ?2)",
                    params![id, if is_spam { "s" } else { "h" }],
                )
                .map_err(db_err)?;
            }
            Ok(LearnResult::Learned)
        }
    }
}

impl Store for SqliteStore {
    fn nspam_nham(&self) -> Result<(u64, u64)> {
        self.with_reader(|c| {
            let ns = Self::meta_get(c, "nspam")?;
            let nh = Self::meta_get(c, "nham")?;
            Ok((ns.max(0) as u64, nh.max(0) as u64))
        })
    }

    fn tokens(&self, keys: &[Key]) -> Result<Vec<Option<TokenCounts>>> {
        self.with_reader(|c| {
            // One read transaction: a consistent snapshot for the whole scan.
            c.execute_batch("BEGIN").map_err(db_err)?;
            let r = (|| {
                let mut st = c
                    .prepare("SELECT spam, ham, atime FROM tokens WHERE key = ?1")
                    .map_err(db_err)?;
                let mut out = Vec::with_capacity(keys.len());
                for k in keys {
                    let row = st
                        .query_row([key_to_i64(k)], |r| {
                            Ok(TokenCounts {
                                spam: r.get::<_, i64>(0)?.max(0) as u64,
                                ham: r.get::<_, i64>(1)?.max(0) as u64,
                                atime: r.get(2)?,
                            })
                        })
                        .optional()
                        .map_err(db_err)?;
                    out.push(row);
                }
                Ok(out)
            })();
            let _ = c.execute_batch("COMMIT");
            r
        })
    }

    fn touch(&self, keys: &[Key], atime: i64) -> Result<()> {
        // Never wait: if this process is writing, or another holds the
        // write lock, the touch is skipped (atime only steers expiry).
        let Ok(mut guard) = self.writer.try_lock() else {
            return Ok(());
        };
        let Some(conn) = guard.as_mut() else {
            return Ok(());
        };
        conn.busy_timeout(Duration::ZERO).map_err(db_err)?;
        let r = (|| {
            let tx = conn.transaction().map_err(db_err)?;
            {
                // Recorded, applied at the next sync, as SpamAssassin's
                // journal is: the counters move when SpamAssassin's would.
                let mut st = tx
                    .prepare(
                        "INSERT INTO journal (key, atime) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET atime = MAX(atime, ?2)",
                    )
                    .map_err(db_err)?;
                for k in keys {
                    st.execute(params![key_to_i64(k), atime]).map_err(db_err)?;
                }
                Self::meta_add(
                    &tx,
                    "journal_bytes",
                    (keys.len() as u64 * expire::touch_line_len(atime)) as i64,
                )?;
                Self::meta_add(&tx, "journal_lines", keys.len() as i64)?;
            }
            tx.commit().map_err(db_err)
        })();
        conn.busy_timeout(WRITE_TIMEOUT).map_err(db_err)?;
        match r {
            Err(StoreError::Locked) => Ok(()),
            other => other,
        }
    }

    fn learn_batch(&self, items: &[(LearnItem, Option<bool>)]) -> Result<Vec<LearnResult>> {
        self.with_writer(|conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let mut out = Vec::with_capacity(items.len());
            for (item, class) in items {
                out.push(apply(&tx, item, *class)?);
            }
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
    }

    fn learn_batch_journal(&self, items: &[(LearnItem, Option<bool>)]) -> Result<Vec<LearnResult>> {
        self.with_writer(|conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let mut out = Vec::with_capacity(items.len());
            for (item, class) in items {
                out.push(apply_journal(&tx, item, *class)?);
            }
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
    }

    fn magic(&self) -> Result<Magic> {
        self.with_reader(Self::read_magic)
    }

    fn for_each_token(&self, f: &mut TokenVisitor<'_>) -> Result<()> {
        self.with_reader(|c| {
            let mut st = c
                .prepare("SELECT key, spam, ham, atime, token FROM tokens ORDER BY key")
                .map_err(db_err)?;
            let mut rows = st.query([]).map_err(db_err)?;
            while let Some(r) = rows.next().map_err(db_err)? {
                let k: i64 = r.get(0).map_err(db_err)?;
                let tc = TokenCounts {
                    spam: r.get::<_, i64>(1).map_err(db_err)?.max(0) as u64,
                    ham: r.get::<_, i64>(2).map_err(db_err)?.max(0) as u64,
                    atime: r.get(3).map_err(db_err)?,
                };
                let text: Option<Vec<u8>> = r.get(4).map_err(db_err)?;
                f(i64_to_key(k), tc, text.as_deref());
            }
            Ok(())
        })
    }

    fn for_each_seen(&self, f: &mut dyn FnMut(&str, char)) -> Result<()> {
        self.with_reader(|c| {
            let mut st = c
                .prepare("SELECT msgid, class FROM seen ORDER BY msgid")
                .map_err(db_err)?;
            let mut rows = st.query([]).map_err(db_err)?;
            while let Some(r) = rows.next().map_err(db_err)? {
                let id: String = r.get(0).map_err(db_err)?;
                let class: String = r.get(1).map_err(db_err)?;
                f(&id, class.chars().next().unwrap_or('h'));
            }
            Ok(())
        })
    }

    fn clear(&self) -> Result<()> {
        self.with_writer(|conn| {
            conn.execute_batch(
                "BEGIN IMMEDIATE; DELETE FROM tokens; DELETE FROM seen; DELETE FROM journal;
                 DELETE FROM pending;
                 DELETE FROM meta WHERE name <> 'schema_version'; COMMIT;",
            )
            .map_err(db_err)
        })
    }

    fn restore(
        &self,
        nspam: u64,
        nham: u64,
        tokens: &mut dyn Iterator<Item = (Key, TokenCounts)>,
        seen: &[(String, char)],
    ) -> Result<()> {
        self.with_writer(|conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            tx.execute_batch(
                "DELETE FROM tokens; DELETE FROM seen; DELETE FROM journal; DELETE FROM pending;
                 DELETE FROM meta WHERE name <> 'schema_version';",
            )
            .map_err(db_err)?;
            Self::meta_set(&tx, "nspam", nspam as i64)?;
            Self::meta_set(&tx, "nham", nham as i64)?;
            {
                let mut st = tx
                    .prepare(
                        "INSERT INTO tokens (key, spam, ham, atime) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(key) DO UPDATE SET spam = spam + ?2, ham = ham + ?3,
                             atime = MAX(atime, ?4)",
                    )
                    .map_err(db_err)?;
                for (k, t) in tokens {
                    st.execute(params![
                        key_to_i64(&k),
                        t.spam as i64,
                        t.ham as i64,
                        t.atime
                    ])
                    .map_err(db_err)?;
                }
                let mut st = tx
                    .prepare("INSERT OR REPLACE INTO seen (msgid, class) VALUES (?1, ?2)")
                    .map_err(db_err)?;
                for (id, c) in seen {
                    st.execute(params![id, c.to_string()]).map_err(db_err)?;
                }
            }
            // As SpamAssassin's restore: counters from the data, no
            // expiry or sync history.
            tx.execute_batch(
                "INSERT OR REPLACE INTO meta (name, value) SELECT 'ntokens', COUNT(*) FROM tokens;
                 INSERT OR REPLACE INTO meta (name, value)
                     SELECT 'oldest_atime', MIN(atime) FROM tokens HAVING COUNT(*) > 0;
                 INSERT OR REPLACE INTO meta (name, value)
                     SELECT 'newest_atime', MAX(atime) FROM tokens HAVING COUNT(*) > 0;",
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
    }

    fn keeps_atimes(&self) -> bool {
        true
    }

    fn expire(&self, policy: &ExpirePolicy, now: i64) -> Result<ExpireReport> {
        self.with_writer(|conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            // Decided inside the write lock: of two processes that both
            // found an expiry due, the second sees the first's record.
            let m = Self::read_magic(&tx)?;
            if !expire::due(policy, &m, now) {
                return Ok(ExpireReport::default());
            }
            let mut capped = m;
            capped.newest_atime = m.newest_atime.min(now);
            let decision = expire::decide(policy, &capped, now, |newest, start, max_mult| {
                let mut out = std::collections::BTreeMap::new();
                let mut mult = 1u64;
                while mult <= max_mult {
                    let cut = newest - start * mult as i64;
                    let n: i64 = tx
                        .query_row(
                            "SELECT COUNT(*) FROM tokens WHERE atime <= ?1",
                            [cut],
                            |r| r.get(0),
                        )
                        .unwrap_or(0);
                    if n <= 0 {
                        break;
                    }
                    out.insert(mult, n as u64);
                    mult <<= 1;
                }
                out
            });
            let report = match decision {
                Decision::Skip => {
                    Self::meta_set(&tx, "last_expire", now)?;
                    ExpireReport::default()
                }
                Decision::Abandon => {
                    Self::meta_set(&tx, "running_expire", now)?;
                    ExpireReport::default()
                }
                Decision::Expire { delta } => {
                    Self::remove_older(&tx, &m, capped.newest_atime, delta, now)?
                }
            };
            if decision != Decision::Abandon {
                Self::meta_set(&tx, "running_expire", 0)?;
            }
            tx.commit().map_err(db_err)?;
            Ok(report)
        })
    }

    fn sync(&self, now: i64) -> Result<Option<(u64, u64)>> {
        self.with_writer(|conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let pending: i64 = tx
                .query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))
                .map_err(db_err)?;
            let learned = apply_pending(&tx)?;
            if pending == 0 && learned == 0 {
                return Ok(None);
            }
            let lines = Self::meta_get(&tx, "journal_lines")?.max(0) as u64;
            // Touches only move an atime forward, and only of tokens still
            // there; the newest atime follows, as tok_put keeps it.
            let newest: Option<i64> = tx
                .query_row(
                    "SELECT MAX(j.atime) FROM journal j JOIN tokens t ON t.key = j.key
                     WHERE j.atime > t.atime",
                    [],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            tx.execute(
                "UPDATE tokens SET atime = (SELECT j.atime FROM journal j WHERE j.key = tokens.key)
                 WHERE key IN (SELECT j.key FROM journal j WHERE j.key = tokens.key
                               AND j.atime > tokens.atime)",
                [],
            )
            .map_err(db_err)?;
            if let Some(n) = newest {
                Self::meta_extreme(&tx, "newest_atime", n, true)?;
            }
            tx.execute("DELETE FROM journal", []).map_err(db_err)?;
            Self::meta_set(&tx, "journal_bytes", 0)?;
            Self::meta_set(&tx, "journal_lines", 0)?;
            Self::meta_set(&tx, "last_journal_sync", now)?;
            tx.commit().map_err(db_err)?;
            Ok(Some((pending.max(0) as u64 + learned, lines)))
        })
    }

    fn sync_due(&self, max_bytes: u64, now: i64) -> Result<bool> {
        if max_bytes == 0 {
            return Ok(false);
        }
        self.with_reader(|c| {
            let bytes = Self::meta_get(c, "journal_bytes")?;
            let last = Self::meta_get(c, "last_journal_sync")?;
            Ok(bytes > 0 && (bytes as u64 > max_bytes || (last > 0 && now - last > 86_400)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bayes-sqlite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d.join("bayes.sqlite")
    }

    fn item(id: &str, keys: &[&[u8]]) -> LearnItem {
        LearnItem {
            msgids: vec![id.to_string()],
            keys: keys
                .iter()
                .map(|k| super::super::tokenizer::key(k))
                .collect(),
            texts: Vec::new(),
            atime: 1000,
            no_relearn: false,
        }
    }

    #[test]
    fn learn_relearn_forget() {
        let s = SqliteStore::open(&tmp("lrf")).unwrap_or_else(|e| panic!("{e}"));
        let m = item("a@b", &[b"foo", b"bar"]);
        let r = s
            .learn_batch(&[(m.clone(), Some(true))])
            .unwrap_or_default();
        assert_eq!(r, [LearnResult::Learned]);
        let r = s
            .learn_batch(&[(m.clone(), Some(true))])
            .unwrap_or_default();
        assert_eq!(r, [LearnResult::AlreadyLearned]);
        assert_eq!(s.nspam_nham().ok(), Some((1, 0)));
        // Relearning as ham moves it.
        s.learn_batch(&[(m.clone(), Some(false))])
            .unwrap_or_default();
        assert_eq!(s.nspam_nham().ok(), Some((0, 1)));
        let t = s.tokens(&m.keys).unwrap_or_default();
        assert_eq!(t[0].map(|t| (t.spam, t.ham)), Some((0, 1)));
        let r = s.learn_batch(&[(m.clone(), None)]).unwrap_or_default();
        assert_eq!(r, [LearnResult::Forgotten]);
        assert_eq!(s.nspam_nham().ok(), Some((0, 0)));
        assert_eq!(s.magic().map(|m| m.ntokens).ok(), Some(0));
    }

    #[test]
    fn expiry_removes_what_spamassassin_removes() {
        let s = SqliteStore::open(&tmp("expire")).unwrap_or_else(|e| panic!("{e}"));
        let t = 1_000_000_000i64;
        let day = 86_400;
        // 100,000 young tokens, 30,000 three days old, 30,000 thirty days old.
        let mut toks = (0u64..160_000).map(|i| {
            let b = i.to_be_bytes();
            let atime = match i {
                0..100_000 => t,
                100_000..130_000 => t - 3 * day,
                _ => t - 30 * day,
            };
            let k: Key = [b[3], b[4], b[5], b[6], b[7]];
            (
                k,
                TokenCounts {
                    spam: 1,
                    ham: i % 3,
                    atime,
                },
            )
        });
        s.restore(300, 300, &mut toks, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let p = ExpirePolicy::default();
        let now = t + day;
        // Goal 47,500: four days is the longest cut within it.
        let r = s.expire(&p, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.kept, r.deleted), (130_000, 30_000));
        let m = s.magic().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.ntokens, 130_000);
        assert_eq!(m.last_expire_atime_delta, 8 * 43_200);
        assert_eq!(m.last_expire_reduce, 30_000);
        assert_eq!(m.oldest_atime, t - 3 * day);
        assert_eq!(m.last_expire, now);
        // Not due again for 12 hours.
        let again = s.expire(&p, now + 3600).unwrap_or_else(|e| panic!("{e}"));
        assert!(!again.ran);
        // Forced: even two days removes more than the 17,500 wanted, so
        // nothing goes and only the attempt is recorded.
        let forced = ExpirePolicy { force: true, ..p };
        let r = s
            .expire(&forced, now + 7200)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.ran);
        let m2 = s.magic().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m2.ntokens, m2.last_expire), (130_000, now + 7200));
        assert_eq!(m2.last_expire_atime_delta, 8 * 43_200);
    }

    #[test]
    fn touches_wait_for_a_sync() {
        let s = SqliteStore::open(&tmp("touch")).unwrap_or_else(|e| panic!("{e}"));
        let m = item("a@b", &[b"foo", b"bar"]);
        s.learn_batch(&[(m.clone(), Some(true))])
            .unwrap_or_else(|e| panic!("{e}"));
        s.touch(&m.keys[..1], 5000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.magic().map(|m| m.newest_atime).ok(), Some(1000));
        assert_eq!(s.sync_due(102_400, 10).ok(), Some(false));
        assert_eq!(s.sync_due(10, 10).ok(), Some(true));
        assert_eq!(s.sync(9000).ok(), Some(Some((1, 1))));
        let mg = s.magic().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((mg.newest_atime, mg.last_journal_sync), (5000, 9000));
        let t = s.tokens(&m.keys).unwrap_or_default();
        assert_eq!(t[0].map(|t| t.atime), Some(5000));
        assert_eq!(t[1].map(|t| t.atime), Some(1000));
        assert_eq!(s.sync(9500).ok(), Some(None));
    }

    #[test]
    fn corrupt_file_is_an_error() {
        let p = tmp("corrupt");
        std::fs::create_dir_all(p.parent().unwrap_or(Path::new("/tmp"))).ok();
        std::fs::write(&p, vec![0x42u8; 8192]).ok();
        assert!(SqliteStore::open(&p).is_err());
    }
}
