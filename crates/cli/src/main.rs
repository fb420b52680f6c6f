//! `overfit`: a thin command line over the `train` and `heads` crates (SPEC §2).
//! Exit codes: 0 success; 2 bad usage or bad input; 1 a run that failed (e.g. the loss diverged).

mod args;
mod commands;

use clap::Parser;
use std::process::ExitCode;

/// Training allocates and frees the same tensor sizes every step. glibc returns large blocks to
/// the kernel and faults them in again, zeroed, on the next step (4% of a `small` step in perf);
/// mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    restore_sigpipe();
    // A bug must still not print a backtrace at a user: one line, and exit 101.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("overfit: internal error: {info}. This is a bug; please report it with the command you ran.");
    }));
    let cli = args::Cli::parse();
    match commands::run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// A closed pipe ends the program quietly, as it ends `cat` or `head`: `overfit summary --json |
/// true` must not print a panic. Rust ignores SIGPIPE so that writes fail with an error instead;
/// a command-line tool wants the default action back.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: the first thing main does, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
