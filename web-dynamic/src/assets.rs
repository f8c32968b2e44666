//! The static folder: where it is, and the tera function that writes fingerprinted asset URLs.
//! The files themselves are served by `hbnb_common::static_files` (from memory, with the caching
//! rules and the traversal guard the gateway uses too).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hbnb_common::static_files::StaticFiles;

/// The static folder: `STATIC_DIR` when given, else the first of the crate's own `static/`
/// (where the build put it), `web-dynamic/static` and `static` that exists.
pub fn find_static_dir(configured: Option<&Path>) -> io::Result<PathBuf> {
    if let Some(dir) = configured {
        return if dir.is_dir() {
            Ok(dir.to_path_buf())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("STATIC_DIR {} is not a directory", dir.display()),
            ))
        };
    }
    let candidates = [
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        PathBuf::from("web-dynamic/static"),
        PathBuf::from("static"),
    ];
    candidates
        .iter()
        .find(|dir| dir.join("styles").is_dir())
        .cloned()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no static folder found: set STATIC_DIR to web-dynamic/static",
            )
        })
}

/// The tera function `asset(path="styles/4-common.css")`: the fingerprinted URL. Its output is
/// ours (a path that exists and hex digits), so it is marked safe; an unknown path fails the
/// render instead of producing a broken link.
pub struct AssetFunction(pub Arc<StaticFiles>);

impl tera::Function for AssetFunction {
    fn call(&self, args: &HashMap<String, serde_json::Value>) -> tera::Result<serde_json::Value> {
        let path = args
            .get("path")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| tera::Error::msg("asset() needs path=\"...\""))?;
        self.0
            .url(path)
            .map(serde_json::Value::String)
            .ok_or_else(|| tera::Error::msg(format!("no static file {path:?}")))
    }

    fn is_safe(&self) -> bool {
        true
    }
}
