//! Durations as people type and read them: `30s`, `500ms`, `2m`, `1h30m` (jiff's friendly
//! format; a bare number is seconds), bounded when parsed so no later arithmetic overflows.

use std::time::Duration;

/// The longest duration muster accepts anywhere (a year).
pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// A duration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration like 30s, 500ms, 2m or 1h30m")]
    Invalid(String),
    #[error("{0:?} is negative")]
    Negative(String),
    #[error("{0:?} is longer than the limit of a year")]
    TooLong(String),
}

/// Parse `30s`, `500ms`, `2m`, `1h30m`, or plain seconds (`7`), at most [`MAX`].
///
/// # Errors
/// [`DurationError`] naming the input.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    let too_long = || DurationError::TooLong(input.to_string());
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s.parse().map_err(|_| too_long())?;
        let d = Duration::from_secs(secs);
        return if d > MAX { Err(too_long()) } else { Ok(d) };
    }
    // NB: jiff's friendly grammar rejects calendar units (days and longer) for a
    // SignedDuration, which is what a timeout wants: no "month" of varying length.
    let signed: jiff::SignedDuration = s.parse().map_err(|_| DurationError::Invalid(input.to_string()))?;
    if signed.is_negative() {
        return Err(DurationError::Negative(input.to_string()));
    }
    let d = Duration::try_from(signed).map_err(|_| too_long())?;
    if d > MAX { Err(too_long()) } else { Ok(d) }
}

/// `1.5s`, `250ms`: a duration as people read it.
#[must_use]
pub fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let s = d.as_secs_f64();
        if (s - s.round()).abs() < 0.05 {
            format!("{}s", s.round())
        } else {
            format!("{s:.1}s")
        }
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("7").unwrap(), Duration::from_secs(7));
        assert!(parse("soon").is_err() && parse("3d").is_err() && parse("").is_err());
        assert_eq!(parse("-5s").unwrap_err(), DurationError::Negative("-5s".into()));
        for huge in [
            "18446744073709551615s",
            "18446744073709551615",
            "99999999999999999999999",
            "9000h",
        ] {
            assert!(
                matches!(parse(huge), Err(DurationError::TooLong(_) | DurationError::Invalid(_))),
                "{huge}"
            );
        }
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
    }
}
