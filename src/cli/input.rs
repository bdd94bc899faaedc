//! Files the command line reads, at the edge: the policy file and `apply -f` manifests
//! (a file, a directory's manifest files, or `-` for stdin), each bounded in size before it
//! is parsed, with errors naming the file.

use std::path::{Path, PathBuf};

use muster_core::policy::{Policy, PolicyError};
use muster_core::{manifest, yaml};
use muster_fleet::files::{read_bounded, read_text};

/// Read and check a policy file.
///
/// # Errors
/// [`PolicyError`] naming the file.
pub fn policy(path: &Path) -> Result<Policy, PolicyError> {
    let origin = path.display().to_string();
    let text = read_text(path, yaml::DEFAULT_MAX_BYTES).map_err(|e| PolicyError {
        path: origin.clone(),
        message: e.problem,
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
        let text = read_bounded("<stdin>", std::io::stdin().lock(), limits.max_bytes).map_err(|e| e.to_string())?;
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
    let text = read_text(path, limits.max_bytes).map_err(|e| e.to_string())?;
    manifest::parse_with(&path.display().to_string(), &text, limits)
}
