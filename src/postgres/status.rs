//! Status resources as stored: the status JSON the service serves, read back into
//! a [`Status`].

use serde::{Deserialize, Serialize};

use crate::resources::{Status, StatusDetail, StatusState};
use crate::timestamp::Timestamp;

#[derive(Deserialize)]
struct StoredStatus {
    id: String,
    status: String,
    request_timestamp: Option<String>,
    total_count: u64,
    #[serde(default)]
    successes: Vec<StoredDetail>,
    #[serde(default)]
    failures: Vec<StoredDetail>,
    #[serde(default)]
    pendings: Vec<StoredDetail>,
    #[serde(default)]
    collection: Option<String>,
}

/// The status resource plus the collection it belongs to (which the resource itself
/// does not carry).
#[derive(Serialize)]
struct Stored<'a> {
    #[serde(flatten)]
    status: &'a Status,
    collection: Option<&'a str>,
}

#[derive(Deserialize)]
struct StoredDetail {
    id: String,
    version: String,
    message: Option<String>,
}

impl From<StoredDetail> for StatusDetail {
    fn from(d: StoredDetail) -> Self {
        StatusDetail {
            id: d.id,
            version: d.version,
            message: d.message,
        }
    }
}

/// The JSON a status is stored as.
pub(crate) fn encode(status: &Status) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Stored {
        status,
        collection: status.collection.as_deref(),
    })
}

/// A stored status, or `None` when the text is not one (it never is, unless edited by hand).
pub(crate) fn decode(text: &str) -> Option<Status> {
    let stored: StoredStatus = serde_json::from_str(text).ok()?;
    let request_timestamp = match stored.request_timestamp {
        Some(t) => Some(t.parse::<Timestamp>().ok()?),
        None => None,
    };
    let mut status = Status {
        id: stored.id,
        status: if stored.status == "pending" {
            StatusState::Pending
        } else {
            StatusState::Complete
        },
        request_timestamp,
        total_count: stored.total_count,
        success_count: 0,
        failure_count: 0,
        pending_count: 0,
        successes: stored.successes.into_iter().map(Into::into).collect(),
        failures: stored.failures.into_iter().map(Into::into).collect(),
        pendings: stored.pendings.into_iter().map(Into::into).collect(),
        collection: stored.collection,
    };
    status.settle();
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut status = Status {
            id: "2d1c7ae5-5e4a-4b4b-8e5e-0a0a0a0a0a0a".into(),
            status: StatusState::Pending,
            request_timestamp: Some(Timestamp::from_micros(1_600_000_000_123_456)),
            total_count: 3,
            success_count: 0,
            failure_count: 0,
            pending_count: 0,
            successes: vec![StatusDetail {
                id: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into(),
                version: "2020-01-01T00:00:00Z".into(),
                message: None,
            }],
            failures: vec![StatusDetail {
                id: String::new(),
                version: String::new(),
                message: Some("bad \"object\"".into()),
            }],
            pendings: Vec::new(),
            collection: Some("c1".into()),
        };
        status.settle();
        assert_eq!(decode(&encode(&status).unwrap()), Some(status));
        assert_eq!(decode("not json"), None);
    }
}
