use axum::http::StatusCode;

use crate::auth::Denied;

/// What can go wrong answering a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not signed in, or the role does not reach.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Nothing of that name within the caller's scope (also what another tenant's id gets).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (a workflow step not allowed now).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests.
    #[error("too many requests; slow down")]
    RateLimited,
    /// ClickHouse failed (retryable by the client).
    #[error("the analytics store is unavailable, try again: {0}")]
    Store(#[from] clickhouse::error::Error),
    /// A bug: the handler failed (logged).
    #[error("internal error")]
    Internal,
    /// Sending an incident command failed (retryable by the client).
    #[error("the command could not be sent, try again: {0}")]
    Send(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Denied(Denied::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
            Error::Denied(Denied::Forbidden(_)) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Error::Store(_) | Error::Send(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the caller is told: store and broker details stay in the server log.
    pub fn public_message(&self) -> String {
        match self {
            Error::Store(_) => "the analytics store is unavailable; try again".into(),
            Error::Send(_) => "the command could not be sent; try again".into(),
            other => other.to_string(),
        }
    }
}

impl From<crate::range::BadRange> for Error {
    fn from(e: crate::range::BadRange) -> Self {
        Error::BadRequest(e.to_string())
    }
}

impl From<crate::cursor::BadCursor> for Error {
    fn from(e: crate::cursor::BadCursor) -> Self {
        Error::BadRequest(e.to_string())
    }
}
