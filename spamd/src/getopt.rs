//! Perl's Getopt::Long as SpamAssassin's tools configure it (`bundling`),
//! so that every command line SpamAssassin accepts is accepted here with
//! the same meaning, and every one it refuses is refused.
//!
//! Option specs use Getopt::Long's syntax: names joined by `|`, then `!`
//! (negatable: `--no-name` and `--noname`), `=s`/`=i` (value required),
//! `:s`/`:i` (value optional); we add `@` for options whose values
//! accumulate (Perl's array destinations). The rules, as Getopt::Long
//! applies them:
//! - `-abc` is a bundle of one-letter options; an option that takes a value
//!   takes the rest of the bundle (`-m5`), else the next argument.
//! - `--name` and `--name=value`; long names match case-insensitively and
//!   may be abbreviated to any unambiguous prefix; an exact name wins over
//!   longer names it is a prefix of.
//! - A required value is the next argument whatever it looks like; an
//!   optional one only when it does not start with `-`.
//! - `=i` values are optionally signed decimal integers.
//! - `--` ends the options; other words are left alone (SpamAssassin's
//!   daemon ignores them).
//! - A scalar given twice keeps the last value; `@` options keep them all.

/// The kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    Nothing,
    Str { optional: bool },
    Int { optional: bool },
}

/// One option of the table, parsed from its spec.
#[derive(Debug, Clone)]
pub struct OptSpec {
    /// Every name; the first is the canonical one.
    pub names: Vec<&'static str>,
    pub takes: Takes,
    pub negatable: bool,
    pub list: bool,
}

impl OptSpec {
    /// Parse a Getopt::Long spec such as `max-children|m=i` or `listen|i:s@`.
    pub fn parse(spec: &'static str) -> OptSpec {
        let list = spec.ends_with('@');
        let spec = spec.strip_suffix('@').unwrap_or(spec);
        let (names, takes, negatable) = if let Some(n) = spec.strip_suffix('!') {
            (n, Takes::Nothing, true)
        } else if let Some((n, t)) = spec.split_once(['=', ':']) {
            let optional = spec.as_bytes()[n.len()] == b':';
            let takes = if t == "i" {
                Takes::Int { optional }
            } else {
                Takes::Str { optional }
            };
            (n, takes, false)
        } else {
            (spec, Takes::Nothing, false)
        };
        OptSpec {
            names: names.split('|').collect(),
            takes,
            negatable,
            list,
        }
    }

    pub fn canonical(&self) -> &'static str {
        self.names[0]
    }
}

/// A value as the command line gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A flag: true, or false when negated (`--no-name`).
    Flag(bool),
    Str(String),
    Int(i64),
    /// An optional value that was not given.
    Missing,
}

/// One option occurrence, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// Index of the option in the table.
    pub index: usize,
    pub value: Value,
}

/// Parse `args` (without the program name) against `table`. The error
/// text is Getopt::Long's.
pub fn parse(table: &[OptSpec], args: &[String]) -> Result<Vec<Occurrence>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let (index, negated) = find_long(table, name)?;
            let spec = &table[index];
            let shown = if negated {
                format!("no{}", spec.canonical())
            } else {
                spec.canonical().to_string()
            };
            let value = if spec.takes == Takes::Nothing {
                if inline.is_some() {
                    return Err(format!("Option {name} does not take an argument"));
                }
                Value::Flag(!negated)
            } else {
                take_value(spec, &shown, inline, args, &mut i)?
            };
            out.push(Occurrence { index, value });
        } else if arg.len() > 1 && arg.starts_with('-') {
            let bundle = &arg[1..];
            for (pos, c) in bundle.char_indices() {
                let Some(index) = find_short(table, c) else {
                    return Err(format!("Unknown option: {c}"));
                };
                let spec = &table[index];
                if spec.takes == Takes::Nothing {
                    out.push(Occurrence {
                        index,
                        value: Value::Flag(true),
                    });
                    continue;
                }
                let rest = &bundle[pos + c.len_utf8()..];
                let inline = (!rest.is_empty()).then(|| rest.to_string());
                let value = take_value(spec, &c.to_string(), inline, args, &mut i)?;
                out.push(Occurrence { index, value });
                break;
            }
        }
        // Anything else is not an option: left alone.
    }
    Ok(out)
}

/// The value of an option that takes one: inline (`--x=v`, `-xv`), else
/// the next argument when allowed.
fn take_value(
    spec: &OptSpec,
    shown: &str,
    inline: Option<String>,
    args: &[String],
    i: &mut usize,
) -> Result<Value, String> {
    let (int, optional) = match spec.takes {
        Takes::Int { optional } => (true, optional),
        Takes::Str { optional } => (false, optional),
        Takes::Nothing => return Ok(Value::Flag(true)),
    };
    let raw = match inline {
        Some(v) => v,
        None => {
            let next = args.get(*i);
            let usable = match next {
                None => false,
                Some(n) if optional => !(n.starts_with('-') && n.len() > 1) && (!int || is_int(n)),
                Some(_) => true,
            };
            if !usable {
                if optional {
                    return Ok(Value::Missing);
                }
                return Err(format!("Option {shown} requires an argument"));
            }
            *i += 1;
            next.cloned().unwrap_or_default()
        }
    };
    if !int {
        return Ok(Value::Str(raw));
    }
    match raw.parse::<i64>() {
        Ok(n) if is_int(&raw) => Ok(Value::Int(n)),
        _ => Err(format!(
            "Value \"{raw}\" invalid for option {shown} (number expected)"
        )),
    }
}

/// Perl's `[-+]?\d+`.
fn is_int(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn find_short(table: &[OptSpec], c: char) -> Option<usize> {
    let mut buf = [0u8; 4];
    let name: &str = c.encode_utf8(&mut buf);
    table.iter().position(|s| s.names.contains(&name))
}

/// A long name: exact (case-sensitive, then case-insensitive), else an
/// unambiguous prefix of the names longer than one letter, negated forms
/// included. Returns the option and whether it was negated.
fn find_long(table: &[OptSpec], name: &str) -> Result<(usize, bool), String> {
    // Every spelling: (spelling, option, negated).
    let mut all: Vec<(String, usize, bool)> = Vec::new();
    for (i, s) in table.iter().enumerate() {
        for n in &s.names {
            all.push((n.to_string(), i, false));
            if s.negatable {
                all.push((format!("no{n}"), i, true));
                all.push((format!("no-{n}"), i, true));
            }
        }
    }
    if let Some((_, i, neg)) = all.iter().find(|(n, ..)| n == name) {
        return Ok((*i, *neg));
    }
    let lower = name.to_ascii_lowercase();
    let long = |n: &String| n.chars().count() > 1;
    if let Some((_, i, neg)) = all
        .iter()
        .find(|(n, ..)| long(n) && n.to_ascii_lowercase() == lower)
    {
        return Ok((*i, *neg));
    }
    let mut hits: Vec<&(String, usize, bool)> = all
        .iter()
        .filter(|(n, ..)| long(n) && n.to_ascii_lowercase().starts_with(&lower))
        .collect();
    if name.is_empty() {
        hits.clear();
    }
    let mut distinct: Vec<(usize, bool)> = hits.iter().map(|(_, i, neg)| (*i, *neg)).collect();
    distinct.sort_unstable();
    distinct.dedup();
    match distinct.as_slice() {
        [] => Err(format!("Unknown option: {name}")),
        [(i, neg)] => Ok((*i, *neg)),
        many => {
            let mut names: Vec<String> = many
                .iter()
                .map(|&(i, neg)| {
                    let c = table[i].canonical();
                    if neg {
                        format!("no-{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            names.sort();
            Err(format!("Option {name} is ambiguous ({})", names.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<OptSpec> {
        [
            "max-children|m=i",
            "max-spare=i",
            "create-prefs!",
            "c",
            "local!",
            "L",
            "debug|D:s",
            "listen|i:s@",
            "port|p=s",
            "timing",
            "timeout-tcp|T=i",
        ]
        .into_iter()
        .map(OptSpec::parse)
        .collect()
    }

    fn run(args: &[&str]) -> Result<Vec<(&'static str, Value)>, String> {
        let t = table();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&t, &args).map(|v| {
            v.into_iter()
                .map(|o| (t[o.index].canonical(), o.value))
                .collect()
        })
    }

    #[test]
    fn specs() {
        let s = OptSpec::parse("listen|listen-ip|i:s@");
        assert_eq!(s.names, ["listen", "listen-ip", "i"]);
        assert_eq!(s.takes, Takes::Str { optional: true });
        assert!(s.list && !s.negatable);
        let s = OptSpec::parse("daemonize!");
        assert!(s.negatable);
        assert_eq!(s.takes, Takes::Nothing);
        assert_eq!(
            OptSpec::parse("max-children|m=i").takes,
            Takes::Int { optional: false }
        );
    }

    #[test]
    fn bundles_and_attached_values() {
        assert_eq!(
            run(&["-cm5", "-L"]),
            Ok(vec![
                ("c", Value::Flag(true)),
                ("max-children", Value::Int(5)),
                ("L", Value::Flag(true)),
            ])
        );
        assert_eq!(
            run(&["-m", "-3"]),
            Ok(vec![("max-children", Value::Int(-3))])
        );
        assert_eq!(
            run(&["-mV"]),
            Err("Value \"V\" invalid for option m (number expected)".into())
        );
        assert_eq!(run(&["-L1"]), Err("Unknown option: 1".into()));
    }

    #[test]
    fn long_names_abbreviations_and_negations() {
        assert_eq!(
            run(&["--max-ch", "3", "--Max-Spare=2"]),
            Ok(vec![
                ("max-children", Value::Int(3)),
                ("max-spare", Value::Int(2)),
            ])
        );
        assert_eq!(
            run(&["--max", "3"]),
            Err("Option max is ambiguous (max-children, max-spare)".into())
        );
        assert_eq!(
            run(&["--tim"]),
            Err("Option tim is ambiguous (timeout-tcp, timing)".into())
        );
        assert_eq!(run(&["--timing"]), Ok(vec![("timing", Value::Flag(true))]));
        assert_eq!(
            run(&["--no-create-prefs", "--nolocal", "--no-cr"]),
            Ok(vec![
                ("create-prefs", Value::Flag(false)),
                ("local", Value::Flag(false)),
                ("create-prefs", Value::Flag(false)),
            ])
        );
        assert_eq!(
            run(&["--local=1"]),
            Err("Option local does not take an argument".into())
        );
        assert_eq!(
            run(&["--m", "4"]),
            Ok(vec![("max-children", Value::Int(4))])
        );
        assert_eq!(run(&["--bogus"]), Err("Unknown option: bogus".into()));
    }

    #[test]
    fn required_and_optional_values() {
        // A required value is taken whatever it looks like.
        assert_eq!(
            run(&["-p", "-L"]),
            Ok(vec![("port", Value::Str("-L".into()))])
        );
        assert_eq!(
            run(&["--max-children"]),
            Err("Option max-children requires an argument".into())
        );
        // An optional one only when it is not an option.
        assert_eq!(
            run(&["-D", "-L", "-i", "127.0.0.1", "-i"]),
            Ok(vec![
                ("debug", Value::Missing),
                ("L", Value::Flag(true)),
                ("listen", Value::Str("127.0.0.1".into())),
                ("listen", Value::Missing),
            ])
        );
        assert_eq!(run(&["-D-x"]), Ok(vec![("debug", Value::Str("-x".into()))]));
    }

    #[test]
    fn words_and_double_dash() {
        assert_eq!(
            run(&["foo", "-", "-L", "--", "-c"]),
            Ok(vec![("L", Value::Flag(true))])
        );
    }
}
