//! OCI image config.
