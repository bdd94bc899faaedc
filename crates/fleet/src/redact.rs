//! Redaction of anything that looks like a credential, for text that leaves muster (logs,
//! errors, audit records): long base64-like words, and the values of `token=`,
//! `password=`-style arguments and `Authorization` headers.

/// Words that name a credential's value when they come before `=` or `:`.
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "apikey",
    "api-key",
    "api_key",
    "authorization",
    "bearer",
    "credential",
];

/// Replace every word that looks like a credential with `<redacted>`.
#[must_use]
pub fn words(message: &str) -> String {
    sequence(message.split_whitespace(), |w| word(w).to_string()).join(" ")
}

/// One argument or word, redacted if it looks like (or carries) a credential.
#[must_use]
pub fn word(w: &str) -> &str {
    let looks_random = w.len() >= 32 && w.chars().all(|c| c.is_ascii_alphanumeric() || "+/=_-.".contains(c));
    if looks_random || carries_secret(w) {
        "<redacted>"
    } else {
        w
    }
}

fn carries_secret(w: &str) -> bool {
    let lower = w.to_ascii_lowercase();
    let key = lower.trim_start_matches('-');
    SECRET_KEYS.iter().any(|k| {
        key.strip_prefix(k)
            .is_some_and(|rest| (rest.starts_with('=') || rest.starts_with(':')) && rest.len() > 1)
    })
}

/// An argv, redacted: credential-like words, and the word after `--token`, `--password`,
/// `Authorization:` or `Bearer`.
#[must_use]
pub fn argv(argv: &[String]) -> Vec<String> {
    sequence(argv.iter().map(String::as_str), |a| {
        if a.contains(char::is_whitespace) {
            words(a)
        } else {
            word(a).to_string()
        }
    })
}

/// Redact a sequence of words: each through `one`, and the value that follows a key word.
fn sequence<'a>(items: impl Iterator<Item = &'a str>, one: impl Fn(&str) -> String) -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for w in items {
        let lower = w.to_ascii_lowercase();
        let is_key = SECRET_KEYS.contains(&lower.trim_start_matches('-').trim_end_matches(':'));
        if hide_next && !is_key {
            out.push("<redacted>".to_string());
            hide_next = false;
            continue;
        }
        hide_next = is_key;
        out.push(one(w));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden() {
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMzQ1Njc4OTAifQ.payload";
        assert_eq!(words(&format!("bad token {token} here")), "bad token <redacted> here");
        assert_eq!(word("--token=abc"), "<redacted>");
        assert_eq!(word("password:hunter2"), "<redacted>");
        assert_eq!(word("--token="), "--token=", "no value, nothing to hide");
        assert_eq!(word("/etc/app/config.yaml"), "/etc/app/config.yaml");
        assert_eq!(words("Authorization: Bearer abc"), "Authorization: Bearer <redacted>");
        let args: Vec<String> = [
            "curl",
            "-H",
            "Authorization: Bearer abc",
            "--password",
            "pw",
            "http://x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            argv(&args),
            [
                "curl",
                "-H",
                "Authorization: Bearer <redacted>",
                "--password",
                "<redacted>",
                "http://x"
            ]
        );
    }
}
