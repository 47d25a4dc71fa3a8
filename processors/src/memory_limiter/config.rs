//! `processors.memory_limiter` config: the Collector's keys.

use std::time::Duration;

use llamacol_api::config::{ComponentConfig, Issue};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryLimiterConfig {
    /// How often memory use is read. Default 1s.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// Hard limit in MiB of the process's resident memory. Set this or `limit_percentage`.
    pub limit_mib: u64,
    /// Hard limit as a percentage of the container's cgroup memory limit, or of physical
    /// memory when there is none (1-100).
    pub limit_percentage: u64,
    /// Headroom below the hard limit: data is refused once use passes
    /// `limit - spike`. Default 20% of the limit.
    pub spike_limit_mib: Option<u64>,
    /// The spike limit as a percentage of total memory (with `limit_percentage`).
    pub spike_limit_percentage: Option<u64>,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        MemoryLimiterConfig {
            check_interval: Duration::from_secs(1),
            limit_mib: 0,
            limit_percentage: 0,
            spike_limit_mib: None,
            spike_limit_percentage: None,
        }
    }
}

impl ComponentConfig for MemoryLimiterConfig {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        match (self.limit_mib, self.limit_percentage) {
            (0, 0) => issues.push(Issue::new(
                "",
                "set `limit_mib` (e.g. 400) or `limit_percentage` (e.g. 80)",
            )),
            (m, p) if m > 0 && p > 0 => issues.push(Issue::new(
                "limit_percentage",
                "set `limit_mib` or `limit_percentage`, not both",
            )),
            (_, p) if p > 100 => issues.push(Issue::new("limit_percentage", "must be 1-100")),
            _ => {}
        }
        if let Some(spike) = self.spike_limit_mib {
            if self.limit_mib > 0 && spike >= self.limit_mib {
                issues.push(Issue::new(
                    "spike_limit_mib",
                    format!("must be below limit_mib ({})", self.limit_mib),
                ));
            }
        }
        if let Some(spike) = self.spike_limit_percentage {
            if self.limit_percentage > 0 && spike >= self.limit_percentage {
                issues.push(Issue::new(
                    "spike_limit_percentage",
                    format!("must be below limit_percentage ({})", self.limit_percentage),
                ));
            }
            if self.limit_mib > 0 {
                issues.push(Issue::new(
                    "spike_limit_percentage",
                    "goes with `limit_percentage`; with `limit_mib` use `spike_limit_mib`",
                ));
            }
        }
        if self.check_interval.is_zero() {
            issues.push(Issue::new("check_interval", "must be more than 0, e.g. 1s"));
        }
        issues
    }
}

/// Hard and soft limits in bytes, resolved against the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub hard: u64,
    pub soft: u64,
}

const MIB: u64 = 1024 * 1024;

/// `pct`% of `total`, as the Collector computes it (multiplied first, so 50% of 512 MiB
/// is 256 MiB, not a few bytes less), without overflowing.
fn percent_of(total: u64, pct: u64) -> u64 {
    u64::try_from(u128::from(total) * u128::from(pct) / 100).unwrap_or(u64::MAX)
}

/// `limit_percentage` with no total to take it of.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the cgroup memory limit or physical memory for `limit_percentage`; use `limit_mib`")]
pub struct NoMemoryTotal;

impl MemoryLimiterConfig {
    /// `total` is the memory the percentages refer to (cgroup limit or physical memory).
    pub fn limits(&self, total: Option<u64>) -> Result<Limits, NoMemoryTotal> {
        let hard = if self.limit_mib > 0 {
            self.limit_mib * MIB
        } else {
            let total = total.ok_or(NoMemoryTotal)?;
            percent_of(total, self.limit_percentage)
        };
        let spike = match (self.spike_limit_mib, self.spike_limit_percentage, total) {
            (Some(mib), _, _) => mib * MIB,
            (None, Some(pct), Some(total)) => percent_of(total, pct),
            _ => hard / 5,
        };
        Ok(Limits {
            hard,
            soft: hard.saturating_sub(spike),
        })
    }
}
