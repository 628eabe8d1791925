//! spamc.conf: whitespace-separated words prepended to the command line, so
//! that the command line wins. Only a literal `-F path` word selects another
//! file (`--config` is accepted by the parser but loads nothing), exactly as
//! in SpamAssassin's spamc.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// The file read when no `-F` is given (Debian's build of spamc).
pub const DEFAULT_CONFIG: &str = "/etc/spamassassin/spamc.conf";
/// Longest line spamc accepts, without its newline.
pub const MAX_LINE: usize = 8190;
/// Most words spamc accepts, `argv[0]` and the command line included.
pub const MAX_ARGS: usize = 24;

/// Why the configuration could not be merged (spamc exits 78).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Open(String),
    NoNewline(String),
    LineTooLong(String),
    TooManyArgs(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Open(p) => write!(f, "Failed to open config file: {p}"),
            ConfigError::NoNewline(p) => write!(f, "Line not terminated with a newline in {p}"),
            ConfigError::LineTooLong(p) => write!(f, "Exceeded max line size ({MAX_LINE}) in {p}"),
            ConfigError::TooManyArgs(p) => {
                write!(f, "Exceeded max number of arguments ({MAX_ARGS}) in {p}")
            }
        }
    }
}

/// The file named by the first argv word that starts with `-F` (the word
/// after it), if any.
pub fn explicit_path(argv: &[OsString]) -> Option<Option<&OsString>> {
    let i = argv.iter().position(|a| a.as_bytes().starts_with(b"-F"))?;
    Some(argv.get(i + 1))
}

/// argv with the configuration file's words inserted after `argv[0]`.
pub fn combine(argv: &[OsString]) -> Result<Vec<OsString>, ConfigError> {
    // `-F` as the last word names no file: spamc then uses the default.
    let (path, user_defined) = match explicit_path(argv) {
        Some(Some(p)) => (Path::new(p).to_path_buf(), true),
        _ => (Path::new(DEFAULT_CONFIG).to_path_buf(), false),
    };
    let shown = path.to_string_lossy().into_owned();
    match std::fs::read(&path) {
        Ok(text) => merge(argv, &text, &shown),
        Err(_) if user_defined => Err(ConfigError::Open(shown)),
        Err(_) => Ok(argv.to_vec()),
    }
}

/// Merge a configuration file's text into argv (pure part of [`combine`]).
pub fn merge(argv: &[OsString], text: &[u8], shown: &str) -> Result<Vec<OsString>, ConfigError> {
    let mut out: Vec<OsString> = argv.iter().take(1).cloned().collect();
    if out.is_empty() {
        out.push(OsString::from("spamc"));
    }
    let mut rest = text;
    while !rest.is_empty() {
        let (line, terminated, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (&rest[..n], true, &rest[n + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        rest = next;
        if line.len() > MAX_LINE {
            return Err(ConfigError::LineTooLong(shown.to_string()));
        }
        if !terminated {
            return Err(ConfigError::NoNewline(shown.to_string()));
        }
        // Only '#' in the first column starts a comment; words are split on
        // spaces alone (a tab is part of a word), as spamc's strtok does.
        if line.first() == Some(&b'#') || line.is_empty() {
            continue;
        }
        for word in line.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
            out.push(OsString::from_vec(word.to_vec()));
            if out.len() > MAX_ARGS {
                return Err(ConfigError::TooManyArgs(shown.to_string()));
            }
        }
    }
    out.extend(argv.iter().skip(1).cloned());
    if out.len() > MAX_ARGS {
        return Err(ConfigError::TooManyArgs(shown.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn words_are_prepended() {
        let merged = merge(
            &argv(&["spamc", "-p", "1"]),
            b"# comment\n\n-d host  -p 783\n  -c\n",
            "f",
        )
        .unwrap();
        assert_eq!(
            merged,
            argv(&["spamc", "-d", "host", "-p", "783", "-c", "-p", "1"])
        );
    }

    #[test]
    fn tabs_and_indented_hashes_are_words() {
        let merged = merge(&argv(&["spamc"]), b"\t-p\t1\n # x\n", "f").unwrap();
        assert_eq!(merged, argv(&["spamc", "\t-p\t1", "#", "x"]));
    }

    #[test]
    fn errors() {
        let a = argv(&["spamc"]);
        assert_eq!(
            merge(&a, b"-c", "f"),
            Err(ConfigError::NoNewline("f".into()))
        );
        let long = format!("-c{}\n", " ".repeat(MAX_LINE - 2));
        assert!(merge(&a, long.as_bytes(), "f").is_ok());
        let too_long = format!("-c{}\n", " ".repeat(MAX_LINE - 1));
        assert_eq!(
            merge(&a, too_long.as_bytes(), "f"),
            Err(ConfigError::LineTooLong("f".into()))
        );
        assert_eq!(
            ConfigError::TooManyArgs("f".into()).to_string(),
            "Exceeded max number of arguments (24) in f"
        );
    }

    #[test]
    fn argument_limit_counts_everything() {
        let words = "-c ".repeat(21) + "\n";
        assert!(merge(&argv(&["spamc", "-F", "f"]), words.as_bytes(), "f").is_ok());
        let words = "-c ".repeat(22) + "\n";
        assert!(merge(&argv(&["spamc", "-F", "f"]), words.as_bytes(), "f").is_err());
        let words = "-c ".repeat(20) + "\n";
        assert!(
            merge(
                &argv(&["spamc", "-F", "f", "-p", "1"]),
                words.as_bytes(),
                "f"
            )
            .is_err()
        );
    }

    #[test]
    fn explicit_file_detection() {
        assert_eq!(explicit_path(&argv(&["spamc", "-c"])), None);
        let a = argv(&["spamc", "-F", "x.conf"]);
        assert_eq!(explicit_path(&a), Some(Some(&a[2])));
        let a = argv(&["spamc", "-Fy", "x.conf"]);
        assert_eq!(explicit_path(&a), Some(Some(&a[2])));
        assert_eq!(explicit_path(&argv(&["spamc", "-F"])), Some(None));
        assert_eq!(explicit_path(&argv(&["spamc", "--config", "x"])), None);
    }

    #[test]
    fn missing_files() {
        let a = argv(&["spamc", "-F", "/nonexistent/spamc.conf"]);
        assert_eq!(
            combine(&a),
            Err(ConfigError::Open("/nonexistent/spamc.conf".into()))
        );
    }
}
