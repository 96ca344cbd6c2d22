//! `cloudapps-local`: every function in one process on 127.0.0.1, over a durable SQLite file,
//! with the built-in apps installed for one tenant. Same handler code as the Lambdas.

mod server;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cloudapps::apps::BuiltinApps;
use cloudapps::auth::{AppClaims, sign_app_jwt};
use cloudapps::events::fanout::{FanOut, HttpDeliverer};
use cloudapps::events::queue::SqliteQueue;
use cloudapps::first_run::{Provisioned, bootstrap};
use cloudapps::http::Host;
use cloudapps::http::events::InProcessDeliverer;
use cloudapps::limits::Limits;
use cloudapps::mattermost::HttpMattermost;
use cloudapps::outbound::{PrivateNetworks, check_base_url};
use cloudapps::paths::{Kind, app_root};
use cloudapps::store::ItemStore;
use cloudapps::store::dynamo::DynamoStore;
use cloudapps::store::sqlite::SqliteStore;
use cloudapps::store::{InstallState, Secret, TokenHash};

#[derive(Parser, Debug)]
#[command(version, about = "Run every cloudapps function in one local process")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "CLOUDAPPS_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "CLOUDAPPS_PORT", default_value_t = 8787)]
    port: u16,
    /// Where install state lives: `sqlite` (a file under --data-dir) or `dynamodb:<table>`
    /// (the deployed stack's table, with the default AWS credentials).
    #[arg(long, env = "CLOUDAPPS_STORE", default_value = "sqlite")]
    store: String,
    /// Where the SQLite state file lives.
    #[arg(long, env = "CLOUDAPPS_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The URL Mattermost reaches this host at (default: http://<bind>:<port>).
    #[arg(long, env = "CLOUDAPPS_PUBLIC_URL")]
    public_url: Option<String>,
    /// The tenant the built-in apps are installed for.
    #[arg(long, env = "CLOUDAPPS_TENANT", default_value = "local")]
    tenant: String,
    /// The Mattermost site URL of that tenant (what `context.mattermost_site_url` carries).
    #[arg(
        long,
        env = "CLOUDAPPS_SITE_URL",
        default_value = "http://localhost:8065"
    )]
    site_url: String,
    /// The operator credential that may register more tenants at /marketplace/tenants
    /// (registration is off without one).
    #[arg(long, env = "CLOUDAPPS_OPERATOR_TOKEN")]
    operator_token: Option<String>,
    /// Print the installs' JWT secrets again (secrets are printed once, when first created;
    /// command tokens are kept only as hashes and must be rotated to be seen again).
    #[arg(long)]
    show_secrets: bool,
    /// Store the token Mattermost issued for an app's slash command, as APP=TOKEN (repeatable).
    #[arg(long = "command-token", value_name = "APP=TOKEN")]
    command_tokens: Vec<String>,
    /// Store an app's bot access token, used to open dialogs for classic commands and to post
    /// as the bot from event handlers, as APP=TOKEN.
    #[arg(long = "bot-token", value_name = "APP=TOKEN")]
    bot_tokens: Vec<String>,
    /// Concurrent consumers delivering queued events to subscribers; 0 accepts events and
    /// keeps them queued (for a host that only ingests).
    #[arg(long, env = "CLOUDAPPS_FANOUT_WORKERS", default_value_t = 4)]
    fanout_workers: usize,
    /// Let this host call loopback and private-network addresses (a Mattermost or apps on this
    /// machine or the LAN). Off by default: a tenant's Mattermost or an app could otherwise
    /// point this host at internal services.
    #[arg(long, env = "CLOUDAPPS_ALLOW_PRIVATE_NETWORK")]
    allow_private_network: bool,
    /// A directory of extra catalog listings (`*.json`, the shipped files' format), for
    /// example apps hosted elsewhere that subscribe to events.
    #[arg(long, env = "CLOUDAPPS_CATALOG_DIR")]
    catalog: Option<PathBuf>,
    /// Subscriptions one install may hold (429 past it).
    #[arg(long, env = "CLOUDAPPS_MAX_SUBSCRIPTIONS_PER_INSTALL", default_value_t = Limits::default().subscriptions_per_install)]
    max_subscriptions_per_install: usize,
    /// Apps one tenant may have installed (429 past it).
    #[arg(long, env = "CLOUDAPPS_MAX_INSTALLS_PER_TENANT", default_value_t = Limits::default().installs_per_tenant)]
    max_installs_per_tenant: usize,
    /// Events one tenant may send per second, sustained (429 with Retry-After past it; 0: no limit).
    #[arg(long, env = "CLOUDAPPS_MAX_EVENTS_PER_SECOND", default_value_t = Limits::default().events_per_second)]
    max_events_per_second: u32,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Print a fresh app JWT for an install, as Mattermost would send it (for curl and tests).
    Jwt {
        /// The app it is for.
        #[arg(long, default_value = "hello")]
        app: String,
        /// The acting user id to put in the claims.
        #[arg(long, default_value = "")]
        user: String,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 900)]
        ttl: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    cloudapps::telemetry::init_text();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cloudapps-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if !cloudapps::ids::valid_id(&args.tenant) {
        return Err(format!(
            "--tenant `{}`: use {}",
            args.tenant,
            cloudapps::ids::ID_RULE
        )
        .into());
    }
    // What /healthz checks: the embedded stores' writer threads.
    let mut health: Vec<server::HealthCheck> = Vec::new();
    let (items, location): (Arc<dyn ItemStore>, String) = match args.store.split_once(':') {
        None if args.store == "sqlite" => {
            let db = args.data_dir.join("cloudapps.db");
            let store = SqliteStore::open(&db)?;
            let checked = store.clone();
            health.push(("install-state", Arc::new(move || checked.health())));
            (Arc::new(store), db.display().to_string())
        }
        Some(("dynamodb", table)) if !table.is_empty() => (
            Arc::new(DynamoStore::connect(table).await),
            format!("DynamoDB table {table}"),
        ),
        _ => {
            return Err(format!(
                "--store `{}`: use `sqlite` or `dynamodb:<table>`",
                args.store
            )
            .into());
        }
    };
    let private_networks = if args.allow_private_network {
        PrivateNetworks::Allowed
    } else {
        PrivateNetworks::Refused
    };
    check_base_url(&args.site_url, private_networks).map_err(|why| {
        format!(
            "--site-url: {why}{}",
            if private_networks == PrivateNetworks::Refused {
                " (to call a Mattermost on this machine or the LAN, run with --allow-private-network)"
            } else {
                ""
            }
        )
    })?;
    let state = InstallState::new(items);
    let apps = BuiltinApps::all();

    // Serving binds first, so that port 0 resolves before URLs are handed out.
    let listener = match args.action {
        Some(_) => None,
        None => Some(
            tokio::net::TcpListener::bind((args.bind, args.port))
                .await
                .map_err(|e| format!("cannot listen on {}:{}: {e}", args.bind, args.port))?,
        ),
    };
    let addr = match &listener {
        Some(l) => l.local_addr()?,
        None => std::net::SocketAddr::new(args.bind, args.port),
    };
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let host = Host::new(state.clone(), apps.clone())
        .with_public_url(Some(public_url.clone()))
        .with_private_networks(private_networks)
        .with_mattermost(Arc::new(HttpMattermost::new(private_networks)))
        .with_operator_token_hash(
            args.operator_token
                .as_deref()
                .map(cloudapps::auth::hash_token),
        )
        .with_limits(Limits {
            subscriptions_per_install: args.max_subscriptions_per_install,
            installs_per_tenant: args.max_installs_per_tenant,
            events_per_second: args.max_events_per_second,
        });
    let queue = SqliteQueue::open(&args.data_dir.join("events.db"))?;
    let checked = queue.clone();
    health.push(("event-queue", Arc::new(move || checked.health())));
    let host = host.with_queue(Arc::new(queue.clone()));
    let listings = match &args.catalog {
        Some(dir) => cloudapps::marketplace::catalog::shipped_and_dir(dir)?,
        None => cloudapps::marketplace::catalog::shipped()?,
    };
    let boot = bootstrap(
        host.marketplace(),
        &apps,
        &listings,
        &args.tenant,
        &args.site_url,
        &public_url,
    )
    .await?;
    let mut installs = boot.installs;
    for (flag, pairs) in [
        ("--command-token", &args.command_tokens),
        ("--bot-token", &args.bot_tokens),
    ] {
        for pair in pairs {
            let (app, token) = pair
                .split_once('=')
                .ok_or_else(|| format!("{flag} `{pair}`: use APP=TOKEN"))?;
            let updated = state
                .modify_install::<cloudapps::store::StoreError>(&args.tenant, app, |i| {
                    if flag == "--bot-token" {
                        i.bot_access_token = Secret::new(token)
                    } else {
                        i.command_token = TokenHash::of(token)
                    }
                    Ok(())
                })
                .await
                .map_err(|e| format!("{flag} for `{app}`: {e}"))?;
            if let Some(p) = installs.iter_mut().find(|p| p.install.app_id == app) {
                p.install = updated;
                // A first start shows the command token the install now accepts.
                if let (Some(shown), "--command-token") = (&mut p.installed, flag) {
                    shown.command_token = token.to_owned();
                }
            }
        }
    }
    if let Some(Action::Jwt { app, user, ttl }) = &args.action {
        let install = installs
            .iter()
            .find(|p| p.install.app_id == *app)
            .ok_or_else(|| format!("no app `{app}` installed"))?;
        let claims = AppClaims {
            exp: cloudapps::auth::now() + ttl,
            acting_user_id: user.clone(),
            ..Default::default()
        };
        println!(
            "{}",
            sign_app_jwt(&claims, install.install.jwt_secret.expose())
        );
        return Ok(());
    }

    let Some(listener) = listener else {
        return Ok(());
    };
    print_setup(
        &args,
        &public_url,
        &location,
        boot.admin_token.as_deref(),
        &installs,
    );
    // Events accepted before a restart are still in the queue and go out now.
    let router = host.router();
    let fanout = FanOut::new(
        state.clone(),
        Arc::new(InProcessDeliverer::new(
            router.clone(),
            &public_url,
            HttpDeliverer::for_subscribers(private_networks),
        )),
        &public_url,
    )
    .with_mattermost(Arc::new(HttpMattermost::new(private_networks)));
    for _ in 0..args.fanout_workers {
        let (fanout, queue) = (fanout.clone(), queue.clone());
        tokio::spawn(async move { fanout.consume(queue).await });
    }
    tracing::info!(%addr, allow_private_network = args.allow_private_network, "listening");
    server::serve(listener, router, health).await?;
    tracing::info!("stopped");
    Ok(())
}

/// What to give Mattermost: printed to stdout, not logged, because it may hold secrets.
fn print_setup(
    args: &Args,
    public_url: &str,
    location: &str,
    admin_token: Option<&str>,
    installs: &[Provisioned],
) {
    println!("cloudapps local host listening on {public_url} (state in {location})");
    println!(
        "Outbound HTTP: {}",
        if args.allow_private_network {
            "private networks allowed (--allow-private-network): this host calls loopback and LAN addresses too"
        } else {
            "public addresses only (--allow-private-network to call loopback and LAN addresses)"
        }
    );
    println!(
        "Tenant `{}` (Mattermost at {}):",
        args.tenant, args.site_url
    );
    println!(
        "  marketplace:         {public_url}/marketplace/t/{}/apps",
        args.tenant
    );
    if let Some(token) = admin_token {
        println!("  tenant admin token:  {token}");
    }
    for Provisioned { install, installed } in installs {
        tracing::info!(
            app = %install.app_id,
            manifest_url = %format!("{public_url}{}/manifest.json", app_root(&install.tenant_id, &install.app_id)),
            slash_command_url = %format!("{public_url}{}/v1/command", app_root(&install.tenant_id, &install.app_id)),
            "serving"
        );
        let root = format!(
            "{public_url}{}",
            app_root(&install.tenant_id, &install.app_id)
        );
        println!("  {} {}", install.app_id, install.version);
        println!(
            "    manifest URL:      {root}/manifest.json   (/apps install http {root}/manifest.json)"
        );
        println!(
            "    slash command URL: {root}{}   (POST)",
            Kind::SlashCommand.fixed_path().unwrap_or_default()
        );
        if let Some(installed) = installed {
            println!("    JWT secret:        {}", installed.jwt_secret);
            println!("    command token:     {}", installed.command_token);
        } else if args.show_secrets {
            println!("    JWT secret:        {}", install.jwt_secret.expose());
            println!(
                "    command token:     kept only as a hash; rotate it to see a new one (POST {public_url}/marketplace/t/{}/apps/{}/rotate with the tenant admin token)",
                install.tenant_id, install.app_id
            );
        } else {
            println!(
                "    secrets:           shown when first created; run with --show-secrets to see them again"
            );
        }
    }
}
