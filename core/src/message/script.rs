//! Which script a character belongs to, for the languages written
//! without spaces between words (Japanese, Chinese, Korean): Bayes splits
//! their text at script changes and into character pairs, and the
//! HTML/plain comparison counts character pairs.

/// Scripts whose boundaries text is split at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Han,
    Hiragana,
    Katakana,
    Hangul,
    /// Anything else (latin, digits, punctuation): ends a CJK run.
    Other,
}

/// Whether `c` is a Han, kana or hangul character (a character of a
/// script written without spaces between words).
pub fn is_cjk_char(c: char) -> bool {
    script(c) != Script::Other
}

/// The script of `c`.
pub fn script(c: char) -> Script {
    match u32::from(c) {
        0x3041..=0x309F => Script::Hiragana,
        // The prolonged sound mark belongs to the katakana word it extends.
        0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Katakana,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0x3005 => {
            Script::Han
        }
        0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F => Script::Hangul,
        _ => Script::Other,
    }
}

/// `text` cut into maximal runs of CJK and of other characters, each with
/// whether it is CJK.
pub fn cjk_runs(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let c = rest.chars().next()?;
        let cjk = is_cjk_char(c);
        let end = rest
            .char_indices()
            .find(|&(_, d)| is_cjk_char(d) != cjk)
            .map_or(rest.len(), |(i, _)| i);
        let (run, tail) = rest.split_at(end);
        rest = tail;
        Some((run, cjk))
    })
}

/// Every pair of neighbouring characters of `run`, as slices of it.
pub fn char_pairs(run: &str) -> impl Iterator<Item = &str> {
    let mut chars = run.char_indices().peekable();
    std::iter::from_fn(move || {
        let (i, _) = chars.next()?;
        let &(j, d) = chars.peek()?;
        Some(&run[i..j + d.len_utf8()])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_pairs() {
        let runs: Vec<_> = cjk_runs("OK確認してIDを").collect();
        assert_eq!(
            runs,
            [
                ("OK", false),
                ("確認して", true),
                ("ID", false),
                ("を", true)
            ]
        );
        let pairs: Vec<_> = char_pairs("確認して").collect();
        assert_eq!(pairs, ["確認", "認し", "して"]);
        assert_eq!(char_pairs("を").count(), 0);
        assert_eq!(cjk_runs("").count(), 0);
    }
}
