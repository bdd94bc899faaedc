//! YAML for every document muster reads or writes (kubeconfigs, fleet and policy files,
//! manifests, saved reports): errors say where (`line L column C: <message naming the
//! field>`), and hostile input is bounded before it can cost much: input size, nesting
//! depth, node and document counts, and alias expansion (YAML bombs), all in linear time.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest document muster parses unless told otherwise (64 MiB).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Nesting deeper than this is refused. NB: Kubernetes objects stay well below (a CRD's
/// schema starts 5 levels down and spends 2 per nested property, so 64 leaves room for 29
/// nested properties); a deeper document is an attack. Parsing recurses per level: at 64 it
/// fits a 2 MiB thread stack (tokio's) even in a debug build, which overflowed near 110.
pub const MAX_DEPTH: usize = 64;

/// Bounds on one parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of input.
    pub max_bytes: usize,
    /// Nesting of mappings and sequences.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            max_depth: MAX_DEPTH,
        }
    }
}

impl Limits {
    /// The same limits with another size bound.
    #[must_use]
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    fn options(self) -> serde_saphyr::Options {
        let mut budget = serde_saphyr::Budget::default();
        budget.max_depth = self.max_depth;
        // NB: proportional to the size bound, so a large honest file (a 10,000-context
        // kubeconfig, a manifest directory) passes, while the work stays linear in it.
        budget.max_nodes = self.max_bytes / 2;
        budget.max_events = self.max_bytes;
        budget.max_documents = 100_000;
        budget.max_total_scalar_bytes = self.max_bytes;
        let mut options = serde_saphyr::Options::default();
        options.budget = Some(budget);
        options.with_snippet = false;
        options
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The input is larger than the bound.
    #[error("{size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// Bad syntax, a wrong field, or a breached bound (depth, aliases), at `line` and
    /// `column` (1-based) when the parser knows where.
    #[error("{}{message}", at.map(|(l, c)| format!("line {l} column {c}: ")).unwrap_or_default())]
    Invalid { at: Option<(u64, u64)>, message: String },
}

impl YamlError {
    /// A stable short label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "InputTooLarge",
            Self::Invalid { .. } => "InvalidYaml",
        }
    }

    /// The same error with its line moved down by `lines` (a document that started there).
    #[must_use]
    pub fn shifted(self, lines: u64) -> Self {
        match self {
            Self::Invalid { at, message } => Self::Invalid {
                at: at.map(|(l, c)| (l + lines, c)),
                message,
            },
            other => other,
        }
    }

    fn from_saphyr(e: &serde_saphyr::Error, field: Option<String>) -> Self {
        let at = e.location().filter(|l| l.line() > 0).map(|l| (l.line(), l.column()));
        // NB: the parser's own text may repeat the position; keep its first line only.
        let text = e.to_string();
        let text = strip_position(text.lines().next().unwrap_or_default());
        let message = match field.filter(|f| !f.is_empty() && f != ".") {
            Some(f) => format!("{f}: {text}"),
            None => text.to_string(),
        };
        Self::Invalid { at, message }
    }
}

/// serde-saphyr prefixes some messages with its own ` at line L, column C`; muster puts the
/// position first, once.
fn strip_position(text: &str) -> &str {
    match text.find(" at line ") {
        Some(i) => &text[..i],
        None => text,
    }
}

fn check_size(text: &str, limits: Limits) -> Result<(), YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Parse one document with the default limits.
///
/// # Errors
/// [`YamlError`] with the line, column and field.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    parse_with(text, Limits::default())
}

/// Parse one document within `limits`.
///
/// # Errors
/// [`YamlError`] with the line, column and field, or the breached bound.
pub fn parse_with<T: DeserializeOwned>(text: &str, limits: Limits) -> Result<T, YamlError> {
    check_size(text, limits)?;
    let mut field = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, limits.options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            field = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| YamlError::from_saphyr(&e, field))
}

/// One document of a stream: its 1-based number, the line it starts on (0-based offset of
/// its first line), and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Document<'a> {
    pub number: usize,
    pub first_line: u64,
    pub text: &'a str,
}

/// Split a stream into documents the way Kubernetes' YAML reader does (kubectl's): a line
/// that starts with `---` followed by nothing, spaces or a comment ends a document; anything
/// else after `---` is refused, as kubectl refuses it.
///
/// # Errors
/// [`YamlError::TooLarge`] when the stream is over `limits`; an invalid separator line.
pub fn documents(text: &str, limits: Limits) -> Result<Vec<Document<'_>>, YamlError> {
    check_size(text, limits)?;
    let mut out = Vec::new();
    let (mut start, mut first_line, mut line_no) = (0usize, 0u64, 0u64);
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(YamlError::Invalid {
                    at: Some((line_no + 1, 4)),
                    message: "invalid document separator: only a comment may follow `---`".into(),
                });
            }
            out.push(Document {
                number: out.len() + 1,
                first_line,
                text: &text[start..offset],
            });
            start = offset + line.len();
            first_line = line_no + 1;
        }
        offset += line.len();
        line_no += 1;
    }
    out.push(Document {
        number: out.len() + 1,
        first_line,
        text: &text[start..],
    });
    Ok(out)
}

/// YAML text of a value.
///
/// # Errors
/// When the value cannot be represented (a map with non-string keys, say).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_saphyr::to_string(value).map_err(|e| YamlError::Invalid {
        at: None,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // NB: the field is read through the parse result only
    struct T {
        a: u32,
    }

    #[test]
    fn errors_say_where() {
        let e = parse::<T>("a: 1\nb: 2\n").unwrap_err().to_string();
        assert!(
            e.starts_with("line 2 column 1: ") && e.contains("unknown field `b`"),
            "{e}"
        );
        assert_eq!(parse::<T>("a: 7").unwrap().a, 7);
        let e = parse::<T>("a: [1\n").unwrap_err().to_string();
        assert!(e.starts_with("line "), "{e}");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // NB: read through the parse result only
        struct Outer {
            limits: Vec<T>,
        }
        let e = parse::<Outer>("limits:\n- {a: many}\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2 column ") && e.contains("limits[0].a: "), "{e}");
    }

    #[test]
    fn bombs_and_depth_are_bounded() {
        // Billion laughs: nine levels of ten aliases each.
        let mut bomb =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            bomb.push_str(&format!(
                "{next}: &{next} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
        }
        let started = std::time::Instant::now();
        assert!(parse::<serde_json::Value>(&bomb).is_err(), "an alias bomb is refused");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));

        let block_maps: String = (0..1000).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        // NB: each on a 2 MiB stack, as tokio's worker threads have: refused, not overflowed.
        for deep in [
            "[".repeat(200_000),
            "{a: ".repeat(100_000),
            "- ".repeat(100_000) + "x",
            block_maps,
        ] {
            let started = std::time::Instant::now();
            let e = parse::<serde_json::Value>(&deep).unwrap_err();
            assert_eq!(e.reason(), "InvalidYaml", "{e}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "linear, not quadratic"
            );
        }
        let e = parse_with::<serde_json::Value>(&"x".repeat(2000), Limits::default().max_bytes(1000)).unwrap_err();
        assert_eq!(
            e,
            YamlError::TooLarge {
                size: 2000,
                limit: 1000
            }
        );
        // Deep but honest documents pass.
        let nested = "a:\n".to_string()
            + &(1..50)
                .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
                .collect::<String>()
            + &"  ".repeat(50)
            + "v: 1\n";
        assert!(parse::<serde_json::Value>(&nested).is_ok());
    }

    #[test]
    fn documents_and_round_trip() {
        let docs = documents("a: 1\n---\n--- # two\nb: [x]\n", Limits::default()).unwrap();
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!((docs[0].number, docs[0].first_line, docs[0].text), (1, 0, "a: 1\n"));
        assert_eq!((docs[1].number, docs[1].text), (2, ""));
        assert_eq!((docs[2].number, docs[2].first_line, docs[2].text), (3, 3, "b: [x]\n"));
        let e = documents("a: 1\n---x: 1\n", Limits::default()).unwrap_err().to_string();
        assert!(e.starts_with("line 2 column 4: invalid document separator"), "{e}");
        let e = parse::<serde_json::Value>("a: [\n").unwrap_err().shifted(3);
        assert!(e.to_string().starts_with("line 4 column"), "{e}");
        let v: serde_json::Value = parse("b: [x]\n").unwrap();
        assert_eq!(parse::<serde_json::Value>(&to_string(&v).unwrap()).unwrap(), v);
    }
}
