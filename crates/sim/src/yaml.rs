//! YAML as the simulated API server and its scenario files read it: serde-saphyr with its
//! default budget (bounded depth, nodes and aliases), errors prefixed with the position.
//! NB: the simulator keeps its own few lines rather than reaching into the product's parser.

use serde::de::DeserializeOwned;

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options
}

fn message(e: &serde_saphyr::Error) -> String {
    let at = e
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| format!("line {} column {}: ", l.line(), l.column()))
        .unwrap_or_default();
    let text = e.to_string();
    let text = text.lines().next().unwrap_or_default();
    let text = text.find(" at line ").map_or(text, |i| &text[..i]);
    format!("{at}{text}")
}

/// Parse one document; the error names the line, the column and the field.
///
/// # Errors
/// The parser's message, prefixed with the position when it is known.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| message(&e))
}

/// Parse one document from bytes (a request body).
///
/// # Errors
/// As [`parse`]; also when the bytes are not UTF-8.
pub fn parse_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    parse(text)
}

/// YAML text of a JSON value.
#[must_use]
pub fn to_string(value: &serde_json::Value) -> String {
    serde_saphyr::to_string(value).unwrap_or_default()
}
