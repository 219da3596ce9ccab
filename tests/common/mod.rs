//! Helpers shared by the integration tests that drive the `serve` example and
//! external clients. Use with `mod common;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A prerequisite is missing: print `skipping: ...` and let the caller return,
/// or panic when the `CI` environment variable is set (CI must run everything).
pub fn skip_or_fail(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this prerequisite is mandatory: {reason}");
    }
    eprintln!("skipping: {reason}");
}

/// `CARGO_MANIFEST_DIR/../shared/data/attack`, the MITRE ATT&CK bundles.
pub fn attack_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/attack")
}

/// `ATT&CK bundle PATH not found` for the first of these bundles (names in
/// [`attack_data_dir`]) that is not there, if any.
pub fn missing_attack_bundle<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let dir = attack_data_dir();
    names
        .into_iter()
        .find(|name| !dir.join(name).is_file())
        .map(|name| format!("ATT&CK bundle {} not found", dir.join(name).display()))
}

/// The six ICS ATT&CK releases in STIX 2.1, oldest first: one collection's history.
pub const ICS_RELEASES: [&str; 6] = [
    "ics-attack-8.0.json",
    "ics-attack-10.0.json",
    "ics-attack-12.0.json",
    "ics-attack-15.0.json",
    "ics-attack-17.1.json",
    "ics-attack-18.1.json",
];

/// The Mobile ATT&CK release the memory-backend tests and the Python checks load.
pub const MOBILE_17_1: &str = "mobile-attack-17.1.json";

/// What `tests/python/check_attack.py` expects the server to have loaded, in this
/// order: the ICS releases oldest first, then Mobile.
pub fn python_attack_bundles() -> impl Iterator<Item = &'static str> {
    ICS_RELEASES.into_iter().chain([MOBILE_17_1])
}

/// The build profile directory of this test binary: the test runs as
/// `target/<profile>/deps/NAME-HASH`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a parent directory");
    deps.parent().expect("deps has a parent directory").to_path_buf()
}

/// Path of a built example (`target/<profile>/examples/NAME`), if it exists.
/// `cargo test` builds the examples; `cargo test --test X` alone does not.
pub fn example_binary(name: &str) -> Option<PathBuf> {
    build_example(name);
    let path = profile_dir()
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    path.is_file().then_some(path)
}

/// Builds the example with this test's features and profile, so that running one
/// test target alone (`cargo test --test python_clients`) never drives a stale
/// binary; a no-op when it is up to date.
fn build_example(name: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Keep in step with [features] in Cargo.toml.
    let features: Vec<&str> = [
        ("memory", cfg!(feature = "memory")),
        ("tracing", cfg!(feature = "tracing")),
        ("postgres", cfg!(feature = "postgres")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "--no-default-features",
            "--features",
            &features.join(","),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir().file_name().is_some_and(|p| p == "release") {
        command.arg("--release");
    }
    match command.status() {
        Ok(status) if status.success() => {}
        other => eprintln!("warning: building example {name} failed ({other:?}); using what is there"),
    }
}

/// True when `python3 -c CODE` runs and exits successfully.
pub fn python3_runs(code: &str) -> bool {
    Command::new("python3")
        .args(["-c", code])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Why the Python checks cannot run, if they cannot: no python3, or
/// `import MODULES` fails (`pip` names the packages to install).
pub fn python_missing(modules: &str, pip: &str) -> Option<String> {
    if !python3_runs("pass") {
        return Some("python3 is not available".to_owned());
    }
    if !python3_runs(&format!("import {modules}")) {
        return Some(format!("python3 cannot import {modules} (pip install {pip})"));
    }
    None
}

/// Runs `tests/python/SCRIPT ARGS...` with python3 within `timeout`, shows its output,
/// and fails the test (with the output) when the script fails.
pub fn run_python_check(script: &str, args: &[&std::ffi::OsStr], timeout: Duration) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
    let out = run_with_timeout(Command::new("python3").arg(&path).args(args), timeout).unwrap_or_else(|e| panic!("{e}"));
    println!("{}", out.stdout);
    eprintln!("{}", out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
}

/// A running server process, killed when dropped.
pub struct ServerGuard {
    child: Child,
    /// Base URL from the `listening on URL` line, e.g. `http://127.0.0.1:41234`.
    pub url: String,
}

impl ServerGuard {
    /// The server's process id (to sample its memory in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `bin args...` (the args should include `--listen 127.0.0.1:0`) and
    /// waits up to `timeout` for its `listening on URL` line on stdout. Stderr
    /// is inherited; the rest of stdout is drained in the background.
    pub fn start<I, S>(bin: &Path, args: I, timeout: Duration) -> Result<ServerGuard, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep the pipe drained so the server never blocks on stdout.
            for line in lines.map_while(Result::ok) {
                println!("[server] {line}");
            }
        });
        // Build the guard first so that every error path below kills the child.
        let mut guard = ServerGuard { child, url: String::new() };
        let line = match rx.recv_timeout(timeout) {
            Ok(Some(Ok(line))) => line,
            Ok(Some(Err(e))) => return Err(format!("reading server stdout: {e}")),
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = guard.child.try_wait().ok().flatten();
                return Err(format!("server closed stdout before listening (exit: {status:?})"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!("no `listening on` line within {timeout:?}"));
            }
        };
        let url = line
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first stdout line: {line:?}"))?;
        guard.url = url.trim().to_string();
        Ok(guard)
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Output of a finished child process.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with piped output; kills it and returns Err after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Finished, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| format!("waiting for {cmd:?}: {e}"))? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{cmd:?} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    stdout.join().unwrap_or_default(),
                    stderr.join().unwrap_or_default()
                ));
            }
            None => thread::sleep(Duration::from_millis(50)),
        }
    };
    Ok(Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn drain<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// What the built-in backends answer when objects are added to a collection they do
/// not have (one removed after the service looked it up): every object a failure with
/// its id, its version and `the collection no longer exists`, the status settled.
/// Returns that status.
pub async fn assert_adding_to_a_missing_collection_fails(backend: &dyn tower_taxii::StorageBackend, api_root: &str) -> tower_taxii::Status {
    use tower_taxii::{ObjectVersion, Principal, Status, StatusState, Timestamp};
    let now = Timestamp::now();
    let objects: Vec<ObjectVersion> = ["2021-01-01T00:00:00.000Z", "2022-01-01T00:00:00.000Z"]
        .into_iter()
        .map(|modified| {
            let json = format!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000001-0000-4000-8000-000000000001","created":"2020-01-01T00:00:00.000Z","modified":"{modified}","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}}"#
            );
            ObjectVersion::parse(json.into(), now).expect("a valid object")
        })
        .collect();
    let status = Status::new("6f1c1a0e-2b3d-4c5e-8f60-7a8b9c0d1e2f", now, 2, "gone");
    let anonymous = Principal::anonymous();
    let answered = backend
        .add_objects(api_root, "gone", objects, status, &anonymous)
        .await
        .expect("add_objects answers");
    let failures: Vec<_> = answered
        .failures
        .iter()
        .map(|d| (d.id.as_str(), d.version.as_str(), d.message.as_deref()))
        .collect();
    let gone = Some("the collection no longer exists");
    let id = "indicator--00000001-0000-4000-8000-000000000001";
    assert_eq!(
        failures,
        [(id, "2021-01-01T00:00:00.000Z", gone), (id, "2022-01-01T00:00:00.000Z", gone)]
    );
    assert!(answered.successes.is_empty() && answered.pendings.is_empty(), "{answered:?}");
    assert_eq!(
        (answered.status, answered.failure_count, answered.success_count),
        (StatusState::Complete, 2, 0)
    );
    answered
}
