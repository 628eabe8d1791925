//! Print every rule (scored and `__` sub-rules) our engine hits on each
//! message file given, with SpamAssassin's stock rules and local tests only:
//! a debugging aid to compare with `spamassassin -L -t -D`.

use spamcore::config::{Config, Sources};
use spamcore::message::Message;
use spamcore::rules::{CompileOptions, CompiledRules};

fn main() {
    let sources = Sources {
        rules_dir: spamcore::config::default_rules_dir(),
        site_dir: spamcore::config::default_site_dir(),
        extra_lines: vec!["use_bayes 0".into()],
        local_tests_only: true,
        ..Default::default()
    };
    let config = Config::load(&sources);
    let (rules, diags) = CompiledRules::compile(
        config,
        CompileOptions {
            net: false,
            bayes: false,
        },
    );
    if std::env::var_os("HITS_DIAGS").is_some() {
        for d in &diags {
            eprintln!("{d}");
        }
    }
    for path in std::env::args().skip(1) {
        let Ok(raw) = std::fs::read(&path) else {
            eprintln!("cannot read {path}");
            continue;
        };
        let msg = Message::parse(&raw);
        let (hits, subs) = rules.run(&msg);
        let mut names: Vec<String> = hits.into_iter().map(|h| h.name).collect();
        names.extend(subs);
        names.sort();
        println!("== {path}\n{}", names.join(" "));
    }
}
