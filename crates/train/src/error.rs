//! Errors of a training run, each with the exit code SPEC §2 gives it.

use heads::ConfigError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// An impossible model configuration (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A flag with a value that cannot work (exit 2).
    #[error("{flag}: {message}")]
    Usage { flag: String, message: String },
    /// A file that cannot be used as given: missing, unreadable, too short, corrupt (exit 2).
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    /// The run could not go on: the disk is full, the run folder is read-only… (exit 1).
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl Error {
    pub fn usage(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage { flag: flag.into(), message: message.into() }
    }
    pub fn input(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Error::Input { path: path.to_string(), message: message.into() }
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
    /// 2 for bad usage or input, 1 for a run that failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage { .. } | Error::Input { .. } => 2,
            Error::Io { .. } => 1,
        }
    }
}

/// A figure that could not be drawn is a run that could not write a file (exit 1).
impl From<plot::Error> for Error {
    fn from(e: plot::Error) -> Self {
        Error::io(format!("drawing {}", e.path.display()), std::io::Error::other(e.message))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
