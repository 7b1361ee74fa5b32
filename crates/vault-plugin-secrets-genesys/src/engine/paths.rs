//! The engine's paths: which path a request names, the name in it (checked once here), and the
//! operations each path takes. Anything else is [`LogicalError::UnsupportedPath`] or
//! [`LogicalError::UnsupportedOperation`] before any handler runs.
use crate::logical::{LogicalError, Operation};

/// A path of the engine, with the name it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `config`.
    Config,
    /// `rotate-root`.
    RotateRoot,
    /// `roles/` (list).
    Roles,
    /// `roles/<name>`.
    Role(&'a str),
    /// `creds/<name>`.
    Creds(&'a str),
    /// `token/<name>`.
    Token(&'a str),
    /// `static-roles/` (list).
    StaticRoles,
    /// `static-roles/<name>`.
    StaticRole(&'a str),
    /// `static-creds/<name>`.
    StaticCreds(&'a str),
    /// `rotate-role/<name>`.
    RotateRole(&'a str),
}

/// Longest role name.
const MAX_NAME: usize = 128;

impl<'a> Route<'a> {
    /// The route of `path` (relative to the mount, no leading slash).
    pub fn parse(path: &'a str) -> Result<Route<'a>, LogicalError> {
        let path = path.trim_start_matches('/');
        match path {
            "config" => return Ok(Route::Config),
            "rotate-root" => return Ok(Route::RotateRoot),
            "roles" | "roles/" => return Ok(Route::Roles),
            "static-roles" | "static-roles/" => return Ok(Route::StaticRoles),
            _ => {}
        }
        let (head, name) = path.split_once('/').ok_or(LogicalError::UnsupportedPath)?;
        let route: fn(&'a str) -> Route<'a> = match head {
            "roles" => Route::Role,
            "creds" => Route::Creds,
            "token" => Route::Token,
            "static-roles" => Route::StaticRole,
            "static-creds" => Route::StaticCreds,
            "rotate-role" => Route::RotateRole,
            _ => return Err(LogicalError::UnsupportedPath),
        };
        check_name(name)?;
        Ok(route(name))
    }

    /// Whether this path takes `op`. A write arrives as `update`, or as `create` when the
    /// server's existence check says the target is new: both are writes here.
    pub fn allows(&self, op: Operation) -> bool {
        use Operation::*;
        let write = matches!(op, Create | Update);
        match self {
            Route::Config => write || matches!(op, Read | Delete),
            Route::RotateRoot | Route::RotateRole(_) => write,
            Route::Roles | Route::StaticRoles => matches!(op, List),
            Route::Role(_) | Route::StaticRole(_) => write || matches!(op, Read | Delete),
            Route::Creds(_) | Route::Token(_) | Route::StaticCreds(_) => matches!(op, Read),
        }
    }
}

/// A role name: 1 to 128 letters, digits, `-`, `_` or `.`, not `.` or `..` (it becomes a storage
/// key and a path segment).
pub fn check_name(name: &str) -> Result<(), LogicalError> {
    let ok = (1..=MAX_NAME).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(LogicalError::BadRequest(format!(
            "name: must be 1 to {MAX_NAME} letters, digits, '-', '_' or '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_route_and_check_names() {
        assert_eq!(Route::parse("config").unwrap(), Route::Config);
        assert_eq!(Route::parse("roles/").unwrap(), Route::Roles);
        assert_eq!(Route::parse("roles/crm.eu-1").unwrap(), Route::Role("crm.eu-1"));
        assert_eq!(Route::parse("creds/crm").unwrap(), Route::Creds("crm"));
        assert_eq!(Route::parse("token/crm").unwrap(), Route::Token("crm"));
        assert_eq!(Route::parse("static-creds/crm").unwrap(), Route::StaticCreds("crm"));
        assert_eq!(Route::parse("rotate-role/crm").unwrap(), Route::RotateRole("crm"));
        for unknown in ["", "nope", "creds", "secrets/x", "config/x/y"] {
            assert_eq!(Route::parse(unknown), Err(LogicalError::UnsupportedPath), "{unknown}");
        }
        for bad in [
            "roles/a/b",
            "creds/..",
            "roles/a b",
            "token/",
            &format!("roles/{}", "x".repeat(129)),
        ] {
            assert!(matches!(Route::parse(bad), Err(LogicalError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn each_path_takes_its_operations() {
        use Operation::*;
        assert!(Route::Config.allows(Update) && Route::Config.allows(Delete) && !Route::Config.allows(List));
        assert!(Route::Creds("a").allows(Read) && !Route::Creds("a").allows(Update));
        assert!(Route::Roles.allows(List) && !Route::Roles.allows(Read));
        assert!(Route::RotateRoot.allows(Create) && !Route::RotateRoot.allows(Read));
        assert!(Route::StaticRole("a").allows(Delete));
        assert!(!Route::Token("a").allows(Revoke));
    }
}
