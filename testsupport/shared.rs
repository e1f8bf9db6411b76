//! Where the shared datasets are, for the tests that use them: `$VTUNE_SHARED`, or the
//! `shared/` folder beside the repository (found by walking up from the test's crate).
//! Tests include this file by path, so every crate finds `../shared` the same way and says
//! SKIP the same way when it is absent.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The shared folder, if there is one with a `datasets/` inside.
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("VTUNE_SHARED") {
        return Some(PathBuf::from(dir));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared"))
        .find(|dir| dir.join("datasets").is_dir())
}

/// The path of the shared dataset `name`, or None after printing the SKIP line of `test`.
pub fn shared_dataset(name: &str, test: &str) -> Option<PathBuf> {
    match shared_dir().map(|dir| dir.join("datasets").join(name)) {
        Some(path) if path.is_file() => Some(path),
        _ => {
            println!("SKIP: ../shared not found; {test} skipped");
            None
        }
    }
}
