//! The frontend's side of `luakit.lock`: a lock beside the script in the
//! `dockerfile` local answers `bk.image` first, so that the frontend builds
//! exactly what `luakit build` builds from the same lock; what the lock
//! lacks is resolved through the gateway as before.

use std::path::Path;
use std::sync::Arc;

use luakit::ImageResolver;
use luakit::lock::{LOCK_FILE, Lock, LockResolver, Missing};

use crate::gateway::{Client, read_file};

/// The path of the lock in the `dockerfile` local: beside `filename`.
pub(crate) fn lock_path(filename: &str) -> String {
    match Path::new(filename).parent().and_then(Path::to_str) {
        Some(dir) if !dir.is_empty() => format!("{}/{LOCK_FILE}", dir.trim_end_matches('/')),
        _ => LOCK_FILE.to_string(),
    }
}

/// `gateway` behind the lock beside `filename`, when the local has one.
/// A lock that is there but invalid fails the build (naming the error).
pub(crate) async fn with_lock(
    client: &mut Client,
    script_ref: &str,
    filename: &str,
    gateway: Arc<dyn ImageResolver>,
) -> Result<Arc<dyn ImageResolver>, String> {
    let path = lock_path(filename);
    let bytes = match read_file(client, script_ref, &path).await {
        Ok(bytes) => bytes,
        Err(s) if s.code() == tonic::Code::NotFound || s.message().contains("no such file or directory") => {
            return Ok(gateway);
        }
        Err(s) => return Err(format!("cannot read {path} from the build's dockerfile directory: {}", s.message())),
    };
    let lock = Lock::parse_at(Path::new(&path), &bytes).map_err(|e| error_chain(&e))?;
    Ok(Arc::new(LockResolver::new(Arc::new(lock), Missing::Fallback(gateway))))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::lock_path;

    #[test]
    fn the_lock_is_beside_the_script() {
        assert_eq!(lock_path("build.lua"), "luakit.lock");
        assert_eq!(lock_path("ci/build.lua"), "ci/luakit.lock");
    }
}
