//! [`StoreError`]: what a store can fail with, in terms a caller acts on.

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A store failure. Backends keep their own error as `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// What kind of thing (`target`, `alert`, …).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The write lost a race or broke a uniqueness or state rule.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A lease was lost: another instance owns the check now.
    #[error("lease lost for {0}")]
    Fenced(String),
    /// The store cannot be reached right now; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store does not offer this operation.
    #[error("operation not supported by this store: {0}")]
    Unsupported(&'static str),
    /// Stored data could not be decoded, or input could not be encoded.
    #[error("data error: {0}")]
    Data(String),
    /// Anything else from the backend.
    #[error("{store} backend error: {message}")]
    Backend {
        /// Which store (`sqlite`, `postgres`, …).
        store: &'static str,
        /// What was being done.
        message: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A `NotFound` for `what` with `id`.
    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// True when the store could not be reached or the write lost a race
    /// with a concurrent one ([`StoreError::Unavailable`]): the same write
    /// is expected to succeed later. [`StoreError::Backend`] is neither
    /// transient nor [permanent](StoreError::is_permanent): the adapter
    /// could not tell, so callers retry it a bounded number of times.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// True when retrying the same call cannot succeed: the data was
    /// refused ([`Data`](StoreError::Data)), a rule or race was lost for
    /// good ([`Conflict`](StoreError::Conflict),
    /// [`Fenced`](StoreError::Fenced)), the thing is gone
    /// ([`NotFound`](StoreError::NotFound)) or the store lacks the
    /// operation ([`Unsupported`](StoreError::Unsupported)).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StoreError::Data(_)
                | StoreError::Conflict(_)
                | StoreError::Fenced(_)
                | StoreError::NotFound { .. }
                | StoreError::Unsupported(_)
        )
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Data(e.to_string())
    }
}
