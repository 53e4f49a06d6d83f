//! Fuzzes product model loading: any byte string must give a model or an error, never a
//! panic, hang or abort. Run from the repository root:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run glb fuzz/corpus/glb -- -max_total_time=300`
//! (`RUSTC_BOOTSTRAP` lets cargo-fuzz's sanitizer flags run on a stable toolchain).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = vanelia::render::scene::ProductModel::from_slice(data);
});
