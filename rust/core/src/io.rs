//! Outputs, all or nothing: the one protocol every writer (Rust or Python) goes through.
//!
//! A command stages each of its outputs in an [`Outputs`] set: [`Outputs::stage`] gives a
//! fresh temporary file to write instead of the user's file. Only when every output is
//! complete does [`Outputs::commit`] put them in place; on any failure (or when the set is
//! dropped uncommitted) [`Outputs::discard`] removes every temporary, so a failed command
//! leaves none of its outputs and no temporary behind.
//!
//! - A regular file (or a name not there yet) is staged beside its final name and renamed
//!   over it, so a reader never sees a partial file. The temporary's name is hidden and
//!   derived from the user's name (see [`temporary_name`]), always within the file system's
//!   255-byte limit, however long the user's name is.
//! - A target that is not a regular file (a device such as `/dev/null`, a FIFO) is never
//!   replaced: it is staged in the system's temporary folder and its bytes are written
//!   through to the target at commit.
//! - A symbolic link is followed: the file it points to is replaced, the link stays.
//! - Errors name the user's file, never the temporary one.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// File systems limit a name (not a path) to this many bytes (Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;

/// What a temporary name adds to the kept part of the user's name: `.` `.` tag `.tmp`.
const OVERHEAD: usize = 1 + 1 + TAG_LEN + 4;
const TAG_LEN: usize = 8;
/// A kept name that had to be shortened ends with `~` and 8 hex digits of the full name's hash.
const HASH_SUFFIX: usize = 9;

/// The name of a temporary for a file named `name`: `.NAME.TAG.tmp`, with `NAME` cut short
/// (and marked `~HASH`) where the whole would exceed [`NAME_MAX`] bytes; `tag` is 8 characters.
pub fn temporary_name(name: &str, tag: &str) -> String {
    debug_assert_eq!(tag.len(), TAG_LEN);
    let keep = if name.len() + OVERHEAD <= NAME_MAX {
        name.to_string()
    } else {
        let mut cut = NAME_MAX - OVERHEAD - HASH_SUFFIX;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}~{:08x}", &name[..cut], fnv1a(name.as_bytes()) as u32)
    };
    format!(".{keep}.{tag}.tmp")
}

/// The kept part of the user's name if `entry` is a name made by [`temporary_name`] (a
/// shortened one ends with `~HASH`).
pub fn temporary_of(entry: &str) -> Option<&str> {
    let body = entry.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (keep, tag) = body.rsplit_once('.')?;
    (tag.len() == TAG_LEN && tag.bytes().all(|b| b.is_ascii_hexdigit()) && !keep.is_empty()).then_some(keep)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// A fresh 8-hex-digit tag: unique within the process, unlikely to collide across processes.
fn fresh_tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed = format!("{}/{}/{}", std::process::id(), n, nanos);
    format!("{:08x}", fnv1a(seed.as_bytes()) as u32)
}

/// One staged output: the user's name, where the bytes finally go, and the temporary.
#[derive(Debug)]
struct Staged {
    target: PathBuf,
    real: PathBuf,
    tmp: PathBuf,
    /// The target is a device, FIFO or the like: written through at commit, not replaced.
    through: bool,
}

/// The outputs of one command, written all or nothing (see the module documentation).
#[derive(Debug, Default)]
pub struct Outputs {
    staged: Vec<Staged>,
}

fn not_a_file(path: &Path, what: &str) -> Error {
    Error::io(path, io::Error::other(what.to_string()))
}

/// The file a name finally refers to: symbolic links followed (a dangling one to the file
/// it would create).
fn resolve(target: &Path) -> PathBuf {
    let mut path = target.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => match fs::read_link(&path) {
                Ok(next) => {
                    path = match path.parent() {
                        Some(dir) if next.is_relative() => dir.join(next),
                        _ => next,
                    }
                }
                Err(_) => return path,
            },
            _ => return path,
        }
    }
    path
}

impl Outputs {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stage `target`: create and return the temporary file to write in its place.
    ///
    /// Fails (naming `target`) if it is a folder, or an existing file this process may not
    /// write, or its folder does not take new files.
    pub fn stage(&mut self, target: &Path) -> Result<PathBuf> {
        let name = target.file_name().ok_or_else(|| not_a_file(target, "not a file name"))?;
        let real = resolve(target);
        let meta = fs::metadata(&real).ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(not_a_file(target, "is a folder, not a file"));
        }
        let through = meta.as_ref().is_some_and(|m| !m.is_file());
        if meta.as_ref().is_some_and(|m| m.is_file()) {
            // Refused where an ordinary open for writing would be (a read-only file stays so).
            OpenOptions::new().write(true).open(&real).map_err(|e| Error::io(target, e))?;
        }
        let folder = if through {
            std::env::temp_dir()
        } else {
            match real.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            }
        };
        let real_name = real.file_name().unwrap_or(name).to_string_lossy().into_owned();
        let mode = meta.as_ref().filter(|m| m.is_file()).map(permissions_of);
        for _ in 0..100 {
            let tmp = folder.join(temporary_name(&real_name, &fresh_tag()));
            match create_new(&tmp, mode) {
                Ok(_) => {
                    self.staged.push(Staged { target: target.to_path_buf(), real: real.clone(), tmp: tmp.clone(), through });
                    return Ok(tmp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(target, e)),
            }
        }
        Err(not_a_file(target, "cannot find a free temporary name beside it"))
    }

    /// Put every staged output in place. On a failure the error names that output's file and
    /// every temporary not yet in place is removed. (A rename that fails after others succeeded
    /// cannot undo them; renames within a folder fail only when the file system does.)
    pub fn commit(&mut self) -> Result<()> {
        let mut staged = std::mem::take(&mut self.staged);
        // Writing through to a device can fail (/dev/full) where a rename hardly can: those
        // first, so such a failure still leaves no file in place.
        staged.sort_by_key(|s| !s.through);
        let mut result = Ok(());
        for s in &staged {
            if result.is_ok() {
                result = put_in_place(s).map_err(|e| Error::io(&s.target, e));
                if result.is_ok() && !s.through {
                    continue; // renamed: the temporary is the user's file now
                }
            }
            let _ = fs::remove_file(&s.tmp);
        }
        result
    }

    /// Remove every staged temporary; the targets stay as they were.
    pub fn discard(&mut self) {
        for s in self.staged.drain(..) {
            let _ = fs::remove_file(&s.tmp);
        }
    }

    /// Number of outputs staged and not yet committed or discarded.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        self.discard();
    }
}

#[cfg(unix)]
fn permissions_of(m: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn permissions_of(_: &fs::Metadata) -> u32 {
    0o666
}

/// Create `path`, failing if it exists; with the permissions of the file it will replace, or
/// those an ordinary new file gets (0666 less the umask).
fn create_new(path: &Path, mode: Option<u32>) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o666);
        let f = options.open(path)?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        Ok(f)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        options.open(path)
    }
}

fn put_in_place(s: &Staged) -> io::Result<()> {
    if s.through {
        // Not ours to replace: write the bytes through (no truncation of a device or FIFO).
        let mut out = OpenOptions::new().write(true).open(&s.real)?;
        let mut input = File::open(&s.tmp)?;
        io::copy(&mut input, &mut out)?;
        return out.flush();
    }
    // An existing file is removed first: renaming over it makes ext4 flush the new file to
    // disk (its guard against empty files after a power loss), about 3 ms per 4 MB, which the
    // reference, writing in place, does not pay either. Readers still never see a partial
    // file; they may briefly see none.
    if fs::symlink_metadata(&s.real).is_ok_and(|m| m.is_file()) {
        let _ = fs::remove_file(&s.real);
    }
    fs::rename(&s.tmp, &s.real)
}

/// Write `bytes` to `path` as an output set of one (see the module documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] for a file written piece by piece: `fill` writes the whole content.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let mut outputs = Outputs::new();
    stage_with(&mut outputs, path, fill)?;
    outputs.commit()
}

/// Stage `path` in `outputs` and write its whole content with `fill` (not yet in place).
pub fn stage_with(outputs: &mut Outputs, path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let tmp = outputs.stage(path)?;
    fill_temporary(&tmp, path, fill)
}

/// [`stage_with`] on a set shared by threads writing side by side: locked only to stage.
pub fn stage_shared(outputs: &Mutex<Outputs>, path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let tmp = outputs.lock().unwrap_or_else(PoisonError::into_inner).stage(path)?;
    fill_temporary(&tmp, path, fill)
}

fn fill_temporary(tmp: &Path, path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let written = (|| {
        // Not O_TRUNC: the temporary was created empty, and on ext4 a truncation to zero makes
        // the close start writing the file out (auto_da_alloc), several ms per MB here, and
        // later removal of the file it replaces slower.
        let mut f = io::BufWriter::with_capacity(1 << 20, OpenOptions::new().write(true).open(tmp)?);
        fill(&mut f)?;
        f.flush()
    })();
    written.map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nb-io-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn temporary_names_fit_the_limit_and_keep_the_name() {
        assert_eq!(temporary_name("float.bin", "0123abcd"), ".float.bin.0123abcd.tmp");
        for len in [1, 200, 241, 242, 250, 255] {
            let name = "x".repeat(len);
            let tmp = temporary_name(&name, "0123abcd");
            assert!(tmp.len() <= NAME_MAX, "{len}: {}", tmp.len());
            assert!(tmp.starts_with(&format!(".{}", &name[..len.min(200)])));
            assert_eq!(temporary_of(&tmp).map(|k| k.len() <= len + HASH_SUFFIX), Some(true));
        }
        // Multi-byte characters are never cut in half.
        let tmp = temporary_name(&"é".repeat(127), "0123abcd");
        assert!(tmp.len() <= NAME_MAX);
        assert_eq!(temporary_of("plain.tmp"), None);
        assert_eq!(temporary_of(".a.b.0123abcd.tmp"), Some("a.b"));
    }

    #[test]
    fn nothing_is_in_place_before_commit_and_a_discard_leaves_nothing() {
        let dir = scratch("discard");
        let mut out = Outputs::new();
        let a = out.stage(&dir.join("a.bin")).unwrap();
        fs::write(&a, b"aaa").unwrap();
        let long = "y".repeat(250);
        let b = out.stage(&dir.join(&long)).unwrap();
        fs::write(&b, b"bbb").unwrap();
        assert!(!dir.join("a.bin").exists());
        out.discard();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);

        let mut out = Outputs::new();
        let a = out.stage(&dir.join("a.bin")).unwrap();
        fs::write(&a, b"aaa").unwrap();
        let b = out.stage(&dir.join(&long)).unwrap();
        fs::write(&b, b"bbb").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read(dir.join("a.bin")).unwrap(), b"aaa");
        assert_eq!(fs::read(dir.join(&long)).unwrap(), b"bbb");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_are_written_through_and_links_followed() {
        let dir = scratch("through");
        write_atomic(Path::new("/dev/null"), b"discarded").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
            let full = write_atomic(Path::new("/dev/full"), b"x").unwrap_err().to_string();
            assert!(full.starts_with("/dev/full: "), "{full}");
            std::os::unix::fs::symlink("real.bin", dir.join("link.bin")).unwrap();
            write_atomic(&dir.join("link.bin"), b"data").unwrap();
            assert!(fs::symlink_metadata(dir.join("link.bin")).unwrap().file_type().is_symlink());
            assert_eq!(fs::read(dir.join("real.bin")).unwrap(), b"data");
        }
        let err = write_atomic(&dir, b"x").unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
