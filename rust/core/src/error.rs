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
    /// A table would not fit in the memory available; `field` names the setting (or the file)
    /// that sets its size, `needed` and `available` are bytes.
    #[error("{field}: {}", resources_message(what, *needed, *available, *known))]
    Resources { field: String, what: String, needed: f64, available: f64, known: bool },
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

fn resources_message(what: &str, needed: f64, available: f64, known: bool) -> String {
    let needed = crate::resources::human_bytes(needed);
    if known {
        format!("{what} needs {needed}; {} available", crate::resources::human_bytes(available))
    } else {
        format!("{what} needs {needed}, more than the address space ({})", crate::resources::human_bytes(available))
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
