//! zufang-openloop: fixed-rate HTTP/1.1 load that measures latency from each request's intended
//! send time (the wrk2 idea, without wrk2: Debian has none). Usage: `zufang-openloop --help`.

mod args;
mod report;

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

use args::Args;
use report::{Outcome, Record};

/// Request number SEQ is due at start + SEQ / rate.
struct Job {
    seq: u64,
    due: Instant,
}

struct Shared {
    args: Args,
    addr: std::net::SocketAddr,
    authority: String,
    /// Nothing is sent after this: what is still queued then counts as `late`.
    give_up: Instant,
}

async fn connect(s: &Shared) -> Result<SendRequest<Empty<Bytes>>, Outcome> {
    let stream = match tokio::time::timeout(s.args.timeout, TcpStream::connect(s.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(_)) => return Err(Outcome::Connect),
        Err(_) => return Err(Outcome::Timeout),
    };
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|_| Outcome::Io)?;
    tokio::spawn(async move {
        let _ = conn.await; // ends with the connection; errors surface on the request side
    });
    Ok(sender)
}

/// One request on SENDER (a fresh connection when None): the outcome, and whether the
/// connection may carry the next one.
async fn exchange(s: &Shared, sender: &mut Option<SendRequest<Empty<Bytes>>>, seq: u64) -> Outcome {
    let (auth, path) = &s.args.paths[(seq % s.args.paths.len() as u64) as usize];
    let mut req = hyper::Request::get(path.as_str()).header("host", &s.authority).header("accept", "application/json");
    if *auth {
        req = req.header("authorization", format!("Bearer {}", s.args.token.as_deref().unwrap_or("")));
    }
    if !s.args.keepalive {
        req = req.header("connection", "close");
    }
    let req = match req.body(Empty::new()) {
        Ok(r) => r,
        Err(_) => return Outcome::Io,
    };
    let work = async {
        if sender.as_ref().map_or(true, |c| c.is_closed()) {
            *sender = Some(connect(s).await?);
        }
        let conn = sender.as_mut().ok_or(Outcome::Io)?;
        conn.ready().await.map_err(|_| Outcome::Io)?;
        let resp = conn.send_request(req).await.map_err(|_| Outcome::Io)?;
        let status = resp.status().as_u16();
        resp.into_body().collect().await.map_err(|_| Outcome::Io)?;
        Ok::<_, Outcome>(Outcome::Status(status))
    };
    let outcome = match tokio::time::timeout(s.args.timeout, work).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => e,
        Err(_) => Outcome::Timeout,
    };
    if !s.args.keepalive || !matches!(outcome, Outcome::Status(_)) {
        *sender = None; // a failed or closed connection is never reused
    }
    outcome
}

/// One connection's loop: take the next due job (however late), answer it, record it.
async fn worker(s: Arc<Shared>, jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) -> Vec<Record> {
    let mut out = Vec::new();
    let mut sender = None;
    loop {
        let job = match jobs.lock().await.recv().await {
            Some(j) => j,
            None => return out,
        };
        let outcome = if Instant::now() > s.give_up { Outcome::Late } else { exchange(&s, &mut sender, job.seq).await };
        out.push(Record { seq: job.seq, due: job.due, latency: job.due.elapsed(), outcome });
    }
}

async fn run(args: Args) -> Result<i32, String> {
    let addr = tokio::net::lookup_host((args.host.as_str(), args.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", args.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", args.host))?;
    let authority = if args.port == 80 { args.host.clone() } else { format!("{}:{}", args.host, args.port) };
    let total = (args.rate * args.duration).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let wall_start = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?;
    let start = Instant::now() + Duration::from_millis(20); // the workers are ready by then
    let give_up = start + Duration::from_secs_f64(args.duration) + args.timeout;
    let connections = args.connections;
    let shared = Arc::new(Shared { args, addr, authority, give_up });

    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..connections).map(|_| tokio::spawn(worker(shared.clone(), rx.clone()))).collect();
    // Every job due by now is queued at once: the timer's millisecond grain must not thin out
    // high rates, and a late scheduler only makes the queued jobs older (their latency counts it).
    let mut seq = 0u64;
    while seq < total {
        let due = start + interval.mul_f64(seq as f64);
        tokio::time::sleep_until(due.into()).await;
        let now = Instant::now();
        while seq < total {
            let due = start + interval.mul_f64(seq as f64);
            if due > now {
                break;
            }
            tx.send(Job { seq, due }).map_err(|_| "the workers stopped early".to_string())?;
            seq += 1;
        }
    }
    drop(tx);
    let mut records = Vec::with_capacity(total as usize);
    for w in workers {
        records.extend(w.await.map_err(|e| format!("a worker failed: {e}"))?);
    }
    let elapsed = start.elapsed();
    if let Some(path) = &shared.args.log {
        report::write_log(path, &records, start, wall_start).map_err(|e| format!("--log {}: {e}", path.display()))?;
    }
    let summary = report::summary(&shared.args, &records, elapsed);
    println!("OPENLOOP_JSON {summary}");
    let answered = records.iter().any(|r| matches!(r.outcome, Outcome::Status(_)));
    Ok(if answered { 0 } else { 1 })
}

fn main() {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            // Not println!: `--help | head` closes the pipe early, which is no error.
            let _ = writeln!(std::io::stdout(), "{}", args::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("zufang-openloop: {e}");
            std::process::exit(2);
        }
    };
    // One thread: the generator shares the machine with what it measures; tokio's single thread
    // keeps thousands of requests a second in flight without a second core.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zufang-openloop: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("zufang-openloop: {e}");
            std::process::exit(1);
        }
    }
}
