//! An endpoint's extra headers: validated with the `http` crate's types when given, kept
//! encrypted (they often carry a receiver's auth token), and added to every request.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::WebhookError;

pub(crate) const MAX_HEADERS: usize = 20;

/// Headers the sender sets itself, or that would break the request's framing.
const RESERVED: [&str; 5] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
];

/// Validated extra headers. `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct ExtraHeaders(Vec<(HeaderName, HeaderValue)>);

impl fmt::Debug for ExtraHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name.as_str(), "***")))
            .finish()
    }
}

impl ExtraHeaders {
    /// Checks the names and values a user gave: valid HTTP, each name once, none the
    /// sender sets itself. Errors name the header, never its value.
    pub(crate) fn parse(given: &[(String, String)]) -> Result<ExtraHeaders, WebhookError> {
        if given.len() > MAX_HEADERS {
            return Err(WebhookError::TooManyHeaders(given.len()));
        }
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(given.len());
        for (name, value) in given {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| WebhookError::InvalidHeaderName(shorten(name)))?;
            if name.as_str().starts_with("webhook-") || RESERVED.contains(&name.as_str()) {
                return Err(WebhookError::ReservedHeader(name.to_string()));
            }
            if headers.iter().any(|(seen, _)| *seen == name) {
                return Err(WebhookError::DuplicateHeader(name.to_string()));
            }
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| WebhookError::InvalidHeaderValue(name.to_string()))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        Ok(ExtraHeaders(headers))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.0.iter().map(|(name, _)| name.to_string()).collect()
    }

    /// The plaintext to seal: a JSON list of `[name, value]` pairs.
    pub(crate) fn to_plaintext(&self) -> Vec<u8> {
        // Values were made from strings of visible ASCII, so `to_str` always succeeds.
        let pairs: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("")))
            .collect();
        serde_json::to_vec(&pairs).unwrap_or_default()
    }

    /// What [`to_plaintext`](Self::to_plaintext) made, validated again.
    pub(crate) fn from_plaintext(plaintext: &[u8]) -> Option<ExtraHeaders> {
        let pairs: Vec<(String, String)> = serde_json::from_slice(plaintext).ok()?;
        ExtraHeaders::parse(&pairs).ok()
    }

    pub(crate) fn to_map(&self) -> HeaderMap {
        self.0.iter().cloned().collect()
    }
}

/// A user's invalid header name, cut short for an error message.
fn shorten(name: &str) -> String {
    name.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn valid_headers_round_trip_and_hide_their_values() {
        let headers =
            ExtraHeaders::parse(&pairs(&[("Authorization", "Bearer s3cr3t"), ("X-Team", "ops")])).unwrap();
        assert_eq!(headers.names(), ["authorization", "x-team"]);
        assert_eq!(
            ExtraHeaders::from_plaintext(&headers.to_plaintext()),
            Some(headers.clone())
        );
        assert!(!format!("{headers:?}").contains("s3cr3t"));
        assert_eq!(headers.to_map().get("authorization").unwrap(), "Bearer s3cr3t");
    }

    #[test]
    fn refuses_reserved_duplicate_and_malformed_headers() {
        let refused = |list: &[(&str, &str)]| ExtraHeaders::parse(&pairs(list)).unwrap_err();
        assert!(matches!(
            refused(&[("Webhook-Signature", "x")]),
            WebhookError::ReservedHeader(_)
        ));
        assert!(matches!(
            refused(&[("Host", "x")]),
            WebhookError::ReservedHeader(_)
        ));
        assert!(matches!(
            refused(&[("content-length", "1")]),
            WebhookError::ReservedHeader(_)
        ));
        assert!(matches!(
            refused(&[("a", "1"), ("A", "2")]),
            WebhookError::DuplicateHeader(_)
        ));
        assert!(matches!(
            refused(&[("bad name", "1")]),
            WebhookError::InvalidHeaderName(_)
        ));
        assert!(matches!(
            refused(&[("", "1")]),
            WebhookError::InvalidHeaderName(_)
        ));
        let error = refused(&[("x-token", "line\r\nbreak s3cr3t")]);
        assert!(matches!(error, WebhookError::InvalidHeaderValue(_)));
        assert!(!error.to_string().contains("s3cr3t"));
        let many: Vec<(String, String)> = (0..=MAX_HEADERS)
            .map(|n| (format!("x-{n}"), "v".into()))
            .collect();
        assert!(matches!(
            ExtraHeaders::parse(&many),
            Err(WebhookError::TooManyHeaders(_))
        ));
    }
}
