//! Load harness: our server against the physical limit of this machine.
//!
//! Run it with `bash benches/run` (see `benches/README.md`). By hand:
//!
//! ```text
//! cargo build --release --example serve
//! cargo bench --bench load -- --serve target/release/examples/serve --bundle ../shared/data/attack/enterprise-attack-18.1-stix20.json
//! ```
//!
//! What it does, all on 127.0.0.1:
//! 1. starts the `serve` example on the bundle (`--listen 127.0.0.1:0`), notes its load
//!    time and its resident memory once it listens;
//! 2. asks it each case once and records the exact responses (for the walk: every page,
//!    following `next`);
//! 3. starts a second copy of this binary as the *limit*: a plain hyper HTTP/1.1 server
//!    that answers each recorded request with the recorded status, headers and body,
//!    prepared in advance (nothing computed per request but a map look-up);
//! 4. for each case, drives our server and then the limit with the same client (one
//!    thread, N keep-alive connections, each sending its next request as soon as the
//!    previous response is read whole), for the same warm-up and duration, checking
//!    that every response has the recorded status and length;
//! 5. prints requests per second and p50/p99 latency for both, and their ratio.
//!
//! Every loop is bounded in time and in count, both servers are stopped at the end
//! (and the children exit on their own if this process dies: they watch their stdin).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

const ACCEPT: &str = "application/taxii+json;version=2.1";
const API_ROOT: &str = "/api/v21";
/// The most requests (or walks) one case may send, whatever the duration.
const MAX_REQUESTS_PER_CASE: usize = 5_000_000;

struct Options {
    serve: Option<PathBuf>,
    bundle: Option<PathBuf>,
    target: Option<SocketAddr>,
    replay: Option<PathBuf>,
    duration: Duration,
    warmup: Duration,
    connections: usize,
    walk_limit: usize,
    only: Option<String>,
    /// Each server's time per case is split into this many turns, alternating.
    rounds: u32,
    /// Turns too short to judge the targets by.
    smoke: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        serve: None,
        bundle: None,
        target: None,
        replay: None,
        duration: Duration::from_secs(4),
        warmup: Duration::from_millis(300),
        connections: 4,
        walk_limit: 1000,
        only: None,
        rounds: 3,
        smoke: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let secs = |name: &str, v: String| match v.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!("{name}: {v:?} is not a number of seconds")),
        };
        let count = |name: &str, v: String, range: std::ops::RangeInclusive<usize>| match v.parse::<usize>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!(
                "{name}: {v:?} is not a whole number from {} to {}",
                range.start(),
                range.end()
            )),
        };
        match arg.as_str() {
            "--serve" => o.serve = Some(value("--serve")?.into()),
            "--bundle" => o.bundle = Some(value("--bundle")?.into()),
            "--target" => o.target = Some(value("--target")?.parse().map_err(|e| format!("--target: {e}"))?),
            "--replay" => o.replay = Some(value("--replay")?.into()),
            "--duration" => o.duration = secs("--duration", value("--duration")?)?,
            "--warmup" => o.warmup = secs("--warmup", value("--warmup")?)?,
            "--connections" => o.connections = count("--connections", value("--connections")?, 1..=256)?,
            "--walk-limit" => o.walk_limit = count("--walk-limit", value("--walk-limit")?, 1..=1_000_000)?,
            "--only" => o.only = Some(value("--only")?),
            "--rounds" => o.rounds = count("--rounds", value("--rounds")?, 1..=100)? as u32,
            "--smoke" => {
                o.duration = Duration::from_millis(200);
                o.warmup = Duration::from_millis(50);
                o.rounds = 1;
                o.smoke = true;
            }
            // `cargo bench` passes --bench to every bench target.
            "--bench" => {}
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

const USAGE: &str = "usage: load (--serve PATH --bundle FILE | --target ADDR) [--duration SECS] [--warmup SECS] [--rounds N] \
[--connections N] [--walk-limit N] [--only TEXT] [--smoke]
  --serve PATH --bundle FILE  start the serve example at PATH on FILE (what `bash benches/run` does)
  --target ADDR               measure a server already listening at ADDR instead
  --duration SECS             each server's time per case, split into --rounds turns (default 4)
  --warmup SECS               unmeasured time before each turn (default 0.3)
  --rounds N                  turns per case and server, alternating (default 3)
  --connections N             keep-alive connections, 1 to 256 (default 4)
  --walk-limit N              page size of the walk case (default 1000)
  --only TEXT                 only the cases whose name contains TEXT
  --smoke                     a fraction of a second per case, to check that everything runs (no verdict on the targets)
A full run exits with 1 when a target is missed.";

/// A recorded response: what the limit server answers.
#[derive(Clone)]
struct Recorded {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// One request, one response.
    Single,
    /// Follow `next` from the first page to the last: one "request" is a whole walk.
    Walk,
}

struct Case {
    name: &'static str,
    target: Option<f64>,
    kind: Kind,
    uri: String,
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("load: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(file) = &options.replay {
        return replay_main(file);
    }
    if options.serve.is_none() && options.target.is_none() {
        println!("load: nothing to measure without --serve/--bundle or --target; run `bash benches/run`");
        return ExitCode::SUCCESS;
    }
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `listening on http://ADDR` from a child's stdout.
fn listening_addr(child: &mut Child) -> Result<SocketAddr, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .next()
        .ok_or("the server exited before listening")?
        .map_err(|e| e.to_string())?;
    let addr = line
        .strip_prefix("listening on http://")
        .ok_or_else(|| format!("unexpected first line {line:?}"))?;
    // Keep draining stdout so that the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    addr.trim().parse().map_err(|e| format!("{addr}: {e}"))
}

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

fn run(options: &Options) -> Result<bool, String> {
    let mut serve_guard = None;
    let addr = match (&options.target, &options.serve) {
        (Some(addr), _) => *addr,
        (None, Some(serve)) => {
            let bundle = options.bundle.as_ref().ok_or("--serve needs --bundle")?;
            let started = Instant::now();
            // serve stops when the pipe to its stdin closes: when this process ends,
            // however it ends.
            let mut child = Command::new(serve)
                .args(["--listen", "127.0.0.1:0", "--stop-on-stdin-eof"])
                .arg(bundle)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("{}: {e}", serve.display()))?;
            let stderr = child.stderr.take().ok_or("no stderr")?;
            let log = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = BufReader::new(stderr).read_to_string(&mut text);
                text
            });
            let guard = Guard(child);
            serve_guard = Some((guard, log));
            let child = &mut serve_guard.as_mut().map(|(g, _)| g).ok_or("no child")?.0;
            let addr = listening_addr(child)?;
            let ready = started.elapsed();
            let pid = child.id();
            // Let the allocator settle a moment after the load.
            std::thread::sleep(Duration::from_millis(200));
            let rss = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
            let hwm = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
            let size = std::fs::metadata(bundle).map(|m| m.len()).unwrap_or(1);
            println!("## serve on {}", bundle.display());
            println!(
                "bundle {:.1} MB; ready to serve after {} ms; VmRSS {:.1} MB ({:.2}x the bundle; the target, for the Enterprise bundle: at most 2.5x), VmHWM {:.1} MB ({:.2}x)",
                size as f64 / 1e6,
                ready.as_millis(),
                rss as f64 * 1024.0 / 1e6,
                rss as f64 * 1024.0 / size as f64,
                hwm as f64 * 1024.0 / 1e6,
                hwm as f64 * 1024.0 / size as f64,
            );
            addr
        }
        (None, None) => unreachable!(),
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime.block_on(measure(options, addr));
    if let Some((guard, log)) = serve_guard {
        drop(guard);
        if let Ok(text) = log.join() {
            for line in text.lines().filter(|l| l.starts_with("loaded")) {
                println!("serve: {line}");
            }
        }
    }
    result
}

async fn measure(options: &Options, ours: SocketAddr) -> Result<bool, String> {
    // Which collection and object to ask for.
    let collections = fetch(ours, &format!("{API_ROOT}/collections/")).await?;
    let value: serde_json::Value = serde_json::from_slice(&collections.body).map_err(|e| e.to_string())?;
    let collection = value["collections"][0]["id"]
        .as_str()
        .ok_or("our server lists no collection")?
        .to_owned();
    let objects = format!("{API_ROOT}/collections/{collection}/objects/");
    let one = fetch(ours, &format!("{objects}?match%5Btype%5D=attack-pattern&limit=1")).await?;
    let value: serde_json::Value = serde_json::from_slice(&one.body).map_err(|e| e.to_string())?;
    let object = match value["objects"][0]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => {
            let any = fetch(ours, &format!("{objects}?limit=1")).await?;
            let value: serde_json::Value = serde_json::from_slice(&any.body).map_err(|e| e.to_string())?;
            value["objects"][0]["id"].as_str().ok_or("the collection is empty")?.to_owned()
        }
    };
    let cases = [
        Case {
            name: "discovery",
            target: Some(0.7),
            kind: Kind::Single,
            uri: "/taxii2/".into(),
        },
        Case {
            name: "collections",
            target: Some(0.7),
            kind: Kind::Single,
            uri: format!("{API_ROOT}/collections/"),
        },
        Case {
            name: "objects limit=100",
            target: Some(0.5),
            kind: Kind::Single,
            uri: format!("{objects}?limit=100"),
        },
        Case {
            name: "objects limit=1000",
            target: Some(0.5),
            kind: Kind::Single,
            uri: format!("{objects}?limit=1000"),
        },
        Case {
            name: "objects match[type]=attack-pattern",
            target: Some(0.5),
            kind: Kind::Single,
            uri: format!("{objects}?match%5Btype%5D=attack-pattern"),
        },
        Case {
            name: "manifest limit=1000",
            target: Some(0.5),
            kind: Kind::Single,
            uri: format!("{API_ROOT}/collections/{collection}/manifest/?limit=1000"),
        },
        Case {
            name: "object by id",
            target: Some(0.7),
            kind: Kind::Single,
            uri: format!("{objects}{object}/"),
        },
        Case {
            name: "versions",
            target: None,
            kind: Kind::Single,
            uri: format!("{objects}{object}/versions/"),
        },
        Case {
            name: "walk (next)",
            target: Some(0.5),
            kind: Kind::Walk,
            uri: format!("{objects}?limit={}", options.walk_limit),
        },
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| options.only.as_ref().is_none_or(|only| c.name.contains(only.as_str())))
        .collect();
    if cases.is_empty() {
        return Err(format!("--only: no case's name contains that; the cases: {}", names.join(", ")));
    }

    // Record every response the cases will ask for.
    let mut recorded: HashMap<String, Recorded> = HashMap::new();
    let mut expected: Vec<Vec<(String, usize)>> = Vec::new();
    for case in &cases {
        let mut uri = case.uri.clone();
        let mut chain = Vec::new();
        loop {
            let response = fetch(ours, &uri).await?;
            if response.status != StatusCode::OK {
                return Err(format!("{uri}: {} {}", response.status, String::from_utf8_lossy(&response.body)));
            }
            chain.push((uri.clone(), response.body.len()));
            let next = next_of(&response.body);
            recorded.insert(uri.clone(), response);
            match (case.kind, next) {
                (Kind::Walk, Some(next)) => {
                    uri = format!("{}&next={next}", case.uri);
                    if chain.len() > 100_000 {
                        return Err("the walk does not end".into());
                    }
                }
                _ => break,
            }
        }
        expected.push(chain);
    }

    // The limit: a plain hyper server replaying the recorded responses.
    let file = std::env::temp_dir().join(format!("tower-taxii-load-{}.bin", std::process::id()));
    write_replay(&file, &recorded).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut limit = Guard(
        Command::new(exe)
            .arg("--replay")
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?,
    );
    let limit_addr = listening_addr(&mut limit.0);
    let _ = std::fs::remove_file(&file);
    let limit_addr = limit_addr?;

    println!(
        "## {} connection(s), one client thread; per case and server {:.1} s measured in {} turn(s) (alternating), each after {:.2} s of warm-up; walk pages of {}{}",
        options.connections,
        options.duration.as_secs_f64(),
        options.rounds,
        options.warmup.as_secs_f64(),
        options.walk_limit,
        if options.smoke {
            "; a smoke run: no verdict on the targets"
        } else {
            ""
        }
    );
    println!();
    println!("| case | bytes | ours req/s | limit req/s | ratio | target | ours p50 / p99 ms | limit p50 / p99 ms |");
    println!("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |");
    let mut all_good = true;
    let mut missed = Vec::new();
    for (case, chain) in cases.iter().zip(&expected) {
        // Alternate the two servers in a few rounds, so that a slow moment of the
        // machine does not fall on one side only.
        let (mut ours_stats, mut limit_stats) = (Stats::default(), Stats::default());
        for _ in 0..options.rounds {
            ours_stats.add(drive(ours, case, chain, options).await);
            limit_stats.add(drive(limit_addr, case, chain, options).await);
        }
        let ratio = ours_stats.rps() / limit_stats.rps().max(f64::MIN_POSITIVE);
        let verdict = match case.target {
            Some(t) if options.smoke => format!("≥ {t} (not judged)"),
            Some(t) if ratio >= t => format!("≥ {t} met"),
            Some(t) => {
                missed.push(case.name);
                format!("≥ {t} **missed**")
            }
            None => "–".into(),
        };
        let bytes: usize = chain.iter().map(|(_, n)| n).sum();
        let bytes = match case.kind {
            Kind::Single => format!("{bytes}"),
            Kind::Walk => format!("{bytes} in {} pages", chain.len()),
        };
        println!(
            "| {} | {bytes} | {:.0} | {:.0} | {ratio:.2} | {verdict} | {} | {} |",
            case.name,
            ours_stats.rps(),
            limit_stats.rps(),
            ours_stats.percentiles(),
            limit_stats.percentiles()
        );
        for (who, stats) in [("ours", &ours_stats), ("limit", &limit_stats)] {
            if stats.errors > 0 || stats.count == 0 {
                all_good = false;
                eprintln!(
                    "load: {}: {who}: {} errors, {} requests: {}",
                    case.name,
                    stats.errors,
                    stats.count,
                    stats.first_error.as_deref().unwrap_or("no request completed")
                );
            }
        }
    }
    println!();
    if options.smoke {
        println!("smoke run: every case answered as recorded; too short to judge the targets");
    } else if missed.is_empty() {
        println!("every target met");
    } else {
        println!("targets missed: {}", missed.join(", "));
    }
    drop(limit);
    Ok(all_good && missed.is_empty())
}

/// The `next` value at the start of an envelope (`{"more":true,"next":"…",…`).
fn next_of(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(256)];
    let at = head.windows(8).position(|w| w == b"\"next\":\"")? + 8;
    let end = head[at..].iter().position(|&b| b == b'"')?;
    Some(String::from_utf8_lossy(&head[at..at + end]).into_owned())
}

fn request(addr: SocketAddr, uri: &Uri) -> Request<Empty<Bytes>> {
    let mut request = Request::new(Empty::new());
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(
        header::HOST,
        HeaderValue::from_str(&addr.to_string()).expect("an address is a header value"),
    );
    headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
    request
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One request on a fresh connection, recorded whole.
async fn fetch(addr: SocketAddr, uri: &str) -> Result<Recorded, String> {
    let mut sender = connect(addr).await?;
    let uri: Uri = uri.parse().map_err(|e| format!("{uri}: {e}"))?;
    let response = sender.send_request(request(addr, &uri)).await.map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let mut headers = parts.headers;
    for name in [header::DATE, header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION] {
        headers.remove(name);
    }
    Ok(Recorded {
        status: parts.status,
        headers,
        body,
    })
}

#[derive(Default)]
struct Stats {
    count: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    micros: Vec<u32>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentiles(&self) -> String {
        if self.micros.is_empty() {
            return "–".into();
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        format!("{:.2} / {:.2}", at(0.5), at(0.99))
    }

    fn add(&mut self, other: Stats) {
        self.count += other.count;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.micros.extend(other.micros);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }
}

/// Drives one server with one case: `connections` keep-alive connections, each
/// sending its next request as soon as the previous response is read whole.
async fn drive(addr: SocketAddr, case: &Case, chain: &[(String, usize)], options: &Options) -> Stats {
    let chain: Arc<Vec<(Uri, usize)>> = Arc::new(
        chain
            .iter()
            .map(|(uri, len)| (uri.parse().expect("recorded URIs parse"), *len))
            .collect(),
    );
    let start = Instant::now();
    let turn = options.duration / options.rounds;
    let measure_from = start + options.warmup;
    let end = measure_from + turn;
    let per_connection = MAX_REQUESTS_PER_CASE / options.connections;
    let kind = case.kind;
    let tasks: Vec<_> = (0..options.connections)
        .map(|_| {
            let chain = Arc::clone(&chain);
            tokio::spawn(async move {
                let mut stats = Stats::default();
                let mut sender = match connect(addr).await {
                    Ok(s) => s,
                    Err(e) => {
                        stats.error(e);
                        return stats;
                    }
                };
                while stats.count < per_connection {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let outcome = match kind {
                        Kind::Single => one(&mut sender, addr, &chain[0].0, chain[0].1).await.map(|_| ()),
                        Kind::Walk => walk(&mut sender, addr, &chain).await,
                    };
                    let done = Instant::now();
                    match outcome {
                        Err(e) => {
                            stats.error(e);
                            // A broken connection: open another one, within the time.
                            if sender.is_closed() {
                                match connect(addr).await {
                                    Ok(s) => sender = s,
                                    Err(_) => break,
                                }
                            }
                        }
                        Ok(()) if began >= measure_from && done <= end => {
                            stats.count += 1;
                            stats.micros.push((done - began).as_micros().min(u32::MAX as u128) as u32);
                        }
                        Ok(()) => {}
                    }
                }
                stats
            })
        })
        .collect();
    let mut total = Stats {
        elapsed: turn,
        ..Stats::default()
    };
    for task in tasks {
        if let Ok(stats) = task.await {
            total.count += stats.count;
            total.errors += stats.errors;
            if total.first_error.is_none() {
                total.first_error = stats.first_error;
            }
            total.micros.extend(stats.micros);
        }
    }
    total
}

/// Sends one request, reads the body through, checks status and length; returns
/// the `next` value when the caller wants it.
async fn one(sender: &mut Sender, addr: SocketAddr, uri: &Uri, expected_len: usize) -> Result<Option<String>, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender.send_request(request(addr, uri)).await.map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("{uri}: status {}", response.status()));
    }
    let mut body = response.into_body();
    let mut len = 0;
    let mut head = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            if head.len() < 256 {
                head.extend_from_slice(&data[..data.len().min(256 - head.len())]);
            }
            len += data.len();
        }
    }
    if len != expected_len {
        return Err(format!("{uri}: {len} bytes, recorded {expected_len}"));
    }
    Ok(next_of(&head))
}

async fn walk(sender: &mut Sender, addr: SocketAddr, chain: &[(Uri, usize)]) -> Result<(), String> {
    for (i, (uri, len)) in chain.iter().enumerate() {
        let next = one(sender, addr, uri, *len).await?;
        if next.is_some() != (i + 1 < chain.len()) {
            return Err(format!("{uri}: the walk's pages changed"));
        }
    }
    Ok(())
}

// ---- The limit server -------------------------------------------------------------

fn write_replay(path: &std::path::Path, recorded: &HashMap<String, Recorded>) -> std::io::Result<()> {
    fn put(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        out.write_all(&(bytes.len() as u64).to_le_bytes())?;
        out.write_all(bytes)
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    put(&mut out, &(recorded.len() as u64).to_le_bytes())?;
    for (uri, r) in recorded {
        put(&mut out, uri.as_bytes())?;
        put(&mut out, &r.status.as_u16().to_le_bytes())?;
        put(&mut out, &(r.headers.len() as u64).to_le_bytes())?;
        for (name, value) in &r.headers {
            put(&mut out, name.as_str().as_bytes())?;
            put(&mut out, value.as_bytes())?;
        }
        put(&mut out, &r.body)?;
    }
    out.flush()
}

fn read_replay(path: &std::path::Path) -> Result<HashMap<String, Recorded>, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let data = Bytes::from(data);
    let mut at = 0usize;
    let mut take = || -> Result<Bytes, String> {
        let len = data.get(at..at + 8).ok_or("truncated")?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| "truncated")?) as usize;
        let bytes = data.get(at + 8..at + 8 + len).ok_or("truncated")?;
        let bytes = data.slice_ref(bytes);
        at += 8 + len;
        Ok(bytes)
    };
    let number = |b: Bytes| -> Result<u64, String> { Ok(u64::from_le_bytes(b[..].try_into().map_err(|_| "bad number")?)) };
    let count = number(take()?)?;
    let mut map = HashMap::new();
    for _ in 0..count {
        let uri = String::from_utf8(take()?.to_vec()).map_err(|e| e.to_string())?;
        let status = take()?;
        let status =
            StatusCode::from_u16(u16::from_le_bytes(status[..].try_into().map_err(|_| "bad status")?)).map_err(|e| e.to_string())?;
        let headers_len = number(take()?)?;
        let mut headers = HeaderMap::new();
        for _ in 0..headers_len {
            let name = HeaderName::from_bytes(&take()?).map_err(|e| e.to_string())?;
            let value = HeaderValue::from_maybe_shared(take()?).map_err(|e| e.to_string())?;
            headers.append(name, value);
        }
        let body = take()?;
        map.insert(uri, Recorded { status, headers, body });
    }
    Ok(map)
}

/// Runs the limit server until its stdin closes.
fn replay_main(file: &std::path::Path) -> ExitCode {
    let map = match read_replay(file) {
        Ok(map) => Arc::new(map),
        Err(e) => {
            eprintln!("load --replay: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The same runtime as the `serve` example's `#[tokio::main]`: one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        println!("listening on http://{}", listener.local_addr().expect("an address"));
        // Stop when the parent goes away (it holds our stdin).
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = [0u8; 64];
            while std::io::stdin().read(&mut sink).is_ok_and(|n| n > 0) {}
        });
        let accept = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                // As `serve` does: both sides of the comparison send the same way.
                let _ = stream.set_nodelay(true);
                let map = Arc::clone(&map);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let found = request.uri().path_and_query().and_then(|p| map.get(p.as_str()));
                        let response = match found {
                            Some(r) => {
                                let mut response = Response::new(Full::new(r.body.clone()));
                                *response.status_mut() = r.status;
                                *response.headers_mut() = r.headers.clone();
                                response
                            }
                            None => {
                                let mut response = Response::new(Full::new(Bytes::from_static(b"not recorded")));
                                *response.status_mut() = StatusCode::NOT_FOUND;
                                response
                            }
                        };
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        tokio::select! {
            _ = stdin_closed => {}
            _ = accept => {}
        }
    });
    runtime.shutdown_background();
    ExitCode::SUCCESS
}
