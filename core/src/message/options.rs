//! The parts of the configuration that change how a message is read: the
//! trust path (`trusted_networks`, `internal_networks`, `msa_networks`,
//! `originating_ip_headers`) and `envelope_sender_header`, as
//! `Config::message_options` builds them from a loaded configuration.

use super::received::TrustConfig;

/// Per-configuration message-reading options. `Default` is SpamAssassin's
/// built-in state (nothing configured, no originating-IP headers).
#[derive(Debug, Clone, Default)]
pub struct MessageOptions {
    pub trust: TrustConfig,
    /// `envelope_sender_header`: when set, the only source of EnvelopeFrom.
    pub envelope_sender_header: Option<String>,
    /// `normalize_charset_detect` (ours): detect the charset of text and
    /// headers whose declared charset is missing, unknown or wrong.
    pub charset_detect: bool,
}
