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

/// mimalloc's `mi_option_purge_delay` (its index in `mi_option_e` of the v3 header that
/// libmimalloc-sys builds; the crate exports no constant for it). Its default there is 1000 ms.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc still hands pages that stay free for a while back to the kernel, and the next step
/// faults them in again, zeroed (2 MiB pages under transparent huge pages): `perf stat -e
/// page-faults overfit bench --preset seed-id4 --head causal --threads 1 --steps 800` counted
/// 1,409 faults with purging and 179 without (the start-up's only), and `clear_page_erms` was 7%
/// of the step in `perf record`. A training process reuses the same sizes every step, so it keeps
/// its pages.
fn keep_freed_pages() {
    // SAFETY: called first in main, before any other thread exists (the setter is not thread
    // safe); the option index is checked against its documented default in debug builds.
    unsafe {
        debug_assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 1000, "mimalloc option index moved");
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

fn main() -> ExitCode {
    keep_freed_pages();
    // A bug must still not print a backtrace at a user: one line, and exit 101.
    std::panic::set_hook(Box::new(|info| {
        train::console::err(&format!(
            "overfit: internal error: {info}. This is a bug; please report it with the command you ran."
        ));
    }));
    let cli = args::Cli::parse();
    if cli.command.only_prints() {
        restore_sigpipe();
    }
    match commands::run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            train::console::err(&format!("error: {e}"));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// A closed pipe ends a printer quietly, as it ends `cat` or `head`: `overfit summary --json |
/// true` must not print a panic. Rust ignores SIGPIPE so that writes fail with an error instead;
/// a command that only prints wants the default action back. A command that trains keeps SIGPIPE
/// ignored: a reader that goes away must not take hours of training with it (train::console).
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: the first thing main does, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
