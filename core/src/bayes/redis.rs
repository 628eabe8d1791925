//! A Bayes database on a Redis server, shared by every spamd host that
//! points at it, in SpamAssassin 4.0.1's own layout
//! (`Mail::SpamAssassin::BayesStore::Redis`), so that either program reads
//! what the other learned:
//!
//! - `w:<5-byte key>`: a hash with integer fields `s` (spam) and `h` (ham),
//!   a zero count left out; its TTL (`bayes_token_ttl`) is renewed when
//!   the token is learned or proves significant in a scan.
//! - `s:<msgid>`: `s` or `h`, with the `bayes_seen_ttl` TTL.
//! - `v:DB_VERSION` 3, `v:TOKEN_FORMAT` 2, `v:NSPAM`, `v:NHAM`.
//!
//! Tokens carry no atime: Redis expires them, so `--force-expire` has
//! nothing to do and `--dump magic` shows zeros beside the message counts,
//! as SpamAssassin's does.
//!
//! Every scan costs a few round trips (counts, then all its tokens in one
//! pipeline), never one per token. When the server is down or slow, a call
//! fails within `redis_timeout`, the scan goes on without Bayes, and for a
//! second afterwards calls fail at once instead of waiting again; the next
//! call after that reconnects.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::resp::{Connection, Value};
use super::store::{
    LearnItem, LearnResult, Magic, Result, Store, StoreError, TokenCounts, TokenVisitor,
};
use super::tokenizer::Key;
use crate::redis_cmd;

/// SpamAssassin's Redis database version and token format.
const DB_VERSION: &[u8] = b"3";
const TOKEN_FORMAT: i64 = 2;
/// After a failure, calls fail fast for this long before a new attempt.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Commands per pipeline when walking or restoring the whole database.
const CHUNK: usize = 1000;

/// Decrement one count field of each token, dropping a field that reaches
/// zero (as SpamAssassin's unlearning does), in one atomic server step.
const FORGET_SCRIPT: &str = "local f, ttl = ARGV[1], tonumber(ARGV[2]) \
    for i = 1, #KEYS do \
      local v = redis.call('HINCRBY', KEYS[i], f, -1) \
      if v <= 0 then redis.call('HDEL', KEYS[i], f) \
      elseif ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end \
    end return #KEYS";

/// Where and how to connect, from `bayes_sql_dsn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// `host:port`, `[v6]:port` or a Unix socket path.
    pub server: String,
    pub password: Option<String>,
    pub database: u32,
}

impl Dsn {
    /// Parse `server=HOST:PORT;password=...;database=N` (unknown options
    /// are ignored, as SpamAssassin ignores them).
    pub fn parse(dsn: &str) -> std::result::Result<Dsn, String> {
        let mut d = Dsn {
            server: "127.0.0.1:6379".into(),
            password: None,
            database: 0,
        };
        for part in dsn.split(';').filter(|p| !p.trim().is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!("invalid bayes_sql_dsn part '{part}'"));
            };
            match k.trim() {
                "server" => d.server = v.trim().to_string(),
                "password" => d.password = Some(v.to_string()),
                "database" => {
                    d.database = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("invalid bayes_sql_dsn database '{v}'"))?
                }
                _ => {}
            }
        }
        Ok(d)
    }
}

/// Whether `bayes_store_module` names SpamAssassin's Redis store.
pub fn is_redis_module(module: &str) -> bool {
    module.trim().ends_with("BayesStore::Redis")
}

/// TTLs from the configuration; None when entries must not expire
/// (`bayes_auto_expire 0`, or a TTL of 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    pub token: Option<i64>,
    pub seen: Option<i64>,
}

/// The Redis Bayes store.
pub struct RedisStore {
    dsn: Dsn,
    timeout: Duration,
    ttl: Ttls,
    idle: Mutex<Vec<Connection>>,
    /// Until when calls fail at once, after a failure.
    down_until: Mutex<Option<Instant>>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(format!("redis: {e}"))
}

fn key_of(k: &Key) -> Vec<u8> {
    let mut v = Vec::with_capacity(7);
    v.extend_from_slice(b"w:");
    v.extend_from_slice(k);
    v
}

fn count(v: &Value) -> u64 {
    v.as_int().unwrap_or(0).max(0) as u64
}

impl RedisStore {
    /// A store for `dsn`; it connects on first use, so a server that is
    /// down at start-up does not stop the daemon.
    pub fn new(dsn: Dsn, timeout: Duration, ttl: Ttls) -> RedisStore {
        RedisStore {
            dsn,
            timeout,
            ttl,
            idle: Mutex::new(Vec::new()),
            down_until: Mutex::new(None),
        }
    }

    fn open(&self) -> Result<Connection> {
        if let Ok(d) = self.down_until.lock()
            && let Some(t) = *d
            && Instant::now() < t
        {
            return Err(err(format!(
                "{} unavailable (retrying shortly)",
                self.dsn.server
            )));
        }
        let r = self.connect();
        if let Ok(mut d) = self.down_until.lock() {
            *d = r.is_err().then(|| Instant::now() + RETRY_AFTER);
        }
        r
    }

    fn connect(&self) -> Result<Connection> {
        let mut c = Connection::connect(&self.dsn.server, self.timeout)
            .map_err(|e| err(format!("{}: {e}", self.dsn.server)))?;
        let db = self.dsn.database.to_string();
        let mut sel = c.call(&[b"SELECT", db.as_bytes()]).map_err(err)?;
        if let Value::Error(e) = &sel {
            if !(e.starts_with("NOAUTH") || e.contains("operation not permitted")) {
                return Err(err(format!("SELECT {db}: {e}")));
            }
            let Some(pw) = &self.dsn.password else {
                return Err(err("server requires a password (bayes_sql_dsn password=)"));
            };
            if let Value::Error(e) = c.call(&[b"AUTH", pw.as_bytes()]).map_err(err)? {
                return Err(err(format!("AUTH: {e}")));
            }
            sel = c.call(&[b"SELECT", db.as_bytes()]).map_err(err)?;
        }
        if let Value::Error(e) = sel {
            return Err(err(format!("SELECT {db}: {e}")));
        }
        let name = format!("spamd[{}]", std::process::id());
        let _ = c.call(&[b"CLIENT", b"SETNAME", name.as_bytes()]);
        // A new database gets SpamAssassin's globals; another version or
        // token format is refused rather than misread.
        match c.call(&[b"GET", b"v:DB_VERSION"]).map_err(err)? {
            Value::Data(v) if v == DB_VERSION => {
                let f = c.call(&[b"GET", b"v:TOKEN_FORMAT"]).map_err(err)?;
                if f.as_int().unwrap_or(0) < TOKEN_FORMAT {
                    return Err(err("old token format; back up and restore the database"));
                }
            }
            Value::Data(v) => {
                return Err(err(format!(
                    "bayes db version {} not supported",
                    String::from_utf8_lossy(&v)
                )));
            }
            _ => {
                let r = c
                    .call(&[
                        b"MSET",
                        b"v:DB_VERSION",
                        DB_VERSION,
                        b"v:NSPAM",
                        b"0",
                        b"v:NHAM",
                        b"0",
                        b"v:TOKEN_FORMAT",
                        b"2",
                    ])
                    .map_err(err)?;
                if let Value::Error(e) = r {
                    return Err(err(format!("initialising the database: {e}")));
                }
            }
        }
        Ok(c)
    }

    /// Run `f` on a pooled connection; a connection that failed is dropped
    /// (the next call reconnects) and marks the server down for a moment.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> std::io::Result<T>) -> Result<T> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut c = match pooled {
            Some(c) => c,
            None => self.open()?,
        };
        match f(&mut c) {
            Ok(v) => {
                if let Ok(mut idle) = self.idle.lock()
                    && idle.len() < 16
                {
                    idle.push(c);
                }
                Ok(v)
            }
            Err(e) => {
                if let Ok(mut d) = self.down_until.lock() {
                    *d = Some(Instant::now() + RETRY_AFTER);
                }
                if let Ok(mut idle) = self.idle.lock() {
                    idle.clear();
                }
                Err(err(e))
            }
        }
    }

    fn pipeline(&self, cmds: &[Vec<Vec<u8>>]) -> Result<Vec<Value>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let replies = self.with(|c| c.pipeline(cmds))?;
        if let Some(Value::Error(e)) = replies.iter().find(|v| matches!(v, Value::Error(_))) {
            return Err(err(e));
        }
        Ok(replies)
    }

    /// Every key matching `pattern`, by SCAN (never blocks the server as
    /// KEYS would).
    fn scan_keys(&self, pattern: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut cursor = b"0".to_vec();
        let mut keys = Vec::new();
        loop {
            let r =
                self.with(|c| c.call(&[b"SCAN", &cursor, b"MATCH", pattern, b"COUNT", b"1000"]))?;
            let Value::Array(mut parts) = r else {
                return Err(err(format!("SCAN: unexpected reply {r:?}")));
            };
            let (Some(Value::Array(found)), Some(Value::Data(next))) = (parts.pop(), parts.pop())
            else {
                return Err(err("SCAN: unexpected reply"));
            };
            keys.extend(found.into_iter().filter_map(|v| match v {
                Value::Data(d) => Some(d),
                _ => None,
            }));
            if next == b"0" {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    fn seen_cmd(&self, id: &str, class: char) -> Vec<Vec<u8>> {
        let key = format!("s:{id}");
        let flag = class.to_string();
        match self.ttl.seen {
            Some(ttl) => redis_cmd!("SETEX", key, ttl.to_string(), flag),
            None => redis_cmd!("SET", key, flag),
        }
    }

    /// A TTL spread over 0.7..1.7 of `ttl`, as SpamAssassin's restore
    /// spreads it, so restored entries do not all expire at once.
    fn spread(ttl: i64, salt: &[u8]) -> i64 {
        let h = salt.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        (ttl as f64 * (0.7 + (h % 1000) as f64 / 1000.0)) as i64
    }
}

impl Store for RedisStore {
    fn nspam_nham(&self) -> Result<(u64, u64)> {
        let r = self.with(|c| c.call(&[b"MGET", b"v:NSPAM", b"v:NHAM"]))?;
        match r {
            Value::Array(v) if v.len() == 2 => Ok((count(&v[0]), count(&v[1]))),
            other => Err(err(format!("MGET: unexpected reply {other:?}"))),
        }
    }

    fn tokens(&self, keys: &[Key]) -> Result<Vec<Option<TokenCounts>>> {
        let cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| redis_cmd!("HMGET", key_of(k), "s", "h"))
            .collect();
        let replies = self.pipeline(&cmds)?;
        Ok(replies
            .iter()
            .map(|r| match r {
                Value::Array(v) if v.len() == 2 => {
                    let (s, h) = (count(&v[0]), count(&v[1]));
                    (s > 0 || h > 0).then_some(TokenCounts {
                        spam: s,
                        ham: h,
                        atime: 0,
                    })
                }
                _ => None,
            })
            .collect())
    }

    fn touch(&self, keys: &[Key], _atime: i64) -> Result<()> {
        let Some(ttl) = self.ttl.token else {
            return Ok(());
        };
        let ttl = ttl.to_string();
        let cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| redis_cmd!("EXPIRE", key_of(k), ttl))
            .collect();
        self.pipeline(&cmds).map(|_| ())
    }

    fn learn_batch(&self, items: &[(LearnItem, Option<bool>)]) -> Result<Vec<LearnResult>> {
        // Every seen id of the batch in one round trip.
        let gets: Vec<Vec<Vec<u8>>> = items
            .iter()
            .flat_map(|(it, _)| {
                it.msgids
                    .iter()
                    .map(|id| redis_cmd!("GET", format!("s:{id}")))
            })
            .collect();
        let replies = self.pipeline(&gets)?;
        let mut seen: HashMap<String, char> = HashMap::new();
        let mut ri = replies.into_iter();
        for (it, _) in items {
            for id in &it.msgids {
                if let Some(Value::Data(d)) = ri.next()
                    && let Some(&c) = d.first()
                    && (c == b's' || c == b'h')
                {
                    seen.entry(id.clone()).or_insert(c as char);
                }
            }
        }
        let token_ttl = self.ttl.token.unwrap_or(0).to_string();
        // All writes of the batch in one MULTI/EXEC: a failure leaves each
        // message either learned or not, never half.
        let mut w: Vec<Vec<Vec<u8>>> = vec![redis_cmd!("MULTI")];
        let forget = |w: &mut Vec<Vec<Vec<u8>>>, it: &LearnItem, id: &str, c: char| {
            let (counter, field) = if c == 's' {
                ("v:NSPAM", "s")
            } else {
                ("v:NHAM", "h")
            };
            w.push(redis_cmd!("INCRBY", counter, "-1"));
            if !it.keys.is_empty() {
                let mut cmd = redis_cmd!("EVAL", FORGET_SCRIPT, it.keys.len().to_string());
                cmd.extend(it.keys.iter().map(key_of));
                cmd.push(field.as_bytes().to_vec());
                cmd.push(token_ttl.as_bytes().to_vec());
                w.push(cmd);
            }
            w.push(redis_cmd!("DEL", format!("s:{id}")));
        };
        let mut out = Vec::with_capacity(items.len());
        for (it, class) in items {
            let found = it
                .msgids
                .iter()
                .find_map(|id| seen.get(id).map(|c| (id.clone(), *c)));
            let result = match (class, found) {
                (None, Some((id, c))) => {
                    forget(&mut w, it, &id, c);
                    seen.remove(&id);
                    LearnResult::Forgotten
                }
                (None, None) => LearnResult::NotLearned,
                (Some(spam), found) => {
                    let want = if *spam { 's' } else { 'h' };
                    match found {
                        Some((_, c)) if c == want || it.no_relearn => {
                            out.push(LearnResult::AlreadyLearned);
                            continue;
                        }
                        Some((id, c)) => {
                            forget(&mut w, it, &id, c);
                            seen.remove(&id);
                        }
                        None => {}
                    }
                    let (counter, field) = if *spam {
                        ("v:NSPAM", "s")
                    } else {
                        ("v:NHAM", "h")
                    };
                    w.push(redis_cmd!("INCRBY", counter, "1"));
                    for k in &it.keys {
                        let key = key_of(k);
                        w.push(redis_cmd!("HINCRBY", key, field, "1"));
                        if self.ttl.token.is_some() {
                            w.push(redis_cmd!("EXPIRE", key, token_ttl));
                        }
                    }
                    if let Some(id) = it.msgids.first() {
                        w.push(self.seen_cmd(id, want));
                        seen.insert(id.clone(), want);
                    }
                    LearnResult::Learned
                }
            };
            out.push(result);
        }
        if w.len() > 1 {
            w.push(redis_cmd!("EXEC"));
            let replies = self.pipeline(&w)?;
            match replies.last() {
                Some(Value::Array(results)) => {
                    if let Some(Value::Error(e)) =
                        results.iter().find(|v| matches!(v, Value::Error(_)))
                    {
                        return Err(err(e));
                    }
                }
                other => return Err(err(format!("EXEC: unexpected reply {other:?}"))),
            }
        }
        Ok(out)
    }

    fn magic(&self) -> Result<Magic> {
        let (nspam, nham) = self.nspam_nham()?;
        Ok(Magic {
            nspam,
            nham,
            ..Magic::default()
        })
    }

    fn for_each_token(&self, f: &mut TokenVisitor<'_>) -> Result<()> {
        let now = super::now();
        let mut keys = self.scan_keys(b"w:*")?;
        keys.retain(|k| k.len() == 7);
        keys.sort();
        for chunk in keys.chunks(CHUNK) {
            let cmds: Vec<Vec<Vec<u8>>> = chunk
                .iter()
                .map(|k| redis_cmd!("HMGET", k, "s", "h"))
                .collect();
            let replies = self.pipeline(&cmds)?;
            for (k, r) in chunk.iter().zip(replies) {
                let Value::Array(v) = r else { continue };
                let (s, h) = (v.first().map_or(0, count), v.get(1).map_or(0, count));
                if s == 0 && h == 0 {
                    continue;
                }
                let mut key = [0u8; 5];
                key.copy_from_slice(&k[2..]);
                // Redis keeps no atime; SpamAssassin reports the time of the dump.
                let tc = TokenCounts {
                    spam: s,
                    ham: h,
                    atime: now,
                };
                f(key, tc, None);
            }
        }
        Ok(())
    }

    fn for_each_seen(&self, f: &mut dyn FnMut(&str, char)) -> Result<()> {
        let mut keys = self.scan_keys(b"s:*")?;
        keys.sort();
        for chunk in keys.chunks(CHUNK) {
            let mut cmd = redis_cmd!("MGET");
            cmd.extend(chunk.iter().cloned());
            let r = self.with(|c| c.pipeline(&[cmd]))?;
            let Some(Value::Array(vals)) = r.into_iter().next() else {
                return Err(err("MGET: unexpected reply"));
            };
            for (k, v) in chunk.iter().zip(vals) {
                if let Value::Data(d) = v
                    && let Some(&c) = d.first()
                    && (c == b's' || c == b'h')
                {
                    f(&String::from_utf8_lossy(&k[2..]), c as char);
                }
            }
        }
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        for pattern in [&b"w:*"[..], b"s:*"] {
            let keys = self.scan_keys(pattern)?;
            for chunk in keys.chunks(CHUNK) {
                let mut cmd = redis_cmd!("DEL");
                cmd.extend(chunk.iter().cloned());
                self.pipeline(&[cmd])?;
            }
        }
        self.pipeline(&[redis_cmd!("MSET", "v:NSPAM", "0", "v:NHAM", "0")])
            .map(|_| ())
    }

    fn restore(
        &self,
        nspam: u64,
        nham: u64,
        tokens: &mut dyn Iterator<Item = (Key, TokenCounts)>,
        seen: &[(String, char)],
    ) -> Result<()> {
        self.clear()?;
        let mut batch: Vec<Vec<Vec<u8>>> = Vec::with_capacity(CHUNK);
        for (k, t) in tokens {
            if t.spam == 0 && t.ham == 0 {
                continue;
            }
            let key = key_of(&k);
            let mut cmd = redis_cmd!("HSET", key);
            if t.spam > 0 {
                cmd.extend(redis_cmd!("s", t.spam.to_string()));
            }
            if t.ham > 0 {
                cmd.extend(redis_cmd!("h", t.ham.to_string()));
            }
            batch.push(cmd);
            if let Some(ttl) = self.ttl.token {
                batch.push(redis_cmd!("EXPIRE", key, Self::spread(ttl, &k).to_string()));
            }
            if batch.len() >= CHUNK {
                self.pipeline(&batch)?;
                batch.clear();
            }
        }
        for (id, c) in seen {
            match self.ttl.seen {
                Some(ttl) => batch.push(redis_cmd!(
                    "SETEX",
                    format!("s:{id}"),
                    Self::spread(ttl, id.as_bytes()).to_string(),
                    c.to_string()
                )),
                None => batch.push(self.seen_cmd(id, *c)),
            }
            if batch.len() >= CHUNK {
                self.pipeline(&batch)?;
                batch.clear();
            }
        }
        batch.push(redis_cmd!(
            "MSET",
            "v:NSPAM",
            nspam.to_string(),
            "v:NHAM",
            nham.to_string()
        ));
        self.pipeline(&batch).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_forms() {
        let d = Dsn::parse("server=127.0.0.1:6380;password=pw;database=2;x=y")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.server, "127.0.0.1:6380");
        assert_eq!(d.password.as_deref(), Some("pw"));
        assert_eq!(d.database, 2);
        let d = Dsn::parse("server=/run/redis/redis.sock").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.server, "/run/redis/redis.sock");
        assert_eq!(
            Dsn::parse("").map(|d| d.server).ok().as_deref(),
            Some("127.0.0.1:6379")
        );
        assert!(Dsn::parse("server").is_err());
        assert!(Dsn::parse("database=x").is_err());
        assert!(is_redis_module("Mail::SpamAssassin::BayesStore::Redis"));
        assert!(!is_redis_module("Mail::SpamAssassin::BayesStore::SQL"));
    }

    #[test]
    fn down_server_fails_fast_and_bounded() {
        // A port nobody listens on: refused at once, then failing fast.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()
            .and_then(|l| l.local_addr().ok())
            .map_or(1, |a| a.port());
        let s = RedisStore::new(
            Dsn::parse(&format!("server=127.0.0.1:{port}")).unwrap_or_else(|e| panic!("{e}")),
            Duration::from_millis(200),
            Ttls {
                token: None,
                seen: None,
            },
        );
        assert!(s.nspam_nham().is_err());
        let e = s.tokens(&[[1, 2, 3, 4, 5]]).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("unavailable")));
    }
}
