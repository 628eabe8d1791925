//! Placeholder until the report module lands.

/// Report-related configuration.
#[derive(Debug, Clone, Default)]
pub struct ReportConf {}

impl ReportConf {
    /// Apply a report directive; None if `name` is not one.
    pub fn directive(&mut self, _name: &str, _value: &str) -> Option<Result<(), String>> {
        None
    }
}
