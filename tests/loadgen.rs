//! A load generator for the local host. It starts `cloudapps-local` (built next to it) on a
//! fresh data directory, then drives one scenario at a time over keep-alive HTTP/1.1
//! connections on loopback for a bounded time and request count, and prints throughput and
//! latency percentiles.
//!
//! `cargo build --release -p cloudapps-local -p cloudapps-tests && target/release/loadgen`

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use cloudapps::auth::{AppClaims, now, sign_app_jwt};
use cloudapps_tests::LocalHost;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

#[derive(Parser, Debug)]
#[command(about = "Load the local host and report requests/s and latency percentiles")]
struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds per scenario (at most 60).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Stop a scenario after this many requests, whatever the time.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Client worker threads (the rest of the machine is the server's).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Clone)]
struct Scenario {
    name: &'static str,
    path: String,
    content_type: &'static str,
    auth: Option<String>,
    body: Bytes,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start_quiet(dir.path(), &[]);
    let secret = host
        .printed("JWT secret:")
        .expect("JWT secret in the setup block");
    let token = host
        .printed("command token:")
        .expect("command token in the setup block");
    let addr = host.url.trim_start_matches("http://").to_owned();
    let jwt = sign_app_jwt(
        &AppClaims {
            exp: now() + 3600,
            acting_user_id: "u1000000000000000000000000".into(),
        },
        &secret,
    );
    let call = r#"{"path":"/send","expand":{"acting_user":"summary"},"values":{"message":"hello there"},"context":{"app_id":"","mattermost_site_url":"http://localhost:8065","app_path":"/plugins/com.mattermost.apps/apps/hello","bot_user_id":"b1","acting_user":{"id":"u1000000000000000000000000","username":"alice"},"oauth2":{}}}"#;
    let slash = format!(
        "token={token}&command=%2Fhello&text=send+hello+there+--shout&user_id=u1&user_name=alice&channel_id=c1&team_id=t1"
    );
    let scenarios = [
        Scenario {
            name: "apps call (JWT, JSON)",
            path: "/t/local/apps/hello/send".into(),
            content_type: "application/json",
            auth: Some(format!("Bearer {jwt}")),
            body: Bytes::from_static(call.as_bytes()),
        },
        Scenario {
            name: "slash command (token, form)",
            path: "/t/local/apps/hello/v1/command".into(),
            content_type: "application/x-www-form-urlencoded",
            auth: None,
            body: Bytes::from(slash),
        },
    ];
    println!(
        "local host {} · {} connections · {} client thread(s) · {} s per scenario",
        host.url,
        args.connections,
        args.threads,
        args.seconds.min(60)
    );
    for s in scenarios {
        rt.block_on(run(
            &addr,
            &s,
            args.connections,
            Duration::from_secs(1),
            u64::MAX,
        )); // warm-up
        let (hist, errors, elapsed) = rt.block_on(run(
            &addr,
            &s,
            args.connections,
            Duration::from_secs(args.seconds.min(60)),
            args.max_requests,
        ));
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<28} {:>9} req in {:>5.2} s = {:>8.0} req/s · p50 {:>7.1} µs · p99 {:>7.1} µs · p99.9 {:>8.1} µs · max {:>8.1} µs · errors {}",
            s.name,
            hist.len(),
            elapsed.as_secs_f64(),
            hist.len() as f64 / elapsed.as_secs_f64(),
            us(0.5),
            us(0.99),
            us(0.999),
            hist.max() as f64 / 1000.0,
            errors
        );
    }
    host.stop();
}

/// Runs `connections` clients until `duration` passes or `max` requests were made.
async fn run(
    addr: &str,
    s: &Scenario,
    connections: usize,
    duration: Duration,
    max: u64,
) -> (Histogram<u64>, u64, Duration) {
    let start = Instant::now();
    let deadline = start + duration;
    let per_conn = (max / connections as u64).max(1);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, s) = (addr.to_owned(), s.clone());
            tokio::spawn(async move { client(&addr, &s, deadline, per_conn).await })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await.unwrap();
        hist.add(h).unwrap();
        errors += e;
    }
    (hist, errors, start.elapsed())
}

async fn client(addr: &str, s: &Scenario, deadline: Instant, max: u64) -> (Histogram<u64>, u64) {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut errors = 0;
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the local host");
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    let mut sent = 0;
    while sent < max && Instant::now() < deadline {
        let mut req = Request::post(&s.path)
            .header("host", addr)
            .header("content-type", s.content_type);
        if let Some(auth) = &s.auth {
            req = req.header("mattermost-app-authorization", auth);
        }
        let req = req.body(Full::new(s.body.clone())).unwrap();
        let t = Instant::now();
        match sender.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status() == 200;
                let body = resp.into_body().collect().await;
                hist.record(t.elapsed().as_nanos() as u64).unwrap();
                if !ok || body.is_err() {
                    errors += 1;
                }
            }
            Err(_) => {
                errors += 1;
                break;
            }
        }
        sent += 1;
    }
    (hist, errors)
}
