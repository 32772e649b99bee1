//! Source ops (`bk.image`, `bk.local_`, `bk.git`, `bk.http`, …): identifier
//! and attrs, as `client/llb` marshals them.

use super::{CapRecorder, Encoder, MarshalError};
use crate::caps::id;
use crate::pb;

impl Encoder {
    pub(super) fn source(
        &mut self,
        src: &luakit_graph::SourceOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<pb::SourceOp, MarshalError> {
        let mut attrs = src.attrs.clone();
        let ident = src.identifier.as_str();
        let scheme = ident.split("://").next().unwrap_or_default();
        match scheme {
            "docker-image" => {
                caps.require(id::SOURCE_IMAGE, "bk.image")?;
                if attrs.get("image.resolvemode").map(String::as_str) == Some("pull") {
                    caps.require(id::SOURCE_IMAGE_RESOLVE_MODE, "bk.image resolve = \"always\"")?;
                }
            }
            "local" => {
                caps.require(id::SOURCE_LOCAL, "bk.local_")?;
                for (attr, cap, feature) in [
                    ("local.unique", id::SOURCE_LOCAL_UNIQUE, "local unique id"),
                    ("local.includepattern", id::SOURCE_LOCAL_INCLUDE_PATTERNS, "bk.local_ include"),
                    ("local.excludepatterns", id::SOURCE_LOCAL_EXCLUDE_PATTERNS, "bk.local_ exclude"),
                    ("local.followpaths", id::SOURCE_LOCAL_FOLLOW_PATHS, "bk.local_ follow_paths"),
                    ("local.sharedkeyhint", id::SOURCE_LOCAL_SHARED_KEY_HINT, "bk.local_ shared_key_hint"),
                    ("local.differ", id::SOURCE_LOCAL_DIFFER, "bk.local_ differ"),
                ] {
                    if attrs.contains_key(attr) && !caps.optional(cap, feature)? {
                        attrs.remove(attr);
                    }
                }
                if attrs.contains_key("local.session") {
                    caps.soft(id::SOURCE_LOCAL_SESSION_ID);
                }
            }
            "git" => {
                caps.require(id::SOURCE_GIT, "bk.git")?;
                if attrs.contains_key("git.keepgitdir") {
                    caps.require(id::SOURCE_GIT_KEEP_DIR, "bk.git keep_git_dir")?;
                }
                if attrs.contains_key("git.fullurl") && !caps.optional(id::SOURCE_GIT_FULL_URL, "bk.git full URL")? {
                    attrs.remove("git.fullurl");
                }
                // BuildKit's client never records this cap (a daemon without
                // it would take "ref:subdir" for a ref); only refuse on
                // daemons that lack it.
                let subdir =
                    ident.split_once('#').is_some_and(|(_, f)| f.split_once(':').is_some_and(|(_, s)| !s.is_empty()));
                if subdir && caps.daemon.is_some() {
                    caps.require(id::SOURCE_GIT_SUBDIR, "bk.git subdir")?;
                    caps.caps.remove(id::SOURCE_GIT_SUBDIR);
                }
                for c in &src.extra_caps {
                    let feature = format!("bk.git ({c})");
                    caps.require(c, &feature)?;
                }
            }
            "http" | "https" => {
                caps.require(id::SOURCE_HTTP, "bk.http")?;
                if attrs.contains_key("http.checksum") {
                    caps.require(id::SOURCE_HTTP_CHECKSUM, "bk.http checksum")?;
                }
                if attrs.contains_key("http.perm") {
                    caps.require(id::SOURCE_HTTP_PERM, "bk.http chmod")?;
                }
                if attrs.contains_key("http.uid") || attrs.contains_key("http.gid") {
                    caps.require(id::SOURCE_HTTP_UIDGID, "bk.http uid/gid")?;
                }
            }
            "oci-layout" => caps.require(id::SOURCE_OCI_LAYOUT, "OCI layout source")?,
            _ => {
                for c in &src.extra_caps {
                    caps.require(c, c)?;
                }
            }
        }
        Ok(pb::SourceOp { identifier: src.identifier.clone(), attrs: attrs.into_iter().collect() })
    }
}
