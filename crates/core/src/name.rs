//! Validated Kubernetes names, types that cannot hold a bad value: [`Namespace`] (a DNS-1123
//! label, as kube-apiserver requires) and [`Name`] (an object name that is safe as one URL
//! path segment: kube-apiserver's path-segment rule, plus no character a URL would treat
//! specially). Every namespace and name muster sends comes through here, whether it was typed,
//! read from a manifest, a kubeconfig, a custom resource or a message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A name that is not valid where it was used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {why}")]
pub struct NameError {
    /// `namespace`, `name`, `container`.
    pub what: &'static str,
    pub value: String,
    pub why: String,
}

impl NameError {
    /// A stable short label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        "InvalidName"
    }
}

/// Why `s` is not a DNS-1123 label (lowercase alphanumerics and `-`, at most 63, starting
/// and ending alphanumeric), or `None` when it is one.
#[must_use]
pub fn dns_label_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("must not be empty");
    }
    if s.len() > 63 {
        return Some("must be at most 63 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Some("must consist of lowercase letters, digits and '-' (a DNS-1123 label)");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("must start and end with a letter or digit");
    }
    None
}

/// A namespace: a DNS-1123 label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Namespace(String);

impl Namespace {
    /// Validate a namespace.
    ///
    /// # Errors
    /// [`NameError`] saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        match dns_label_problem(s) {
            None => Ok(Self(s.to_string())),
            Some(why) => Err(NameError {
                what: "namespace",
                value: s.to_string(),
                why: why.to_string(),
            }),
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `default`.
    #[must_use]
    pub fn default_namespace() -> Self {
        Self("default".into())
    }
}

/// An object name: at most 253 characters, not `.` or `..`, and none of `/`, `%`, `?`, `#`,
/// whitespace or control characters, so it is always exactly one URL path segment.
/// (kube-apiserver accepts any such name for some kinds, RBAC's `system:...` roles among
/// them; each kind's own stricter rule is the server's to apply.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    /// Validate an object name.
    ///
    /// # Errors
    /// [`NameError`] saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bad = |why: &str| NameError {
            what: "name",
            value: s.to_string(),
            why: why.to_string(),
        };
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        if s.len() > 253 {
            return Err(bad("must be at most 253 characters"));
        }
        if s == "." || s == ".." {
            return Err(bad("may not be '.' or '..'"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| matches!(c, '/' | '%' | '?' | '#' | '\\') || c.is_whitespace() || c.is_control())
        {
            return Err(bad(&format!("may not contain {c:?}")));
        }
        Ok(Self(s.to_string()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A container name (a DNS-1123 label).
///
/// # Errors
/// [`NameError`] saying what is wrong.
pub fn check_container(s: &str) -> Result<(), NameError> {
    match dns_label_problem(s) {
        None => Ok(()),
        Some(why) => Err(NameError {
            what: "container",
            value: s.to_string(),
            why: why.to_string(),
        }),
    }
}

macro_rules! string_newtype {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(n: $t) -> Self {
                n.0
            }
        }

        impl std::str::FromStr for $t {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_newtype!(Namespace);
string_newtype!(Name);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_dns_labels() {
        for ok in ["shop", "a", "kube-system", "a1-b2", &"x".repeat(63)] {
            assert_eq!(Namespace::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "shop/../kube-system",
            "../kube-system",
            "shop/",
            "Shop",
            "-shop",
            "shop-",
            "sh op",
            "shop%2F..%2Fkube-system",
            "shop\0",
            "shop.prod",
            "kube-system?x=1",
            "shop#",
            &"x".repeat(64),
            "ѕhop", // a Cyrillic ѕ
        ] {
            let e = Namespace::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid namespace"), "{bad:?}: {e}");
        }
        let wire: Result<Namespace, _> = serde_json::from_str("\"a/../b\"");
        assert!(wire.is_err(), "deserialising validates too");
    }

    #[test]
    fn names_are_one_path_segment() {
        for ok in ["web", "web-1.example", "system:controller:deployment", "a_b", "Web"] {
            assert_eq!(Name::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a%2Fb",
            "a?watch=1",
            "a#b",
            "a b",
            "a\nb",
            "a\\b",
            &"x".repeat(254),
        ] {
            assert!(Name::parse(bad).is_err(), "{bad:?}");
        }
        assert!(check_container("web").is_ok() && check_container("../x").is_err());
    }
}
