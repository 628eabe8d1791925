fn main() {
    let s = spamcore::config::Sources {
        rules_dir: spamcore::config::default_rules_dir(),
        site_dir: spamcore::config::default_site_dir(),
        local_tests_only: true,
        ..Default::default()
    };
    let c = spamcore::config::Config::load(&s);
    println!(
        "rules {} scores {} plugins {}",
        c.rules.len(),
        c.scores.len(),
        c.plugins.len()
    );
    let mut kinds = std::collections::BTreeMap::new();
    for r in c.rules.values() {
        let k = format!("{:?}", r.kind);
        let k = k.split([' ', '{', '(']).next().unwrap_or("").to_string();
        *kinds.entry(k).or_insert(0) += 1;
    }
    println!("{kinds:?}");
    for d in c.diagnostics.iter().take(30) {
        println!("{d}");
    }
    println!("diags {}", c.diagnostics.len());
    use spamcore::config::RuleKind::*;
    let mut stats = std::collections::BTreeMap::new();
    let t = std::time::Instant::now();
    for r in c.rules.values() {
        let p = match &r.kind {
            Header { pattern, .. }
            | Body { pattern }
            | Rawbody { pattern }
            | Full { pattern }
            | Uri { pattern }
            | Mimeheader { pattern, .. } => pattern,
            _ => continue,
        };
        match spamcore::rules::perlre::Matcher::compile_delimited(p) {
            Ok(m) => *stats.entry(m.engine().to_string()).or_insert(0) += 1,
            Err(e) => {
                println!("ERR {} {}: {}", r.name, p, e);
                *stats.entry("err".to_string()).or_insert(0) += 1
            }
        }
    }
    println!("{stats:?} in {:?}", t.elapsed());
}

#[allow(dead_code)]
fn unused() {}
