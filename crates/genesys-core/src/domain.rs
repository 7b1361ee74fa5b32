//! Domain types of the Genesys side that every front end shares: the managed-name prefix and the
//! bounds Genesys Cloud puts on a client's token lifetime. Validated on construction.

/// Shortest and longest token lifetime Genesys Cloud accepts (`accessTokenValiditySeconds`).
pub const TOKEN_LIFETIME_RANGE: std::ops::RangeInclusive<u32> = 300..=172_800;
/// Token lifetime Genesys Cloud applies when none is given.
pub const DEFAULT_TOKEN_LIFETIME_SECONDS: u32 = 86_400;
/// Longest managed-name prefix: the client name is the prefix plus a 36-character version id.
pub const MAX_PREFIX_LEN: usize = 40;

/// The prefix every managed client's name starts with; the name alone proves nothing (see
/// [`crate::ownership`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePrefix(String);

impl NamePrefix {
    /// Validates a prefix: 3 to 40 characters of letters, digits, `-`, `_` and `.`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() < 3 || s.len() > MAX_PREFIX_LEN {
            return Err(format!("must be 3 to {MAX_PREFIX_LEN} characters long"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err("may contain only letters, digits, '-', '_' and '.'".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// The prefix itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the client made for secret version `token`: deterministic, so a retried
    /// createSecret can find a client whose secret a crash lost.
    pub fn client_name(&self, token: &str) -> String {
        format!("{}{}", self.0, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_3_to_40_plain_characters() {
        assert!(NamePrefix::parse("crm-rot-").is_ok());
        assert!(NamePrefix::parse("a.b_c").is_ok());
        for bad in ["ab", "bad prefix!", "x/y", &"p".repeat(41)] {
            assert!(NamePrefix::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(NamePrefix::parse("crm-").unwrap().client_name("v1"), "crm-v1");
    }
}
