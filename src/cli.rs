//! Command line: `run` (default), `validate`, `components`.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use llamacol_pipeline::config::{load, Config, ConfigErrors, ConfigText, Diagnostic, LogFormat};
use llamacol_pipeline::Registry;

use crate::run::Logging;
use crate::DEFAULT_CONFIG;

#[derive(Debug, Parser)]
#[command(
    name = "llamacol",
    version,
    about = "Telemetry pipeline for GPU nodes serving LLMs (OpenTelemetry Collector style)"
)]
pub struct Cli {
    /// Config: a file path, or a URI as the Collector takes them (`file:path`, `env:VAR`
    /// holding YAML, `yaml:key::path: value`); repeat to merge several in order (later
    /// ones win).
    #[arg(short = 'c', long = "config", global = true)]
    pub config: Vec<String>,
    /// One value, set over the configs: `key::path=value` (the Collector's form; `.`
    /// also separates keys when there is no `::`), e.g. `--set processors::batch::timeout=2s`.
    #[arg(long = "set", global = true)]
    pub set: Vec<String>,
    /// Log filter: trace, debug, info, warn, error, or a tracing directive. Overrides
    /// `service.telemetry.logs.level`.
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Log format. Overrides `service.telemetry.logs.format`.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the collector (the default).
    Run,
    /// Check the config and print every problem; exit 0 if valid, 2 if not.
    Validate,
    /// List every registered component type with its kind and signals.
    Components {
        /// `table` (default, aligned columns) or `json` (an array of
        /// `{kind, type, signals, pairs}`, for scripts).
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Runs an already parsed command line over `registry` (tests call this directly).
pub fn main_with_args(cli: Cli, registry: Registry) -> ExitCode {
    // One rustls crypto provider for every TLS client in the process (tonic, reqwest 0.12,
    // object_store's reqwest 0.13, which has none of its own): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        None | Some(Command::Run) => {
            let (config, warnings) = match load_config(&cli, &registry) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let logging = logging(&cli, &config);
            let (uris, sets) = (cli.config.clone(), cli.set.clone());
            let reload = move |registry: &Registry| {
                let sources = sources_of(&uris, &sets)?;
                load(&sources, registry, &|name| std::env::var(name).ok())
                    .map_err(|e| e.to_string())
            };
            crate::run::run(config, warnings, logging, registry, Box::new(reload))
        }
        Some(Command::Validate) => validate(&cli, &registry),
        Some(Command::Components { output }) => components(&registry, output),
    }
}

/// Reads what `-c` names (files and URIs), or the embedded default, then `--set`.
pub(crate) fn sources(cli: &Cli) -> Result<Vec<ConfigText>, String> {
    sources_of(&cli.config, &cli.set)
}

/// [`sources`] of `-c` values and `--set` values (read again on SIGHUP).
fn sources_of(config: &[String], set: &[String]) -> Result<Vec<ConfigText>, String> {
    let mut out = if config.is_empty() {
        vec![ConfigText {
            name: "<embedded default config>".into(),
            text: DEFAULT_CONFIG.into(),
        }]
    } else {
        config
            .iter()
            .map(|uri| config_uri(uri))
            .collect::<Result<Vec<_>, _>>()?
    };
    for set in set {
        out.push(set_option(set)?);
    }
    Ok(out)
}

/// One `-c` value: `file:path`, `env:VAR` (YAML in a variable), `yaml:a::b: value`, or a
/// plain path.
fn config_uri(uri: &str) -> Result<ConfigText, String> {
    if let Some(var) = uri.strip_prefix("env:") {
        return std::env::var(var)
            .map(|text| ConfigText {
                name: format!("env:{var}"),
                text,
            })
            .map_err(|_| {
                format!("error: --config {uri}: environment variable `{var}` is not set")
            });
    }
    if let Some(inline) = uri.strip_prefix("yaml:") {
        // The Collector's yaml provider: `a::b::c: value` is `{a: {b: {c: value}}}`.
        let (path, value) = inline
            .split_once(": ")
            .or_else(|| inline.split_once(':').filter(|(p, _)| !p.ends_with(':')))
            .ok_or_else(|| format!("error: --config {uri}: expected `yaml:key::path: value`"))?;
        return Ok(ConfigText {
            name: uri.to_string(),
            text: nested_yaml(&path.split("::").collect::<Vec<_>>(), value.trim()),
        });
    }
    let path = uri.strip_prefix("file:").unwrap_or(uri);
    std::fs::read_to_string(path)
        .map(|text| ConfigText {
            name: path.to_string(),
            text,
        })
        .map_err(|e| format!("error: cannot read config file `{path}`: {e}"))
}

/// `--set key::path=value` as a config merged over the others.
fn set_option(set: &str) -> Result<ConfigText, String> {
    let (key, value) = set
        .split_once('=')
        .ok_or_else(|| format!("error: --set {set}: expected `key::path=value`"))?;
    let path: Vec<&str> = if key.contains("::") {
        key.split("::").collect()
    } else {
        key.split('.').collect()
    };
    if path.iter().any(|p| p.is_empty()) {
        return Err(format!("error: --set {set}: an empty key in `{key}`"));
    }
    Ok(ConfigText {
        name: format!("--set {set}"),
        text: nested_yaml(&path, value),
    })
}

/// `{a: {b: value}}` as YAML text, the keys quoted, the value read as YAML.
fn nested_yaml(path: &[&str], value: &str) -> String {
    let mut text = String::new();
    for (depth, key) in path.iter().enumerate() {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        text.push_str(&"  ".repeat(depth));
        text.push_str(&quoted);
        text.push(':');
        if depth + 1 == path.len() {
            text.push(' ');
            text.push_str(value);
        }
        text.push('\n');
    }
    text
}

/// The command line's log settings, else the config's, else `info` as text.
fn logging(cli: &Cli, config: &Config) -> Logging {
    let level = cli
        .log_level
        .clone()
        .or_else(|| config.telemetry.logs.level.clone())
        .unwrap_or_else(|| "info".into());
    let json = match cli.log_format {
        Some(LogFormatArg::Json) => true,
        Some(LogFormatArg::Text) => false,
        None => config.telemetry.logs.format() == Some(LogFormat::Json),
    };
    Logging {
        level,
        json,
        config: config.telemetry.logs.clone(),
    }
}

fn load_config(
    cli: &Cli,
    registry: &Registry,
) -> Result<(llamacol_pipeline::config::Config, Vec<Diagnostic>), ExitCode> {
    let sources = sources(cli).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    load(&sources, registry, &|name| std::env::var(name).ok()).map_err(|ConfigErrors(all)| {
        eprint!("{}", ConfigErrors(all));
        ExitCode::from(2)
    })
}

fn validate(cli: &Cli, registry: &Registry) -> ExitCode {
    match load_config(cli, registry) {
        Ok((config, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            eprintln!(
                "configuration is valid: {} pipeline(s), {} receiver(s), {} processor(s), {} exporter(s), {} connector(s), {} extension(s)",
                config.pipelines.len(),
                config.receivers.len(),
                config.processors.len(),
                config.exporters.len(),
                config.connectors.len(),
                config.service_extensions.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

// Listing components is this command's output, so it goes to stdout.
#[allow(clippy::print_stdout)]
fn components(registry: &Registry, output: OutputFormat) -> ExitCode {
    let listed = registry.list();
    if let OutputFormat::Json = output {
        let all: Vec<serde_json::Value> = listed
            .iter()
            .map(|l| {
                serde_json::json!({
                    "kind": l.kind.as_str(),
                    "type": l.type_name,
                    "signals": l.signals.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "pairs": l.pairs.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(all));
        return ExitCode::SUCCESS;
    }
    let rows: Vec<(&str, &str, String)> = listed
        .iter()
        .map(|l| {
            let mut signals: Vec<String> = l.signals.iter().map(|s| s.to_string()).collect();
            signals.extend(l.pairs.iter().map(|p| p.to_string()));
            // Extensions take no signal.
            let signals = if signals.is_empty() {
                "-".to_string()
            } else {
                signals.join(",")
            };
            (l.kind.as_str(), l.type_name, signals)
        })
        .collect();
    // Columns as wide as their longest entry (`prometheusremotewrite`), plus two spaces.
    let kind_width = rows.iter().map(|r| r.0.len()).chain([4]).max().unwrap_or(4) + 2;
    let type_width = rows.iter().map(|r| r.1.len()).chain([4]).max().unwrap_or(4) + 2;
    println!("{:<kind_width$}{:<type_width$}SIGNALS", "KIND", "TYPE");
    for (kind, type_name, signals) in rows {
        println!("{kind:<kind_width$}{type_name:<type_width$}{signals}");
    }
    ExitCode::SUCCESS
}
