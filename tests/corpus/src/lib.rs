//! Where the project's test mail is, for the tests and the `xtask` tools.
//!
//! The Japanese messages are plain files beside this crate (`ja/`,
//! `ja-real/`), since the project adds to them. The SpamAssassin public
//! corpus (6,046 messages, 43 MB) never changes and ships as one 5 MB zstd
//! tarball; [`public`] unpacks it once into the cargo target directory, under
//! a name derived from the archive's bytes, so a changed archive is unpacked
//! again and concurrent test processes never see a half-written tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// This crate's folder: `tests/corpus` in the repository.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    dir()
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The small hand-made Japanese corpus (`ham/`, `spam/`).
pub fn ja() -> PathBuf {
    dir().join("ja")
}

/// Real Japanese spam and legitimate mail (`ham/`, `spam/`).
pub fn ja_real() -> PathBuf {
    dir().join("ja-real")
}

/// The compressed public corpus in the repository.
pub fn public_archive() -> PathBuf {
    dir().join("spamassassin-public.tar.zst")
}

/// The SpamAssassin public corpus folder (`easy_ham`, `easy_ham_2`,
/// `hard_ham`, `spam`, `spam_2`), unpacked on first use.
pub fn public() -> io::Result<PathBuf> {
    static DONE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DONE.get_or_init(|| unpack_public().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| io::Error::other(format!("unpacking {}: {e}", public_archive().display())))
}

/// [`public`] for tests: panics with the reason when it cannot be had.
pub fn public_or_panic() -> PathBuf {
    public().unwrap_or_else(|e| panic!("{e}"))
}

/// `$CARGO_TARGET_DIR`, else `target/` at the workspace root.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if !t.is_empty() => PathBuf::from(t),
        _ => workspace_root().join("target"),
    }
}

fn unpack_public() -> io::Result<PathBuf> {
    let bytes = fs::read(public_archive())?;
    let base = target_dir().join("corpus");
    let out = base.join(format!("spamassassin-public-{:016x}", fnv1a(&bytes)));
    let folder = out.join("spamassassin-public");
    if out.join(".complete").exists() {
        return Ok(folder);
    }
    fs::create_dir_all(&base)?;
    let tmp = base.join(format!(".unpacking-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    let decoder = ruzstd::decoding::StreamingDecoder::new(&bytes[..])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    tar::Archive::new(decoder).unpack(&tmp)?;
    if !tmp.join("spamassassin-public").is_dir() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the archive has no spamassassin-public/ folder",
        ));
    }
    fs::write(tmp.join(".complete"), b"")?;
    if let Err(e) = fs::rename(&tmp, &out) {
        // Another process finished first: use its tree, drop ours.
        let _ = fs::remove_dir_all(&tmp);
        if !out.join(".complete").exists() {
            return Err(e);
        }
    }
    Ok(folder)
}

/// 64-bit FNV-1a: a stable name for one version of the archive.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The public corpus's folders with their label, as the tools use them.
pub const PUBLIC_FOLDERS: [(&str, &str); 5] = [
    ("easy_ham", "ham"),
    ("easy_ham_2", "ham"),
    ("hard_ham", "ham"),
    ("spam", "spam"),
    ("spam_2", "spam"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().is_file())
                    .count()
            })
            .unwrap_or(0)
    }

    #[test]
    fn public_corpus_unpacks_with_every_message() {
        let root = public_or_panic();
        let counts: Vec<(&str, usize)> = PUBLIC_FOLDERS
            .iter()
            .map(|(f, _)| (*f, count(&root.join(f))))
            .collect();
        assert_eq!(
            counts,
            [
                ("easy_ham", 2500),
                ("easy_ham_2", 1400),
                ("hard_ham", 250),
                ("spam", 500),
                ("spam_2", 1396)
            ]
        );
        // A second call reuses the unpacked tree.
        assert_eq!(public_or_panic(), root);
    }

    #[test]
    fn japanese_corpora_are_in_the_repository() {
        assert_eq!(count(&ja().join("spam")), 6);
        assert_eq!(count(&ja().join("ham")), 36);
        assert_eq!(count(&ja_real().join("spam")), 442);
        assert_eq!(count(&ja_real().join("ham")), 15);
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
