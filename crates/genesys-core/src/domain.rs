//! Domain types of the Genesys side that every front end shares, validated on construction: the
//! managed-name prefix, version ids, client ids, integration credential ids, and the token
//! lifetimes Genesys Cloud accepts.
//! Each rule is written here once.

/// Shortest and longest token lifetime Genesys Cloud accepts (`accessTokenValiditySeconds`).
pub const TOKEN_LIFETIME_RANGE: std::ops::RangeInclusive<u32> = 300..=172_800;
/// Token lifetime Genesys Cloud applies when none is given.
pub const DEFAULT_TOKEN_LIFETIME_SECONDS: u32 = 86_400;
/// Longest managed-name prefix: the client name is the prefix plus a 36-character version id.
pub const MAX_PREFIX_LEN: usize = 40;

/// The prefix every managed client's name starts with; the name alone proves nothing (see
/// [`crate::guard::ownership`]).
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

/// A secret version id, such as a rotation's ClientRequestToken: Secrets Manager's own rule, 32
/// to 64 letters, digits or `-`. Managed client names end in one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionId(String);

impl VersionId {
    /// Validates a version id; the error says the rule, never quotes the input.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if (32..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be 32 to 64 letters, digits or '-'")
        }
    }

    /// The id itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Genesys Cloud OAuth client id: 1 to 128 printable ASCII characters without `/`, and not
/// `.` or `..` (it is a path segment of the API's URLs, and compared exactly).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Validates a client id; the error says the rule, never quotes the input.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        // `.` and `..` are path segments a URL library resolves: `/oauth/clients/..` is another
        // resource than a client.
        if (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/') && s != "." && s != ".."
        {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be 1 to 128 printable characters, no spaces or '/', and not '.' or '..'")
        }
    }

    /// The id itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The id of a Genesys Cloud integration credential (`/api/v2/integrations/credentials/{id}`):
/// the same rule as [`ClientId`], since it is a path segment too and compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialId(String);

impl CredentialId {
    /// Validates a credential id; the error says the rule, never quotes the input.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        ClientId::parse(s).map(|id| Self(id.0))
    }

    /// The id itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's token lifetime (`accessTokenValiditySeconds`) that Genesys Cloud accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenLifetime(u32);

impl TokenLifetime {
    /// The lifetime Genesys Cloud applies when none is given.
    pub const DEFAULT: TokenLifetime = TokenLifetime(DEFAULT_TOKEN_LIFETIME_SECONDS);

    /// Validates a lifetime in seconds against [`TOKEN_LIFETIME_RANGE`].
    pub fn new(seconds: u64) -> Result<Self, String> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| TOKEN_LIFETIME_RANGE.contains(s))
            .map(Self)
            .ok_or_else(|| {
                format!(
                    "must be a whole number from {} to {}",
                    TOKEN_LIFETIME_RANGE.start(),
                    TOKEN_LIFETIME_RANGE.end()
                )
            })
    }

    /// The lifetime in seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }
}

macro_rules! id_display {
    ($ty:ident) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::ops::Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl PartialEq<String> for $ty {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }
        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }
    };
}
id_display!(VersionId);
id_display!(ClientId);
id_display!(CredentialId);

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

    #[test]
    fn ids_and_lifetimes_are_validated_once() {
        assert!(VersionId::parse("0b0e7c9e-5c1f-4d6e-9f7a-2b8c1d3e4f5a").is_ok());
        for bad in [
            "v1",
            &"a".repeat(65),
            "0b0e7c9e 5c1f 4d6e 9f7a 2b8c1d3e4f5a",
            "../../0b0e7c9e-5c1f-4d6e-9f7a-2b8c",
        ] {
            assert!(VersionId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(VersionId::parse(&"a".repeat(32)).unwrap(), "a".repeat(32).as_str());
        assert!(ClientId::parse("2f1c8a52-8f0e-4c1e-9d6b-0d3c5c7e9a11").is_ok());
        for bad in ["", "has space", "../../x", &"c".repeat(129), "tab\t", ".", ".."] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
            assert!(CredentialId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(TokenLifetime::new(300).unwrap().seconds(), 300);
        assert!(TokenLifetime::new(299).is_err() && TokenLifetime::new(172_801).is_err());
        assert!(TokenLifetime::new(u64::MAX).is_err());
        assert_eq!(TokenLifetime::DEFAULT.seconds(), 86_400);
        // An id compares with and turns into the plain string it holds.
        let id = ClientId::parse("c-1").unwrap();
        let owned = String::from("c-1");
        assert!(id == "c-1" && id == owned);
        assert_eq!(String::from(id), "c-1");
        // A credential id follows the client id's rule.
        assert_eq!(CredentialId::parse("cred-1").unwrap(), "cred-1");
        for bad in ["", "a b", "x/y", &"c".repeat(129)] {
            assert!(CredentialId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
