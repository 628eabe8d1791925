//! Which part of a message a rule reads.

/// Which part of the message a rule looked at; decides the `AREA` column
/// of reports (`BODY: `, `URI: `, `RAW: `, `FULL: `, or nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    Header,
    Body,
    Uri,
    Rawbody,
    Full,
    /// `full` rules that are evals: no area label, like SpamAssassin.
    FullEval,
    Meta,
    /// DNSEval blocklist hits (`RBL: `).
    Rbl,
    /// AskDNS hits (`ASKDNS: `).
    AskDns,
}

impl Area {
    /// The label SpamAssassin prints before a rule's description.
    pub fn label(self) -> &'static str {
        match self {
            Area::Body => "BODY: ",
            Area::Uri => "URI: ",
            Area::Rawbody => "RAW: ",
            Area::Full => "FULL: ",
            Area::Rbl => "RBL: ",
            Area::AskDns => "ASKDNS: ",
            Area::Header | Area::FullEval | Area::Meta => "",
        }
    }
}
