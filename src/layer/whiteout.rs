//! The two whiteout vocabularies and the translation between them. overlayfs marks a deleted path with a
//! char device 0/0 and an opaque directory with the xattr `trusted.overlay.opaque=y` (or
//! `user.overlay.opaque=y` when mounted with `userxattr`); OCI layers use `.wh.NAME` and `.wh..wh..opq`
//! entries. overlayfs' own xattrs describe the mount, not the files, and never go into a layer.

/// Prefix of an OCI whiteout entry.
pub const PREFIX: &str = ".wh.";
/// The entry that makes its directory opaque.
pub const OPAQUE: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata entries (`.wh..wh.plnk`, ...), which carry no file content.
pub const META_PREFIX: &str = ".wh..wh.";

const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// True for xattrs that belong to overlayfs itself.
pub fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// True when an upper dir is marked opaque.
pub fn is_opaque_dir(path: &std::path::Path) -> bool {
    OPAQUE_XATTRS.iter().any(|x| matches!(xattr::get(path, x), Ok(Some(v)) if v == b"y"))
}

/// True for overlayfs' whiteout: a char device with device number 0/0.
pub fn is_overlay_whiteout(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}
