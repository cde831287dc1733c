//! The report profile: the GDPR Art. 30 record-of-processing fields that the ledger cannot know
//! by itself (controller, data categories, data subjects, recipients, transfers, retention,
//! security measures). A small TOML document; `init` writes the embedded default to
//! `keys/report-profile.toml` for the organisation to edit.

use serde::{Deserialize, Serialize};

use super::ReportError;

/// The embedded default profile, as `init` writes it.
pub const DEFAULT_PROFILE: &str = include_str!("profile.toml");

/// The profile's file name in the keys directory.
pub const PROFILE_FILE: &str = "report-profile.toml";

/// The Art. 30 fields a report copies verbatim; stated by the organisation, not proven by the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The controller and its contact, Art. 30(1)(a).
    pub controller: String,
    /// Categories of personal data, Art. 30(1)(c).
    pub data_categories: Vec<String>,
    /// Categories of data subjects, Art. 30(1)(c).
    pub data_subject_categories: Vec<String>,
    /// Categories of recipients, Art. 30(1)(d).
    pub recipients: Vec<String>,
    /// Transfers to third countries or international organisations, with safeguards, Art. 30(1)(e).
    pub international_transfers: Vec<String>,
    /// Time limits for erasure, Art. 30(1)(f).
    pub retention: String,
    /// Technical and organisational security measures, Art. 30(1)(g).
    pub security_measures: Vec<String>,
}

impl Profile {
    /// Parses a profile document, naming what to fix.
    pub fn parse(text: &str) -> Result<Profile, ReportError> {
        toml::from_str(text).map_err(|e| ReportError::Profile(e.message().to_owned()))
    }

    /// The embedded default.
    pub fn default_profile() -> Profile {
        Profile::parse(DEFAULT_PROFILE).expect("the embedded profile parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses_and_unknown_keys_are_refused() {
        let p = Profile::default_profile();
        assert!(!p.security_measures.is_empty());
        let bad = format!("{DEFAULT_PROFILE}\nsurprise = 1\n");
        assert!(matches!(Profile::parse(&bad), Err(ReportError::Profile(_))));
    }
}
