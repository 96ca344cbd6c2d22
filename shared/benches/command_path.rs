//! The in-process command path (JWT verify, route, install lookup in SQLite, decode, handler and
//! encode) for an Apps call and a classic slash command; then its parts alone. After the
//! criterion runs, a latency pass prints p50/p99/p99.9 of the whole path.
//!
//! `cargo bench -p cloudapps --bench command_path`

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use cloudapps::apps::BuiltinApps;
use cloudapps::auth::{AppClaims, now, sign_app_jwt, verify_app_jwt};
use cloudapps::command::slash;
use cloudapps::first_run::ensure_tenant_with_apps;
use cloudapps::http::Host;
use cloudapps::http::testing::{Handle, request};
use cloudapps::protocol::apps::CallRequest;
use cloudapps::protocol::classic::SlashCommandRequest;
use cloudapps::store::InstallState;
use cloudapps::store::sqlite::SqliteStore;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};

const CALL: &str = r#"{"path":"/send","expand":{"acting_user":"summary"},"values":{"message":"hello there","shout":false},"context":{"app_id":"","user_agent":"webapp","mattermost_site_url":"https://mm.bench.test","app_path":"/plugins/com.mattermost.apps/apps/hello","bot_user_id":"b0000000000000000000000000","bot_access_token":"tok","acting_user":{"id":"u1000000000000000000000000","username":"alice","email":"alice@example.com","locale":"en","roles":"system_user","delete_at":0},"oauth2":{}}}"#;

struct Setup {
    rt: tokio::runtime::Runtime,
    /// Every route of the host, built once as the local host builds it.
    router: Router,
    state: InstallState,
    jwt: String,
    slash_form: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
    let state = InstallState::new(Arc::new(store));
    let hello = rt
        .block_on(ensure_tenant_with_apps(
            &state,
            "bench",
            "https://mm.bench.test",
            &BuiltinApps::all(),
        ))
        .unwrap()
        .remove(0);
    let (install, installed) = (hello.install, hello.installed.unwrap());
    let claims = AppClaims {
        exp: now() + 86_400,
        acting_user_id: "u1000000000000000000000000".into(),
        ..Default::default()
    };
    let jwt = format!(
        "Bearer {}",
        sign_app_jwt(&claims, install.jwt_secret.expose())
    );
    let slash_form = serde_html_form::to_string([
        ("token", installed.command_token.as_str()),
        ("command", "/hello"),
        ("text", "send hello there --shout"),
        ("user_id", "u1"),
        ("user_name", "alice"),
    ])
    .unwrap();
    Setup {
        rt,
        router: Host::new(state.clone(), BuiltinApps::all()).router(),
        state,
        jwt,
        slash_form,
        _dir: dir,
    }
}

fn apps_call(s: &Setup) -> http::Request<Body> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "mattermost-app-authorization",
        HeaderValue::from_str(&s.jwt).unwrap(),
    );
    request(
        Method::POST,
        "/t/bench/apps/hello/send",
        headers,
        Bytes::from_static(CALL.as_bytes()),
    )
}

fn slash_command(s: &Setup) -> http::Request<Body> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    request(
        Method::POST,
        "/t/bench/apps/hello/v1/command",
        headers,
        Bytes::from(s.slash_form.clone()),
    )
}

fn bench(c: &mut Criterion) {
    let s = setup();
    assert_eq!(s.rt.block_on(s.router.handle(apps_call(&s))).status, 200);
    assert_eq!(
        s.rt.block_on(s.router.handle(slash_command(&s))).status,
        200
    );

    let mut g = c.benchmark_group("command_path");
    g.bench_function("apps_call_send", |b| {
        b.to_async(&s.rt).iter(|| s.router.handle(apps_call(&s)))
    });
    g.bench_function("slash_command_send", |b| {
        b.to_async(&s.rt)
            .iter(|| s.router.handle(slash_command(&s)))
    });
    g.finish();

    let mut g = c.benchmark_group("parts");
    let secret = {
        let state = s.state.clone();
        s.rt.block_on(state.install("bench", "hello"))
            .unwrap()
            .unwrap()
            .jwt_secret
            .expose()
            .to_owned()
    };
    g.bench_function("jwt_verify", |b| {
        b.iter(|| verify_app_jwt(Some(&s.jwt), &secret).unwrap())
    });
    g.bench_function("decode_call_request", |b| {
        b.iter(|| serde_json::from_str::<CallRequest>(CALL).unwrap())
    });
    let bindings: Vec<_> = BuiltinApps::all()
        .get("hello")
        .unwrap()
        .bindings()
        .remove(0)
        .bindings;
    let req: SlashCommandRequest = serde_html_form::from_str(&s.slash_form).unwrap();
    g.bench_function("decode_slash_text", |b| {
        b.iter(|| slash::decode(&req, &bindings).unwrap())
    });
    let state = s.state.clone();
    g.bench_function("install_lookup_sqlite", |b| {
        b.to_async(&s.rt).iter(|| state.install("bench", "hello"))
    });
    g.finish();

    latency_pass(&s);
}

/// Sequential calls of the whole path, each timed, for tail latency.
fn latency_pass(s: &Setup) {
    for (name, make) in [
        (
            "apps_call_send",
            apps_call as fn(&Setup) -> http::Request<Body>,
        ),
        ("slash_command_send", slash_command),
    ] {
        let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        let n = 50_000;
        s.rt.block_on(async {
            for _ in 0..n {
                let req = make(s);
                let t = Instant::now();
                let out = s.router.handle(req).await;
                hist.record(t.elapsed().as_nanos() as u64).unwrap();
                assert_eq!(out.status, 200);
            }
        });
        let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "latency {name}: n={n} p50={:.1}µs p99={:.1}µs p99.9={:.1}µs max={:.1}µs",
            us(0.5),
            us(0.99),
            us(0.999),
            hist.max() as f64 / 1000.0
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
