//! CLI: resolve and validate the config, bind, run the event loops until SHUTDOWN or SIGTERM.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use rso::config::{resolve_path, Config};
use rso::net::run;
use rso::session::Shared;

// The global allocator (counting, for INFO used_memory) is declared in the library (src/alloc.rs).

const USAGE: &str = "usage: redis-server-optimized [--config PATH] [--port N] [--bind ADDR] \
                     [--check-config PATH]\n\
                     config: --config, else $PERF_CONFIG_PATH, else ./perf_config.toml, else defaults";

struct Cli {
    config: Option<PathBuf>,
    check: Option<PathBuf>,
    port: u16,
    bind: String,
}

fn parse_cli() -> Result<Cli, String> {
    let mut cli = Cli { config: None, check: None, port: 6379, bind: "127.0.0.1".into() };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--config" => cli.config = Some(PathBuf::from(value("--config")?)),
            "--check-config" => cli.check = Some(PathBuf::from(value("--check-config")?)),
            "--port" => {
                let v = value("--port")?;
                cli.port = v.parse().map_err(|_| format!("--port: '{v}' is not a port number (0-65535)"))?;
            }
            "--bind" => cli.bind = value("--bind")?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(cli)
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = cli.check {
        return match Config::load(&path) {
            Ok(c) => {
                println!("{}: OK ({})", path.display(), c.summary());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid config: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let path = resolve_path(cli.config);
    let config = match &path {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("invalid config: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Config::default(),
    };
    let source = path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
    let listener = match TcpListener::bind((cli.bind.as_str(), cli.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}:{}: {e}", cli.bind, cli.port);
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(cli.port);
    println!(
        "redis-server-optimized {} listening on {}:{port} pid={} allocator={} config={source} effective: {}",
        env!("CARGO_PKG_VERSION"),
        cli.bind,
        std::process::id(),
        rso::ALLOCATOR,
        config.summary()
    );
    let shared = Arc::new(Shared::new(config, port, cli.bind.clone(), source));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&shared.shutdown)) {
            eprintln!("cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(Arc::clone(&shared), listener) {
        Ok(()) => {
            println!("redis-server-optimized: shutting down");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}
