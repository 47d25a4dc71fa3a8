//! `system` detector: the host's name (from the configured sources), OS and CPU, read as
//! the Collector's detector reads them (its `system` metadata provider, gopsutil and the
//! OpenTelemetry Go SDK's host and OS resource options), from `/etc`, `/proc` and
//! `uname`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use llamacol_api::otlp::common::v1::{any_value, AnyValue, ArrayValue};
use llamacol_api::BoxError;

use super::catalog::{Builder, SCHEMA_URL};
use super::config::{HostnameSource, SystemConfig};
use super::detect::{Detected, Detector};

pub struct SystemDetector {
    config: SystemConfig,
    /// `/` but in tests: where `etc/` and `proc/` are read from.
    root: PathBuf,
}

impl SystemDetector {
    pub fn new(config: SystemConfig, root: PathBuf) -> SystemDetector {
        SystemDetector { config, root }
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path)).ok()
    }
}

#[async_trait]
impl Detector for SystemDetector {
    fn name(&self) -> &'static str {
        "system"
    }

    async fn detect(&self) -> Result<Detected, BoxError> {
        let mut sources = self.config.hostname_sources.clone();
        if sources.is_empty() {
            sources = vec![HostnameSource::Dns, HostnameSource::Os];
        }
        let root = self.root.clone();
        let hostname = tokio::task::spawn_blocking(move || {
            let mut errors = Vec::new();
            for source in sources {
                match hostname(source, &root) {
                    Ok(name) => return Ok(name),
                    Err(e) => errors.push(format!("{source:?}: {e}").to_lowercase()),
                }
            }
            Err(format!(
                "every hostname source failed ({})",
                errors.join("; ")
            ))
        })
        .await??;

        let mut b = Builder::new("system", &self.config.resource_attributes);
        b.set_str("host.name", hostname);
        b.set_str("os.type", os_type());
        b.set_str("host.arch", host_arch());
        let release = OsRelease::read(self);
        if b.enabled("os.version") {
            b.set_str("os.version", release.platform_version(self));
        }
        if b.enabled("os.name") {
            b.set_str("os.name", release.platform(self));
        }
        let uname = rustix::system::uname();
        let kernel_release = uname.release().to_string_lossy().into_owned();
        if b.enabled("os.build.id") {
            let build = release.get("BUILD_ID").unwrap_or(&kernel_release);
            b.set_str("os.build.id", build.clone());
        }
        if b.enabled("os.description") {
            let uname_text = format!(
                "{} {} {} {} {}",
                uname.sysname().to_string_lossy(),
                uname.nodename().to_string_lossy(),
                kernel_release,
                uname.version().to_string_lossy(),
                uname.machine().to_string_lossy()
            );
            b.set_str(
                "os.description",
                match release.pretty() {
                    Some(pretty) => format!("{pretty} ({uname_text})"),
                    None => uname_text,
                },
            );
        }
        if b.enabled("host.id") {
            // The SDK's Linux host id: the machine id, from systemd's file or D-Bus's.
            let id = ["etc/machine-id", "var/lib/dbus/machine-id"]
                .iter()
                .filter_map(|p| self.read(p))
                .map(|s| s.trim().to_string())
                .find(|s| !s.is_empty());
            match id {
                Some(id) => b.set_str("host.id", id),
                None => tracing::warn!("resource_detection system: no machine id in /etc/machine-id or /var/lib/dbus/machine-id; host.id left out"),
            }
        }
        if b.enabled("host.ip") || b.enabled("host.mac") || b.enabled("host.interface") {
            let interfaces = Interfaces::read(&self.root)?;
            b.set(
                "host.ip",
                strings(interfaces.ips.iter().map(IpAddr::to_string)),
            );
            b.set("host.mac", strings(interfaces.macs.into_iter()));
            b.set("host.interface", strings(interfaces.names.into_iter()));
        }
        let cpu_keys = [
            "host.cpu.vendor.id",
            "host.cpu.family",
            "host.cpu.model.id",
            "host.cpu.model.name",
            "host.cpu.stepping",
            "host.cpu.cache.l2.size",
        ];
        if cpu_keys.iter().any(|k| b.enabled(k)) {
            let cpuinfo = self
                .read("proc/cpuinfo")
                .ok_or("failed getting host cpuinfo: cannot read /proc/cpuinfo")?;
            set_cpu(&mut b, &cpuinfo);
        }
        Ok(Detected {
            attributes: b.finish(),
            schema_url: SCHEMA_URL.to_string(),
        })
    }
}

/// AI_CANONNAME in glibc's and musl's `<netdb.h>`.
const AI_CANONNAME: i32 = 0x0002;

fn hostname(source: HostnameSource, root: &Path) -> Result<String, BoxError> {
    let os = os_hostname(root)?;
    match source {
        HostnameSource::Os => Ok(os),
        HostnameSource::Dns => match from_hosts_file(root, &os) {
            Some(name) => Ok(name),
            None => canonical_name(&os).or_else(|_| reverse_lookup(&os)),
        },
        HostnameSource::Cname => canonical_name(&os),
        HostnameSource::Lookup => reverse_lookup(&os),
    }
}

/// Go's `os.Hostname` on Linux: the kernel's name, from procfs, else `uname`.
fn os_hostname(root: &Path) -> Result<String, BoxError> {
    if let Ok(name) = std::fs::read_to_string(root.join("proc/sys/kernel/hostname")) {
        let name = name.trim();
        if !name.is_empty() {
            return Ok(name.to_string());
        }
    }
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    if name.is_empty() {
        return Err("the kernel has no host name".into());
    }
    Ok(name)
}

/// The canonical name of the line in `/etc/hosts` that names `host` (as its canonical
/// name or an alias), as go-fqdn's `fromHosts` finds it.
fn from_hosts_file(root: &Path, host: &str) -> Option<String> {
    let text = std::fs::read_to_string(root.join("etc/hosts")).ok()?;
    text.lines().find_map(|line| hosts_line(line, host))
}

/// One hosts line: `ip canonical alias...`, `#` starting a comment.
pub fn hosts_line(line: &str, host: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or_default();
    let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
    let _ip = fields.next()?;
    let canonical = fields.next()?;
    let valid = canonical.len() <= 254
        && canonical
            .chars()
            .all(|c| !c.is_ascii() || c == '.' || c == '-' || c.is_ascii_alphanumeric());
    if !valid {
        return None;
    }
    if canonical == host || fields.any(|alias| alias == host) {
        return Some(canonical.to_string());
    }
    None
}

/// The resolver's canonical name of `host` (`getaddrinfo` with `AI_CANONNAME`).
fn canonical_name(host: &str) -> Result<String, BoxError> {
    let hints = dns_lookup::AddrInfoHints {
        flags: AI_CANONNAME,
        ..Default::default()
    };
    let found = dns_lookup::getaddrinfo(Some(host), None, Some(hints))
        .map_err(|e| format!("looking up the canonical name of `{host}`: {e:?}"))?
        .filter_map(Result::ok)
        .find_map(|info| info.canonname)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| format!("`{host}` has no canonical name"))?;
    Ok(found.trim_end_matches('.').to_string())
}

/// The name a reverse lookup gives the first of `host`'s addresses that has one.
fn reverse_lookup(host: &str) -> Result<String, BoxError> {
    let addresses =
        dns_lookup::lookup_host(host).map_err(|e| format!("resolving `{host}`: {e}"))?;
    addresses
        .iter()
        .find_map(|ip| dns_lookup::lookup_addr(ip).ok())
        .map(|name| name.trim_end_matches('.').to_string())
        .ok_or_else(|| format!("no address of `{host}` has a reverse name").into())
}

/// The semantic conventions' `os.type` for this build's OS (Go's GOOS mapping).
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "dragonfly" => "dragonflybsd",
        other => other,
    }
}

/// The semantic conventions' `host.arch` (the Collector's GOARCH mapping).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// `/etc/os-release` as `KEY=value` pairs (quotes removed).
struct OsRelease(Vec<(String, String)>);

impl OsRelease {
    fn read(d: &SystemDetector) -> OsRelease {
        let text = d
            .read("etc/os-release")
            .or_else(|| d.read("usr/lib/os-release"))
            .unwrap_or_default();
        OsRelease(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| {
                    (
                        k.trim().to_string(),
                        v.trim().trim_matches(['"', '\'']).to_string(),
                    )
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The SDK's description head: `NAME VERSION` (or `VERSION_ID`), else `PRETTY_NAME`.
    fn pretty(&self) -> Option<String> {
        let name = self.get("NAME").filter(|s| !s.is_empty());
        let version = self
            .get("VERSION")
            .filter(|s| !s.is_empty())
            .or_else(|| self.get("VERSION_ID").filter(|s| !s.is_empty()));
        match (name, version) {
            (Some(n), Some(v)) => Some(format!("{n} {v}")),
            _ => self.get("PRETTY_NAME").filter(|s| !s.is_empty()).cloned(),
        }
    }

    fn lsb(d: &SystemDetector) -> (String, String) {
        let text = d.read("etc/lsb-release").unwrap_or_default();
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"').to_string())
                .unwrap_or_default()
        };
        (field("DISTRIB_ID"), field("DISTRIB_RELEASE"))
    }

    /// gopsutil's platform name: Debian-family by `/etc/debian_version` and lsb-release,
    /// Alpine by `/etc/alpine-release`, else os-release's `ID` (`rhel` read `redhat`,
    /// `amzn` `amazon`, `ol` `oracle`).
    fn platform(&self, d: &SystemDetector) -> String {
        if has_contents(d, "etc/debian_version") {
            return match OsRelease::lsb(d).0.as_str() {
                "Ubuntu" => "ubuntu".to_string(),
                "LinuxMint" => "linuxmint".to_string(),
                _ => "debian".to_string(),
            };
        }
        if has_contents(d, "etc/alpine-release") {
            return "alpine".to_string();
        }
        match self.get("ID").map(String::as_str).unwrap_or_default() {
            "rhel" => "redhat".to_string(),
            "amzn" => "amazon".to_string(),
            "ol" => "oracle".to_string(),
            other => other.to_string(),
        }
    }

    /// gopsutil's platform version, by the same rules as [`OsRelease::platform`].
    fn platform_version(&self, d: &SystemDetector) -> String {
        let first_line = |path: &str| {
            d.read(path)
                .and_then(|t| t.lines().next().map(str::to_string))
                .unwrap_or_default()
        };
        if has_contents(d, "etc/debian_version") {
            let (id, release) = OsRelease::lsb(d);
            return match id.as_str() {
                "Ubuntu" | "LinuxMint" => release,
                _ => first_line("etc/debian_version"),
            };
        }
        if has_contents(d, "etc/alpine-release") {
            return first_line("etc/alpine-release");
        }
        self.get("VERSION_ID").cloned().unwrap_or_default()
    }
}

fn has_contents(d: &SystemDetector, path: &str) -> bool {
    d.read(path).is_some_and(|t| !t.is_empty())
}

/// The up, non-loopback interfaces (their names, MACs in IEEE RA form `AA-BB-...`) and
/// every up interface's non-loopback addresses, as the Collector lists them.
struct Interfaces {
    names: Vec<String>,
    macs: Vec<String>,
    ips: Vec<IpAddr>,
}

impl Interfaces {
    fn read(root: &Path) -> Result<Interfaces, BoxError> {
        const IFF_UP: u32 = 0x1;
        const IFF_LOOPBACK: u32 = 0x8;
        let net = root.join("sys/class/net");
        let mut all: Vec<(String, u32)> = std::fs::read_dir(&net)
            .map_err(|e| format!("listing {}: {e}", net.display()))?
            .filter_map(Result::ok)
            .map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let flags = std::fs::read_to_string(entry.path().join("flags"))
                    .ok()
                    .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
                    .unwrap_or(0);
                (name, flags)
            })
            .collect();
        all.sort_by_key(|(name, _)| {
            std::fs::read_to_string(net.join(name).join("ifindex"))
                .ok()
                .and_then(|i| i.trim().parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        });
        let up: Vec<&String> = all
            .iter()
            .filter(|(_, f)| f & IFF_UP != 0 && f & IFF_LOOPBACK == 0)
            .map(|(n, _)| n)
            .collect();
        let macs = up
            .iter()
            .map(|name| {
                std::fs::read_to_string(net.join(name).join("address"))
                    .unwrap_or_default()
                    .trim()
                    .replace(':', "-")
                    .to_uppercase()
            })
            .collect();
        let v4 = if_addrs::get_if_addrs().map_err(|e| format!("listing addresses: {e}"))?;
        let v6 = ipv6_addresses(root);
        let mut ips = Vec::new();
        for name in &up {
            ips.extend(
                v4.iter()
                    .filter(|a| &&a.name == name && a.ip().is_ipv4())
                    .map(|a| a.ip()),
            );
            ips.extend(
                v6.iter()
                    .filter(|(n, _, _)| n == *name)
                    .map(|(_, ip, _)| IpAddr::V6(*ip)),
            );
        }
        ips.retain(|ip| !ip.is_loopback());
        Ok(Interfaces {
            names: all.iter().map(|(n, _)| n.clone()).collect(),
            macs,
            ips,
        })
    }
}

/// `/proc/net/if_inet6`: every IPv6 address with its interface, per interface in the
/// order the kernel lists them to Go's netlink query (by scope: global before link-local;
/// the file itself is in hash order).
fn ipv6_addresses(root: &Path) -> Vec<(String, std::net::Ipv6Addr, u8)> {
    let text = std::fs::read_to_string(root.join("proc/net/if_inet6")).unwrap_or_default();
    let mut out: Vec<(String, std::net::Ipv6Addr, u8)> = text
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (hex, scope, name) = (f.first()?, f.get(3)?, f.get(5)?);
            let bits = u128::from_str_radix(hex, 16).ok()?;
            let scope = u8::from_str_radix(scope, 16).ok()?;
            Some((name.to_string(), std::net::Ipv6Addr::from(bits), scope))
        })
        .collect();
    out.sort_by_key(|(_, _, scope)| *scope);
    out
}

fn strings(values: impl Iterator<Item = String>) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue {
        values: values
            .map(|s| AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            })
            .collect(),
    })
}

/// The first processor's identity from `/proc/cpuinfo`, as gopsutil's `cpu.Info()[0]`
/// (the cache size is its number of KB, as the Collector sets it).
fn set_cpu(b: &mut Builder, cpuinfo: &str) {
    let first = cpuinfo.split("\n\n").next().unwrap_or_default();
    let field = |key: &str| {
        first.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    if let Some(v) = field("vendor_id") {
        b.set_str("host.cpu.vendor.id", v);
    }
    if let Some(v) = field("cpu family") {
        b.set_str("host.cpu.family", v);
    }
    if let Some(v) = field("model").filter(|v| !v.is_empty()) {
        b.set_str("host.cpu.model.id", v);
    }
    if let Some(v) = field("model name") {
        b.set_str("host.cpu.model.name", v);
    }
    let stepping = field("stepping")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    b.set_str("host.cpu.stepping", stepping.to_string());
    let cache_kb = field("cache size")
        .and_then(|s| s.trim_end_matches("KB").trim().parse::<i64>().ok())
        .unwrap_or(0);
    b.set(
        "host.cpu.cache.l2.size",
        any_value::Value::IntValue(cache_kb),
    );
}
