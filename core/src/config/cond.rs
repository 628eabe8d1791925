//! `if` / `ifplugin` conditions: a tiny expression language over
//! `plugin(Name)`, `can(Class::method)`, `has(Class::method)`, `version`,
//! `perl_version`, `local_tests_only`, numbers, `! ( ) && || < > <= >= == !=`.

/// What the conditions can ask about the running engine.
pub trait CondEnv {
    fn plugin_loaded(&self, name: &str) -> bool;
    /// `can()` requires the method to exist and return true; `has()` only
    /// that it exists. Every method we know of returns true, so one answer
    /// serves both.
    fn method_exists(&self, class_method: &str) -> bool;
    fn local_tests_only(&self) -> bool;
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(String),
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == b')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let n = s[start..i]
                .parse()
                .map_err(|_| format!("bad number '{}'", &s[start..i]))?;
            out.push(Tok::Num(n));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            if matches!(two, "&&" | "||" | "<=" | ">=" | "==" | "!=") {
                out.push(Tok::Op(two.to_string()));
                i += 2;
            } else if matches!(c, b'!' | b'<' | b'>') {
                out.push(Tok::Op((c as char).to_string()));
                i += 1;
            } else {
                return Err(format!("unparseable value '{}'", &s[i..]));
            }
        }
    }
    Ok(out)
}

struct Parser<'a, E: CondEnv> {
    toks: Vec<Tok>,
    pos: usize,
    env: &'a E,
}

impl<E: CondEnv> Parser<'_, E> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Result<f64, String> {
        let mut v = self.and()?;
        while self.peek() == Some(&Tok::Op("||".into())) {
            self.pos += 1;
            let r = self.and()?;
            v = if v != 0.0 { v } else { r };
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<f64, String> {
        let mut v = self.cmp()?;
        while self.peek() == Some(&Tok::Op("&&".into())) {
            self.pos += 1;
            let r = self.cmp()?;
            v = if v == 0.0 { v } else { r };
        }
        Ok(v)
    }
    fn cmp(&mut self) -> Result<f64, String> {
        let l = self.unary()?;
        if let Some(Tok::Op(op)) = self.peek().cloned()
            && matches!(op.as_str(), "<" | ">" | "<=" | ">=" | "==" | "!=")
        {
            self.pos += 1;
            let r = self.unary()?;
            let t = match op.as_str() {
                "<" => l < r,
                ">" => l > r,
                "<=" => l <= r,
                ">=" => l >= r,
                "==" => l == r,
                _ => l != r,
            };
            return Ok(f64::from(u8::from(t)));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<f64, String> {
        if self.peek() == Some(&Tok::Op("!".into())) {
            self.pos += 1;
            let v = self.unary()?;
            return Ok(f64::from(u8::from(v == 0.0)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<f64, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(n),
            Some(Tok::LParen) => {
                let v = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(v),
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Tok::Ident(id)) => match id.as_str() {
                "version" => Ok(crate::SA_VERSION_NUM),
                "perl_version" => Ok(5.036000),
                "local_tests_only" => Ok(f64::from(u8::from(self.env.local_tests_only()))),
                "plugin" | "can" | "has" => {
                    let arg = match (self.next(), self.next(), self.next()) {
                        (Some(Tok::LParen), Some(Tok::Ident(a)), Some(Tok::RParen)) => a,
                        _ => return Err(format!("bad '{id}' clause")),
                    };
                    let t = if id == "plugin" {
                        self.env.plugin_loaded(&canonical_plugin(&arg))
                    } else {
                        self.env.method_exists(&arg)
                    };
                    Ok(f64::from(u8::from(t)))
                }
                other => Err(format!("not allowed value '{other}'")),
            },
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// Plugin names as SpamAssassin 4.0.1 normalises them in conditions.
pub fn canonical_plugin(name: &str) -> String {
    match name {
        "Mail::SpamAssassin::Plugin::Dmarc" => "Mail::SpamAssassin::Plugin::DMARC".into(),
        "Mail::SpamAssassin::Plugin::WhiteListSubject" => {
            "Mail::SpamAssassin::Plugin::WelcomeListSubject".into()
        }
        other => other.to_string(),
    }
}

/// Evaluate a condition. An unparseable condition is an error, which the
/// caller reports and treats as false (SpamAssassin skips the block).
pub fn eval<E: CondEnv>(expr: &str, env: &E) -> Result<bool, String> {
    let toks = lex(expr)?;
    let mut p = Parser { toks, pos: 0, env };
    let v = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("trailing tokens in '{expr}'"));
    }
    Ok(v != 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Env;
    impl CondEnv for Env {
        fn plugin_loaded(&self, name: &str) -> bool {
            name == "Mail::SpamAssassin::Plugin::MIMEHeader"
        }
        fn method_exists(&self, m: &str) -> bool {
            m == "Mail::SpamAssassin::Conf::feature_bug6558_free"
        }
        fn local_tests_only(&self) -> bool {
            true
        }
    }

    #[test]
    fn conditions() {
        assert!(eval("(version >= 3.004002)", &Env).unwrap());
        assert!(!eval("!((version >= 3.004000))", &Env).unwrap());
        assert!(eval("version < 5", &Env).unwrap());
        assert!(!eval("!plugin(Mail::SpamAssassin::Plugin::MIMEHeader)", &Env).unwrap());
        assert!(eval("plugin(Mail::SpamAssassin::Plugin::MIMEHeader)", &Env).unwrap());
        assert!(eval("can(Mail::SpamAssassin::Conf::feature_bug6558_free)", &Env).unwrap());
        assert!(
            eval(
                "!can(Mail::SpamAssassin::Conf::compat_welcomelist_blocklist)",
                &Env
            )
            .unwrap()
        );
        assert!(eval("local_tests_only && version > 4", &Env).unwrap());
        assert!(eval("0 || 1", &Env).unwrap());
        assert!(eval("$x", &Env).is_err());
        assert!(eval("plugin(", &Env).is_err());
    }
}
