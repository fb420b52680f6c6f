//! Writing to stdout and stderr without ever failing a run.
//!
//! `println!` and `eprintln!` panic when the write fails, and with SIGPIPE at its default a closed
//! pipe kills the process outright: `overfit train … | head -3` would lose the run (no checkpoint,
//! no report). The commands that train ignore SIGPIPE (see the cli's `main`) and print through
//! [`out`] and [`err`]: the first failed write to a stream (a reader that went away) silences that
//! stream for the rest of the process, and the run goes on to its end, checkpoints and report
//! included. The printers (`summary`, `generate`, `results`) keep SIGPIPE's default and end
//! quietly, as `cat` does.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Writes `text` and a newline to stdout, unless stdout has failed before.
pub fn out(text: &str) {
    write_line(&mut std::io::stdout().lock(), &STDOUT_GONE, text);
}

/// Writes `text` and a newline to stderr, unless stderr has failed before.
pub fn err(text: &str) {
    write_line(&mut std::io::stderr().lock(), &STDERR_GONE, text);
}

/// Writes `text` to stdout as it is (no newline added).
pub fn out_raw(text: &str) {
    write_all(&mut std::io::stdout().lock(), &STDOUT_GONE, text.as_bytes());
}

/// Writes `text` to stderr as it is (no newline added).
pub fn err_raw(text: &str) {
    write_all(&mut std::io::stderr().lock(), &STDERR_GONE, text.as_bytes());
}

/// Whether a write to stderr has failed: a live display stops drawing.
pub fn stderr_gone() -> bool {
    STDERR_GONE.load(Ordering::Relaxed)
}

fn write_line(w: &mut impl Write, gone: &AtomicBool, text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    write_all(w, gone, line.as_bytes());
}

/// One write and a flush; any error marks the stream gone. Errors are not reported: the stream
/// they would be reported on may be the one that failed, and the run's files say what happened.
fn write_all(w: &mut impl Write, gone: &AtomicBool, bytes: &[u8]) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    if w.write_all(bytes).and_then(|()| w.flush()).is_err() {
        gone.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write, as a pipe whose reader went away.
    struct Closed(usize);
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.0 += 1;
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_silences_the_stream_and_never_panics() {
        let gone = AtomicBool::new(false);
        let mut w = Closed(0);
        write_line(&mut w, &gone, "first");
        assert!(gone.load(Ordering::Relaxed));
        write_line(&mut w, &gone, "second");
        assert_eq!(w.0, 1, "no write is tried once the stream failed");
        let mut ok = Vec::new();
        write_line(&mut ok, &AtomicBool::new(false), "kept");
        assert_eq!(ok, b"kept\n");
    }
}
