//! Hugging Face model repositories: a snapshot folder from the local cache, or downloaded into
//! it through hf-hub (default feature `hub`), shared by every stage that loads weights.

pub use imp::snapshot;

#[cfg(feature = "hub")]
mod imp {
    use std::path::PathBuf;

    /// The snapshot folder holding every file (one alternative each) of `repo`: looked up in
    /// the cache first, downloaded into it when missing and `offline` is false.
    pub fn snapshot<S: AsRef<[T]>, T: AsRef<str>>(
        repo: &str,
        files: &[S],
        offline: bool,
    ) -> Result<PathBuf, String> {
        let cache = hf_hub::Cache::from_env().model(repo.to_string());
        let mut root = None;
        for alternatives in files {
            let names: Vec<&str> = alternatives.as_ref().iter().map(AsRef::as_ref).collect();
            let cached = names.iter().find_map(|n| cache.get(n).map(|p| (p, *n)));
            let (path, name) = match cached {
                Some(found) => found,
                None if offline => return Err("downloads are off (offline)".into()),
                None => {
                    let first = names.first().copied().unwrap_or_default();
                    (download(repo, first)?, first)
                }
            };
            let depth = name.split('/').count();
            root = path.ancestors().nth(depth).map(PathBuf::from);
        }
        root.ok_or_else(|| "no files were asked for".into())
    }

    fn download(repo: &str, file: &str) -> Result<PathBuf, String> {
        let api = hf_hub::api::sync::ApiBuilder::from_env()
            .with_progress(true)
            .build()
            .map_err(|e| format!("the hub client could not start ({e})"))?;
        api.model(repo.to_string())
            .get(file)
            .map_err(|e| format!("downloading {file} failed ({e})"))
    }
}

#[cfg(not(feature = "hub"))]
mod imp {
    /// Without the `hub` feature there is neither cache lookup nor download.
    pub fn snapshot<S: AsRef<[T]>, T: AsRef<str>>(
        _repo: &str,
        _files: &[S],
        _offline: bool,
    ) -> Result<std::path::PathBuf, String> {
        Err("this build has no Hugging Face support (feature \"hub\")".into())
    }
}
