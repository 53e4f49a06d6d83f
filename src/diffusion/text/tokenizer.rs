//! CLIP's BPE tokenizer for the text encoder: prompts become exactly 77 ids,
//! `[<|startoftext|>, tokens…, <|endoftext|>, pad…]`, truncated to fit, padded with
//! `<|endoftext|>` as SD 1.5's tokenizer does (diffusion spec §1).
//!
//! Two sources give the same tokenizer: a `tokenizer.json` (e.g. from
//! `openai/clip-vit-large-patch14`), or the SD repo's `tokenizer/vocab.json` + `merges.txt`, for
//! which the pipeline transformers' CLIP converter writes is assembled here (NFC, whitespace
//! runs to one space, lowercase; CLIP's word regex then byte-level; BPE with `</w>`; BOS/EOS
//! around the sequence). Reference: transformers 5.23.0 `convert_slow_tokenizer.py`
//! (`CLIPConverter`).

use std::path::{Path, PathBuf};

use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Lowercase, Replace, Sequence as NormSequence, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::core::{Error, Result};

/// CLIP's start token.
const BOS: &str = "<|startoftext|>";
/// CLIP's end token, also the padding.
const EOS: &str = "<|endoftext|>";
/// CLIP's word pattern (case-insensitive through the lowercasing normaliser).
const WORD_PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// A CLIP tokenizer producing fixed-length id rows.
pub struct ClipTokenizer {
    inner: Tokenizer,
    bos: u32,
    eos: u32,
    /// Ids per prompt (the text encoder's `max_position_embeddings`, 77 for SD 1.5).
    pub max_len: usize,
}

impl ClipTokenizer {
    /// Loads from a tokenizer folder: `tokenizer.json` when present, else `vocab.json` +
    /// `merges.txt` (the SD repo's `tokenizer/` folder), or from a `tokenizer.json` path.
    pub fn load(path: &Path, max_len: usize) -> Result<Self> {
        let json = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        let inner = if json.is_file() {
            Tokenizer::from_file(&json).map_err(|e| invalid(&json, &e.to_string()))?
        } else if path.is_dir() {
            from_vocab_and_merges(&path.join("vocab.json"), &path.join("merges.txt"))?
        } else {
            return Err(missing(path));
        };
        let id = |token: &str, file: &Path| {
            inner
                .token_to_id(token)
                .ok_or_else(|| invalid(file, &format!("the vocabulary has no {token}")))
        };
        Ok(Self {
            bos: id(BOS, path)?,
            eos: id(EOS, path)?,
            inner,
            max_len,
        })
    }

    /// `[bos, tokens…, eos, eos…]`, exactly `max_len` ids; longer prompts are cut to
    /// `max_len - 2` tokens, as transformers truncates.
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(prompt, false)
            .map_err(|e| Error::Diffusion {
                detail: format!("cannot tokenize the prompt \"{prompt}\": {e}"),
            })?;
        let body = self.max_len.saturating_sub(2);
        let mut ids = Vec::with_capacity(self.max_len);
        ids.push(self.bos);
        ids.extend(encoding.get_ids().iter().take(body));
        ids.resize(self.max_len, self.eos);
        Ok(ids)
    }

    /// Whether `prompt` had to be cut to fit (worth a warning: the end is ignored).
    pub fn is_truncated(&self, prompt: &str) -> bool {
        self.inner
            .encode(prompt, false)
            .is_ok_and(|e| e.get_ids().len() > self.max_len.saturating_sub(2))
    }
}

/// The CLIP pipeline around a BPE read from `vocab.json` and `merges.txt`.
fn from_vocab_and_merges(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
    for f in [vocab, merges] {
        if !f.is_file() {
            return Err(missing(f));
        }
    }
    let as_str = |p: &Path| p.to_string_lossy().into_owned();
    let bpe = BPE::from_file(&as_str(vocab), &as_str(merges))
        .unk_token(EOS.into())
        .end_of_word_suffix("</w>".into())
        .build()
        .map_err(|e| invalid(vocab, &e.to_string()))?;
    let clip = |e: tokenizers::Error| invalid(vocab, &e.to_string());
    let whitespace = Replace::new(
        tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
        " ",
    )
    .map_err(clip)?;
    let words = Split::new(
        SplitPattern::Regex(WORD_PATTERN.into()),
        SplitDelimiterBehavior::Removed,
        true,
    )
    .map_err(clip)?;
    let mut t = Tokenizer::new(bpe);
    t.with_normalizer(Some(NormSequence::new(vec![
        NFC.into(),
        whitespace.into(),
        Lowercase.into(),
    ])));
    t.with_pre_tokenizer(Some(PreSequence::new(vec![
        words.into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    let id = |token: &str| t.token_to_id(token).unwrap_or_default();
    let post = RobertaProcessing::new((EOS.into(), id(EOS)), (BOS.into(), id(BOS)))
        .trim_offsets(false)
        .add_prefix_space(false);
    t.with_post_processor(Some(post));
    t.add_special_tokens(&[AddedToken::from(BOS, true), AddedToken::from(EOS, true)]);
    Ok(t)
}

fn missing(path: &Path) -> Error {
    Error::bad_input(
        "tokenizer file not found",
        "put tokenizer.json (openai/clip-vit-large-patch14) or vocab.json + merges.txt (the SD \
         repo's tokenizer/ folder) there, or pass --tokenizer",
        path,
    )
}

fn invalid(path: &Path, detail: &str) -> Error {
    Error::bad_input(
        format!("not a usable CLIP tokenizer ({detail})"),
        "re-download the tokenizer files",
        PathBuf::from(path),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer_tiny")
    }

    /// `reference_ids.json`: prompts and the ids transformers' CLIPTokenizer gives them.
    fn reference() -> (Vec<String>, Vec<Vec<u32>>) {
        let text = std::fs::read_to_string(fixture().join("reference_ids.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let prompts = serde_json::from_value(v["prompts"].clone()).unwrap();
        let ids = serde_json::from_value(v["input_ids"].clone()).unwrap();
        (prompts, ids)
    }

    fn check(tok: &ClipTokenizer) {
        let (prompts, ids) = reference();
        assert!(prompts.len() >= 5);
        for (p, want) in prompts.iter().zip(&ids) {
            assert_eq!(&tok.encode(p).unwrap(), want, "prompt {p:?}");
        }
    }

    #[test]
    fn tokenizer_json_matches_transformers() {
        check(&ClipTokenizer::load(&fixture(), 77).unwrap());
    }

    #[test]
    fn vocab_and_merges_match_transformers() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["vocab.json", "merges.txt"] {
            std::fs::copy(fixture().join(f), dir.path().join(f)).unwrap();
        }
        let tok = ClipTokenizer::load(dir.path(), 77).unwrap();
        check(&tok);
        let (prompts, _) = reference();
        assert!(prompts.iter().any(|p| tok.is_truncated(p)));
        assert!(!tok.is_truncated("a photo"));
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = ClipTokenizer::load(dir.path(), 77)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("vocab.json") && e.contains("--tokenizer"), "{e}");
    }
}
