//! The report directives of the `.cf` language and their values.

/// Settings that shape the rendered verdict. `Default` is SpamAssassin's
/// state before any `.cf` file is read (Conf.pm defaults): only the
/// Checker-Version header, empty report templates, `report_safe 1`. The
/// usual headers and templates come from the default prefs file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConf {
    /// 0: headers only; 1: wrap spam as message/rfc822; 2: as text/plain.
    pub report_safe: u8,
    /// `rewrite_header Subject` text (tags allowed).
    pub rewrite_subject: Option<String>,
    /// `rewrite_header From` text, `()` already turned into `[]`.
    pub rewrite_from: Option<String>,
    /// `rewrite_header To` text, `()` already turned into `[]`.
    pub rewrite_to: Option<String>,
    /// `X-Spam-<name>` templates added to spam, in order.
    pub headers_spam: Vec<(String, String)>,
    /// `X-Spam-<name>` templates added to ham, in order.
    pub headers_ham: Vec<(String, String)>,
    /// `report` lines, each ending in `\n`.
    pub report_template: String,
    /// `unsafe_report` lines, each ending in `\n`.
    pub unsafe_report_template: String,
    /// `_CONTACTADDRESS_`.
    pub report_contact: String,
    /// `_HOSTNAME_` when non-empty (else the host's name).
    pub report_hostname: String,
    /// Extra headers copied into the report_safe wrapper.
    pub report_safe_copy_headers: Vec<String>,
    /// Fold added headers at 79 columns.
    pub fold_headers: bool,
    /// Charset label of the report part in report_safe mode.
    pub report_charset: String,
    /// Wrap width of rule descriptions in reports.
    pub report_wrap_width: f64,
    /// `envelope_sender_header`: read by the scanner, kept here with its peers.
    pub envelope_sender_header: Option<String>,
    /// Content-Description of the wrapped original (not settable in 4.0.1).
    pub encapsulated_content_description: String,
}

const CHECKER_VERSION: &str = "Checker-Version";

impl Default for ReportConf {
    fn default() -> Self {
        let checker = (
            CHECKER_VERSION.to_string(),
            "SpamAssassin _VERSION_ (_SUBVERSION_) on _HOSTNAME_".to_string(),
        );
        ReportConf {
            report_safe: 1,
            rewrite_subject: None,
            rewrite_from: None,
            rewrite_to: None,
            headers_spam: vec![checker.clone()],
            headers_ham: vec![checker],
            report_template: String::new(),
            unsafe_report_template: String::new(),
            report_contact: "the administrator of that system".to_string(),
            report_hostname: String::new(),
            report_safe_copy_headers: Vec::new(),
            fold_headers: true,
            report_charset: "UTF-8".to_string(),
            report_wrap_width: 75.0,
            envelope_sender_header: None,
            encapsulated_content_description: "original message before SpamAssassin".to_string(),
        }
    }
}

fn missing(name: &str) -> Result<(), String> {
    Err(format!("{name}: missing required value"))
}

fn invalid(name: &str, value: &str) -> Result<(), String> {
    Err(format!("{name}: invalid value \"{value}\""))
}

/// `add_header`'s escapes: `\\` is a backslash, `\t` and `\n` expand, any
/// other escaped character is dropped.
fn unescape_header_template(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            // Perl's `s/\\.//g` skips a backslash before a newline too, but
            // a config value has none; a trailing lone backslash is kept.
            Some(_) => {}
            None => out.push('\\'),
        }
    }
    out
}

/// Split `ham|spam|all NAME rest`, as the `add_header` regex does.
fn parse_type_name(value: &str) -> Option<(&str, &str, &str)> {
    let (kind, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !matches!(kind, "ham" | "spam" | "all") {
        return None;
    }
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let name_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        .count();
    if name_len == 0 {
        return None;
    }
    let (name, tail) = rest.split_at(name_len);
    Some((kind, name, tail))
}

impl ReportConf {
    /// Apply one directive. `name` is lowercased with `-` turned into `_`,
    /// `value` is trimmed. `None` when `name` is not a report directive.
    pub fn directive(&mut self, name: &str, value: &str) -> Option<Result<(), String>> {
        let r = match name {
            "report_safe" => self.set_report_safe(value),
            "rewrite_header" => self.set_rewrite_header(value),
            "add_header" => self.add_header(value),
            "remove_header" => self.remove_header(value),
            "clear_headers" => {
                if !value.is_empty() {
                    return Some(invalid(name, value));
                }
                // Only Checker-Version survives, and ham's copy is kept.
                let keep: Vec<_> = self
                    .headers_ham
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(CHECKER_VERSION))
                    .cloned()
                    .into_iter()
                    .collect();
                self.headers_ham = keep.clone();
                self.headers_spam = keep;
                Ok(())
            }
            "report" => {
                append_template(&mut self.report_template, value);
                Ok(())
            }
            "unsafe_report" => {
                append_template(&mut self.unsafe_report_template, value);
                Ok(())
            }
            "clear_report_template" | "clear_unsafe_report_template" => {
                if !value.is_empty() {
                    return Some(invalid(name, value));
                }
                if name == "clear_report_template" {
                    self.report_template.clear();
                } else {
                    self.unsafe_report_template.clear();
                }
                Ok(())
            }
            "report_contact" => set_string(&mut self.report_contact, name, value),
            "report_hostname" => set_string(&mut self.report_hostname, name, value),
            "report_charset" => set_string(&mut self.report_charset, name, value),
            "envelope_sender_header" => {
                let mut s = String::new();
                let r = set_string(&mut s, name, value);
                if r.is_ok() {
                    self.envelope_sender_header = Some(s);
                }
                r
            }
            "report_safe_copy_headers" => {
                if value.is_empty() {
                    return Some(missing(name));
                }
                self.report_safe_copy_headers
                    .extend(value.split_ascii_whitespace().map(str::to_string));
                Ok(())
            }
            "fold_headers" => match value.to_ascii_lowercase().as_str() {
                "" => missing(name),
                "1" | "yes" => {
                    self.fold_headers = true;
                    Ok(())
                }
                "0" | "no" => {
                    self.fold_headers = false;
                    Ok(())
                }
                _ => invalid(name, value),
            },
            "report_wrap_width" => match parse_numeric(value) {
                _ if value.is_empty() => missing(name),
                Some(n) => {
                    self.report_wrap_width = n;
                    Ok(())
                }
                None => invalid(name, value),
            },
            _ => return None,
        };
        Some(r)
    }

    fn set_report_safe(&mut self, value: &str) -> Result<(), String> {
        let n = match value {
            "" => return missing("report_safe"),
            "0" => 0,
            "1" => 1,
            "2" => 2,
            _ => return invalid("report_safe", value),
        };
        self.report_safe = n;
        // Conf.pm's side effect: turning report_safe off adds the report
        // header for spam (once); turning it on does not remove it.
        if n == 0
            && !self
                .headers_spam
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case("report"))
        {
            self.headers_spam
                .push(("Report".to_string(), "_REPORT_".to_string()));
        }
        Ok(())
    }

    fn set_rewrite_header(&mut self, value: &str) -> Result<(), String> {
        let (hdr, string) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((h, s)) => (
                h,
                Some(s.trim_start_matches(|c: char| c.is_ascii_whitespace())),
            ),
            None => (value, None),
        };
        if hdr.is_empty() {
            return missing("rewrite_header");
        }
        let slot = match hdr.to_ascii_lowercase().as_str() {
            "subject" => &mut self.rewrite_subject,
            "from" => &mut self.rewrite_from,
            "to" => &mut self.rewrite_to,
            _ => return invalid("rewrite_header", hdr),
        };
        let Some(string) = string.filter(|s| s.bytes().any(|b| !crate::message::is_space(b)))
        else {
            *slot = None;
            return Ok(());
        };
        let is_subject = hdr.eq_ignore_ascii_case("subject");
        // From/To get the text as an RFC 2822 comment, so no parentheses.
        *slot = Some(if is_subject {
            string.to_string()
        } else {
            string.replace('(', "[").replace(')', "]")
        });
        Ok(())
    }

    fn add_header(&mut self, value: &str) -> Result<(), String> {
        let Some((kind, name, tail)) = parse_type_name(value) else {
            return invalid("add_header", value);
        };
        // The template must be separated from the name by whitespace.
        if !tail.starts_with(|c: char| c.is_ascii_whitespace()) {
            return invalid("add_header", value);
        }
        let mut line = tail.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.len() >= 2 && line.starts_with('"') && line.ends_with('"') {
            line = &line[1..line.len() - 1];
        }
        let line = unescape_header_template(line);
        let entry = (name.to_string(), line);
        if kind != "spam" {
            self.headers_ham
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            self.headers_ham.push(entry.clone());
        }
        if kind != "ham" {
            self.headers_spam
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            self.headers_spam.push(entry);
        }
        Ok(())
    }

    fn remove_header(&mut self, value: &str) -> Result<(), String> {
        let Some((kind, name, tail)) = parse_type_name(value) else {
            return invalid("remove_header", value);
        };
        if !tail
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .is_empty()
        {
            return invalid("remove_header", value);
        }
        // SpamAssassin protects only this exact spelling.
        if name == CHECKER_VERSION {
            return Ok(());
        }
        if kind != "spam" {
            self.headers_ham
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
        if kind != "ham" {
            self.headers_spam
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
        Ok(())
    }

    /// The header templates for a verdict: spam's or ham's list.
    pub fn headers_for(&self, is_spam: bool) -> &[(String, String)] {
        if is_spam {
            &self.headers_spam
        } else {
            &self.headers_ham
        }
    }
}

/// A `report`-style template line: surrounding quotes stripped, `\n` added.
fn append_template(t: &mut String, value: &str) {
    let v = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        &value[1..value.len() - 1]
    } else {
        value
    };
    t.push_str(v);
    t.push('\n');
}

fn set_string(slot: &mut String, name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return missing(name);
    }
    *slot = value.to_string();
    Ok(())
}

/// Conf.pm's numeric syntax: `[+-]?\d+(\.\d*)?`.
fn parse_numeric(value: &str) -> Option<f64> {
    let body = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    value.trim_end_matches('.').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[(String, String)]) -> Vec<&str> {
        v.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn add_header_replaces_same_name_and_appends() {
        let mut c = ReportConf::default();
        c.directive("add_header", "all Foo one").unwrap().unwrap();
        c.directive("add_header", "spam Bar \"two\\tx\\\\y\\q\"")
            .unwrap()
            .unwrap();
        c.directive("add_header", "all checker-version mine")
            .unwrap()
            .unwrap();
        assert_eq!(names(&c.headers_spam), ["Foo", "Bar", "checker-version"]);
        assert_eq!(c.headers_spam[1].1, "two\tx\\y");
        assert_eq!(names(&c.headers_ham), ["Foo", "checker-version"]);
        assert!(c.directive("add_header", "all Foo").unwrap().is_err());
        assert!(c.directive("add_header", "some Foo x").unwrap().is_err());
        assert!(c.directive("nonsense", "").is_none());
    }

    #[test]
    fn clear_and_remove_keep_checker_version() {
        let mut c = ReportConf::default();
        c.directive("add_header", "all Foo one").unwrap().unwrap();
        c.directive("remove_header", "all Checker-Version")
            .unwrap()
            .unwrap();
        assert_eq!(names(&c.headers_ham), ["Checker-Version", "Foo"]);
        c.directive("clear_headers", "").unwrap().unwrap();
        assert_eq!(names(&c.headers_spam), ["Checker-Version"]);
        // Only the exact spelling is protected.
        c.directive("remove_header", "ham checker-version")
            .unwrap()
            .unwrap();
        assert!(c.headers_ham.is_empty());
    }

    #[test]
    fn report_safe_zero_adds_report_header_once() {
        let mut c = ReportConf::default();
        c.directive("report_safe", "0").unwrap().unwrap();
        c.directive("report_safe", "0").unwrap().unwrap();
        assert_eq!(names(&c.headers_spam), ["Checker-Version", "Report"]);
        c.directive("report_safe", "1").unwrap().unwrap();
        assert_eq!(c.report_safe, 1);
        assert_eq!(names(&c.headers_spam), ["Checker-Version", "Report"]);
        assert!(c.directive("report_safe", "3").unwrap().is_err());
    }

    #[test]
    fn rewrite_header_forms() {
        let mut c = ReportConf::default();
        c.directive("rewrite_header", "subject *****SPAM***** (_SCORE_)")
            .unwrap()
            .unwrap();
        c.directive("rewrite_header", "From spam (x)")
            .unwrap()
            .unwrap();
        assert_eq!(
            c.rewrite_subject.as_deref(),
            Some("*****SPAM***** (_SCORE_)")
        );
        assert_eq!(c.rewrite_from.as_deref(), Some("spam [x]"));
        c.directive("rewrite_header", "Subject").unwrap().unwrap();
        assert_eq!(c.rewrite_subject, None);
        assert!(c.directive("rewrite_header", "Cc x").unwrap().is_err());
    }

    #[test]
    fn templates_and_scalars() {
        let mut c = ReportConf::default();
        c.directive("report", "\" pts rule\"").unwrap().unwrap();
        c.directive("report", "").unwrap().unwrap();
        assert_eq!(c.report_template, " pts rule\n\n");
        c.directive("clear_report_template", "").unwrap().unwrap();
        assert_eq!(c.report_template, "");
        c.directive("fold_headers", "No").unwrap().unwrap();
        assert!(!c.fold_headers);
        c.directive("report_wrap_width", "60").unwrap().unwrap();
        assert_eq!(c.report_wrap_width, 60.0);
        assert!(c.directive("report_wrap_width", "6x").unwrap().is_err());
        c.directive("report_safe_copy_headers", "X-A  X-B")
            .unwrap()
            .unwrap();
        assert_eq!(c.report_safe_copy_headers, ["X-A", "X-B"]);
        assert!(c.directive("report_contact", "").unwrap().is_err());
    }
}
