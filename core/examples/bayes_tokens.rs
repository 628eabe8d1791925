//! Print our Bayes tokens of each file in the oracle's format (file, hex
//! key, token), to diff against `src/bayes/testdata/oracle_tokens.pl`.
use spamcore::bayes::{TokenizerOptions, backup::hex, tokenizer};
use spamcore::config::{Config, Sources, default_rules_dir, default_site_dir};
use spamcore::message::Message;

fn main() {
    let conf = Config::load(&Sources {
        rules_dir: default_rules_dir(),
        site_dir: default_site_dir(),
        local_tests_only: true,
        ..Default::default()
    });
    let mut opts = TokenizerOptions::from_config(&conf);
    if std::env::var_os("CJK").is_some() {
        opts.cjk = true;
    }
    for f in std::env::args().skip(1) {
        let Ok(raw) = std::fs::read(&f) else { continue };
        let msg = Message::parse(&raw);
        let mut toks: Vec<_> = tokenizer::tokenize(&msg, &opts).into_iter().collect();
        toks.sort();
        for (k, t) in toks {
            let shown: String = t
                .iter()
                .map(|&b| {
                    if (0x21..=0x7e).contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("\\x{b:02x}")
                    }
                })
                .collect();
            println!("{f}\t{}\t{shown}", hex(&k));
        }
    }
}
