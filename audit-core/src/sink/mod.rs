//! Where sealed lines go.
//!
//! - [`file`](mod@file): the append-only file log (one writer per file, locked; files 0600).
//! - [`writer`]: the background writer: bounded queue, durability, group commit, failure
//!   policy, rotation, checkpoints.
//!
//! ```
//! let opts = audit_core::sink::open_options_private();
//! # let _ = opts;
//! ```

use std::fs::OpenOptions;
use std::path::Path;

mod buffers;
mod closer;
pub mod file;
pub mod writer;

/// `OpenOptions` that create files readable and writable by the owner only (0600 on Unix).
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("secret.txt");
/// audit_core::sink::open_options_private().create(true).append(true).open(&path)?.write_all(b"x")?;
/// #[cfg(unix)]
/// {
///     use std::os::unix::fs::PermissionsExt;
///     assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_options_private() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// fsync the directory holding `path`, so that a newly created or renamed file survives a
/// crash (a no-op where directories cannot be opened).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("witness.log");
/// std::fs::write(&path, b"first line\n")?;
/// audit_core::sink::sync_parent_dir(&path)?; // the new name survives a crash
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
