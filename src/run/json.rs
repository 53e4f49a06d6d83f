//! The run's JSON files (reports, cached light), written atomically and read back typed.

use std::path::Path;

use serde::Serialize;

use crate::core::{Error, Result};

/// Writes `v` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| Error::WorkDir {
        detail: e.to_string(),
        path: path.into(),
    })?;
    crate::core::atomic::write(path, &text)
}

/// Reads a report (or any JSON the run wrote) back.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
    serde_json::from_str(&text).map_err(|e| Error::WorkDir {
        detail: format!("unreadable report ({e})"),
        path: path.into(),
    })
}
