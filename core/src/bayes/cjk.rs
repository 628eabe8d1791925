//! Extra tokens for Japanese, Chinese and Korean text (our option
//! `bayes_cjk_tokens`; SpamAssassin has no equivalent, so it is off in a
//! SpamAssassin configuration and on in our embedded one).
//!
//! These languages are written without spaces, so SpamAssassin's tokenizer
//! sees a whole clause as one "word" and, when it is longer than 15 bytes,
//! falls back to one token per character. Single characters carry little
//! meaning. Without a dictionary we can still recover most word boundaries
//! cheaply: a change of script (kanji, hiragana, katakana, hangul, latin)
//! usually is one (katakana loan words, kanji compounds), and character
//! bigrams inside a run capture two-character words and word pairs, which
//! is what bigram indexing in CJK search engines relies on.

use crate::message::script::{char_pairs, cjk_runs, script};

/// Longest script segment kept whole as a token (in characters); longer
/// ones are represented by their bigrams only.
const MAX_SEGMENT: usize = 8;

/// Append the CJK tokens of one line: `cs:<segment>` for every run of one
/// script of 2 to 8 characters, and `c2:<a><b>` for every pair of
/// neighbouring CJK characters. The prefixes keep them apart from every
/// token SpamAssassin produces.
pub fn tokens(line: &[u8], out: &mut Vec<Vec<u8>>) {
    // Invalid UTF-8 (Latin-1 text) cannot hold CJK characters.
    let text = String::from_utf8_lossy(line);
    for (run, cjk) in cjk_runs(&text) {
        if cjk {
            run_tokens(run, out);
        }
    }
}

fn run_tokens(run: &str, out: &mut Vec<Vec<u8>>) {
    for pair in char_pairs(run) {
        out.push(format!("c2:{pair}").into_bytes());
    }
    let run: Vec<char> = run.chars().collect();
    let mut s = 0;
    while s < run.len() {
        let sc = script(run[s]);
        let mut e = s + 1;
        while e < run.len() && script(run[e]) == sc {
            e += 1;
        }
        let n = e - s;
        // Single hiragana are particles; single characters of the other
        // scripts are already SpamAssassin's u8: tokens.
        if (2..=MAX_SEGMENT).contains(&n) {
            let mut t = String::from("cs:");
            t.extend(&run[s..e]);
            out.push(t.into_bytes());
        }
        s = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        tokens(s.as_bytes(), &mut out);
        out.into_iter()
            .map(|t| String::from_utf8(t).unwrap_or_default())
            .collect()
    }

    #[test]
    fn script_segments_and_bigrams() {
        let t = toks("お客様のアカウントを確認 OK");
        assert!(t.contains(&"cs:アカウント".to_string()), "{t:?}");
        assert!(t.contains(&"cs:客様".to_string()), "{t:?}");
        assert!(t.contains(&"cs:確認".to_string()), "{t:?}");
        assert!(t.contains(&"c2:確認".to_string()), "{t:?}");
        assert!(t.contains(&"c2:様の".to_string()), "{t:?}");
        assert!(!t.iter().any(|x| x.contains("OK")), "{t:?}");
    }

    #[test]
    fn latin_text_has_none() {
        assert!(toks("plain English text, café").is_empty());
    }
}
