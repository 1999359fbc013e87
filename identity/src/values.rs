//! What people type, parsed once at the edge: an e-mail address, a password, a person's
//! name and a team's name. Each `parse` either gives a value that is good everywhere or
//! a clear error naming the field; none panics, whatever the input.

use std::fmt;

use crate::IdentityError;

/// The longest address SMTP carries (RFC 5321: 254 octets in a path).
const MAX_EMAIL_BYTES: usize = 254;
const MAX_LOCAL_PART_BYTES: usize = 64;
/// Fewer than this many characters is too easy to guess.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// More than this is no password but a payload; hashing it would only cost us time.
pub const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_NAME_CHARS: usize = 100;

/// An e-mail address, lower-cased, so that `Ana@Example.com` and `ana@example.com` are
/// one account. ASCII only, in the common dot-atom form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, IdentityError> {
        let text = raw.trim().to_ascii_lowercase();
        let invalid = |problem: String| Err(IdentityError::invalid("email", problem));
        if text.is_empty() {
            return invalid("is empty; give an e-mail address such as ana@example.com".into());
        }
        if text.len() > MAX_EMAIL_BYTES {
            return invalid(format!("is longer than {MAX_EMAIL_BYTES} characters"));
        }
        if !text.is_ascii() {
            return invalid("must be an ASCII address such as ana@example.com".into());
        }
        let Some((local, domain)) = text.split_once('@') else {
            return invalid("is not an e-mail address (no `@`); give one such as ana@example.com".into());
        };
        if domain.contains('@') {
            return invalid("has more than one `@`".into());
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
        if local.is_empty()
            || local.len() > MAX_LOCAL_PART_BYTES
            || !local.chars().all(atext)
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return invalid(format!(
                "the part before `@` must be 1 to {MAX_LOCAL_PART_BYTES} letters, digits or !#$%&'*+-/=?^_`{{|}}~. (no leading, trailing or double dot)"
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let good_label = |label: &&str| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if labels.len() < 2 || !labels.iter().all(good_label) {
            return invalid(format!(
                "`{domain}` is not a mail domain; give one with a dot, such as example.com"
            ));
        }
        Ok(Email(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed. Never printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A new password (sign-up, change, reset): long enough to resist guessing.
    pub fn parse(raw: &str) -> Result<Password, IdentityError> {
        Self::parse_field("password", raw)
    }

    /// [`parse`](Self::parse) for a differently named field (e.g. `newPassword`).
    pub fn parse_field(field: &'static str, raw: &str) -> Result<Password, IdentityError> {
        let password = Self::attempt_field(field, raw)?;
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(IdentityError::invalid(
                field,
                format!("is {chars} characters long; use at least {MIN_PASSWORD_CHARS} (a few words make a good one)"),
            ));
        }
        if raw.trim().is_empty() {
            return Err(IdentityError::invalid(field, "must not be only spaces"));
        }
        Ok(password)
    }

    /// A password given to log in: checked against the stored hash, not against today's
    /// rules (which may be stricter than when it was set).
    pub fn attempt(raw: &str) -> Result<Password, IdentityError> {
        Self::attempt_field("password", raw)
    }

    pub fn attempt_field(field: &'static str, raw: &str) -> Result<Password, IdentityError> {
        if raw.is_empty() {
            return Err(IdentityError::invalid(field, "is empty"));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(IdentityError::invalid(
                field,
                format!("is longer than {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        Ok(Password(raw.to_string()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

fn plain_name(field: &'static str, raw: &str, allow_empty: bool) -> Result<String, IdentityError> {
    let name = raw.trim();
    if name.is_empty() && !allow_empty {
        return Err(IdentityError::invalid(field, "is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(IdentityError::invalid(
            field,
            format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            field,
            "holds control characters (line breaks, tabs, …)",
        ));
    }
    Ok(name.to_string())
}

/// What a person is called; may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<PersonName, IdentityError> {
        plain_name("name", raw, true).map(PersonName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A team's name: 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName(String);

impl TeamName {
    pub fn parse(raw: &str) -> Result<TeamName, IdentityError> {
        plain_name("name", raw, false).map(TeamName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn problem(result: Result<impl fmt::Debug, IdentityError>) -> String {
        match result {
            Err(IdentityError::Invalid { problem, .. }) => problem,
            other => panic!("expected an invalid-field error, got {other:?}"),
        }
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ana.Maria+ops@Example.COM ").unwrap().as_str(),
            "ana.maria+ops@example.com"
        );
    }

    #[test]
    fn malformed_emails_say_what_is_wrong() {
        assert!(problem(Email::parse("")).contains("empty"));
        assert!(problem(Email::parse("ana")).contains("no `@`"));
        assert!(problem(Email::parse("a@b@c.com")).contains("more than one"));
        assert!(problem(Email::parse("ana@localhost")).contains("with a dot"));
        assert!(problem(Email::parse(".ana@example.com")).contains("dot"));
        assert!(problem(Email::parse("ana maria@example.com")).contains("before `@`"));
        assert!(problem(Email::parse("josé@example.com")).contains("ASCII"));
        assert!(problem(Email::parse("ana@exa_mple.com")).contains("mail domain"));
        let long = format!("{}@example.com", "a".repeat(300));
        assert!(problem(Email::parse(&long)).contains("longer"));
    }

    #[test]
    fn passwords_need_ten_characters_and_never_print() {
        assert!(problem(Password::parse("short")).contains("at least 10"));
        assert!(problem(Password::parse("          ")).contains("spaces"));
        assert!(problem(Password::parse(&"x".repeat(2000))).contains("longer"));
        let password = Password::parse("correct horse battery").unwrap();
        assert_eq!(format!("{password:?} {password}"), "Password(***) ***");
        // Ten characters, not ten bytes.
        assert!(Password::parse("ééééééééé").is_err());
        assert!(Password::parse("éééééééééé").is_ok());
        // Logging in checks only the bounds: an old short password still works.
        assert!(Password::attempt("short").is_ok());
        assert!(Password::attempt("").is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PersonName::parse("  Ana  ").unwrap().as_str(), "Ana");
        assert_eq!(PersonName::parse("").unwrap().as_str(), "");
        assert!(problem(TeamName::parse("   ")).contains("empty"));
        assert!(problem(TeamName::parse("ops\nteam")).contains("control"));
        assert!(problem(TeamName::parse(&"t".repeat(101))).contains("longer"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_parses_or_fails_with_a_field_error(raw in any::<String>()) {
            for result in [
                Email::parse(&raw).map(|_| ()),
                Password::parse(&raw).map(|_| ()),
                Password::attempt(&raw).map(|_| ()),
                PersonName::parse(&raw).map(|_| ()),
                TeamName::parse(&raw).map(|_| ()),
            ] {
                if let Err(error) = result {
                    prop_assert!(matches!(error, IdentityError::Invalid { .. }), "{error:?}");
                    prop_assert!(!error.to_string().is_empty());
                }
            }
        }

        #[test]
        fn address_like_text_parses_to_its_lower_case(
            local in "[A-Za-z0-9][A-Za-z0-9._+-]{0,20}[A-Za-z0-9]",
            domain in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z]{2,6}){1,2}",
        ) {
            prop_assume!(!local.contains(".."));
            let raw = format!("{local}@{domain}");
            let email = Email::parse(&raw).unwrap();
            prop_assert_eq!(email.as_str(), raw.to_ascii_lowercase());
            // Parsing is idempotent.
            prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        }

        #[test]
        fn a_password_never_shows_in_debug_output(raw in "\\PC{10,40}") {
            prop_assume!(!raw.trim().is_empty() && !raw.contains("***"));
            if let Ok(password) = Password::parse(&raw) {
                let shown = format!("{password:?}");
                prop_assert!(!shown.contains(&raw));
            }
        }
    }
}
