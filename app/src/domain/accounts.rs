//! Account values: a mainland China mobile number and a sign-up request.
use serde_json::Value;

use super::validation::{Fields, Invalid};

/// `^1[3-9]\d{9}$`
#[derive(Debug, Clone)]
pub struct Tel(String);

impl Tel {
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let ok = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
        if ok {
            Ok(Tel(s.to_string()))
        } else {
            Err("Enter a mainland China mobile number (11 digits, 13x-19x).".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub struct NewUser {
    pub username: String,
    pub password: String,
    pub tel: Tel,
    pub code: String,
}

impl NewUser {
    /// Every field problem at once, DRF style.
    pub fn parse(body: &Value) -> Result<Self, Invalid> {
        let mut fields = Fields::default();
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let username = text("username").unwrap_or_default();
        let password = text("password").unwrap_or_default();
        let tel_raw = text("tel").unwrap_or_default();
        let code = text("code").unwrap_or_default();
        if let Some(obj) = body.as_object() {
            for k in obj.keys() {
                if !["username", "password", "tel", "code"].contains(&k.as_str()) {
                    fields.add(k, "Unknown field.");
                }
            }
        } else {
            return Err(Invalid::Malformed("The body must be a JSON object.".into()));
        }
        let n = username.chars().count();
        if !(3..=32).contains(&n) || !username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            fields.add("username", "3-32 characters: letters, digits and underscores.");
        } else if username.bytes().all(|b| b.is_ascii_digit()) {
            // Login takes a username or a phone number: an all-digit username could shadow
            // someone's number and lock them out of phone login.
            fields.add("username", "Must contain a letter or an underscore (digits only look like a phone number).");
        }
        if password.chars().count() < 8 {
            fields.add("password", "At least 8 characters.");
        } else if password.chars().count() > 1024 {
            fields.add("password", "At most 1024 characters.");
        } else if password.eq_ignore_ascii_case(&username) {
            fields.add("password", "Must not be the username.");
        }
        let tel = Tel::parse(&tel_raw).map_err(|m| fields.add("tel", m)).ok();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            fields.add("code", "The 6-digit code sent to the tel.");
        }
        fields.finish()?;
        Ok(NewUser { username, password, tel: tel.expect("checked above"), code })
    }
}

#[cfg(test)]
mod tests {
    use super::Tel;

    #[test]
    fn tel_accepts_mainland_mobile_numbers_only() {
        assert!(Tel::parse("13800138000").is_ok());
        assert!(Tel::parse("19912345678").is_ok());
        for bad in ["12800138000", "1380013800", "138001380001", "1380013800a", "", "+8613800138000"] {
            assert!(Tel::parse(bad).is_err(), "{bad}");
        }
    }
}
