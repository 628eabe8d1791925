//! Token probabilities and their combination: Robinson's f(x) per token and
//! Fisher's chi-square combining (`Bayes/CombineChi.pm`), with SpamAssassin's
//! constants so that the same counts give the same probability.

/// Robinson's strength of the prior (s).
pub const FW_S_CONSTANT: f64 = 0.030;
/// Robinson's assumed probability of an unknown token (x).
pub const FW_X_CONSTANT: f64 = 0.538;
/// Tokens closer than this to 0.5 are ignored.
pub const MIN_PROB_STRENGTH: f64 = 0.346;
/// At most this many of the strongest tokens are combined.
pub const N_SIGNIFICANT_TOKENS: usize = 150;

/// The probability that a token with `s` spam and `n` ham counts is
/// spammy, given `ns` spam and `nn` ham messages learned. None when the
/// token is too rare to count (below the hapax threshold) or a corpus is empty.
pub fn token_prob(s: u64, n: u64, ns: u64, nn: u64, use_hapaxes: bool) -> Option<f64> {
    if ns == 0 || nn == 0 {
        return None;
    }
    let threshold = if use_hapaxes { 1 } else { 2 };
    if s + n < threshold {
        return None;
    }
    let (s, n, ns, nn) = (s as f64, n as f64, ns as f64, nn as f64);
    let p = (s * nn) / (n * ns + s * nn);
    let robn = s + n;
    Some((FW_S_CONSTANT * FW_X_CONSTANT + robn * p) / (FW_S_CONSTANT + robn))
}

/// `chi2Q` for an even number of degrees of freedom, given as half of it.
fn chi2q(x2: f64, halfv: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..halfv {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// Split into mantissa in [0.5, 1) and exponent, as C's frexp.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up first.
        let (m, e) = frexp(x * 2f64.powi(54));
        return (m, e - 54);
    }
    let e = exp - 1022;
    let m = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (m, e)
}

/// Combine token probabilities (strongest first) into the message's spam
/// probability. None when there is nothing to combine.
pub fn combine(ns: u64, nn: u64, probs: &[f64]) -> Option<f64> {
    if probs.is_empty() || ns + nn == 0 {
        return None;
    }
    let total = (ns + nn) as f64;
    let (mut s, mut h) = (ns as f64 / total, nn as f64 / total);
    let (mut sexp, mut hexp) = (0i64, 0i64);
    for &p in probs {
        s *= 1.0 - p;
        h *= p;
        // Renormalise before the products underflow.
        if s < 1e-200 {
            let (m, e) = frexp(s);
            s = m;
            sexp += i64::from(e);
        }
        if h < 1e-200 {
            let (m, e) = frexp(h);
            h = m;
            hexp += i64::from(e);
        }
    }
    let ln2 = std::f64::consts::LN_2;
    let s = s.ln() + sexp as f64 * ln2;
    let h = h.ln() + hexp as f64 * ln2;
    let s = 1.0 - chi2q(-2.0 * s, probs.len());
    let h = 1.0 - chi2q(-2.0 * h, probs.len());
    Some(((s - h) + 1.0) / 2.0)
}

/// Pick the significant tokens from `(prob)` values: the 150 strongest,
/// then only those at least MIN_PROB_STRENGTH away from 0.5, strongest first.
pub fn significant(mut probs: Vec<(usize, f64)>) -> Vec<(usize, f64)> {
    probs.sort_by(|a, b| {
        (b.1 - 0.5)
            .abs()
            .partial_cmp(&(a.1 - 0.5).abs())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    probs.truncate(N_SIGNIFICANT_TOKENS);
    probs.retain(|(_, p)| (p - 0.5).abs() >= MIN_PROB_STRENGTH);
    probs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        let p = token_prob(10, 0, 100, 100, true).unwrap_or(0.0);
        assert!(p > 0.99, "{p}");
        assert_eq!(token_prob(0, 0, 100, 100, true), None);
        assert_eq!(token_prob(1, 0, 100, 100, false), None);
        let mid = token_prob(5, 5, 100, 100, true).unwrap_or(0.0);
        assert!((mid - 0.5).abs() < 0.01);
    }

    #[test]
    fn combining() {
        let spammy = combine(200, 200, &[0.99; 20]).unwrap_or(0.0);
        assert!(spammy > 0.999, "{spammy}");
        let hammy = combine(200, 200, &[0.01; 20]).unwrap_or(1.0);
        assert!(hammy < 0.001, "{hammy}");
        // Thousands of strong tokens underflow without renormalising.
        let many = combine(200, 200, &[0.999; 2000]).unwrap_or(0.0);
        assert!(many > 0.99, "{many}");
        assert_eq!(frexp(8.0), (0.5, 4));
    }
}
