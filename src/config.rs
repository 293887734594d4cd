//! Configuration: one serde tree read from TOML, overridden by `WORKHOURS_<SECTION>__<KEY>`
//! environment variables, checked at start-up. STUB: to be replaced by the config work.

use chrono_tz::Tz;
use std::path::Path;

/// Thresholds of one (platform, role), resolved (role over platform over `[rules]`).
/// Every duration is in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub min_break: i64,
    pub continuous_limit: i64,
    pub warn_before: i64,
    pub session_timeout: i64,
    pub daily_standard: i64,
    pub daily_max: i64,
    pub weekly_max: i64,
    pub monthly_overtime_max: i64,
    pub minimum_wage_cents_per_hour: u64,
    pub quota_min_workers: u32,
}

impl Default for Rules {
    fn default() -> Self {
        const H: i64 = 3_600_000;
        Rules {
            min_break: 20 * 60_000,
            continuous_limit: 4 * H,
            warn_before: 15 * 60_000,
            session_timeout: 0,
            daily_standard: 8 * H,
            daily_max: 11 * H,
            weekly_max: 44 * H,
            monthly_overtime_max: 36 * H,
            minimum_wage_cents_per_hour: 2100,
            quota_min_workers: 10,
        }
    }
}

/// `[time]`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeConfig {
    pub zone: Tz,
    pub allowed_lateness: i64,
    pub max_future_skew: i64,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            zone: chrono_tz::Asia::Shanghai,
            allowed_lateness: 30_000,
            max_future_skew: 300_000,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub rules: Rules,
    pub time: TimeConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    pub fn load(_path: Option<&Path>) -> Result<Config, ConfigError> {
        Ok(Config::default())
    }

    pub fn rules_for(&self, _platform: &str, _role: &str) -> Rules {
        self.rules.clone()
    }
}
