//! Helpers for the cross-process tests: the moto server the test command started, and the
//! local host binary run as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An HTTP client for talking to the local host in tests.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// How long the local host may take to print its setup block.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A DynamoDB client for the moto server the test command started (`AWS_ENDPOINT_URL`).
pub async fn moto_dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&moto_config().await)
}

/// A built binary of this workspace, next to the running executable: `target/<profile>/` for
/// binaries, `target/<profile>/deps/` for tests (the test command builds them all first).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("executable dir");
    [dir.join(name), dir.parent().map(|p| p.join(name)).unwrap_or_default()]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} is not built next to {}: build the workspace binaries first (./scripts/test does)", dir.display()))
}

/// `cloudapps-local` running as a child process on a free loopback port.
pub struct LocalHost {
    child: Child,
    log: PathBuf,
    pub url: String,
    /// What it printed before it started listening (the setup block).
    pub setup: String,
}

impl LocalHost {
    /// Starts the local host on `data_dir` with extra arguments and waits until it listens. It
    /// logs at debug level to `data_dir/host.log`.
    pub fn start(data_dir: &Path, args: &[&str]) -> LocalHost {
        Self::spawn(data_dir, args, "debug", true)
    }

    /// [`LocalHost::start`] logging only warnings, for load tests.
    pub fn start_quiet(data_dir: &Path, args: &[&str]) -> LocalHost {
        Self::spawn(data_dir, args, "warn", true)
    }

    /// [`LocalHost::start`] as deployed: no private network may be called (its first tenant's
    /// site is public, so it starts).
    pub fn start_public_only(data_dir: &Path, args: &[&str]) -> LocalHost {
        let args = [&["--site-url", "https://mm.example.com"][..], args].concat();
        Self::spawn(data_dir, &args, "debug", false)
    }

    fn spawn(data_dir: &Path, args: &[&str], log_level: &str, private_network: bool) -> LocalHost {
        // The Mattermost stand-in, the subscribers and the default site URL are on loopback.
        let allow = if private_network {
            &["--allow-private-network"][..]
        } else {
            &[]
        };
        let mut child = Command::new(workspace_binary("cloudapps-local"))
            .args(allow)
            .args(["--port", "0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", log_level)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data_dir.join("host.log")).expect("create host.log"))
            .spawn()
            .expect("start cloudapps-local");
        let stdout = child.stdout.take().expect("piped stdout");
        // Lines arrive through a thread, so a host that hangs before its setup block fails the
        // test after a deadline instead of hanging CI; the thread keeps draining stdout after,
        // so the child never blocks on a full pipe.
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = sender.send(line.unwrap_or_default());
            }
        });
        let deadline = std::time::Instant::now() + STARTUP_DEADLINE;
        let log = data_dir.join("host.log");
        let mut next_line = || {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            lines.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "cloudapps-local printed no complete setup block within {STARTUP_DEADLINE:?}; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
        };
        let first = next_line();
        let url = first
            .strip_prefix("cloudapps local host listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line from cloudapps-local: {first:?}"))
            .to_owned();
        let mut setup = first.clone();
        // The setup block ends with the last secret or secrets line of the last app.
        loop {
            let line = next_line();
            let done = line.trim_start().starts_with("command token:")
                || line.trim_start().starts_with("secrets:");
            setup.push('\n');
            setup.push_str(&line);
            if done {
                break;
            }
        }
        LocalHost {
            child,
            url,
            setup,
            log: data_dir.join("host.log"),
        }
    }

    /// The value printed after `label:` in the setup block.
    pub fn printed(&self, label: &str) -> Option<String> {
        self.setup.lines().find_map(|l| {
            l.trim_start()
                .strip_prefix(label)
                .map(|v| v.trim().to_owned())
        })
    }

    /// Everything it logged so far (stderr, at debug level).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM and waits, as an operator's Ctrl-C would.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub mod apps_plugin;
pub mod mattermost_standin;
pub mod template;

/// The moto server endpoint the test command started.
pub fn moto_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| panic!("AWS_ENDPOINT_URL is not set: run the suite with ./scripts/test, which starts moto server on 127.0.0.1"))
}

/// A Lambda client for moto server.
pub async fn moto_lambda() -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&moto_config().await)
}

/// The SDK configuration for moto server: its endpoint, a region, dummy credentials.
pub async fn moto_config() -> aws_config::SdkConfig {
    cloudapps::aws::defaults()
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

/// Deploys stand-ins for every app function of every version on moto (which stores but does
/// not run them), under the names the template gives them, those the Apps plugin invokes
/// (`hello_v1-1-0_send`). They are one set per account and region, as on AWS: a function
/// already there (from the stack check, or another test) is kept. Returns the names.
pub async fn deploy_app_functions_on_moto() -> std::collections::BTreeSet<String> {
    // moto checks that the execution role exists; create it through IAM's query API (moto
    // routes by the credential scope and does not check signatures).
    let role = "cloudapps-test-role";
    let form = [
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", role),
        ("AssumeRolePolicyDocument", "{}"),
    ];
    reqwest::Client::new()
        .post(moto_endpoint())
        .header("authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0")
        .form(&form)
        .send()
        .await
        .expect("moto IAM");
    let client = moto_lambda().await;
    let zip = minimal_zip();
    let mut names = std::collections::BTreeSet::new();
    for name in cloudapps::functions::invoked_names() {
        let created = client
            .create_function()
            .function_name(&name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(format!("arn:aws:iam::123456789012:role/{role}"))
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(zip.clone()))
                    .build(),
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_conflict_exception()) => {}
            Err(e) => panic!(
                "create {name} on moto: {}",
                aws_sdk_lambda::error::DisplayErrorContext(e)
            ),
        }
        names.insert(name);
    }
    names
}

/// A zip archive holding one empty `bootstrap` file (stored, not deflated).
fn minimal_zip() -> Vec<u8> {
    let name = b"bootstrap";
    let crc: u32 = 0;
    let mut local = Vec::new();
    local.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    local.extend_from_slice(&crc.to_le_bytes());
    local.extend_from_slice(&0u32.to_le_bytes());
    local.extend_from_slice(&0u32.to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name);
    let mut central = Vec::new();
    central.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    central.extend_from_slice(&crc.to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    central.extend_from_slice(name);
    let mut end = vec![0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0];
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&(local.len() as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    [local, central, end].concat()
}

/// An SQS client for moto server.
pub async fn moto_sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto_config().await)
}

/// Every call path Mattermost calls on `app` installed with one of `manifests`: `/ping`, the
/// bindings call, the lifecycle calls, what the bindings' forms submit to and look up with,
/// and what the app subscribes with.
pub fn call_paths(
    app: &dyn cloudapps::apps::App,
    manifests: &[cloudapps::protocol::apps::Manifest],
) -> std::collections::BTreeSet<String> {
    let mut paths = std::collections::BTreeSet::from([cloudapps::apps::PING_PATH.to_owned()]);
    for m in manifests {
        paths.insert(m.bindings_path().to_owned());
        let lifecycle = [&m.on_install, &m.on_uninstall, &m.on_version_changed];
        paths.extend(lifecycle.into_iter().flatten().map(|c| c.path.clone()));
    }
    binding_calls(&app.bindings(), &mut paths);
    paths.extend(app.subscriptions().into_iter().map(|s| s.call.path));
    paths
}

/// Every call path a form of these bindings names: submits, sources and field lookups.
fn binding_calls(
    bindings: &[cloudapps::protocol::apps::Binding],
    paths: &mut std::collections::BTreeSet<String>,
) {
    for b in bindings {
        paths.extend(b.submit.iter().map(|c| c.path.clone()));
        if let Some(form) = &b.form {
            let calls = [&form.submit, &form.source]
                .into_iter()
                .chain(form.fields.iter().map(|f| &f.lookup));
            paths.extend(calls.flatten().map(|c| c.path.clone()));
        }
        binding_calls(&b.bindings, paths);
    }
}

/// The consent to everything `version` of the shipped `app` requests.
pub fn consent(app: &str, version: &str) -> serde_json::Value {
    let listing = cloudapps::marketplace::catalog::shipped()
        .unwrap()
        .into_iter()
        .find(|l| l.id == app)
        .unwrap();
    let v = listing.version(version).unwrap();
    serde_json::json!({"permissions": v.manifest.requested_permissions, "locations": v.manifest.requested_locations})
}
