//! Kubernetes label and field selector syntax: parsing (with error positions) and matching.
//!
//! Shared by the simulator (`?labelSelector=`) and the registry (`--cluster-selector`), so
//! both accept exactly the grammar kube-apiserver accepts:
//! `env=prod,tier!=db,region in (eu,us),!canary,team`.

use std::fmt;

/// A parsed label selector: every requirement must hold (logical AND).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// One clause of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

/// The operator of a [`Requirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A selector that could not be parsed; `position` is a 0-based character offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector {input:?} at position {position}: {message}")]
pub struct SelectorError {
    pub input: String,
    pub position: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Comma,
    Open,
    Close,
    Bang,
    Eq,
    DoubleEq,
    NotEq,
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')
}

fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, SelectorError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let token = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 1;
                Token::NotEq
            }
            '!' => Token::Bang,
            '=' if chars.get(i + 1) == Some(&'=') => {
                i += 1;
                Token::DoubleEq
            }
            '=' => Token::Eq,
            c if is_ident_char(c) => {
                while i + 1 < chars.len() && is_ident_char(chars[i + 1]) {
                    i += 1;
                }
                Token::Ident(chars[start..=i].iter().collect())
            }
            other => {
                return Err(SelectorError {
                    input: input.to_string(),
                    position: i,
                    message: format!("unexpected character {other:?}"),
                });
            }
        };
        out.push((start, token));
        i += 1;
    }
    Ok(out)
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.input.chars().count(), |(p, _)| *p)
    }

    fn err(&self, message: impl Into<String>) -> SelectorError {
        SelectorError {
            input: self.input.to_string(),
            position: self.offset(),
            message: message.into(),
        }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        match self.peek() {
            Some(Token::Ident(_)) => {
                let at = self.offset();
                let Some(Token::Ident(k)) = self.next() else {
                    unreachable!("peeked an identifier")
                };
                validate_key(&k).map_err(|message| SelectorError {
                    input: self.input.to_string(),
                    position: at,
                    message,
                })?;
                Ok(k)
            }
            _ => Err(self.err("expected a label key")),
        }
    }

    fn value(&mut self) -> Result<String, SelectorError> {
        match self.peek() {
            Some(Token::Ident(_)) => {
                let at = self.offset();
                let Some(Token::Ident(v)) = self.next() else {
                    unreachable!("peeked an identifier")
                };
                validate_value(&v).map_err(|message| SelectorError {
                    input: self.input.to_string(),
                    position: at,
                    message,
                })?;
                Ok(v)
            }
            // An empty value is legal: `tier=` selects objects whose tier label is empty.
            Some(Token::Comma | Token::Close) | None => Ok(String::new()),
            _ => Err(self.err("expected a label value")),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        if self.next() != Some(Token::Open) {
            self.pos -= 1;
            return Err(self.err("expected '(' to open a value set"));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => break,
                _ => {
                    self.pos -= 1;
                    return Err(self.err("expected ',' or ')' in value set"));
                }
            }
        }
        values.sort();
        values.dedup();
        Ok(values)
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if self.peek() == Some(&Token::Bang) {
            self.pos += 1;
            let key = self.key()?;
            return Ok(Requirement {
                key,
                op: Op::DoesNotExist,
                values: vec![],
            });
        }
        let key = self.key()?;
        let (op, values) = match self.peek() {
            None | Some(Token::Comma) => (Op::Exists, vec![]),
            Some(Token::Eq | Token::DoubleEq) => {
                self.pos += 1;
                (Op::Equals, vec![self.value()?])
            }
            Some(Token::NotEq) => {
                self.pos += 1;
                (Op::NotEquals, vec![self.value()?])
            }
            Some(Token::Ident(word)) if word == "in" => {
                self.pos += 1;
                (Op::In, self.value_set()?)
            }
            Some(Token::Ident(word)) if word == "notin" => {
                self.pos += 1;
                (Op::NotIn, self.value_set()?)
            }
            _ => {
                return Err(self.err("expected one of '=', '==', '!=', 'in', 'notin' or ',' after the key"));
            }
        };
        Ok(Requirement { key, op, values })
    }
}

fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.is_empty() || prefix.len() > 253 || prefix.contains('/'))
    {
        return Err(format!("invalid key prefix in {key:?}"));
    }
    if name.is_empty() || name.len() > 63 {
        return Err(format!("key {key:?} must have a name of 1 to 63 characters"));
    }
    if !qualified_edges_ok(name) {
        return Err(format!("key {key:?} must start and end with an alphanumeric character"));
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err(format!("value {value:?} is longer than 63 characters"));
    }
    if value.contains('/') || !qualified_edges_ok(value) {
        return Err(format!(
            "value {value:?} must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        ));
    }
    Ok(())
}

fn qualified_edges_ok(s: &str) -> bool {
    s.is_empty()
        || (s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()))
}

impl LabelSelector {
    /// Parse the Kubernetes label selector syntax. The empty string selects everything.
    ///
    /// # Errors
    /// A [`SelectorError`] with the character position of the first problem.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let tokens = tokenize(input)?;
        let mut parser = Parser { input, tokens, pos: 0 };
        let mut requirements = Vec::new();
        if parser.peek().is_none() {
            return Ok(Self::default());
        }
        loop {
            requirements.push(parser.requirement()?);
            match parser.next() {
                None => break,
                Some(Token::Comma) => {
                    if parser.peek().is_none() {
                        return Err(parser.err("expected a requirement after ','"));
                    }
                }
                Some(_) => {
                    parser.pos -= 1;
                    return Err(parser.err("expected ',' between requirements"));
                }
            }
        }
        Ok(Self { requirements })
    }

    /// Whether this selector selects everything.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The parsed requirements, in the order written.
    #[must_use]
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether a set of labels satisfies every requirement; `get` looks a label up by key.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| {
            let value = get(&r.key);
            match r.op {
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Equals => value == Some(r.values[0].as_str()),
                // NB: as in Kubernetes, `!=` and `notin` also select objects without the label.
                Op::NotEquals => value != Some(r.values[0].as_str()),
                Op::In => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
                Op::NotIn => value.is_none_or(|v| r.values.iter().all(|x| x != v)),
            }
        })
    }

    /// Match against a JSON `metadata.labels` map (absent means no labels).
    #[must_use]
    pub fn matches_json(&self, labels: Option<&serde_json::Map<String, serde_json::Value>>) -> bool {
        self.matches(|k| labels.and_then(|m| m.get(k)).and_then(serde_json::Value::as_str))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r.op {
                Op::Exists => r.key.clone(),
                Op::DoesNotExist => format!("!{}", r.key),
                Op::Equals => format!("{}={}", r.key, r.values[0]),
                Op::NotEquals => format!("{}!={}", r.key, r.values[0]),
                Op::In => format!("{} in ({})", r.key, r.values.join(",")),
                Op::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A field selector: `field=value`, `field==value` or `field!=value`, comma separated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parse a field selector.
    ///
    /// # Errors
    /// A [`SelectorError`] naming the malformed term.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        let mut offset = 0;
        for part in input.split(',') {
            let term = part.trim();
            if term.is_empty() {
                if input.trim().is_empty() {
                    break;
                }
                return Err(SelectorError {
                    input: input.to_string(),
                    position: offset,
                    message: "empty term".into(),
                });
            }
            let parsed = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(SelectorError {
                    input: input.to_string(),
                    position: offset,
                    message: format!("term {term:?} has no operator (=, == or !=)"),
                });
            };
            terms.push((parsed.0.trim().to_string(), parsed.1, parsed.2.trim().to_string()));
            offset += part.chars().count() + 1;
        }
        Ok(Self { terms })
    }

    /// The field paths this selector mentions (for checking them against what a kind supports).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|(f, _, _)| f.as_str())
    }

    /// Whether an object matches; fields are dotted paths into the object's JSON.
    #[must_use]
    pub fn matches(&self, object: &serde_json::Value) -> bool {
        self.matches_by(|field| field_text(object, field))
    }

    /// Whether an object matches, reading each field's text through `get`.
    pub fn matches_by(&self, mut get: impl FnMut(&str) -> String) -> bool {
        self.terms.iter().all(|(field, eq, want)| (get(field) == *want) == *eq)
    }
}

/// The text of a dotted field path in an object (empty when absent), as field selectors
/// compare it.
#[must_use]
pub fn field_text(object: &serde_json::Value, field: &str) -> String {
    let mut cur = Some(object);
    for seg in field.split('.') {
        cur = cur.and_then(|v| v.get(seg));
    }
    match cur {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Cluster-name patterns (`prod-*`, `*-eu-*`).
/// Whether `name` matches a pattern where `*` stands for any run of characters.
#[must_use]
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Whether a rule scoped by `clusters` (comma-separated names or `*` patterns) or by
/// `selector` (a label selector over cluster labels) applies to a cluster. Fleet limit groups
/// and policy namespace rules use this same scoping.
#[must_use]
pub fn scope_matches(
    clusters: Option<&str>,
    selector: Option<&str>,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    match (clusters, selector) {
        (Some(patterns), _) => patterns.split(',').any(|p| glob_match(p.trim(), name)),
        (None, Some(s)) => LabelSelector::parse(s).is_ok_and(|sel| sel.matches(|k| labels.get(k).map(String::as_str))),
        (None, None) => false,
    }
}

/// Check a rule's scope: exactly one of `clusters` or `selector`, and a selector that parses.
///
/// # Errors
/// A message naming `clusters`/`selector` (the caller prefixes where the rule is).
pub fn check_scope(clusters: Option<&str>, selector: Option<&str>) -> Result<(), String> {
    if clusters.is_none() == selector.is_none() {
        return Err("set exactly one of clusters or selector".into());
    }
    if let Some(s) = selector {
        LabelSelector::parse(s).map_err(|e| format!("selector: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn sel_matches(sel: &str, l: &BTreeMap<String, String>) -> bool {
        LabelSelector::parse(sel)
            .unwrap()
            .matches(|k| l.get(k).map(String::as_str))
    }

    #[test]
    fn operators_match_as_kubernetes_does() {
        let l = labels(&[("env", "prod"), ("region", "eu"), ("team", "")]);
        for (sel, want) in [
            ("", true),
            ("env=prod", true),
            ("env==prod", true),
            ("env=stage", false),
            ("env!=stage", true),
            ("missing!=x", true),
            ("region in (eu,us)", true),
            ("region in (us)", false),
            ("region notin (us)", true),
            ("missing notin (us)", true),
            ("env", true),
            ("!canary", true),
            ("!env", false),
            ("team=", true),
            ("env=prod,region in (eu, us),!canary", true),
            ("env=prod,region=us", false),
        ] {
            assert_eq!(sel_matches(sel, &l), want, "selector {sel:?}");
        }
    }

    #[test]
    fn errors_carry_positions() {
        for (sel, pos) in [
            ("env=prod,", 9),
            ("env in eu", 7),
            ("env in (eu", 10),
            ("env = prod x", 11),
            ("=x", 0),
            ("env=pr*d", 6),
            ("env=-bad", 4),
        ] {
            let err = LabelSelector::parse(sel).unwrap_err();
            assert_eq!(err.position, pos, "{sel:?}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        let s = LabelSelector::parse("env=prod, region in (us,eu),!canary,x!=y,team").unwrap();
        assert_eq!(s.to_string(), "env=prod,region in (eu,us),!canary,x!=y,team");
        assert_eq!(LabelSelector::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn field_selectors() {
        let obj = serde_json::json!({"metadata": {"name": "a", "namespace": "shop"}});
        assert!(FieldSelector::parse("metadata.name=a").unwrap().matches(&obj));
        assert!(
            FieldSelector::parse("metadata.name==a,metadata.namespace!=x")
                .unwrap()
                .matches(&obj)
        );
        assert!(!FieldSelector::parse("metadata.name!=a").unwrap().matches(&obj));
        assert!(FieldSelector::parse("").unwrap().matches(&obj));
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
    #[test]
    fn globs() {
        assert!(glob_match("sim-0*", "sim-001"));
        assert!(glob_match("*-001", "sim-001"));
        assert!(glob_match("s*m*1", "sim-001"));
        assert!(!glob_match("sim-1*", "sim-001"));
        assert!(glob_match("sim-001", "sim-001"));
    }
}
