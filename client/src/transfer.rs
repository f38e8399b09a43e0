//! Files and progress for transfers: progress bars on a terminal, and writing a verified document
//! to its final path so that a partial or unverified file never appears there.

use std::{
    fs::File,
    io::{self, IsTerminal, Read},
    path::{Path, PathBuf},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Transfers above this size get a progress bar.
pub const PROGRESS_THRESHOLD: u64 = 4 * 1024 * 1024;

/// A progress bar on stderr, when `wanted`, stderr is a terminal and `len` is over
/// [`PROGRESS_THRESHOLD`]; otherwise none (pipes and logs stay clean).
pub fn progress_bar(wanted: bool, len: u64, what: &'static str) -> Option<ProgressBar> {
    if !wanted || len <= PROGRESS_THRESHOLD || !io::stderr().is_terminal() {
        return None;
    }
    let style =
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    Some(
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(what),
    )
}

/// A reader that moves a progress bar (sealing and opening large documents takes a while too).
#[derive(Debug)]
pub struct ProgressReader<R> {
    inner: R,
    bar: Option<ProgressBar>,
}

impl<R> ProgressReader<R> {
    /// Wraps `inner`; see [`progress_bar`] for when a bar is shown.
    pub fn new(inner: R, wanted: bool, len: u64, what: &'static str) -> Self {
        ProgressReader { inner, bar: progress_bar(wanted, len, what) }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

impl<R> Drop for ProgressReader<R> {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The directory a file is to be written in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Writes a file through `fill` into a temporary file next to `out`, and moves it to `out` only if
/// `fill` succeeds. On any failure the temporary file is removed and `out` is untouched: a reader
/// never finds a partial or unverified document there. Without `overwrite`, an existing `out` is
/// an error (checked atomically at the rename).
///
/// The file is created with mode 0600: it may hold personal data.
pub fn write_verified<T, E>(
    out: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut File) -> Result<T, E>,
) -> Result<T, WriteError<E>> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".samordna-")
        .suffix(".part")
        .tempfile_in(parent_dir(out))
        .map_err(WriteError::Io)?;
    // On error `tmp` is dropped here, which deletes it.
    let value = fill(tmp.as_file_mut()).map_err(WriteError::Fill)?;
    tmp.as_file().sync_all().map_err(WriteError::Io)?;
    if overwrite {
        tmp.persist(out).map_err(|e| WriteError::Io(e.error))?;
    } else {
        tmp.persist_noclobber(out).map_err(|e| WriteError::Io(e.error))?;
    }
    Ok(value)
}

/// Why [`write_verified`] did not write.
#[derive(Debug)]
pub enum WriteError<E> {
    /// The filling function failed (e.g. the envelope did not verify).
    Fill(E),
    /// The temporary file could not be made, synced or renamed.
    Io(io::Error),
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failing_opener_leaves_nothing_at_out() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("plan.json");
        let r: Result<(), _> = write_verified(&out, false, |f| {
            // Half a document is written before verification fails, as when the last chunk or the
            // signature does not verify.
            f.write_all(b"{\"partial\": ")?;
            Err(io::Error::new(io::ErrorKind::InvalidData, "the document signature is not valid"))
        });
        assert!(matches!(r, Err(WriteError::Fill(_))));
        assert!(!out.exists(), "an unverified file was left at out");
        assert!(
            entries(dir.path()).is_empty(),
            "a temporary file was left behind: {:?}",
            entries(dir.path())
        );
    }

    #[test]
    fn a_successful_opener_moves_the_file_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("plan.json");
        let n: usize = write_verified::<_, io::Error>(&out, false, |f| {
            f.write_all(b"{}")?;
            Ok(2)
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(std::fs::read(&out).unwrap(), b"{}");
        assert_eq!(entries(dir.path()), vec!["plan.json".to_owned()]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn an_existing_file_is_kept_unless_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("plan.json");
        std::fs::write(&out, b"old").unwrap();
        let r = write_verified::<_, io::Error>(&out, false, |f| f.write_all(b"new"));
        assert!(matches!(r, Err(WriteError::Io(_))));
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        assert_eq!(entries(dir.path()), vec!["plan.json".to_owned()]);
        write_verified::<_, io::Error>(&out, true, |f| f.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
    }

    #[test]
    fn small_or_unwanted_transfers_have_no_bar() {
        assert!(progress_bar(false, 1 << 30, "x").is_none());
        assert!(progress_bar(true, PROGRESS_THRESHOLD, "x").is_none());
    }
}
