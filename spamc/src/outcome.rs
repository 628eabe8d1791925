//! What spamc prints and how it exits, given how the exchange went: the
//! safe-fallback rules of SpamAssassin 4.0.1's spamc `main()`, as observed
//! against Debian's binary.

use spamcore::protocol::{EX_TEMPFAIL, EX_TOOBIG, EX_UNAVAILABLE};

use crate::args::{Learn, Options, Report};
use crate::exchange::Reply;

/// How the conversation with spamd ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A scan (or PING) succeeded; `out` is exactly what to print.
    Scanned { out: Vec<u8>, is_spam: Option<bool> },
    /// A TELL (`-L`/`-C`) succeeded.
    Told(Reply),
    /// A sysexits code (`EX_TOOBIG` for oversized input or reply).
    Failed(i32),
}

/// What to write to the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Nothing,
    Bytes(Vec<u8>),
    /// The original input, byte for byte, including what is still unread.
    Original,
}

/// Output plus exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub output: Output,
    pub exit: i32,
    /// Whether the `-e` command runs. SpamAssassin's spamc skips it only
    /// when a plain scan failed without safe fallback (`-x`): the caller
    /// gets the error code, so an MTA pipe tempfails instead of delivering
    /// unscanned mail.
    pub run_command: bool,
}

/// Decide output and exit status.
pub fn plan(opts: &Options, outcome: &Outcome) -> Plan {
    match outcome {
        Outcome::Told(reply) => told(opts, reply),
        Outcome::Scanned { out, is_spam } => {
            // -c always reports the verdict; -E only when spamd gave one.
            let verdict = (opts.check || (opts.exit_code && is_spam.is_some())) && !opts.ping;
            let exit = if verdict {
                i32::from(is_spam.unwrap_or(false))
            } else {
                0
            };
            Plan {
                output: Output::Bytes(out.clone()),
                exit,
                run_command: true,
            }
        }
        Outcome::Failed(code) => failed(opts, *code),
    }
}

fn told(opts: &Options, reply: &Reply) -> Plan {
    let text = if let Some(learn) = opts.learn {
        let done = match learn {
            Learn::Spam | Learn::Ham => reply.did_set_local,
            Learn::Forget => reply.did_remove_local,
        };
        if done {
            "Message successfully un/learned\n"
        } else {
            "Message was already un/learned\n"
        }
    } else {
        let done = match opts.report {
            Some(Report::Revoke) => reply.did_remove_remote,
            _ => reply.did_set_remote,
        };
        if done {
            "Message successfully reported/revoked\n"
        } else {
            "Unable to report/revoke message\n"
        }
    };
    Plan {
        output: Output::Bytes(text.as_bytes().to_vec()),
        exit: 0,
        run_command: true,
    }
}

fn failed(opts: &Options, code: i32) -> Plan {
    // Oversized input is never an error, and safe fallback hides the rest.
    let forgiven = code == EX_TOOBIG || opts.safe_fallback;
    let strict = if opts.unavailable_tempfail && code == EX_UNAVAILABLE {
        EX_TEMPFAIL
    } else {
        code
    };
    let fallback_exit = if forgiven { 0 } else { strict };
    if opts.check || opts.report_ifspam || opts.full_report {
        return Plan {
            output: Output::Bytes(b"0/0\n".to_vec()),
            exit: fallback_exit,
            run_command: true,
        };
    }
    if opts.learn.is_some() || opts.ping {
        // Learning and PING never fall back, and -X does not apply.
        return Plan {
            output: Output::Nothing,
            exit: code,
            run_command: true,
        };
    }
    if opts.symbols {
        return Plan {
            output: Output::Bytes(b"\n".to_vec()),
            exit: fallback_exit,
            run_command: true,
        };
    }
    Plan {
        output: if forgiven {
            Output::Original
        } else {
            Output::Nothing
        },
        exit: fallback_exit,
        run_command: forgiven,
    }
}

/// The process exit status for a code: libspamc's EX_TOOBIG (866) reaches
/// the shell as 98, its low byte.
pub fn exit_status(code: i32) -> i32 {
    code & 0xff
}

#[cfg(test)]
mod tests {
    use super::*;
    use spamcore::protocol::{EX_IOERR, EX_NOHOST, EX_PROTOCOL};

    fn opts(f: impl FnOnce(&mut Options)) -> Options {
        let mut o = Options::default();
        f(&mut o);
        o
    }

    fn fail(o: &Options, code: i32) -> Plan {
        plan(o, &Outcome::Failed(code))
    }

    #[test]
    fn default_mode_falls_back() {
        let o = Options::default();
        for code in [EX_UNAVAILABLE, EX_IOERR, EX_PROTOCOL, EX_NOHOST, EX_TOOBIG] {
            assert_eq!(
                fail(&o, code),
                Plan {
                    output: Output::Original,
                    exit: 0,
                    run_command: true,
                }
            );
        }
    }

    #[test]
    fn no_safe_fallback() {
        let o = opts(|o| o.safe_fallback = false);
        assert_eq!(
            fail(&o, EX_UNAVAILABLE),
            Plan {
                output: Output::Nothing,
                exit: 69,
                run_command: false,
            }
        );
        assert_eq!(fail(&o, EX_IOERR).exit, 74);
        // Oversized input still passes through.
        assert_eq!(
            fail(&o, EX_TOOBIG),
            Plan {
                output: Output::Original,
                exit: 0,
                run_command: true,
            }
        );
        let o = opts(|o| {
            o.safe_fallback = false;
            o.unavailable_tempfail = true;
        });
        assert_eq!(fail(&o, EX_UNAVAILABLE).exit, 75);
        assert_eq!(fail(&o, EX_IOERR).exit, 74);
    }

    #[test]
    fn check_and_reports_print_zero_zero() {
        for set in [
            |o: &mut Options| o.check = true,
            |o: &mut Options| o.report_ifspam = true,
            |o: &mut Options| o.full_report = true,
        ] {
            let o = opts(set);
            assert_eq!(
                fail(&o, EX_UNAVAILABLE),
                Plan {
                    output: Output::Bytes(b"0/0\n".to_vec()),
                    exit: 0,
                    run_command: true,
                }
            );
            let mut strict = o.clone();
            strict.safe_fallback = false;
            assert_eq!(
                fail(&strict, EX_UNAVAILABLE).output,
                Output::Bytes(b"0/0\n".to_vec())
            );
            assert_eq!(fail(&strict, EX_UNAVAILABLE).exit, 69);
        }
    }

    #[test]
    fn symbols_print_a_newline() {
        let o = opts(|o| o.symbols = true);
        assert_eq!(
            fail(&o, EX_IOERR),
            Plan {
                output: Output::Bytes(b"\n".to_vec()),
                exit: 0,
                run_command: true,
            }
        );
    }

    #[test]
    fn ping_and_learn_never_fall_back() {
        let o = opts(|o| o.ping = true);
        assert_eq!(
            fail(&o, EX_UNAVAILABLE),
            Plan {
                output: Output::Nothing,
                exit: 69,
                run_command: true,
            }
        );
        let o = opts(|o| {
            o.learn = Some(Learn::Spam);
            o.safe_fallback = false;
            o.unavailable_tempfail = true;
        });
        assert_eq!(fail(&o, EX_UNAVAILABLE).exit, 69);
        assert_eq!(exit_status(fail(&o, EX_TOOBIG).exit), 98);
    }

    #[test]
    fn report_type_falls_back_like_process() {
        let o = opts(|o| o.report = Some(Report::Report));
        assert_eq!(fail(&o, EX_UNAVAILABLE).output, Output::Original);
    }

    #[test]
    fn success_exit_codes() {
        let spam = Outcome::Scanned {
            out: b"x".to_vec(),
            is_spam: Some(true),
        };
        let ham = Outcome::Scanned {
            out: b"x".to_vec(),
            is_spam: Some(false),
        };
        let unknown = Outcome::Scanned {
            out: b"x".to_vec(),
            is_spam: None,
        };
        let o = Options::default();
        assert_eq!(plan(&o, &spam).exit, 0);
        let c = opts(|o| o.check = true);
        assert_eq!(plan(&c, &spam).exit, 1);
        assert_eq!(plan(&c, &ham).exit, 0);
        let e = opts(|o| o.exit_code = true);
        assert_eq!(plan(&e, &spam).exit, 1);
        assert_eq!(plan(&e, &unknown).exit, 0);
        assert_eq!(plan(&e, &spam).output, Output::Bytes(b"x".to_vec()));
    }

    #[test]
    fn tell_messages() {
        let l = opts(|o| o.learn = Some(Learn::Spam));
        let done = Reply {
            did_set_local: true,
            ..Reply::default()
        };
        assert_eq!(
            plan(&l, &Outcome::Told(done)).output,
            Output::Bytes(b"Message successfully un/learned\n".to_vec())
        );
        assert_eq!(
            plan(&l, &Outcome::Told(Reply::default())).output,
            Output::Bytes(b"Message was already un/learned\n".to_vec())
        );
        let f = opts(|o| o.learn = Some(Learn::Forget));
        let removed = Reply {
            did_remove_local: true,
            ..Reply::default()
        };
        assert_eq!(
            plan(&f, &Outcome::Told(removed)).output,
            Output::Bytes(b"Message successfully un/learned\n".to_vec())
        );
        let r = opts(|o| o.report = Some(Report::Revoke));
        let revoked = Reply {
            did_remove_remote: true,
            ..Reply::default()
        };
        assert_eq!(
            plan(&r, &Outcome::Told(revoked)).output,
            Output::Bytes(b"Message successfully reported/revoked\n".to_vec())
        );
        assert_eq!(
            plan(&r, &Outcome::Told(Reply::default())).output,
            Output::Bytes(b"Unable to report/revoke message\n".to_vec())
        );
    }
}
