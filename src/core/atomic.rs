//! Atomic file writes: write to a temporary sibling, flush, then rename over the target, so a
//! crash (even `kill -9`) never leaves a truncated file under the final name.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// The temporary sibling used while `path` is being written: hidden, and keeping the extension
/// so that format detection by extension (FFmpeg, image) still works.
pub fn temp_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!(".{stem}.partial.{}", ext.to_string_lossy()),
        None => format!(".{stem}.partial"),
    };
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let mut file = std::fs::File::create(&tmp).map_err(Error::io("create", &tmp))?;
    file.write_all(bytes).map_err(Error::io("write", &tmp))?;
    file.sync_data().map_err(Error::io("flush", &tmp))?;
    drop(file);
    commit(&tmp, path)
}

/// Renames a finished temporary file onto its final name.
pub fn commit(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(Error::io("rename into place", path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        super::write(&p, b"one").unwrap();
        super::write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
