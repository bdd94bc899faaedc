//! Exec arguments as the policy sees them: path-like arguments (a `/` and no `://`, or the
//! value of `--flag=/path`) in normal form (no `.` or `..` segments, no repeated slashes),
//! and argument patterns in which `*` never crosses a `/`. Builders normalise an argv before
//! the command is checked, so what was checked is what runs; the policy refuses an argument
//! that is not in normal form.

/// The normal form of one argument: for a path-like one, `.` and empty segments dropped and
/// `..` resolved lexically (never above the root of an absolute path).
#[must_use]
pub fn normalize(arg: &str) -> String {
    let (prefix, value) = match arg.split_once('=') {
        Some((flag, v)) if flag.starts_with('-') => (&arg[..=flag.len()], v),
        _ => ("", arg),
    };
    if !value.contains('/') || value.contains("://") {
        return arg.to_string();
    }
    let absolute = value.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in value.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let mut out = String::from(prefix);
    if absolute {
        out.push('/');
    }
    out.push_str(&parts.join("/"));
    if value.ends_with('/') && !parts.is_empty() {
        out.push('/');
    }
    if out.len() == prefix.len() {
        out.push('.');
    }
    out
}

/// An argv with every argument in normal form.
#[must_use]
pub fn normalize_all(argv: &[String]) -> Vec<String> {
    argv.iter().map(|a| normalize(a)).collect()
}

/// Whether `arg` matches `pattern`, where `*` matches any run of characters except `/`.
#[must_use]
pub fn matches(pattern: &str, arg: &str) -> bool {
    let (p, a) = (pattern.as_bytes(), arg.as_bytes());
    // NB: the classic two-pointer wildcard match with one backtrack point; a `*` may not
    // swallow a `/`, so a failed backtrack across one ends the match. Linear in practice.
    let (mut pi, mut ai) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ai < a.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ai));
            pi += 1;
        } else if pi < p.len() && p[pi] == a[ai] {
            pi += 1;
            ai += 1;
        } else if let Some((sp, sa)) = star {
            if a[sa] == b'/' {
                return false;
            }
            star = Some((sp, sa + 1));
            pi = sp + 1;
            ai = sa + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        for (raw, normal) in [
            ("/etc/app/../../etc/shadow", "/etc/shadow"),
            ("/etc/app/./config.yaml", "/etc/app/config.yaml"),
            ("/etc//app///config.yaml", "/etc/app/config.yaml"),
            ("/../../etc/shadow", "/etc/shadow"),
            ("../x", "../x"),
            ("a/../../b", "../b"),
            ("--file=/etc/app/../shadow", "--file=/etc/shadow"),
            ("/etc/app/", "/etc/app/"),
            ("http://example.com/a/../b", "http://example.com/a/../b"),
            ("hello", "hello"),
            ("-n", "-n"),
            ("/", "/"),
            ("./", "."),
        ] {
            assert_eq!(normalize(raw), normal, "{raw}");
            assert_eq!(normalize(normal), normal, "idempotent: {normal}");
        }
    }

    #[test]
    fn a_star_never_crosses_a_slash() {
        assert!(matches("/etc/app/*", "/etc/app/config.yaml"));
        assert!(!matches("/etc/app/*", "/etc/app/sub/config.yaml"));
        assert!(!matches("/etc/app/*", "/etc/shadow"));
        assert!(matches("/etc/app/*.yaml", "/etc/app/a.yaml"));
        assert!(!matches("/etc/app/*.yaml", "/etc/app/x/y.yaml"));
        assert!(matches("-*", "-n"));
        assert!(!matches("-*", "-/x"));
        assert!(matches("*", "anything"));
        assert!(!matches("*", "a/b"));
        assert!(matches("/etc/*/config", "/etc/app/config"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbY/Yc"));
        assert!(matches("exact", "exact") && !matches("exact", "exactly"));
    }
}
