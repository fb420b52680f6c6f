//! The lock a run folder holds while it is being trained (SPEC §5).
//!
//! A run folder written by two processes at once is ruined: both append to metrics.jsonl and
//! each overwrites the other's checkpoint. On a cluster this is the normal case, not a corner one
//! (array tasks share a runs folder; a scheduler requeues a task whose old self may still run).
//! So a process that trains a run first takes an exclusive advisory lock on the file `lock` in its
//! folder, and holds it until the run's last file is written. The lock is `flock(2)` through the
//! standard library's `File::try_lock`: the kernel drops it when its holder dies, `kill -9`
//! included, so a crashed run never stays locked.
//!
//! The file's text names the holder (pid, host, since when); it is emptied on release and never
//! deleted (deleting it would let two processes lock two different files of the same name).
//!
//! **Network file systems.** On Linux, `flock` on NFS (v3 with lockd, and v4) is carried out as a
//! whole-file POSIX lock on the server since kernel 2.6.12, so processes on different hosts
//! exclude each other; on an NFS mount with `nolock`, or on file systems without lock support,
//! locks are local to each host only. Lustre needs its `flock` mount option, or it refuses locks
//! (which overfit reports as an error naming the folder).

use crate::error::{Error, Result};
use crate::run::RunDir;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};

/// The held lock of a run folder; released (and its text cleared) when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

/// Who holds a run folder: the text of its lock file, e.g. `pid 4242 on host node7 since …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder(pub String);

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "another process" } else { &self.0 })
    }
}

impl RunLock {
    /// Takes the lock of `run` (its folder must exist), or says who holds it. Never waits.
    pub fn try_take(run: &RunDir) -> Result<std::result::Result<RunLock, Holder>> {
        let path = run.file("lock");
        let context = || format!("locking the run folder {}", run.path.display());
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(context(), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Err(Holder(text.trim().to_string())));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(context(), e)),
        }
        let me = format!("pid {} on host {} since {}", std::process::id(), host_name(), crate::provenance::now());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(format!("{me}\n").as_bytes()))
            .and_then(|()| file.flush())
            .map_err(|e| Error::io(context(), e))?;
        Ok(Ok(RunLock { file }))
    }

    /// Takes the lock of `run`, or fails with a usage error naming the holder (`train --resume`).
    pub fn take(run: &RunDir) -> Result<RunLock> {
        Self::try_take(run)?.map_err(|holder| {
            Error::input(
                run.path.display(),
                format!("is being trained by {holder} (see its file `lock`); wait for that run to end, or stop it"),
            )
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // The text would name a holder that is gone; the lock itself goes with the file handle.
        let _ = self.file.set_len(0);
    }
}

/// This machine's name, for the lock's text.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if rc == 0 {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_folder_names_its_holder_and_is_free_again_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir { path: dir.path().to_path_buf() };
        let held = RunLock::try_take(&run).unwrap().expect("a free folder locks");
        // A second open file description is excluded, as another process would be.
        let holder = RunLock::try_take(&run).unwrap().expect_err("a held folder does not lock twice");
        assert!(holder.0.contains(&format!("pid {}", std::process::id())), "{holder}");
        let err = RunLock::take(&run).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("is being trained by pid"), "{err}");
        drop(held);
        assert_eq!(std::fs::read_to_string(run.file("lock")).unwrap(), "");
        assert!(RunLock::try_take(&run).unwrap().is_ok(), "released");
    }
}
