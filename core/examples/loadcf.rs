//! Time configuration loading and rule compilation over the system rules.
fn main() {
    let t = std::time::Instant::now();
    let s = spamcore::config::Sources {
        rules_dir: spamcore::config::default_rules_dir(),
        site_dir: spamcore::config::default_site_dir(),
        local_tests_only: true,
        ..Default::default()
    };
    let c = spamcore::config::Config::load(&s);
    let t_load = t.elapsed();
    let (r, d) =
        spamcore::rules::CompiledRules::compile(c, spamcore::rules::CompileOptions::default());
    println!(
        "load {:?} compile {:?} rules {} diags {}",
        t_load,
        t.elapsed() - t_load,
        r.len(),
        d.len()
    );
}
