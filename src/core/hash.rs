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

/// Hex SHA-256 of the concatenation of labelled parts; labels keep `("ab","c")` and
/// `("a","bc")` apart.
pub fn key_of(parts: &[(&str, &str)]) -> String {
    let mut hasher = Sha256::new();
    for (label, value) in parts {
        for s in [label, value] {
            hasher.update((s.len() as u64).to_le_bytes());
            hasher.update(s.as_bytes());
        }
    }
    hex(&hasher.finalize())
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
        assert_ne!(key_of(&[("ab", "c")]), key_of(&[("a", "bc")]));
    }
}
