//! The one edge where a violated database constraint becomes an API answer. sqlx's MySQL error
//! does not expose the constraint's name (`DatabaseError::constraint()` is `None` there), so it
//! is read from MariaDB's message here, once; each resource states what its keys mean in an
//! `on_constraint` table (`(key name, meaning)`), instead of string-matching at every call.
use crate::error::{infrastructure, ApiError};

/// How a statement broke a constraint (MariaDB error numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 1062: a unique key already holds the value.
    Unique,
    /// 1452: an inserted or updated row names a parent that does not exist.
    MissingParent,
    /// 1451: a deleted or updated row is still referenced by a child row.
    StillReferenced,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: Kind,
    /// The key or foreign-key constraint, without a table qualifier (`uq_users_tel`).
    pub key: String,
    /// The duplicate value (unique keys only), as the server quoted it.
    pub value: Option<String>,
}

/// What a key means to the API.
#[derive(Debug, Clone, Copy)]
pub enum Meaning {
    /// An id in this body field names nothing: 422 on the field.
    UnknownId(&'static str),
    /// 409 with this message; `{value}` stands for the duplicate value.
    Conflict(&'static str),
}

/// A resource's constraints: key name -> meaning.
pub type OnConstraint = &'static [(&'static str, Meaning)];

/// The violation behind a database error, if it is one.
pub fn violation(e: &sqlx::Error) -> Option<Violation> {
    let sqlx::Error::Database(d) = e else { return None };
    let number = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?.number();
    parse(number, d.message())
}

/// Read the key out of the server's message:
/// 1062 `Duplicate entry 'ops' for key 'uq_roles_name'` (MySQL 8: `'roles.uq_roles_name'`),
/// 1451/1452 `... a foreign key constraint fails (`db`.`houses`, CONSTRAINT `fk_houses_estate` FOREIGN KEY ...)`.
pub fn parse(number: u16, message: &str) -> Option<Violation> {
    match number {
        1062 => {
            let rest = message.strip_prefix("Duplicate entry '")?;
            let (value, key) = rest.rsplit_once("' for key '")?;
            let key = key.strip_suffix('\'')?;
            let key = key.rsplit('.').next().unwrap_or(key);
            Some(Violation { kind: Kind::Unique, key: key.to_string(), value: Some(value.to_string()) })
        }
        1451 | 1452 => {
            let key = message.split("CONSTRAINT `").nth(1)?.split('`').next()?;
            let kind = if number == 1452 { Kind::MissingParent } else { Kind::StillReferenced };
            Some(Violation { kind, key: key.to_string(), value: None })
        }
        _ => None,
    }
}

/// A failed write's error as the API answers it: a constraint the resource's table names gets
/// its meaning; an unknown parent the table does not name is a 422 on `non_field_errors`;
/// anything else is an infrastructure error with `context`.
pub fn on_constraint(e: sqlx::Error, table: OnConstraint, context: &'static str) -> ApiError {
    let Some(v) = violation(&e) else { return infrastructure(e, context) };
    match table.iter().find(|(key, _)| *key == v.key).map(|(_, m)| *m) {
        Some(Meaning::UnknownId(field)) => ApiError::unknown_reference(field, "Unknown id."),
        Some(Meaning::Conflict(message)) => {
            ApiError::Conflict(message.replace("{value}", v.value.as_deref().unwrap_or_default()))
        }
        None if v.kind == Kind::MissingParent => ApiError::unknown_reference("non_field_errors", "Unknown id."),
        None => infrastructure(e, context),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_names_its_key_and_value_with_or_without_the_table() {
        let v = parse(1062, "Duplicate entry 'ops' for key 'uq_roles_name'").unwrap();
        assert_eq!((v.kind, v.key.as_str(), v.value.as_deref()), (Kind::Unique, "uq_roles_name", Some("ops")));
        let v = parse(1062, "Duplicate entry 'it''s' for key 'roles.uq_roles_name'").unwrap();
        assert_eq!((v.key.as_str(), v.value.as_deref()), ("uq_roles_name", Some("it''s")));
    }

    #[test]
    fn a_foreign_key_failure_names_its_constraint_and_direction() {
        let child = "Cannot add or update a child row: a foreign key constraint fails (`zt`.`houses`, \
                     CONSTRAINT `fk_houses_estate` FOREIGN KEY (`estate_id`) REFERENCES `estates` (`id`))";
        assert_eq!(
            parse(1452, child),
            Some(Violation { kind: Kind::MissingParent, key: "fk_houses_estate".into(), value: None })
        );
        let parent = "Cannot delete or update a parent row: a foreign key constraint fails (`zt`.`houses`, \
                      CONSTRAINT `fk_houses_estate` FOREIGN KEY (`estate_id`) REFERENCES `estates` (`id`))";
        assert_eq!(parse(1451, parent).map(|v| v.kind), Some(Kind::StillReferenced));
    }

    #[test]
    fn other_errors_and_unreadable_messages_are_not_violations() {
        assert_eq!(parse(1064, "You have an error in your SQL syntax"), None);
        assert_eq!(parse(1062, "something else"), None);
        assert_eq!(parse(1452, "a foreign key constraint fails"), None);
    }
}
