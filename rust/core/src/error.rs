//! Error types of the core.

use std::path::Path;

/// Everything that can go wrong in the core, each variant a kind a caller may treat apart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing, malformed or impossible; `field` is its dotted name.
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what was expected.
    #[error("{path}{}: {message}", line_suffix(*line))]
    Parse { path: String, line: usize, message: String },
    /// Input data (not a configuration field) that cannot be used.
    #[error("{0}")]
    Input(String),
    /// The render was stopped through its cancellation flag.
    #[error("render cancelled")]
    Cancelled,
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(", line {line}")
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io { path: path.display().to_string(), source }
    }

    /// A configuration error on `field`.
    pub fn config(field: &str, message: impl Into<String>) -> Error {
        Error::Config { field: field.to_string(), message: message.into() }
    }
}

/// Result with the core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
