//! Small file helpers shared by the writers.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a partly written file and a failure leaves no file behind.
///
/// The same protocol as the Python writers (`io/atomic.py`): no fsync (the rename after a
/// complete write is what protects readers; syncing cost about 50 ms per 25 MB here, and the
/// reference does not sync either), and an existing regular file is removed before the
/// rename (renaming over it makes ext4 flush the new file, about 3 ms per 4 MB).
///
/// A target that exists and is not a regular file or a link (`/dev/null`, a FIFO) is
/// written through, never replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// `write_atomic` for a file written piece by piece: `fill` writes the whole content.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.is_file() && !m.is_dir() && !m.file_type().is_symlink() {
            return std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| fill(&mut f)).map_err(|e| Error::io(path, e));
        }
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::Input(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        fill(&mut f)?;
        drop(f);
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(path)?;
        }
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_and_writes_through_a_device() {
        let dir = std::env::temp_dir().join(format!("nb_io_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.bin");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left behind");
        // /dev/null stays a device.
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
        assert!(!std::fs::symlink_metadata("/dev/null").unwrap().is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
