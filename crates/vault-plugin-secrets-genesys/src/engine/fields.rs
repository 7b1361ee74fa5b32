//! A write's fields, checked before anything changes: every field the path does not take is
//! refused by name, and each typed getter refuses a wrong type naming the field and the form it
//! expects. Values come as JSON from the HTTP API and as strings from the command line
//! (`bao write genesys/roles/crm ttl=1h token_lifetime=900`), so numbers and durations are also
//! read from strings, as the server's own framework does.
use std::time::Duration;

use genesys_core::genesys::RoleDivision;
use serde_json::{Map, Value};

use crate::logical::LogicalError;

/// A bad request naming `field`.
pub fn bad(field: &str, why: impl std::fmt::Display) -> LogicalError {
    LogicalError::BadRequest(format!("field \"{field}\": {why}"))
}

/// The fields of one write, checked against what its path takes.
#[derive(Debug)]
pub struct Fields<'a> {
    data: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Refuses any field not in `allowed`, naming it and listing what the path takes.
    pub fn parse(data: &'a Map<String, Value>, path: &str, allowed: &[&str]) -> Result<Self, LogicalError> {
        if let Some(unknown) = data.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(LogicalError::BadRequest(format!(
                "unknown field \"{unknown}\": {path} takes {}",
                allowed.join(", ")
            )));
        }
        Ok(Self { data })
    }

    fn value(&self, field: &str) -> Option<&'a Value> {
        self.data.get(field).filter(|v| !v.is_null())
    }

    /// A string field.
    pub fn string(&self, field: &str) -> Result<Option<String>, LogicalError> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(field, format!("expected a string, got {}", type_name(other)))),
        }
    }

    /// A non-negative whole number, as a JSON number or a string of digits.
    pub fn int(&self, field: &str) -> Result<Option<u64>, LogicalError> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| bad(field, "expected a whole number of at least 0")),
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| bad(field, "expected a whole number of at least 0")),
            Some(other) => Err(bad(field, format!("expected a whole number, got {}", type_name(other)))),
        }
    }

    /// A boolean: JSON `true`/`false`, or a string as the server's own framework reads one
    /// (`true`, `false`, `t`, `f`, `1`, `0`, any case).
    pub fn bool(&self, field: &str) -> Result<Option<bool>, LogicalError> {
        let expected = "expected true or false";
        match self.value(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" => Ok(Some(true)),
                "false" | "f" | "0" => Ok(Some(false)),
                _ => Err(bad(field, expected)),
            },
            Some(other) => Err(bad(field, format!("{expected}, got {}", type_name(other)))),
        }
    }

    /// A duration: whole seconds (number or string), or a string such as `90s`, `10m`, `1h30m`,
    /// `2d`.
    pub fn duration(&self, field: &str) -> Result<Option<Duration>, LogicalError> {
        let expected = "expected a duration: whole seconds, or a string such as \"90s\", \"10m\", \"1h30m\", \"2d\"";
        match self.value(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|s| Some(Duration::from_secs(s)))
                .ok_or_else(|| bad(field, expected)),
            Some(Value::String(s)) => parse_duration(s).map(Some).ok_or_else(|| bad(field, expected)),
            Some(other) => Err(bad(field, format!("{expected}, got {}", type_name(other)))),
        }
    }

    /// Genesys role grants: a list of `{"role_id": ..., "division_id": ...}` objects, a list of
    /// `role_id:division_id` strings, or one string of such pairs separated by commas (the
    /// command line's form); a string holding a JSON list is read as that list.
    pub fn role_divisions(&self, field: &str) -> Result<Option<Vec<RoleDivision>>, LogicalError> {
        let items: Vec<Value> = match self.value(field) {
            None => return Ok(None),
            Some(Value::Array(items)) => items.clone(),
            Some(Value::String(s)) if s.trim_start().starts_with('[') => match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(items)) => items,
                _ => return Err(bad(field, "holds a string that starts like a JSON list but is not one")),
            },
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_owned()))
                .collect(),
            Some(other) => {
                return Err(bad(
                    field,
                    format!(
                        "expected a list of {{\"role_id\", \"division_id\"}} objects or \"role_id:division_id\" pairs, got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let mut out: Vec<RoleDivision> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let grant = match item {
                Value::Object(obj) => {
                    if let Some(unknown) = obj.keys().find(|k| *k != "role_id" && *k != "division_id") {
                        return Err(bad(&at, format!("unknown key \"{unknown}\": takes role_id, division_id")));
                    }
                    let role_id = id_part(obj.get("role_id"), &format!("{at}.role_id"))?;
                    let division_id = id_part(obj.get("division_id"), &format!("{at}.division_id"))?;
                    RoleDivision::new(role_id, division_id)
                }
                Value::String(pair) => {
                    let (role, division) = pair
                        .split_once(':')
                        .ok_or_else(|| bad(&at, "expected \"role_id:division_id\""))?;
                    let role = id_part(Some(&Value::String(role.trim().to_owned())), &format!("{at}.role_id"))?;
                    let division = id_part(
                        Some(&Value::String(division.trim().to_owned())),
                        &format!("{at}.division_id"),
                    )?;
                    RoleDivision::new(role, division)
                }
                other => {
                    return Err(bad(
                        &at,
                        format!(
                            "expected a {{\"role_id\", \"division_id\"}} object or a \"role_id:division_id\" string, got {}",
                            type_name(other)
                        ),
                    ))
                }
            };
            if let Some(first) = out.iter().position(|g| *g == grant) {
                return Err(bad(&at, format!("repeats {field}[{first}]")));
            }
            out.push(grant);
        }
        Ok(Some(out))
    }
}

/// One id of a role grant: 1 to 128 printable characters without spaces or `/` (`*` is a
/// division id Genesys accepts: every division).
fn id_part(value: Option<&Value>, at: &str) -> Result<String, LogicalError> {
    match value {
        Some(Value::String(s))
            if (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/') =>
        {
            Ok(s.clone())
        }
        Some(Value::String(_)) => Err(bad(at, "must be 1 to 128 printable characters, no spaces or '/'")),
        None | Some(Value::Null) => Err(bad(at, "is required")),
        Some(other) => Err(bad(at, format!("expected a string, got {}", type_name(other)))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses `300`, `90s`, `10m`, `1h30m`, `2d` (units s, m, h, d, each at most once, largest
/// first is not required). `None` for anything else, an empty string included.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !digits.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        // GIVEN a write with a field the path does not take
        let data = map(json!({"ttl": 60, "tll": 5}));
        // WHEN it is parsed
        let err = Fields::parse(&data, "roles/crm", &["ttl", "max_ttl"]).unwrap_err();
        // THEN the error names the field and what the path takes
        let text = err.to_string();
        assert!(matches!(err, LogicalError::BadRequest(_)));
        assert!(text.contains("\"tll\"") && text.contains("ttl, max_ttl"), "{text}");
    }

    #[test]
    fn numbers_and_durations_come_as_json_or_strings() {
        let data =
            map(json!({"a": 300, "b": "300", "c": "1h30m", "d": "2d", "e": -1, "f": "1x", "g": true, "h": null}));
        let f = Fields::parse(&data, "p", &["a", "b", "c", "d", "e", "f", "g", "h"]).unwrap();
        assert_eq!(f.int("a").unwrap(), Some(300));
        assert_eq!(f.int("b").unwrap(), Some(300));
        assert_eq!(f.duration("a").unwrap(), Some(Duration::from_secs(300)));
        assert_eq!(f.duration("c").unwrap(), Some(Duration::from_secs(5400)));
        assert_eq!(f.duration("d").unwrap(), Some(Duration::from_secs(172_800)));
        assert_eq!(f.duration("h").unwrap(), None, "null reads as absent");
        for field in ["e", "f", "g"] {
            let err = f.duration(field).unwrap_err().to_string();
            assert!(err.contains(&format!("\"{field}\"")), "{err}");
        }
        assert!(f
            .string("a")
            .unwrap_err()
            .to_string()
            .contains("expected a string, got a number"));
        assert!(f.int("g").is_err());
    }

    #[test]
    fn booleans_come_as_json_or_strings() {
        let data = map(json!({"a": true, "b": "false", "c": "T", "d": "0", "e": "yes", "f": 1, "g": null}));
        let f = Fields::parse(&data, "p", &["a", "b", "c", "d", "e", "f", "g"]).unwrap();
        assert_eq!(f.bool("a").unwrap(), Some(true));
        assert_eq!(f.bool("b").unwrap(), Some(false));
        assert_eq!(f.bool("c").unwrap(), Some(true));
        assert_eq!(f.bool("d").unwrap(), Some(false));
        assert_eq!(f.bool("g").unwrap(), None, "null reads as absent");
        for field in ["e", "f"] {
            let err = f.bool(field).unwrap_err().to_string();
            assert!(
                err.contains(&format!("\"{field}\"")) && err.contains("true or false"),
                "{err}"
            );
        }
    }

    #[test]
    fn durations_refuse_what_they_do_not_understand() {
        for bad in ["", "m", "10", "5m3", "1.5h", "1w", "-5s", "99999999999999999999d"] {
            if bad == "10" {
                assert_eq!(parse_duration(bad), Some(Duration::from_secs(10)));
                continue;
            }
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_duration(" 1h "), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn role_divisions_take_objects_pairs_and_the_command_line_form() {
        let data = map(json!({
            "objects": [{"role_id": "r1", "division_id": "d1"}, {"role_id": "r2", "division_id": "*"}],
            "pairs": ["r1:d1", "r2:*"],
            "line": "r1:d1, r2:*",
            "json": "[{\"role_id\":\"r1\",\"division_id\":\"d1\"},{\"role_id\":\"r2\",\"division_id\":\"*\"}]",
        }));
        let f = Fields::parse(&data, "p", &["objects", "pairs", "line", "json"]).unwrap();
        let want = vec![RoleDivision::new("r1", "d1"), RoleDivision::new("r2", "*")];
        for field in ["objects", "pairs", "line", "json"] {
            assert_eq!(f.role_divisions(field).unwrap(), Some(want.clone()), "{field}");
        }
    }

    #[test]
    fn bad_role_divisions_name_the_element() {
        let cases = [
            (json!([{"role_id": "r1"}]), "role_divisions[0].division_id"),
            (
                json!([{"role_id": "r1", "division_id": "d", "x": 1}]),
                "role_divisions[0]",
            ),
            (json!(["r1:d1", "r1:d1"]), "role_divisions[1]"),
            (json!(["r1"]), "role_divisions[0]"),
            (
                json!([{"role_id": "a b", "division_id": "d"}]),
                "role_divisions[0].role_id",
            ),
            (json!([7]), "role_divisions[0]"),
            (json!(7), "role_divisions"),
            (json!("[oops"), "role_divisions"),
        ];
        for (value, named) in cases {
            let data = map(json!({ "role_divisions": value }));
            let f = Fields::parse(&data, "p", &["role_divisions"]).unwrap();
            let err = f.role_divisions("role_divisions").unwrap_err().to_string();
            assert!(err.contains(&format!("\"{named}\"")), "{value}: {err}");
        }
    }
}
