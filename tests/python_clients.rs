//! Conformance with the real Python TAXII clients (taxii2-client and stix2):
//! starts the `serve` example on the MITRE ATT&CK ICS releases plus Mobile and
//! runs `tests/python/check_attack.py` against it; and the write path on an empty
//! writable collection with `tests/python/check_write.py`; and taxii2client
//! through the bearer-protected `axum_bearer` example with `tests/python/check_bearer.py`.
//!
//! Skipped (with a message) when the data, python3, the Python packages or the
//! built example are missing; with `CI` set those cases fail instead.

mod common;

use std::time::Duration;

use common::{
    ServerGuard, attack_data_dir, example_binary, missing_attack_bundle, python_attack_bundles, python_missing, run_python_check,
    skip_or_fail,
};

/// The packages every check here imports, and what to install for them.
const CLIENTS: (&str, &str) = ("taxii2client, stix2", "taxii2-client stix2");

#[test]
fn taxii2client_and_stix2_against_attack_data() {
    let data = attack_data_dir();
    if let Some(reason) = missing_attack_bundle(python_attack_bundles()).or_else(|| python_missing(CLIENTS.0, CLIENTS.1)) {
        return skip_or_fail(&reason);
    }
    let Some(serve) = example_binary("serve") else {
        return skip_or_fail("the serve example is not built (run `cargo build --example serve`)");
    };

    let mut args = vec!["--listen".to_string(), "127.0.0.1:0".to_string()];
    args.extend(python_attack_bundles().map(|b| data.join(b).display().to_string()));
    let server =
        ServerGuard::start(&serve, &args, Duration::from_secs(120)).unwrap_or_else(|e| panic!("starting {}: {e}", serve.display()));

    run_python_check(
        "check_attack.py",
        &[server.url.as_ref(), data.as_os_str()],
        Duration::from_secs(600),
    );
    drop(server);
}

/// The collection `serve --writable` creates for the write check.
const WRITABLE_ID: &str = "4b2c9f3e-8d1a-4e6f-9b7c-2a5d8e1f3c60";

/// The write path with the real clients: starts `serve --accept-bundles --writable ID=Writable` (no
/// bundles, so that one empty collection is all it serves) and runs
/// `tests/python/check_write.py`, which posts ATT&CK objects from
/// `ics-attack-18.1.json` and `stix2` objects, reads them back, and deletes.
#[test]
fn taxii2client_and_stix2_write_path() {
    let data = attack_data_dir();
    if let Some(reason) = missing_attack_bundle(["ics-attack-18.1.json"]).or_else(|| python_missing(CLIENTS.0, CLIENTS.1)) {
        return skip_or_fail(&reason);
    }
    let Some(serve) = example_binary("serve") else {
        return skip_or_fail("the serve example is not built (run `cargo build --example serve`)");
    };

    let args = [
        "--listen",
        "127.0.0.1:0",
        "--accept-bundles",
        "--writable",
        &format!("{WRITABLE_ID}=Writable"),
    ];
    let server = ServerGuard::start(&serve, args, Duration::from_secs(60)).unwrap_or_else(|e| panic!("starting {}: {e}", serve.display()));

    run_python_check("check_write.py", &[server.url.as_ref(), data.as_os_str()], Duration::from_secs(300));
    drop(server);
}

/// taxii2client through bearer-token authentication: starts the `axum_bearer` example
/// (no bundle, so its three demo indicators) and runs `tests/python/check_bearer.py`,
/// which reads as alice and bob with a small `requests` `AuthBase` sending
/// `Authorization: Bearer <token>`, adds an object as alice, and is refused with 401
/// (`WWW-Authenticate: Bearer`) without a token or with a wrong one.
#[test]
fn taxii2client_through_bearer_auth() {
    if let Some(reason) = python_missing("taxii2client, requests", "taxii2-client") {
        return skip_or_fail(&reason);
    }
    let Some(example) = example_binary("axum_bearer") else {
        return skip_or_fail("the axum_bearer example is not built (run `cargo build --example axum_bearer`)");
    };
    let server = ServerGuard::start(&example, ["--listen", "127.0.0.1:0"], Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("starting {}: {e}", example.display()));

    run_python_check("check_bearer.py", &[server.url.as_ref()], Duration::from_secs(120));
    drop(server);
}
