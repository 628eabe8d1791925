//! `mimeheader` rules (SpamAssassin's MIMEHeader plugin): a header regex
//! tried on every MIME part's headers (the message's own headers are part
//! 1), optionally only on a range of parts (`tflags range=`) or on all
//! parts' values joined (`tflags concat`).

use super::perlre::Matcher;
use crate::config::TFlags;
use crate::message::Message;

/// A compiled `mimeheader NAME Header[:raw] =~ /re/`.
#[derive(Debug, Clone)]
pub(super) struct MimeheaderTest {
    pub header: String,
    pub raw: bool,
    pub negate: bool,
    pub matcher: Matcher,
}

/// Part numbers a rule looks at (1-based, inclusive), from `range=`.
fn part_range(t: &TFlags) -> (usize, usize) {
    let (mut lo, mut hi) = (0usize, 1000usize);
    let Some(spec) = t.words.iter().find_map(|w| w.strip_prefix("range=")) else {
        return (lo, hi);
    };
    let num = |s: &str| -> Option<usize> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match spec.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a), num(b));
            // A malformed side (`x-3`) makes the whole flag ignored.
            let bad = |s: &str, v: Option<usize>| !s.is_empty() && v.is_none();
            if let Some((sa, sb)) = spec.split_once('-')
                && (bad(sa, a) || bad(sb, b))
            {
                return (lo, hi);
            }
            if let Some(a) = a {
                lo = a;
            }
            if let Some(b) = b {
                hi = b;
            }
        }
        None => {
            if let Some(a) = num(spec) {
                lo = a;
                hi = a;
            }
        }
    }
    (lo, hi)
}

fn max_hits(t: &TFlags) -> u32 {
    match t.maxhits {
        Some(n) => n.max(1),
        None if t.multiple => 1000,
        None => 1,
    }
}

impl MimeheaderTest {
    /// Hit count of the rule on `msg`.
    pub fn run(&self, msg: &Message, t: &TFlags) -> u32 {
        let (lo, hi) = part_range(t);
        let concat = t.words.iter().any(|w| w == "concat");
        let cap = max_hits(t);
        let mut joined: Vec<u8> = Vec::new();
        for (i, p) in msg.mime_parts().into_iter().enumerate() {
            let idx = i + 1;
            if idx > hi {
                break;
            }
            if idx < lo {
                continue;
            }
            let value: Vec<u8> = if self.header == "ALL" {
                p.all_headers(self.raw)
            } else if self.raw {
                p.header_raw(&self.header)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default()
            } else {
                p.header(&self.header)
                    .map(|v| format!("{v}\n").into_bytes())
                    .unwrap_or_default()
            };
            if concat {
                joined.extend_from_slice(&value);
                if !value.ends_with(b"\n") {
                    joined.push(b'\n');
                }
                continue;
            }
            if !self.negate {
                let n = self.matcher.count(&value, cap);
                if n > 0 {
                    return n;
                }
            }
        }
        if concat && !self.negate {
            let n = self.matcher.count(&joined, cap);
            if n > 0 {
                return n;
            }
        }
        // SpamAssassin 4.0.1 stops looking at the first match of a negated
        // rule without counting it, and then reports the rule as hit
        // whatever it saw; do the same.
        u32::from(self.negate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(header: &str, raw: bool, re: &str) -> MimeheaderTest {
        MimeheaderTest {
            header: header.into(),
            raw,
            negate: false,
            matcher: Matcher::compile_delimited(re).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    const MSG: &str = "Subject: t\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
        --b\nContent-Type: text/plain\n\nhi\n\
        --b\nContent-Type: image/gif;\n        name=\"abcdefgh.gif\"\n\
        Content-Transfer-Encoding: base64\n\nR0lGODlh\n--b--\n";

    // Expected values below were checked with `spamassassin -t -D`.
    #[test]
    fn per_part_and_range() {
        let msg = Message::parse(MSG.as_bytes());
        let t = TFlags::default();
        assert_eq!(
            test("Content-Type", false, r#"/\bname="[a-z]{8,}\.gif/"#).run(&msg, &t),
            1
        );
        assert_eq!(
            test("Content-Type", false, r"/^multipart\/mixed/").run(&msg, &t),
            1
        );
        assert_eq!(
            test(
                "Content-Type",
                true,
                r#"/^image\/gif;\n {8}name=\".+?\"$/s"#
            )
            .run(&msg, &t),
            1
        );
        let first_only = TFlags::parse("range=1");
        assert_eq!(
            test("Content-Type", false, r"/^text\/plain/").run(&msg, &first_only),
            0
        );
        let subparts = TFlags::parse("range=2-");
        assert_eq!(
            test("Content-Type", false, r"/^multipart/").run(&msg, &subparts),
            0
        );
        let concat = TFlags::parse("concat");
        assert_eq!(
            test("Content-Type", false, r"/text\/plain\n.*image/s").run(&msg, &concat),
            1
        );
        assert_eq!(part_range(&TFlags::parse("range=2-3")), (2, 3));
        assert_eq!(part_range(&TFlags::parse("range=-3")), (0, 3));
    }
}
