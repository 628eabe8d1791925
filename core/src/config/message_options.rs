//! The settings that change how a message is read (trust path, envelope
//! sender header), turned into the message module's `MessageOptions`.

use super::Config;
use crate::message::MessageOptions;
use crate::message::NetSet;
use crate::message::received::TrustConfig;

impl Config {
    /// The message-reading options of this configuration (`clear_*` directives
    /// have already emptied the lists they name).
    pub fn message_options(&self) -> MessageOptions {
        let list = |key: &str| self.lists.get(key).map(Vec::as_slice).unwrap_or_default();
        let netset = |key: &str| -> Option<NetSet> {
            let entries = list(key);
            if entries.is_empty() {
                return None;
            }
            let mut set = NetSet::with_loopback();
            for line in entries {
                for e in line.split_whitespace() {
                    set.add(e);
                }
            }
            Some(set)
        };
        let mut msa = NetSet::default();
        for line in list("msa_networks") {
            for e in line.split_whitespace() {
                msa.add(e);
            }
        }
        let mut originating: Vec<String> = Vec::new();
        for line in list("originating_ip_headers") {
            for h in line.split_whitespace() {
                if !originating.iter().any(|x| x.eq_ignore_ascii_case(h)) {
                    originating.push(h.to_string());
                }
            }
        }
        MessageOptions {
            trust: TrustConfig {
                trusted: netset("trusted_networks"),
                internal: netset("internal_networks"),
                msa,
                originating_ip_headers: originating,
            },
            envelope_sender_header: self
                .report
                .envelope_sender_header
                .as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            charset_detect: self.bool_setting("normalize_charset", true)
                && self.bool_setting("normalize_charset_detect", false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    /// One message under several trust configurations, against what
    /// SpamAssassin 4.0.1 reported (testdata/trust_conf.tsv: config with ';'
    /// for newlines, the four relay strings, EnvelopeFrom, ALL-TRUSTED and
    /// ALL-EXTERNAL with "\\n" for newlines).
    #[test]
    fn trust_configurations() {
        let raw = include_bytes!("../message/testdata/trust_msg.eml");
        let stock = "originating_ip_headers X-Yahoo-Post-IP X-Originating-IP X-Apparently-From\n\
                     originating_ip_headers X-SenderIP X-AOL-IP\n";
        for line in include_str!("../message/testdata/trust_conf.tsv").lines() {
            let c: Vec<&str> = line.split('\t').collect();
            assert_eq!(c.len(), 8, "{line}");
            let conf = Config::from_text("t.cf", &format!("{stock}{}\n", c[0].replace(';', "\n")));
            let m = Message::parse_with(raw, &conf.message_options());
            let get = |h: &str| String::from_utf8_lossy(&m.get(h).unwrap_or_default()).into_owned();
            assert_eq!(get("X-Spam-Relays-Trusted"), c[1], "{}", c[0]);
            assert_eq!(get("X-Spam-Relays-Untrusted"), c[2], "{}", c[0]);
            assert_eq!(get("X-Spam-Relays-Internal"), c[3], "{}", c[0]);
            assert_eq!(get("X-Spam-Relays-External"), c[4], "{}", c[0]);
            assert_eq!(get("EnvelopeFrom"), c[5], "{}", c[0]);
            assert_eq!(get("ALL-TRUSTED").replace('\n', "\\n"), c[6], "{}", c[0]);
            assert_eq!(get("ALL-EXTERNAL").replace('\n', "\\n"), c[7], "{}", c[0]);
        }
    }
}
