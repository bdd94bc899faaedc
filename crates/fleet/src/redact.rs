//! Redaction of anything that looks like a credential, for text that leaves muster (logs,
//! errors, audit records): long base64-like words; the values of `token=`, `password=`-style
//! arguments, of `--password X`, `--token X` and mysql's `-pX`; variables whose names say
//! SECRET, TOKEN, PASSWORD or KEY (`DB_PASSWORD=...`); `Authorization:` and `X-*-Token:`
//! headers; and the password of a URL's `user:password@`.

/// Words that name a credential's value when they come before `=` or `:`, or as a flag
/// before the value.
const SECRET_KEYS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "apikey",
    "api-key",
    "api_key",
    "access-key",
    "secret-key",
    "private-key",
    "client-secret",
    "authorization",
    "bearer",
    "basic",
    "credential",
    "credentials",
    "auth",
    "cookie",
];

/// Parts of a variable or header name that say it holds a secret.
const SECRET_NAME_PARTS: &[&str] = &["SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH"];

/// Programs whose `-pVALUE` is a password (mysql and its tools).
const DASH_P_PASSWORD: &[&str] = &[
    "mysql",
    "mysqldump",
    "mysqladmin",
    "mysqlcheck",
    "mysqlimport",
    "mysqlshow",
    "mysqlpump",
    "mariadb",
    "mariadb-dump",
    "mariadb-admin",
];

/// Plain words (not flags or headers) after which the next word is a credential.
const PLAIN_KEY_WORDS: &[&str] = &["bearer", "basic", "token", "password"];

const REDACTED: &str = "<redacted>";

/// Replace every word that looks like a credential with `<redacted>`.
#[must_use]
pub fn words(message: &str) -> String {
    sequence(message.split_whitespace(), |w| word(w).into_owned()).join(" ")
}

/// One argument or word, redacted if it looks like (or carries) a credential.
#[must_use]
pub fn word(w: &str) -> std::borrow::Cow<'_, str> {
    let looks_random = w.len() >= 32 && w.chars().all(|c| c.is_ascii_alphanumeric() || "+/=_-.".contains(c));
    if looks_random {
        return REDACTED.into();
    }
    if let Some(key) = secret_assignment(w) {
        return format!("{key}{REDACTED}").into();
    }
    if let Some(url) = url_without_password(w) {
        return url.into();
    }
    w.into()
}

/// `KEY=value` or `key:value` whose key names a secret: the part to keep (`KEY=`).
fn secret_assignment(w: &str) -> Option<&str> {
    let split = w.find(['=', ':'])?;
    let (key, rest) = (&w[..split], &w[split + 1..]);
    if rest.is_empty() || rest.starts_with("//") {
        return None; // nothing to hide, or a URL scheme
    }
    names_secret(key).then(|| &w[..=split])
}

/// Whether a key, flag, variable or header name says it holds a secret.
fn names_secret(key: &str) -> bool {
    let bare = key.trim_start_matches('-');
    let lower = bare.to_ascii_lowercase();
    if SECRET_KEYS.contains(&lower.as_str()) {
        return true;
    }
    // NB: DB_PASSWORD, AWS_SECRET_ACCESS_KEY, X-Auth-Token, X-Vault-Token, api_key...
    let upper = bare.to_ascii_uppercase();
    let is_name = !bare.is_empty()
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    is_name
        && upper
            .split(['_', '-', '.'])
            .any(|part| SECRET_NAME_PARTS.contains(&part) || part.ends_with("PASSWORD") || part.ends_with("TOKEN"))
}

/// A URL with `user:password@` in it, with the password replaced.
fn url_without_password(w: &str) -> Option<String> {
    let scheme_end = w.find("://")? + 3;
    let rest = &w[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    Some(format!(
        "{}{}:{REDACTED}{}",
        &w[..scheme_end],
        &rest[..colon],
        &rest[at..]
    ))
}

/// An argv, redacted: credential-like words, the word after `--token`, `--password`,
/// `Authorization:` or `Bearer`, and mysql's `-pPASSWORD`.
#[must_use]
pub fn argv(argv: &[String]) -> Vec<String> {
    let program = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or_default();
    let dash_p = DASH_P_PASSWORD.contains(&program);
    let mut out = sequence(argv.iter().map(String::as_str), |a| {
        if a.contains(char::is_whitespace) {
            words(a)
        } else {
            word(a).into_owned()
        }
    });
    if dash_p {
        for a in out.iter_mut().skip(1) {
            if a.len() > 2 && a.starts_with("-p") && !a.starts_with("--") {
                *a = format!("-p{REDACTED}");
            }
        }
    }
    out
}

/// Redact a sequence of words: each through `one`, and the value that follows a key word
/// (`--password X`, `Authorization: Bearer X`, `X-Auth-Token: X`).
fn sequence<'a>(items: impl Iterator<Item = &'a str>, one: impl Fn(&str) -> String) -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for w in items {
        let is_key = {
            let k = w.trim_end_matches(':');
            let flag_or_header = k.len() < w.len() || w.starts_with('-');
            (flag_or_header && names_secret(k)) || PLAIN_KEY_WORDS.contains(&k.to_ascii_lowercase().as_str())
        };
        if hide_next && !is_key {
            out.push(REDACTED.to_string());
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

    fn redacted(args: &[&str]) -> Vec<String> {
        argv(&args.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn credentials_are_hidden() {
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMzQ1Njc4OTAifQ.payload";
        assert_eq!(words(&format!("bad token {token} here")), "bad token <redacted> here");
        assert_eq!(word("--token=abc"), "--token=<redacted>");
        assert_eq!(word("password:hunter2"), "password:<redacted>");
        assert_eq!(word("--token="), "--token=", "no value, nothing to hide");
        assert_eq!(word("/etc/app/config.yaml"), "/etc/app/config.yaml");
        assert_eq!(words("Authorization: Bearer abc"), "Authorization: Bearer <redacted>");
        assert_eq!(
            redacted(&[
                "curl",
                "-H",
                "Authorization: Bearer abc",
                "--password",
                "pw",
                "http://x"
            ]),
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

    #[test]
    fn every_shape_of_secret_argument() {
        for (args, leaked) in [
            (&["app", "--password=hunter2"][..], "hunter2"),
            (&["app", "--password", "hunter2"], "hunter2"),
            (&["app", "--token", "s3cr3t"], "s3cr3t"),
            (&["app", "--client-secret=abc123"], "abc123"),
            (&["app", "--api-key", "k-42"], "k-42"),
            (&["mysql", "-uroot", "-phunter2", "db"], "hunter2"),
            (&["/usr/bin/mysqldump", "-pHunter2!"], "Hunter2!"),
            (&["env", "DB_PASSWORD=hunter2", "app"], "hunter2"),
            (&["env", "AWS_SECRET_ACCESS_KEY=abcd1234", "app"], "abcd1234"),
            (&["env", "GITHUB_TOKEN=ghp_x", "app"], "ghp_x"),
            (&["env", "api_key=zzz", "app"], "zzz"),
            (&["curl", "-H", "X-Auth-Token: t0k3n"], "t0k3n"),
            (&["curl", "-H", "X-Vault-Token:t0k3n"], "t0k3n"),
            (&["curl", "-H", "Authorization: Basic dXNlcjpwYXNz"], "dXNlcjpwYXNz"),
            (&["curl", "https://admin:hunter2@db.example.com/x"], "hunter2"),
            (&["psql", "postgres://app:pa55@db:5432/app"], "pa55"),
        ] {
            let out = redacted(args).join(" ");
            assert!(!out.contains(leaked), "{args:?} leaked {leaked}: {out}");
            assert!(out.contains("<redacted>"), "{out}");
        }
        // Ordinary arguments stay readable.
        for args in [
            &["ls", "-la", "/etc/app"][..],
            &["cat", "/etc/os-release"],
            &["grep", "-p", "x"],
            &["echo", "hello", "world"],
            &["env", "MODE=prod", "app"],
            &["curl", "https://db.example.com/x"],
            &["ls", "-p"],
        ] {
            assert_eq!(redacted(args), args, "{args:?}");
        }
    }
}
