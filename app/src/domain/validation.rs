//! The one field-error collector of the service. Parsers of query strings and bodies record
//! DRF-style messages (field -> messages) here and end with [`Fields::finish`]; the result is a
//! plain [`Invalid`] with no HTTP in it, which `error.rs` turns into the 400 body in one place.
use std::collections::BTreeMap;

/// Per-field messages, as DRF returns them: field -> list of messages.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Input that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Not the shape asked for at all (not a JSON object, an unreadable header): no field to name.
    Malformed(String),
    /// Every field problem at once.
    Fields(FieldErrors),
}

impl Invalid {
    /// One message on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut f = Fields::default();
        f.add(field, message);
        Invalid::Fields(f.0)
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Malformed(m) => f.write_str(m),
            Invalid::Fields(fields) => {
                write!(f, "invalid fields: {}", fields.keys().cloned().collect::<Vec<_>>().join(", "))
            }
        }
    }
}

impl std::error::Error for Invalid {}

/// Collects messages per field while a value is parsed.
#[derive(Debug, Default)]
pub struct Fields(FieldErrors);

impl Fields {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_string()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Ok when nothing was recorded, else every message.
    pub fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid::Fields(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_collect_per_field_in_order() {
        let mut f = Fields::default();
        f.add("name", "first");
        f.add("name", "second");
        f.add("age", "third");
        let Err(Invalid::Fields(all)) = f.finish() else { panic!("expected field errors") };
        assert_eq!(all["name"], ["first", "second"]);
        assert_eq!(all["age"], ["third"]);
    }

    #[test]
    fn nothing_recorded_is_ok() {
        assert_eq!(Fields::default().finish(), Ok(()));
    }
}
