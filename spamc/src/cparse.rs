//! Number and header parsing with the exact semantics of the C library calls
//! SpamAssassin's spamc relies on (`atoi`, `strtol`, `sscanf`), so that odd
//! input from a command line or a spamd reply is read the same way.

/// C `strtol(s, &end, 10)`: optional leading whitespace and sign, then
/// digits. Returns the value and how many bytes were consumed (0 when there
/// are no digits). Out-of-range values saturate, as glibc does.
pub fn strtol(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut value: i64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        let d = i64::from(s[i] - b'0');
        let next = value.checked_mul(10).and_then(|v| {
            if neg {
                v.checked_sub(d)
            } else {
                v.checked_add(d)
            }
        });
        match next {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    if overflow {
        value = if neg { i64::MIN } else { i64::MAX };
    }
    (value, i)
}

/// C `atoi`: `(int) strtol(s, NULL, 10)`; the cast keeps the low 32 bits.
pub fn atoi(s: &[u8]) -> i32 {
    strtol(s).0 as i32
}

/// libspamc's locale-independent float reader, including its quirks: the
/// fraction is divided by 10^(number of bytes after the dot), in `f32`.
pub fn spamc_float(s: &[u8]) -> f32 {
    let s = until_nul(s);
    let is_neg = s.first() == Some(&b'-');
    // strtol leaves its end pointer at the start when there are no digits,
    // so ".5" still reaches the fraction code.
    let (int_part, dot) = strtol(s);
    let mut ret = int_part as f32;
    if s.get(dot) != Some(&b'.') {
        return ret;
    }
    let frac = &s[dot + 1..];
    let postdot = strtol(frac).0 as f32;
    if (-0.00001..=0.00001).contains(&postdot) {
        return ret;
    }
    let mut divider: i32 = 1;
    for _ in frac {
        divider = divider.wrapping_mul(10);
    }
    if is_neg {
        ret -= postdot / divider as f32;
    } else {
        ret += postdot / divider as f32;
    }
    ret
}

/// `printf("%.1f", x)` for a float promoted to double.
pub fn fmt_1(x: f32) -> String {
    format!("{:.1}", f64::from(x))
}

/// One directive of a `sscanf` format.
#[derive(Debug, Clone, Copy)]
pub enum Scan {
    /// Literal bytes that must match exactly.
    Lit(&'static [u8]),
    /// A blank in the format: skips any amount of whitespace, even none.
    Ws,
    /// `%Ns`: skips whitespace, then reads 1..=N non-space bytes.
    Str(usize),
    /// `%d`.
    Int,
}

/// A value `sscanf` assigned.
#[derive(Debug, Clone, PartialEq)]
pub enum Scanned {
    Str(Vec<u8>),
    Int(i32),
}

/// A small `sscanf`: returns the values assigned before the first mismatch.
/// Like C, the input ends at its first NUL byte.
pub fn sscanf(input: &[u8], format: &[Scan]) -> Vec<Scanned> {
    let s = until_nul(input);
    let mut pos = 0;
    let mut out = Vec::new();
    for directive in format {
        match *directive {
            Scan::Lit(lit) => {
                if !s[pos..].starts_with(lit) {
                    break;
                }
                pos += lit.len();
            }
            Scan::Ws => {
                while pos < s.len() && is_c_space(s[pos]) {
                    pos += 1;
                }
            }
            Scan::Str(width) => {
                while pos < s.len() && is_c_space(s[pos]) {
                    pos += 1;
                }
                let start = pos;
                while pos < s.len() && pos - start < width && !is_c_space(s[pos]) {
                    pos += 1;
                }
                if pos == start {
                    break;
                }
                out.push(Scanned::Str(s[start..pos].to_vec()));
            }
            Scan::Int => {
                let (v, used) = strtol(&s[pos..]);
                if used == 0 {
                    break;
                }
                pos += used;
                out.push(Scanned::Int(v as i32));
            }
        }
    }
    out
}

fn until_nul(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(b"783"), 783);
        assert_eq!(atoi(b"  12abc"), 12);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b"-7"), -7);
        assert_eq!(atoi(b"+9"), 9);
        // glibc: strtol saturates to LONG_MAX, the int cast keeps -1.
        assert_eq!(atoi(b"99999999999999999999999"), -1);
        assert_eq!(atoi(b"4294967296"), 0);
    }

    #[test]
    fn spamc_floats() {
        assert_eq!(fmt_1(spamc_float(b"1000.0")), "1000.0");
        assert_eq!(fmt_1(spamc_float(b"7.5")), "7.5");
        assert_eq!(fmt_1(spamc_float(b"-0.5")), "-0.5");
        assert_eq!(fmt_1(spamc_float(b"-1.3")), "-1.3");
        assert_eq!(fmt_1(spamc_float(b".5")), "0.5");
        assert_eq!(fmt_1(spamc_float(b"5")), "5.0");
        assert_eq!(fmt_1(spamc_float(b"abc")), "0.0");
        // Trailing junk counts towards the divider, as in libspamc.
        assert_eq!(fmt_1(spamc_float(b"7.5x")), "7.1");
    }

    #[test]
    fn printf_rounding() {
        // Ties on exactly representable values round to even, as glibc does.
        assert_eq!(fmt_1(0.25), "0.2");
        assert_eq!(fmt_1(1.25), "1.2");
        assert_eq!(fmt_1(1003.3), "1003.3");
    }

    #[test]
    fn scanf_spam_header() {
        let fmt = crate::exchange::SPAM_HEADER;
        let v = sscanf(b"Spam: True ; 1000.0 / 5.0", fmt);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], Scanned::Str(b"True".to_vec()));
        assert_eq!(v[2], Scanned::Str(b"5.0".to_vec()));
        assert_eq!(sscanf(b"Spam:True;1/2", fmt).len(), 1);
        assert_eq!(sscanf(b"Spam: True ; 1 / 2", fmt).len(), 3);
        assert!(sscanf(b"Content-length: 5", fmt).is_empty());
    }

    #[test]
    fn scanf_status_line() {
        let fmt = [Scan::Lit(b"SPAMD/"), Scan::Str(18), Scan::Ws, Scan::Int];
        assert_eq!(
            sscanf(b"SPAMD/1.1 0 EX_OK", &fmt),
            vec![Scanned::Str(b"1.1".to_vec()), Scanned::Int(0)]
        );
        assert_eq!(sscanf(b"SPAMD/1.5 0", &fmt).len(), 2);
        assert_eq!(sscanf(b"SPAMD/1.0 x", &fmt).len(), 1);
        assert!(sscanf(b"garbage reply", &fmt).is_empty());
        assert_eq!(sscanf(b"SPAMD/1.1\x00 0", &fmt).len(), 1);
    }
}
