//! `sa-learn --backup` / `--restore` text: the way a SpamAssassin Bayes
//! database moves to us (its Berkeley DB files are not readable here).
//!
//! Lines are TAB-separated: `v 3 db_version # ...` first, then `v N
//! num_spam`, `v N num_nonspam`, `t spam ham atime hexkey` per token and
//! `s s|h msgid` per seen message. Version 2 files carry the token text in
//! place of the key; it is hashed on import.

use std::io::{BufRead, Write};

use super::store::{Result, Store, StoreError, TokenCounts};
use super::tokenizer::{Key, key};

/// Write the database as backup text.
pub fn write(store: &dyn Store, out: &mut dyn Write) -> Result<()> {
    let m = store.magic()?;
    writeln!(out, "v\t3\tdb_version # this must be the first line!!!")?;
    writeln!(out, "v\t{}\tnum_spam", m.nspam)?;
    writeln!(out, "v\t{}\tnum_nonspam", m.nham)?;
    let mut err: Option<std::io::Error> = None;
    store.for_each_token(&mut |k, t, _| {
        if err.is_none()
            && let Err(e) = writeln!(out, "t\t{}\t{}\t{}\t{}", t.spam, t.ham, t.atime, hex(&k))
        {
            err = Some(e);
        }
    })?;
    store.for_each_seen(&mut |id, c| {
        if err.is_none()
            && let Err(e) = writeln!(out, "s\t{c}\t{id}")
        {
            err = Some(e);
        }
    })?;
    match err {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Lower-case hex of a key.
pub fn hex(k: &Key) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Key> {
    if s.len() != 10 {
        return None;
    }
    let mut k = [0u8; 5];
    for (i, byte) in k.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(k)
}

/// What `restore` read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoreStats {
    pub tokens: u64,
    pub seen: u64,
    pub skipped: u64,
}

/// Replace the store's content with the backup text in `input`.
pub fn restore(store: &dyn Store, input: &mut dyn BufRead, now: i64) -> Result<RestoreStats> {
    let mut version = None;
    let (mut nspam, mut nham) = (0u64, 0u64);
    let mut tokens: Vec<(Key, TokenCounts)> = Vec::new();
    let mut seen: Vec<(String, char)> = Vec::new();
    let mut stats = RestoreStats::default();
    let mut line = Vec::new();
    let mut lineno = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lineno += 1;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
        let text = |i: usize| {
            fields
                .get(i)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .unwrap_or_default()
        };
        let bad = |m: &str| StoreError::Backup {
            line: lineno,
            message: m.to_string(),
        };
        if version.is_none() {
            if fields.first() != Some(&&b"v"[..]) || !text(2).starts_with("db_version") {
                return Err(bad("the first line must give db_version"));
            }
            let v: u32 = text(1).parse().map_err(|_| bad("bad db_version"))?;
            if v != 2 && v != 3 {
                return Err(bad(&format!("unsupported db_version {v}")));
            }
            version = Some(v);
            continue;
        }
        match fields.first().copied() {
            Some(b"v") => {
                let n: i64 = text(1).parse().map_err(|_| bad("bad count"))?;
                match text(2).as_str() {
                    "num_spam" => nspam = n.max(0) as u64,
                    "num_nonspam" => nham = n.max(0) as u64,
                    _ => {}
                }
            }
            Some(b"t") => {
                if fields.len() < 5 {
                    return Err(bad("token line needs 5 fields"));
                }
                let spam: i64 = text(1).parse().map_err(|_| bad("bad spam count"))?;
                let ham: i64 = text(2).parse().map_err(|_| bad("bad ham count"))?;
                let mut atime: i64 = text(3).parse().map_err(|_| bad("bad atime"))?;
                let (spam, ham) = (spam.max(0) as u64, ham.max(0) as u64);
                if spam == 0 && ham == 0 {
                    stats.skipped += 1;
                    continue;
                }
                if atime > now {
                    atime = now;
                }
                let k = if version == Some(2) {
                    key(fields[4])
                } else {
                    unhex(&text(4)).ok_or_else(|| bad("bad token key"))?
                };
                tokens.push((k, TokenCounts { spam, ham, atime }));
                stats.tokens += 1;
            }
            Some(b"s") => {
                let class = match text(1).as_str() {
                    "s" => 's',
                    "h" => 'h',
                    _ => return Err(bad("seen class must be s or h")),
                };
                let id = text(2);
                if !id.is_empty() {
                    seen.push((id, class));
                    stats.seen += 1;
                }
            }
            _ => return Err(bad("unknown line type")),
        }
    }
    if version.is_none() {
        return Err(StoreError::Backup {
            line: 0,
            message: "empty backup".into(),
        });
    }
    store.restore(nspam, nham, &mut tokens.into_iter(), &seen)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::super::sqlite::SqliteStore;
    use super::*;

    #[test]
    fn round_trip() {
        let d = std::env::temp_dir().join(format!("bayes-backup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let s = SqliteStore::open(&d.join("a.sqlite")).unwrap_or_else(|e| panic!("{e}"));
        let text = "v\t3\tdb_version # this must be the first line!!!\nv\t2\tnum_spam\nv\t1\tnum_nonspam\n\
                    t\t1\t0\t1000\tbd9d908616\nt\t0\t0\t1000\t0000000001\ns\th\tx@sa_generated\n";
        let st = restore(&s, &mut text.as_bytes(), 2000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(st.tokens, 1);
        assert_eq!(st.skipped, 1);
        let mut out = Vec::new();
        write(&s, &mut out).unwrap_or_else(|e| panic!("{e}"));
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("t\t1\t0\t1000\tbd9d908616\n"), "{out}");
        assert!(out.contains("v\t2\tnum_spam\n"), "{out}");
        assert!(out.contains("s\th\tx@sa_generated\n"), "{out}");
        assert!(restore(&s, &mut "junk\n".as_bytes(), 0).is_err());
    }
}
