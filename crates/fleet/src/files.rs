//! Local files muster is given (kubeconfigs, the fleet file, policy files, manifests, saved
//! reports), read with a size bound before anything parses them: a huge file or a device
//! (`/dev/zero`) costs at most the bound, and errors name the file.

use std::io::Read as _;
use std::path::Path;

/// A file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {problem}")]
pub struct FileError {
    /// The path (or `<stdin>`).
    pub origin: String,
    /// Missing, unreadable, a directory, over the limit, not UTF-8.
    pub problem: String,
}

/// Read at most `limit` bytes of `reader` as UTF-8 text; more is an error naming `origin`.
///
/// # Errors
/// [`FileError`]: unreadable, over the limit, not UTF-8.
pub fn read_bounded(origin: &str, reader: impl std::io::Read, limit: usize) -> Result<String, FileError> {
    let err = |problem: String| FileError {
        origin: origin.to_string(),
        problem,
    };
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() > limit {
        return Err(err(format!("larger than the limit of {limit} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))
}

/// Read a text file of at most `limit` bytes.
///
/// # Errors
/// [`FileError`]: missing, unreadable, a directory, too large, not UTF-8.
pub fn read_text(path: &Path, limit: usize) -> Result<String, FileError> {
    let origin = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| FileError {
        origin: origin.clone(),
        problem: e.to_string(),
    })?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(FileError {
            origin,
            problem: "is a directory".into(),
        });
    }
    read_bounded(&origin, file, limit)
}

/// Write `text` to `path`, readable by its owner only (reports may name what differs in a
/// Secret, and audit trails name what ran): created `0600`, and an existing file is made
/// `0600` before it is overwritten.
///
/// # Errors
/// [`FileError`] naming the file.
pub fn write_private(path: &Path, text: &str) -> Result<(), FileError> {
    use std::io::Write as _;
    let err = |e: std::io::Error| FileError {
        origin: path.display().to_string(),
        problem: e.to_string(),
    };
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut file = o.open(path).map_err(err)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(err)?;
    file.set_len(0).map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)
}

/// muster's state directory: `$XDG_STATE_HOME/muster`, else `~/.local/state/muster`.
#[must_use]
pub fn state_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("muster")
}

/// The key that fingerprints Secret values in reports: read from `path` (64 hex digits), or
/// made from the system's random source and written there `0600` on first use. One key per
/// installation keeps reports of the same state byte-identical between runs.
///
/// # Errors
/// [`FileError`] when the file cannot be read, written or holds no key.
pub fn fingerprint_key(path: &Path) -> Result<Vec<u8>, FileError> {
    let err = |problem: String| FileError {
        origin: path.display().to_string(),
        problem,
    };
    match read_text(path, 1024) {
        Ok(text) => {
            let hex = text.trim();
            let bytes: Option<Vec<u8>> = (hex.len() == 64)
                .then(|| {
                    (0..32)
                        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                        .collect()
                })
                .flatten();
            bytes.ok_or_else(|| err("not a fingerprint key (64 hex digits)".into()))
        }
        Err(_) if !path.exists() => {
            let mut key = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
                .map_err(|_| err("the system's random source failed".into()))?;
            if let Some(dir) = path.parent() {
                let mut b = std::fs::DirBuilder::new();
                b.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
                b.create(dir).map_err(|e| err(e.to_string()))?;
            }
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            write_private(path, &hex).map(|()| key.to_vec())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(read_text(&p, 5).unwrap(), "hello");
        assert_eq!(
            read_text(&p, 4).unwrap_err().problem,
            "larger than the limit of 4 bytes"
        );
        assert_eq!(read_text(dir.path(), 10).unwrap_err().problem, "is a directory");
        assert!(
            read_text(&dir.path().join("nope"), 10)
                .unwrap_err()
                .to_string()
                .contains("nope: ")
        );
        let started = std::time::Instant::now();
        let e = read_text(Path::new("/dev/zero"), 1 << 20).unwrap_err().to_string();
        assert!(e.starts_with("/dev/zero: larger than the limit"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(read_text(&p, 10).unwrap_err().problem, "not UTF-8 text");

        // Private files: new ones and existing world-readable ones end up 0600.
        use std::os::unix::fs::PermissionsExt as _;
        let r = dir.path().join("report.html");
        std::fs::write(&r, "a much longer old content").unwrap();
        std::fs::set_permissions(&r, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&r, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&r).unwrap(), "new");
        assert_eq!(std::fs::metadata(&r).unwrap().permissions().mode() & 0o777, 0o600);
        let fresh = dir.path().join("fresh.json");
        write_private(&fresh, "{}").unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);

        // The fingerprint key: made once, private, the same after.
        let key_path = dir.path().join("state/fingerprint.key");
        let key = fingerprint_key(&key_path).unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(fingerprint_key(&key_path).unwrap(), key);
        assert_eq!(
            std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&key_path, "short").unwrap();
        assert!(
            fingerprint_key(&key_path)
                .unwrap_err()
                .problem
                .contains("64 hex digits")
        );
    }
}
