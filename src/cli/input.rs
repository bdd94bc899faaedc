//! Files the command line reads, at the edge: the policy file and `apply -f` manifests
//! (a file, a directory's manifest files, or `-` for stdin), each bounded in size before it
//! is parsed, with errors naming the file.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use muster_core::policy::{Policy, PolicyError};
use muster_core::{manifest, yaml};

/// Read at most `limit` bytes of `reader`; more is an error naming `origin`.
fn read_bounded(origin: &str, reader: impl std::io::Read, limit: usize) -> Result<String, String> {
    let mut bytes = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{origin}: {e}"))?;
    if bytes.len() > limit {
        return Err(format!("{origin}: larger than the limit of {limit} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{origin}: not UTF-8 text"))
}

/// Read a text file of at most `limit` bytes.
///
/// # Errors
/// A message naming the file: unreadable, a directory, too large, not UTF-8.
pub fn read_text(path: &Path, limit: usize) -> Result<String, String> {
    let origin = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| format!("{origin}: {e}"))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(format!("{origin}: is a directory"));
    }
    read_bounded(&origin, file, limit)
}

/// Read and check a policy file.
///
/// # Errors
/// [`PolicyError`] naming the file.
pub fn policy(path: &Path) -> Result<Policy, PolicyError> {
    let origin = path.display().to_string();
    let text = read_text(path, yaml::DEFAULT_MAX_BYTES).map_err(|message| PolicyError {
        path: origin.clone(),
        message,
    })?;
    Policy::parse(&origin, &text)
}

/// Read `-f`: a file, a directory's manifest files (sorted), or `-` (stdin). Every document
/// must have `apiVersion`, `kind` and `metadata.name`; errors name the file and document.
///
/// # Errors
/// The first unreadable file or invalid document.
pub fn manifests(path: &Path, limits: yaml::Limits) -> Result<Vec<serde_json::Value>, String> {
    if path == Path::new("-") {
        let text = read_bounded("<stdin>", std::io::stdin().lock(), limits.max_bytes)?;
        return manifest::parse_with("<stdin>", &text, limits);
    }
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json"))
            .collect();
        files.sort();
        let mut all = Vec::new();
        for f in files {
            all.extend(manifests(&f, limits)?);
        }
        return Ok(all);
    }
    let text = read_text(path, limits.max_bytes)?;
    manifest::parse_with(&path.display().to_string(), &text, limits)
}
