//! The one error type of the crate: a category per failure kind, each carrying a message that names
//! the layer, the input and what was expected. The Python bindings map each category to one exception class.

use std::fmt::Display;

/// Every failure the runtime reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file or attribute could not be parsed.
    #[error("{0}")]
    Parse(String),
    /// An op, version, element type or feature that is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// Shapes or element types do not agree.
    #[error("{0}")]
    Shape(String),
    /// A caller passed an argument of the wrong kind or value.
    #[error("{0}")]
    InvalidArgument(String),
    /// A device failed or is not available.
    #[error("{0}")]
    Device(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A key (tensor name, port, property) was not found.
    #[error("{0}")]
    NotFound(String),
    /// A broken invariant inside the runtime: always a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Prefixes the message with context (for example the layer being processed), keeping the category.
    pub fn context(self, ctx: impl Display) -> Error {
        match self {
            Error::Parse(m) => Error::Parse(format!("{ctx}: {m}")),
            Error::Unsupported(m) => Error::Unsupported(format!("{ctx}: {m}")),
            Error::Shape(m) => Error::Shape(format!("{ctx}: {m}")),
            Error::InvalidArgument(m) => Error::InvalidArgument(format!("{ctx}: {m}")),
            Error::Device(m) => Error::Device(format!("{ctx}: {m}")),
            Error::Io { context, source } => Error::Io {
                context: format!("{ctx}: {context}"),
                source,
            },
            Error::NotFound(m) => Error::NotFound(format!("{ctx}: {m}")),
            Error::Internal(m) => Error::Internal(format!("{ctx}: {m}")),
        }
    }
}

/// Adds context to the error of a `Result`.
pub trait ResultExt<T> {
    /// Prefixes the error message with the lazily built context.
    fn ctx<D: Display>(self, f: impl FnOnce() -> D) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn ctx<D: Display>(self, f: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.context(f()))
    }
}

/// Returns early with an error of the given category and a formatted message.
#[macro_export]
macro_rules! bail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::error::Error::$kind(format!($($arg)*)))
    };
}

/// Returns early with an error of the given category unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $kind:ident, $($arg:tt)*) => {
        let holds: bool = $cond;
        if !holds {
            $crate::bail!($kind, $($arg)*);
        }
    };
}
