//! How domain names (snake_case) are spelled in GraphQL.

use domain::Kind;

/// `ipv4_private` → `ipv4Private`.
pub fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `ipv4Private` → `ipv4_private`.
pub fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_uppercase() {
            out.push('_');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `server` → `Server`.
pub fn type_name(kind: Kind) -> String {
    let name = kind.stream_type();
    name[..1].to_uppercase() + &name[1..]
}

/// `ipv4_private` → `IPV4_PRIVATE`.
pub fn screaming(snake: &str) -> String {
    snake.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ["ipv4_private", "name", "ipv6_all", "volume_type"] {
            assert_eq!(snake(&camel(name)), name);
        }
        assert_eq!(camel("ipv4_private"), "ipv4Private");
        assert_eq!(type_name(Kind::Datacenter), "Datacenter");
    }
}
