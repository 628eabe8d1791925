//! Our spamc against SpamAssassin's own spamd: the same output and exit code
//! as SpamAssassin's spamc, command by command.

use e2e::*;

/// report_safe wrapping carries a fresh date and MIME boundary per request.
fn mask_volatile(out: &[u8]) -> String {
    let s = String::from_utf8_lossy(out);
    let mut lines = Vec::new();
    for line in s.split('\n') {
        let l = if line.contains("----------=_") {
            "<boundary>".to_string()
        } else if line.starts_with("\tSun, ")
            || line.starts_with("\tMon, ")
            || line.starts_with("\tTue, ")
            || line.starts_with("\tWed, ")
            || line.starts_with("\tThu, ")
            || line.starts_with("\tFri, ")
            || line.starts_with("\tSat, ")
        {
            "<date>".to_string()
        } else {
            line.to_string()
        };
        lines.push(l);
    }
    lines.join("\n")
}

#[test]
fn same_output_as_spamassassins_spamc() {
    let sa_spamc = sa_spamc();
    let ours = our_bin("spamc");
    let d = Daemon::spamassassin();
    let port = d.port.to_string();
    let p = port.as_str();
    let messages = [("gtube", gtube()), ("ham", ham())];
    let commands: [&[&str]; 9] = [
        &["-c"],
        &["-y"],
        &["-R"],
        &["-r"],
        &["-E"],
        &["--headers"],
        &[],
        &["-x", "-c"],
        &["-L", "spam"],
    ];
    for (name, msg) in &messages {
        for cmd in commands {
            let mut args = vec!["-p", p];
            args.extend_from_slice(cmd);
            let theirs = run(&sa_spamc, &args, msg, T);
            let mine = run(&ours, &args, msg, T);
            assert_eq!(mine.code, theirs.code, "{name} {cmd:?}: exit code");
            assert_eq!(
                mask_volatile(&mine.stdout),
                mask_volatile(&theirs.stdout),
                "{name} {cmd:?}: output"
            );
        }
    }
    let theirs = run(&sa_spamc, &["-p", p, "-K"], b"", T);
    let mine = run(&ours, &["-p", p, "-K"], b"", T);
    assert_eq!((mine.code, mine.stdout), (theirs.code, theirs.stdout), "-K");
}
