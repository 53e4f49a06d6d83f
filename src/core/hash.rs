//! Content hashes that key cached work: a stage's result is reused only when the hash of
//! everything it depends on (input content, options, tool version, upstream keys) is unchanged.

use std::io::Read as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::error::{Error, Result};

/// Hex SHA-256 of a file's content, streamed (constant memory).
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(Error::io("open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(Error::io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Hex SHA-256 of a byte string.
pub fn bytes_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex SHA-256 of a key struct's JSON: the struct names every input of a cached result, its
/// field names keep `{a: "ab", b: "c"}` and `{a: "a", b: "bc"}` apart, and a part that cannot
/// be serialised is an error rather than a silently shorter key.
pub fn key_of<T: serde::Serialize>(key: &T) -> Result<String> {
    let bytes = serde_json::to_vec(key).map_err(|e| Error::Unavailable {
        what: "cache key",
        hint: format!("a key part could not be serialised ({e}); report this as a bug"),
    })?;
    Ok(bytes_sha256(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_key_separation() {
        assert_eq!(
            bytes_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        #[derive(serde::Serialize)]
        struct Key<'a> {
            a: &'a str,
            b: &'a str,
        }
        let key = |a, b| key_of(&Key { a, b }).unwrap();
        assert_ne!(key("ab", "c"), key("a", "bc"));
        assert_eq!(key("ab", "c"), key("ab", "c"));
        // a map with non-string keys does not serialise to JSON: an error, not a short key
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(key_of(&bad).is_err());
    }
}
