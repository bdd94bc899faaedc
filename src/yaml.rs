//! YAML parsing whose errors say where: `line L column C: <serde's message naming the field>`.
//! Every file muster or its simulator reads (kubeconfigs, fleet files, scenarios) goes
//! through here, so they all report bad input the same way.

use serde::de::DeserializeOwned;

/// Parse `text`; the error names the line, the column and the field.
///
/// # Errors
/// The serde_yaml message, prefixed with the position when serde_yaml knows it.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {} column {}: ", l.line(), l.column()))
            .unwrap_or_default();
        format!("{at}{e}")
    })
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn errors_say_where() {
        let e = super::parse::<T>("a: 1\nb: 2\n").unwrap_err();
        assert!(
            e.starts_with("line 2 column 1: ") && e.contains("unknown field `b`"),
            "{e}"
        );
        assert_eq!(super::parse::<T>("a: 7").unwrap().a, 7);
    }
}
