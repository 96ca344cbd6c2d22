//! A load generator for the local host. It starts `cloudapps-local` (built next to it) on a
//! fresh data directory, then drives one scenario at a time over keep-alive HTTP/1.1
//! connections on loopback for a bounded time and request count, and prints throughput and
//! latency percentiles: the command path (an Apps call, a slash command), the marketplace
//! (listing the catalog, installing an app for a fresh tenant), and events: ingest (time to
//! acknowledge, with fan-out paused so the queue fills) and then fan-out throughput (the host
//! restarted on the same data directory delivers the queued events to external apps that
//! subscribe, served on loopback by this process).
//!
//! `cargo build --release -p cloudapps-local -p cloudapps-tests && target/release/loadgen`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use cloudapps::auth::{AppClaims, now, sign_app_jwt};
use cloudapps_tests::LocalHost;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
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
    /// Tenants registered up front for the install scenario (one install each).
    #[arg(long, default_value_t = 2000)]
    tenants: u64,
    /// Client worker threads (the rest of the machine is the server's).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Which scenarios: `all`, `commands` (calls and marketplace) or `events`.
    #[arg(long, default_value = "all")]
    scenarios: String,
    /// Events ingested (at most) for the fan-out measurement.
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// External apps subscribed to every event.
    #[arg(long, default_value_t = 5)]
    subscribers: u64,
}

#[derive(Clone)]
struct Scenario {
    name: &'static str,
    method: Method,
    /// Taken in turn by all connections; a scenario whose requests must not repeat stops at the
    /// end of the list.
    paths: Arc<Vec<String>>,
    repeat: bool,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    expect: u16,
}

const OPERATOR: &str = "loadgen-operator";

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .unwrap();
    if args.scenarios != "events" {
        commands(&args, &rt);
    }
    if args.scenarios != "commands" {
        events(&args, &rt);
    }
}

fn commands(args: &Args, rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start_quiet(dir.path(), &["--operator-token", OPERATOR]);
    let secret = host
        .printed("JWT secret:")
        .expect("JWT secret in the setup block");
    let token = host
        .printed("command token:")
        .expect("command token in the setup block");
    let admin = host
        .printed("tenant admin token:")
        .expect("admin token in the setup block");
    let addr = host.url.trim_start_matches("http://").to_owned();
    let jwt = sign_app_jwt(
        &AppClaims {
            exp: now() + 3600,
            acting_user_id: "u1000000000000000000000000".into(),
            ..Default::default()
        },
        &secret,
    );
    let call = r#"{"path":"/send","expand":{"acting_user":"summary"},"values":{"message":"hello there"},"context":{"app_id":"","mattermost_site_url":"http://localhost:8065","app_path":"/plugins/com.mattermost.apps/apps/hello","bot_user_id":"b1","acting_user":{"id":"u1000000000000000000000000","username":"alice"},"oauth2":{}}}"#;
    let slash = format!(
        "token={token}&command=%2Fhello&text=send+hello+there+--shout&user_id=u1&user_name=alice&channel_id=c1&team_id=t1"
    );
    let one = |p: &str| Arc::new(vec![p.to_owned()]);
    let json = ("content-type", "application/json".to_owned());

    // Tenants for the install scenario, each with its own admin token.
    let tenants: Vec<(String, String)> = rt.block_on(register_tenants(&addr, args.tenants));
    let consent = r#"{"version":"v1.0.0","consent":{"permissions":["act_as_bot"],"locations":["/command","/post_menu"]}}"#;

    let scenarios = [
        Scenario {
            name: "apps call (JWT, JSON)",
            method: Method::POST,
            paths: one("/t/local/apps/hello/send"),
            repeat: true,
            headers: vec![
                json.clone(),
                ("mattermost-app-authorization", format!("Bearer {jwt}")),
            ],
            body: Bytes::from_static(call.as_bytes()),
            expect: 200,
        },
        Scenario {
            name: "slash command (token, form)",
            method: Method::POST,
            paths: one("/t/local/apps/hello/v1/command"),
            repeat: true,
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            body: Bytes::from(slash),
            expect: 200,
        },
        Scenario {
            name: "marketplace list",
            method: Method::GET,
            paths: one("/marketplace/t/local/apps"),
            repeat: true,
            headers: vec![("authorization", format!("Bearer {admin}"))],
            body: Bytes::new(),
            expect: 200,
        },
    ];
    println!(
        "local host {} · {} connections · {} client thread(s) · {} s per scenario",
        host.url,
        args.connections,
        args.threads,
        args.seconds.min(60)
    );
    let seconds = Duration::from_secs(args.seconds.min(60));
    for s in scenarios {
        rt.block_on(run(
            &addr,
            &s,
            args.connections,
            Duration::from_secs(1),
            u64::MAX,
        )); // warm-up
        report(
            &s,
            rt.block_on(run(&addr, &s, args.connections, seconds, args.max_requests)),
        );
    }
    // Installs: one per tenant, each path once; the token goes with the tenant.
    let install = Scenario {
        name: "marketplace install",
        method: Method::POST,
        paths: Arc::new(
            tenants
                .iter()
                .map(|(t, tok)| format!("/marketplace/t/{t}/apps/hello/install#{tok}"))
                .collect(),
        ),
        repeat: false,
        headers: vec![json],
        body: Bytes::from_static(consent.as_bytes()),
        expect: 201,
    };
    report(
        &install,
        rt.block_on(run(
            &addr,
            &install,
            args.connections,
            seconds,
            args.max_requests,
        )),
    );
    host.stop();
}

async fn register_tenants(addr: &str, n: u64) -> Vec<(String, String)> {
    let (mut sender, _conn) = connect(addr).await;
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("load{i}");
        let body = format!(r#"{{"id":"{id}","site_url":"http://localhost:8065"}}"#);
        let req = Request::post("/marketplace/tenants")
            .header("host", addr)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {OPERATOR}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        sender.ready().await.expect("connection ready");
        let resp = sender.send_request(req).await.expect("register a tenant");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        out.push((
            id,
            v["admin_token"].as_str().expect("admin token").to_owned(),
        ));
    }
    out
}

fn report(s: &Scenario, (hist, errors, elapsed): (Histogram<u64>, u64, Duration)) {
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

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> (Sender, tokio::task::JoinHandle<()>) {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the local host");
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    (
        sender,
        tokio::spawn(async move {
            let _ = conn.await;
        }),
    )
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
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, s, next) = (addr.to_owned(), s.clone(), next.clone());
            tokio::spawn(async move { client(&addr, &s, deadline, max, &next).await })
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

async fn client(
    addr: &str,
    s: &Scenario,
    deadline: Instant,
    max: u64,
    next: &AtomicU64,
) -> (Histogram<u64>, u64) {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut errors = 0;
    let (mut sender, _conn) = connect(addr).await;
    while Instant::now() < deadline {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= max || (!s.repeat && i >= s.paths.len() as u64) {
            break;
        }
        // A path may carry its own bearer token after `#`.
        let entry = &s.paths[(i % s.paths.len() as u64) as usize];
        let (path, token) = entry
            .split_once('#')
            .map_or((entry.as_str(), None), |(p, t)| (p, Some(t)));
        let mut req = Request::builder()
            .method(s.method.clone())
            .uri(path)
            .header("host", addr);
        for (k, v) in &s.headers {
            req = req.header(*k, v);
        }
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Full::new(s.body.clone())).unwrap();
        if sender.ready().await.is_err() {
            errors += 1;
            break;
        }
        let t = Instant::now();
        match sender.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status().as_u16() == s.expect;
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
    }
    (hist, errors)
}

/// Ingest, then fan-out, with `args.subscribers` external apps subscribed to `user_updated`
/// (which no built-in app takes, so every delivery goes over loopback HTTP).
fn events(args: &Args, rt: &tokio::runtime::Runtime) {
    let delivered = Arc::new(AtomicU64::new(0));
    let subscribers_addr = rt.block_on(serve_subscribers(delivered.clone()));
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir(&catalog).unwrap();
    let ids: Vec<String> = (0..args.subscribers)
        .map(|i| format!("bench-sub-{i}"))
        .collect();
    for id in &ids {
        let listing = serde_json::json!({
            "id": id, "display_name": id, "description": "A subscriber on loopback.",
            "categories": ["developer"],
            "versions": [{"version": "v1.0.0", "release_notes": "-", "requested_subjects": ["user_updated"],
                "manifest": {"app_id": id, "version": "v1.0.0", "display_name": id, "description": "-",
                    "homepage_url": "https://example.test/", "requested_permissions": ["act_as_bot"],
                    "http": {"root_url": format!("http://{subscribers_addr}/{id}")}}}]
        });
        std::fs::write(catalog.join(format!("{id}.json")), listing.to_string()).unwrap();
    }
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let catalog_arg = catalog.display().to_string();
    // Throughput is measured, not the per-tenant event rate: that limit is off here.
    let host = LocalHost::start_quiet(
        &data,
        &[
            "--catalog",
            &catalog_arg,
            "--fanout-workers",
            "0",
            "--max-events-per-second",
            "0",
        ],
    );
    let admin = host
        .printed("tenant admin token:")
        .expect("admin token in the setup block");
    let addr = host.url.trim_start_matches("http://").to_owned();
    rt.block_on(async {
        for id in &ids {
            let installed = call(
                &addr,
                Method::POST,
                &format!("/marketplace/t/local/apps/{id}/install"),
                &format!("Bearer {admin}"),
                r#"{"consent":{"permissions":["act_as_bot"]}}"#,
            )
            .await;
            let secret = installed["jwt_secret"]
                .as_str()
                .expect("installed")
                .to_owned();
            let jwt = sign_app_jwt(
                &AppClaims {
                    exp: now() + 3600,
                    acting_user_id: String::new(),
                    ..Default::default()
                },
                &secret,
            );
            let subscribed = call(
                &addr,
                Method::POST,
                &format!("/t/local/apps/{id}/v1/subscribe"),
                &format!("Bearer {jwt}"),
                r#"{"subject":"user_updated","call":{"path":"/on-update"}}"#,
            )
            .await;
            assert_eq!(subscribed["type"], "ok", "{subscribed}");
        }
    });
    let ingest = Scenario {
        name: "event ingest (queue fsync)",
        method: Method::POST,
        paths: Arc::new(vec!["/events/t/local".to_owned()]),
        repeat: true,
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("authorization", format!("Bearer {admin}")),
        ],
        body: Bytes::from_static(
            br#"{"kind":"user_updated","user_id":"u1000000000000000000000000"}"#,
        ),
        expect: 202,
    };
    let seconds = Duration::from_secs(args.seconds.min(60));
    let result = rt.block_on(run(&addr, &ingest, args.connections, seconds, args.events));
    let accepted = result.0.len() - result.1;
    report(&ingest, result);
    host.stop();

    // Fan-out: the same data directory, consumers on; the clock runs until every subscriber
    // has every event.
    let expected = accepted * args.subscribers;
    let start = Instant::now();
    let host = LocalHost::start_quiet(&data, &["--catalog", &catalog_arg]);
    let deadline = start + Duration::from_secs(300);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let got = delivered.load(Ordering::Relaxed);
    println!(
        "{:<28} {:>9} deliveries ({} events × {} subscribers) in {:>5.2} s = {:>8.0} deliveries/s{}",
        "event fan-out (HTTP)",
        got,
        accepted,
        args.subscribers,
        elapsed.as_secs_f64(),
        got as f64 / elapsed.as_secs_f64(),
        if got == expected {
            String::new()
        } else {
            format!(" · INCOMPLETE, expected {expected}")
        }
    );
    host.stop();
}

/// Every subscriber app's routes, on one loopback server that counts deliveries.
async fn serve_subscribers(delivered: Arc<AtomicU64>) -> String {
    let app = axum::Router::new().fallback(axum::routing::post(
        move |headers: axum::http::HeaderMap| {
            let delivered = delivered.clone();
            async move {
                if headers.contains_key(cloudapps::auth::APP_AUTH_HEADER) {
                    delivered.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::UNAUTHORIZED
                }
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// One JSON request; the answer's body.
async fn call(
    addr: &str,
    method: Method,
    path: &str,
    bearer: &str,
    body: &str,
) -> serde_json::Value {
    let (mut sender, _conn) = connect(addr).await;
    let header = if path.starts_with("/t/") {
        cloudapps::auth::APP_AUTH_HEADER
    } else {
        "authorization"
    };
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .header(header, bearer)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    sender.ready().await.expect("connection ready");
    let resp = sender.send_request(req).await.expect("a response");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap_or_default()
}
