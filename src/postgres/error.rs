//! From database and pool failures to [`BackendError`]s: what a retry may cure
//! (the server is gone, restarting, overloaded, or a transaction lost a race) is
//! `unavailable` (503); the rest is `internal` (500).

use crate::backend::BackendError;

/// Classifies a driver error.
pub(crate) fn db_error(error: tokio_postgres::Error) -> BackendError {
    let retryable = match error.code() {
        // 08: connection exception; 57P: operator intervention (shutdown, restart);
        // 53: insufficient resources; 40: transaction rollback (serialization, deadlock).
        Some(code) => ["08", "57P", "53", "40"].iter().any(|class| code.code().starts_with(class)),
        // No SQLSTATE: the connection broke (I/O error, closed) unless it is a value
        // that could not be converted, which is a bug of ours.
        None => error.is_closed() || !is_conversion(&error),
    };
    let message = format!("PostgreSQL: {error}");
    if retryable {
        BackendError::unavailable(message)
    } else {
        BackendError::internal(message)
    }
}

fn is_conversion(error: &tokio_postgres::Error) -> bool {
    let text = error.to_string();
    text.starts_with("error deserializing") || text.starts_with("error serializing")
}

/// Classifies a pool failure: waiting for or making a connection failed.
pub(crate) fn pool_error(error: deadpool_postgres::PoolError) -> BackendError {
    use deadpool_postgres::PoolError;
    match error {
        PoolError::Backend(e) => db_error(e),
        PoolError::Timeout(kind) => BackendError::unavailable(format!("PostgreSQL: no connection ({kind:?} timed out)")),
        PoolError::Closed => BackendError::unavailable("PostgreSQL: the connection pool is closed"),
        PoolError::NoRuntimeSpecified => BackendError::internal("PostgreSQL: the pool has no runtime for its timeouts"),
        PoolError::PostCreateHook(e) => BackendError::unavailable(format!("PostgreSQL: {e}")),
    }
}
