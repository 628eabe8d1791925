//! A short fuzz run on stable Rust (issue 10): the same entry points as
//! the cargo-fuzz targets in `fuzz/`, fed mutations of their seed corpus
//! for a few seconds each (`FUZZISH_SECONDS`, default 2), plus every
//! input the fuzzers ever found (`fuzz/regressions/<target>/`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spamcore::fuzzing;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("spamc_request", fuzzing::spamc_request),
    ("message", fuzzing::message),
    ("cf", fuzzing::cf),
    ("spamd_reply", fuzzing::spamd_reply),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    names.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// xorshift64*: reproducible, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that matter to these parsers.
const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n\n",
    b"Content-length: ",
    b"Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\n",
    b"--x--\n",
    b"Content-Transfer-Encoding: base64\n",
    b"=?utf-8?B?",
    b"?=",
    b"<a href=\"http://",
    b"<html><body>",
    b"Received: from a (b [1.2.3.4]) by c",
    b"Compress: zlib\r\n",
    b"SPAMD/1.1 0 EX_OK\r\n",
    b"Spam: True ; 1 / 5\r\n",
    b"ifplugin ",
    b"endif\n",
    b"meta X (",
    b"body X /",
    b"\xff\xfe",
    b"\xe3\x81\x82",
    b"%",
    b"\0",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(d.len() + 1);
        match rng.below(7) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = rng.next() as u8;
            }
            1 if !d.is_empty() => {
                let end = (at + rng.below(64)).min(d.len());
                d.drain(at.min(end)..end);
            }
            2 => {
                let s = INTERESTING[rng.below(INTERESTING.len())];
                d.splice(at..at, s.iter().copied());
            }
            3 if !d.is_empty() => {
                // Duplicate a slice (nesting, repetition).
                let start = rng.below(d.len());
                let end = (start + rng.below(256)).min(d.len());
                let piece = d[start..end].to_vec();
                for _ in 0..1 + rng.below(4) {
                    d.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                d.truncate(at);
                d.extend_from_slice(&other[cut..]);
            }
            5 => d.truncate(at),
            _ => {
                let n = (rng.next() % 1_000_000).to_string();
                d.splice(at..at, n.bytes());
            }
        }
    }
    d
}

#[test]
fn fuzz_regressions() {
    for (name, target) in TARGETS {
        for input in files(&fuzz_dir().join("regressions").join(name)) {
            target(&input);
        }
    }
}

#[test]
fn mutated_seeds() {
    let secs: u64 = std::env::var("FUZZISH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    for (k, (name, target)) in TARGETS.iter().enumerate() {
        let seeds = files(&fuzz_dir().join("seeds").join(name));
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for s in &seeds {
            target(s);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1));
        let t = Instant::now();
        let mut runs = 0u64;
        while t.elapsed() < Duration::from_secs(secs) {
            let input = mutate(&mut rng, &seeds);
            target(&input);
            runs += 1;
        }
        eprintln!("{name}: {runs} mutated inputs");
    }
}

/// `Compress: zlib` with a body that inflates far past the cap is refused
/// after inflating only up to the cap, not inflated whole.
#[test]
fn zlib_bomb_is_capped() {
    use spamcore::protocol::{RequestHeaders, decode_body_max, deflate};
    let big = vec![b'a'; 64 << 20];
    let z = deflate(&big);
    assert!(z.len() < 1 << 20, "compressed to {}", z.len());
    let h = RequestHeaders {
        compress_zlib: true,
        content_length: Some(z.len()),
        ..Default::default()
    };
    let e = decode_body_max(&h, z.clone(), 1 << 20).expect_err("must be refused");
    assert!(e.text.contains("larger than"), "{}", e.text);
    let ok = decode_body_max(&h, z, 128 << 20).expect("under the cap");
    assert_eq!(ok.len(), big.len());
}
