//! The emulator's clock (real time plus an offset tests can push forward) and the Genesys date
//! format.
//!
//! Everything time-dependent (token expiry, `dateCreated`, propagation delay, the rate-limit
//! window) reads this clock, so a test can "wait" a day with [`crate::Emulator::advance_clock`].

use std::time::Duration;

use time::OffsetDateTime;

/// Real UTC time plus an offset that only grows.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    offset: Duration,
}

impl Clock {
    /// Current emulator time, cut to whole milliseconds so that a value survives a round trip
    /// through the wire format unchanged.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let t = OffsetDateTime::now_utc() + self.offset;
        t.replace_millisecond(t.millisecond())
            .expect("a millisecond taken from a valid time is valid")
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset += by;
    }
}

/// Serde helpers for Genesys timestamps: written as `2025-01-01T00:00:00.000Z` (UTC, millis, `Z`),
/// read leniently (any RFC 3339 offset, or no offset at all, taken as UTC) because clients such as
/// the Python SDK send `datetime.isoformat()`, which may lack one.
pub mod genesys_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

    /// Formats `t` the way the Genesys API does.
    pub fn format(t: OffsetDateTime) -> String {
        let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        t.to_offset(UtcOffset::UTC)
            .format(&fmt)
            .expect("formatting a UTC time cannot fail")
    }

    /// Parses an ISO-8601 timestamp, with or without offset (no offset = UTC).
    pub fn parse(s: &str) -> Result<OffsetDateTime, String> {
        if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(t);
        }
        let naive_formats = [
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"),
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        ];
        for fmt in naive_formats {
            if let Ok(t) = PrimitiveDateTime::parse(s, &fmt) {
                return Ok(t.assume_utc());
            }
        }
        Err(format!("not an ISO-8601 date-time: {s:?}"))
    }

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<OffsetDateTime>` (`null` or absent = `None`).
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&format(*t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::genesys_time;
    use time::macros::datetime;

    #[test]
    fn formats_like_genesys() {
        let t = datetime!(2025-01-01 00:00:00.5 UTC);
        assert_eq!(genesys_time::format(t), "2025-01-01T00:00:00.500Z");
    }

    #[test]
    fn parses_with_and_without_offset() {
        let z = genesys_time::parse("2025-01-01T00:00:00.000Z").unwrap();
        let off = genesys_time::parse("2025-01-01T01:00:00+01:00").unwrap();
        let naive = genesys_time::parse("2025-01-01T00:00:00").unwrap();
        assert_eq!(z, off);
        assert_eq!(z, naive);
        assert!(genesys_time::parse("yesterday").is_err());
    }
}
