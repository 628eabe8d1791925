//! Rule definitions as read from `.cf` files (not yet compiled).

/// Where a definition came from, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// One rule definition.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: String,
    pub kind: RuleKind,
    pub origin: Origin,
}

/// What a rule tests.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// `header NAME Header[:mods] =~ /re/` (or `!~`), with `[if-unset: X]`.
    Header {
        header: String,
        modifiers: Vec<HeaderMod>,
        negate: bool,
        pattern: String,
        if_unset: Option<String>,
    },
    /// `header NAME exists:Header`.
    Exists {
        header: String,
    },
    Body {
        pattern: String,
    },
    Rawbody {
        pattern: String,
    },
    Full {
        pattern: String,
    },
    Uri {
        pattern: String,
    },
    /// `mimeheader NAME Header[:raw] =~ /re/`.
    Mimeheader {
        header: String,
        raw: bool,
        negate: bool,
        pattern: String,
    },
    Meta {
        expr: String,
    },
    /// `TYPE NAME eval:function(args)`.
    Eval {
        target: EvalTarget,
        call: EvalCall,
    },
    /// `reuse NAME`: a placeholder that never hits.
    Reuse,
}

/// Which message view an eval rule was declared on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalTarget {
    Header,
    Body,
    Rawbody,
    Full,
    Uri,
}

/// `function(args)` of an eval rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalCall {
    pub function: String,
    pub args: Vec<String>,
}

/// Header modifiers after the header name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMod {
    Raw,
    Addr,
    Name,
    Host,
    Domain,
    Ip,
    Revip,
    First,
    Last,
}

impl HeaderMod {
    fn parse(s: &str) -> Option<HeaderMod> {
        Some(match s.to_ascii_lowercase().as_str() {
            "raw" => HeaderMod::Raw,
            "addr" => HeaderMod::Addr,
            "name" => HeaderMod::Name,
            "host" => HeaderMod::Host,
            "domain" => HeaderMod::Domain,
            "ip" => HeaderMod::Ip,
            "revip" => HeaderMod::Revip,
            "first" => HeaderMod::First,
            "last" => HeaderMod::Last,
            _ => return None,
        })
    }
}

/// `tflags` of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TFlags {
    pub nice: bool,
    pub net: bool,
    pub learn: bool,
    pub userconf: bool,
    pub noautolearn: bool,
    pub multiple: bool,
    pub maxhits: Option<u32>,
    pub nosubject: bool,
    pub autolearn_force: bool,
    /// Every word as given, for flags we keep but do not interpret yet.
    pub words: Vec<String>,
}

impl TFlags {
    /// Parse the words of a `tflags` line (after the rule name).
    pub fn parse(words: &str) -> TFlags {
        let mut t = TFlags::default();
        for w in words.split_whitespace() {
            t.words.push(w.to_string());
            match w {
                "nice" => t.nice = true,
                "net" => t.net = true,
                "learn" => t.learn = true,
                "userconf" => t.userconf = true,
                "noautolearn" => t.noautolearn = true,
                "multiple" => t.multiple = true,
                "nosubject" => t.nosubject = true,
                "autolearn_force" => t.autolearn_force = true,
                _ => {
                    if let Some(n) = w.strip_prefix("maxhits=") {
                        t.maxhits = n.parse().ok();
                    }
                }
            }
        }
        t
    }
}

/// Is `name` a valid rule name (`[_a-zA-Z][_a-zA-Z0-9]{0,127}`, at most 100
/// characters as add_test enforces)?
pub fn valid_rule_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Parse `function(args)`; args are a comma list of quoted strings or bare
/// `[\d.:A-Za-z-]` tokens, as SpamAssassin's pack_eval_args accepts.
pub fn parse_eval_call(text: &str) -> Result<EvalCall, String> {
    let text = text.trim();
    let open = text.find('(').ok_or("eval without '('")?;
    if !text.ends_with(')') {
        return Err("eval without closing ')'".into());
    }
    let function = text[..open].trim();
    if function.is_empty()
        || !function
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_')
    {
        return Err(format!("invalid eval function name '{function}'"));
    }
    let mut rest = &text[open + 1..text.len() - 1];
    let mut args = Vec::new();
    if rest.trim().is_empty() {
        return Ok(EvalCall {
            function: function.to_string(),
            args,
        });
    }
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let first = rest.as_bytes()[0];
        let (arg, after) = if first == b'"' || first == b'\'' {
            let close = rest[1..]
                .find(first as char)
                .ok_or("unterminated quoted eval argument")?;
            (&rest[1..1 + close], &rest[close + 2..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-')))
                .unwrap_or(rest.len());
            if end == 0 {
                return Err(format!("unparseable eval arguments '{rest}'"));
            }
            (&rest[..end], &rest[end..])
        };
        args.push(arg.to_string());
        let after = after.trim_start();
        if after.is_empty() {
            break;
        }
        rest = after
            .strip_prefix(',')
            .ok_or_else(|| format!("unparseable eval arguments '{after}'"))?;
    }
    Ok(EvalCall {
        function: function.to_string(),
        args,
    })
}

/// Parse the part of a `header` line after the rule name.
pub fn parse_header_rule(value: &str) -> Result<RuleKind, String> {
    let value = value.trim();
    if let Some(fun) = value
        .strip_prefix("eval:")
        .or_else(|| value.strip_prefix("rbleval:"))
    {
        return Ok(RuleKind::Eval {
            target: EvalTarget::Header,
            call: parse_eval_call(fun)?,
        });
    }
    if let Some(h) = value.strip_prefix("exists:") {
        let h = h.strip_suffix(':').unwrap_or(h);
        if h.is_empty()
            || !h
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        {
            return Err(format!("invalid head test header: {h}"));
        }
        return Ok(RuleKind::Exists {
            header: h.to_string(),
        });
    }
    // Header[:mod[:mod]] then =~ or !~ then the pattern.
    let name_end = value
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':')))
        .unwrap_or(value.len());
    let spec = &value[..name_end];
    let rest = value[name_end..].trim_start();
    let (negate, pat) = if let Some(p) = rest.strip_prefix("=~") {
        (false, p)
    } else if let Some(p) = rest.strip_prefix("!~") {
        (true, p)
    } else {
        return Err(format!("invalid head test: {value}"));
    };
    let mut parts = spec.split(':');
    let header = parts.next().unwrap_or("").to_string();
    if header.is_empty() {
        return Err(format!("invalid head test: {value}"));
    }
    let mut modifiers = Vec::new();
    for m in parts.filter(|m| !m.is_empty()) {
        modifiers
            .push(HeaderMod::parse(m).ok_or_else(|| format!("invalid header modifier: {spec}"))?);
    }
    if modifiers.len() > 2 {
        return Err(format!("invalid header modifier: {spec}"));
    }
    let mut pattern = pat.trim().to_string();
    let mut if_unset = None;
    if let Some(pos) = pattern.rfind("[if-unset:")
        && pattern.ends_with(']')
        && pattern[..pos].ends_with(char::is_whitespace)
    {
        let v = pattern[pos + "[if-unset:".len()..pattern.len() - 1]
            .trim()
            .to_string();
        if_unset = Some(v);
        pattern = pattern[..pos].trim_end().to_string();
    }
    Ok(RuleKind::Header {
        header,
        modifiers,
        negate,
        pattern,
        if_unset,
    })
}

/// Parse the part of a `mimeheader` line after the rule name.
pub fn parse_mimeheader_rule(value: &str) -> Result<RuleKind, String> {
    match parse_header_rule(value)? {
        RuleKind::Header {
            header,
            modifiers,
            negate,
            pattern,
            ..
        } => Ok(RuleKind::Mimeheader {
            header,
            raw: modifiers.contains(&HeaderMod::Raw),
            negate,
            pattern,
        }),
        _ => Err(format!("invalid mimeheader test: {value}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_args() {
        let c = parse_eval_call("check_rbl('set', 'zen.spamhaus.org.', '127.0.0.2')").unwrap();
        assert_eq!(c.function, "check_rbl");
        assert_eq!(c.args, vec!["set", "zen.spamhaus.org.", "127.0.0.2"]);
        let c = parse_eval_call("html_range('html_ratio', 0.2, 1.0 )").unwrap();
        assert_eq!(c.args, vec!["html_ratio", "0.2", "1.0"]);
        assert_eq!(parse_eval_call("check_no_relays()").unwrap().args.len(), 0);
        assert!(parse_eval_call("bad(x y)").is_err());
        assert!(parse_eval_call("nope").is_err());
    }

    #[test]
    fn header_rules() {
        let k = parse_header_rule("Subject =~ /free/i").unwrap();
        assert!(
            matches!(k, RuleKind::Header { ref header, negate: false, ref pattern, .. } if header == "Subject" && pattern == "/free/i")
        );
        let k = parse_header_rule("From:addr !~ /\\@/ [if-unset: nobody]").unwrap();
        match k {
            RuleKind::Header {
                header,
                modifiers,
                negate,
                pattern,
                if_unset,
            } => {
                assert_eq!(header, "From");
                assert_eq!(modifiers, vec![HeaderMod::Addr]);
                assert!(negate);
                assert_eq!(pattern, "/\\@/");
                assert_eq!(if_unset.as_deref(), Some("nobody"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_header_rule("exists:X-Mailer").unwrap(),
            RuleKind::Exists {
                header: "X-Mailer".into()
            }
        );
        assert!(parse_header_rule("From:bogus =~ /x/").is_err());
        assert!(parse_header_rule("From xx /x/").is_err());
    }

    #[test]
    fn names_and_flags() {
        assert!(valid_rule_name("__FOO_1"));
        assert!(!valid_rule_name("1FOO"));
        assert!(!valid_rule_name("FOO-BAR"));
        let t = TFlags::parse("multiple maxhits=3 nice");
        assert!(t.multiple && t.nice);
        assert_eq!(t.maxhits, Some(3));
    }
}
