//! Configuration: one serde tree read from TOML, overridden by `WORKHOURS_<SECTION>__<KEY>`
//! environment variables, checked at start-up. Every key is documented in `docs/config.md`.
//!
//! The path is: TOML text -> `toml::Table` -> environment overlay -> serde tree -> checks.
//! The overlay writes into the table, not into the typed tree, so a value from the
//! environment meets the same parser, unknown-key check and messages as one from the file.

use crate::duration::{format_duration, parse_duration};
use crate::engine::RuleSet;
use crate::holidays::Holidays;
use crate::pack::{DEFAULT_PACK, KeyValue, KeyValues, Pack};
use chrono_tz::Tz;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Prefix of the environment variables that override the config (matched ignoring case).
pub const ENV_PREFIX: &str = "WORKHOURS_";

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Declares the rule keys of SPEC section 6 once: the resolved [`Rules`] of a (platform, role),
/// the override table that `[rules]`, `[rules.platform.NAME]`, `[rules.role.NAME]` and
/// `[rules.person]` deserialize into, how a table applies over another, which keys it sets,
/// each key's value for a pack's `"$KEY"`, and the keys' value types for the environment.
macro_rules! rule_keys {
    ($( $(#[doc = $doc:literal])* $key:ident : $ty:ty = $default:expr, $de:literal, $kind:ident; )*) => {
        /// The rule keys in force for one (platform, role): `[rules]`, then the platform's
        /// table, then the role's. Every duration is in milliseconds.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Rules {
            $( $(#[doc = $doc])* pub $key: $ty, )*
        }

        impl Default for Rules {
            fn default() -> Self {
                Rules { $( $key: $default, )* }
            }
        }

        /// One table of rule keys: the keys it sets.
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        struct RuleOverride {
            $( #[serde(deserialize_with = $de)] $key: Option<$ty>, )*
        }

        impl RuleOverride {
            fn apply_keys(&self, rules: &mut Rules) {
                $( if let Some(value) = &self.$key { rules.$key = value.clone(); } )*
            }

            /// Whether this table sets the key `field` (for messages of the checks).
            fn sets(&self, field: &str) -> bool {
                match field {
                    $( stringify!($key) => self.$key.is_some(), )*
                    _ => false,
                }
            }
        }

        impl Rules {
            /// The value of rule key `key` (a pack's `"$KEY"`).
            pub fn value_of(&self, key: &str) -> Option<KeyValue> {
                match key {
                    $( stringify!($key) => Some(self.$key.key_value()), )*
                    _ => None,
                }
            }
        }

        /// Every rule key, with the type of its value.
        pub const RULE_KEYS: &[(&str, KeyType)] = &[ $( (stringify!($key), KeyType::$kind), )* ];
    };
}

rule_keys! {
    /// Shortest rest that counts as a break: it ends a continuous-work episode.
    min_break: i64 = 20 * MINUTE, "some_duration", Duration;
    /// Worked time in one episode that makes a `continuous_work` violation.
    continuous_limit: i64 = 4 * HOUR, "some_duration", Duration;
    /// The `continuous_work` warning fires this long before `continuous_limit`.
    warn_before: i64 = 15 * MINUTE, "some_duration", Duration;
    /// Silence after which a working worker is taken to be offline; 0 = off.
    session_timeout: i64 = 0, "some_duration", Duration;
    /// Working time in a local day that makes a `daily_hours` warning; also the base of
    /// monthly overtime and the bound of `quota_p90`.
    daily_standard: i64 = 8 * HOUR, "some_duration", Duration;
    /// Working time in a local day that makes a `daily_hours` violation.
    daily_max: i64 = 11 * HOUR, "some_duration", Duration;
    /// Working time in a local ISO week that makes a `weekly_hours` violation.
    weekly_max: i64 = 44 * HOUR, "some_duration", Duration;
    /// Overtime (beyond `daily_standard`) summed over a local month that makes a violation.
    monthly_overtime_max: i64 = 36 * HOUR, "some_duration", Duration;
    /// Hourly pay below which a day makes a `minimum_wage` violation, in fen.
    minimum_wage_cents_per_hour: u64 = 2100, "some", Integer;
    /// Smallest (platform, role, city) group that `quota_p90` evaluates.
    quota_min_workers: u32 = 10, "some", Integer;
    /// `holiday_pay`: a statutory holiday's pay per hour must be above this times the pay
    /// per hour of the 28 days before (1.0: more than normal).
    holiday_pay_ratio: f64 = 1.0, "some_ratio", Number;
    /// The rule pack in force (`config/packs/NAME.toml`, built in).
    pack: String = DEFAULT_PACK.into(), "some", Text;
    /// A pack file of one's own (a relative path: beside the config file, else in the working
    /// directory); wins over `pack` when set in the same or a more specific table. Empty: none.
    pack_file: String = String::new(), "some", Text;
}

/// The type of a rule key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Duration,
    Integer,
    Number,
    Text,
}

/// A rule key's value as a pack's `"$KEY"` sees it.
trait ToKeyValue {
    fn key_value(&self) -> KeyValue;
}

impl ToKeyValue for i64 {
    fn key_value(&self) -> KeyValue {
        KeyValue::Duration(*self)
    }
}

impl ToKeyValue for u64 {
    fn key_value(&self) -> KeyValue {
        KeyValue::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToKeyValue for u32 {
    fn key_value(&self) -> KeyValue {
        KeyValue::Integer(i64::from(*self))
    }
}

impl ToKeyValue for f64 {
    fn key_value(&self) -> KeyValue {
        KeyValue::Number(*self)
    }
}

impl ToKeyValue for String {
    fn key_value(&self) -> KeyValue {
        KeyValue::Text(self.clone())
    }
}

impl KeyValues for Rules {
    fn key_value(&self, key: &str) -> Option<KeyValue> {
        self.value_of(key)
    }
}

impl Rules {
    /// Where the pack in force comes from.
    pub fn pack_source(&self) -> PackSource {
        if self.pack_file.is_empty() {
            PackSource::Shipped(self.pack.clone())
        } else {
            PackSource::File(self.pack_file.clone())
        }
    }
}

/// A pack by name (built in) or a pack file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackSource {
    Shipped(String),
    File(String),
}

/// Whom the per-worker rules are evaluated for (SPEC section 8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// Each `worker_id` (one person on one platform).
    #[default]
    Worker,
    /// Each person (`person_id`), across platforms.
    Person,
}

/// `[time]`, resolved.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeConfig {
    /// IANA zone of local days, ISO weeks and months, and of the offset of alert times.
    #[serde(deserialize_with = "zone")]
    pub zone: Tz,
    /// How far behind the largest `ts` already read an event may arrive and still count
    /// exactly, in milliseconds.
    #[serde(deserialize_with = "duration")]
    pub allowed_lateness: i64,
    /// Live only: an event further ahead of the wall clock than this is bad, in milliseconds.
    #[serde(deserialize_with = "duration")]
    pub max_future_skew: i64,
    /// An `event_id` is remembered (duplicates of it dropped) until the watermark passes its
    /// event's `ts` plus this, in milliseconds; the same in replay and live.
    #[serde(deserialize_with = "duration")]
    pub dedup_window: i64,
    /// A worker with no event for this long is forgotten (its state dropped; a tombstone
    /// live), in milliseconds. Longer than any rule period, so it changes no alert.
    #[serde(deserialize_with = "duration")]
    pub worker_ttl: i64,
    /// A statutory-holiday calendar (`config/holidays/cn.toml`: beside the config file, else in
    /// the working directory) for the `holiday_pay` rule; empty by default: no calendar, the
    /// rule is off.
    pub holidays: String,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            zone: chrono_tz::Asia::Shanghai,
            allowed_lateness: 30_000,
            max_future_skew: 300_000,
            // SPEC section 5: one hour; a re-sent copy older than that is late anyway.
            dedup_window: 3_600_000,
            // SPEC section 5: 40 days, longer than any rule period (a month, 8 days, 24 h).
            worker_ttl: 40 * 86_400_000,
            holidays: String::new(),
        }
    }
}

/// `[kafka]`: where the live pipeline reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` separated by commas (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// Consumer group: instances with the same group split the input partitions.
    pub group_id: String,
    /// Topics of input events.
    pub input_topics: Vec<String>,
    /// Topic the alerts are written to.
    pub alerts_topic: String,
    /// Topic bad events are written to, with their reason.
    pub dead_letter_topic: String,
    /// Topic of per-worker state snapshots, read back after a restart or a rebalance.
    pub state_topic: String,
    /// Topic of dispatch holds (SPEC section 7), keyed by `worker_id`.
    pub holds_topic: String,
    /// librdkafka properties (SASL, TLS, tuning), passed as is. TOML integers and booleans
    /// are stored in their TOML spelling; nested tables are flattened to dotted names.
    #[serde(deserialize_with = "properties")]
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".into(),
            group_id: "workhours".into(),
            input_topics: vec!["workhours.events".into()],
            alerts_topic: "workhours.alerts".into(),
            dead_letter_topic: "workhours.dead-letter".into(),
            state_topic: "workhours.state".into(),
            holds_topic: "workhours.holds".into(),
            properties: BTreeMap::new(),
        }
    }
}

/// `[live]`: pacing of the live pipeline. Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// A partition that delivers nothing for this long no longer holds event time back:
    /// it advances with the wall clock, so deadlines fire for workers who send nothing.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: i64,
    /// How often partitions are checkpointed: state saved, then offsets committed. Shorter
    /// means fewer alerts sent again after a crash; longer, less writing (Kafka Streams'
    /// at-least-once default is 30 s).
    #[serde(deserialize_with = "duration")]
    pub commit_interval: i64,
    /// On partition assignment, read the input partition again from its start, skipping the
    /// events the restored state holds (rebuilding duplicate detection on the way), instead of
    /// resuming at the committed offset. Needed on brokers that cannot fetch from inside a
    /// record batch (Tansu 0.6); set false on Apache Kafka with long input retention.
    pub reread_input: bool,
    /// A record (alert, dead letter, state) not acknowledged by the broker this long after it
    /// was first sent, retried meanwhile, or a fatal producer error, stops the monitor with a
    /// non-zero exit, so that its supervisor restarts it from the last commit.
    #[serde(deserialize_with = "duration")]
    pub delivery_timeout: i64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            idle_timeout: 2_000,
            commit_interval: 5_000,
            reread_input: true,
            // SPEC section 5: two minutes, long enough to ride out a broker restart or a
            // leader election, short enough that a stuck monitor is restarted.
            delivery_timeout: 120_000,
        }
    }
}

/// `[http]`: the metrics, health and worker-state endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Socket address to listen on.
    pub listen: String,
    /// A file holding the bearer token that `/v1/*` requires (`Authorization: Bearer
    /// TOKEN`; surrounding whitespace is ignored); empty: no token required.
    pub token_file: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9898".into(),
            // Off by default, as the listener is loopback by default.
            token_file: String::new(),
        }
    }
}

/// The whole configuration, resolved and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[rules]`: the base rules, for a (platform, role) without overrides.
    pub rules: Rules,
    /// `[rules] subject`: workers (default) or persons.
    pub subject: Subject,
    pub time: TimeConfig,
    pub kafka: KafkaConfig,
    pub live: LiveConfig,
    pub http: HttpConfig,
    /// `[rules.platform.NAME]`, applied over `rules` by `rules_for`.
    platform_rules: BTreeMap<String, RuleOverride>,
    /// `[rules.role.NAME]`, applied over the platform's by `rules_for`.
    role_rules: BTreeMap<String, RuleOverride>,
    /// `[rules.person]`, applied over `rules` for persons (`subject = "person"`).
    person_rules: RuleOverride,
    /// Every pack the config names, parsed once.
    packs: BTreeMap<PackSource, Arc<Pack>>,
    /// Where relative paths in the config (`pack_file`, `time.holidays`) are looked up first:
    /// the config file's directory ([`Config::resolve_path`]).
    base_dir: Option<PathBuf>,
    /// The statutory-holiday calendar of `time.holidays`, loaded at start.
    pub holidays: Option<Arc<Holidays>>,
}

impl Default for Config {
    /// The defaults of every key, with the default pack loaded.
    fn default() -> Self {
        let mut packs = BTreeMap::new();
        packs.insert(
            PackSource::Shipped(DEFAULT_PACK.into()),
            Arc::new(Pack::shipped(DEFAULT_PACK).expect("the default pack parses")),
        );
        Config {
            rules: Rules::default(),
            subject: Subject::default(),
            time: TimeConfig::default(),
            kafka: KafkaConfig::default(),
            live: LiveConfig::default(),
            http: HttpConfig::default(),
            platform_rules: BTreeMap::new(),
            role_rules: BTreeMap::new(),
            person_rules: RuleOverride::default(),
            packs,
            base_dir: None,
            holidays: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not named `source`: the reason is in the message, and a cause would print it twice.
    #[error("cannot read config file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    /// A problem that belongs to no single key.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// The text is not TOML; the message shows the line and column.
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    /// An unknown key, a value of the wrong type or form, or a failed start-up check.
    /// `key` is the full dotted path, e.g. `rules.platform.didi.warn_before`.
    #[error("config key `{key}`: {reason}")]
    Key { key: String, reason: String },
    /// A `WORKHOURS_` variable that names no key or whose value cannot be used.
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
}

impl Config {
    /// Reads the file if given (else starts from the defaults), then applies the
    /// `WORKHOURS_` environment variables of the process, then checks the result.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_or(path, "")
    }

    /// As [`Config::load`], with `default` as the file's text when no file is given (the
    /// demo's own rules).
    pub fn load_or(path: Option<&Path>, default: &str) -> Result<Config, ConfigError> {
        let text =
            match path {
                Some(path) => crate::files::read_text(path, crate::files::MAX_TEXT_BYTES).map_err(
                    |error| ConfigError::Read {
                        path: path.display().to_string(),
                        error,
                    },
                )?,
                None => default.to_owned(),
            };
        let base_dir = path.and_then(Path::parent).map(Path::to_path_buf);
        Config::parse(&text, process_env()?, base_dir).map_err(|error| match (error, path) {
            (ConfigError::Syntax(detail), Some(path)) => {
                ConfigError::Syntax(format!("{}: {detail}", path.display()))
            }
            (error, _) => error,
        })
    }

    /// Parses TOML text, applies the given environment (pairs of name and value; names
    /// without the `WORKHOURS_` prefix are ignored) and checks the result.
    pub fn from_toml_str(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Config::parse(text, env, None)
    }

    pub(crate) fn parse(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
        base_dir: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|error: toml::de::Error| {
            ConfigError::Syntax(error.to_string().trim_end().to_owned())
        })?;
        let overlay = EnvOverlay::apply(&mut table, env)?;
        let ttl_set = table
            .get("time")
            .and_then(toml::Value::as_table)
            .is_some_and(|time| time.contains_key("worker_ttl"));
        // `[rules]` holds rule keys and named tables of them: split them before serde, so
        // that each table meets the one declaration of the keys.
        let rules = match table.remove("rules") {
            None => RulesSection::default(),
            Some(toml::Value::Table(rules)) => RulesSection::split(rules, &overlay)?,
            Some(_) => {
                return Err(overlay.blame_key("rules", "invalid type: expected a table"));
            }
        };
        let file: ConfigFile = toml::Value::Table(table)
            .try_into()
            .map_err(|error| overlay.blame(&error, ""))?;
        let mut config = file.resolve(rules);
        config.packs = Config::default().packs;
        config.base_dir = base_dir;
        config
            .load_packs()
            .map_err(|error| overlay.annotate(error))?;
        if !config.time.holidays.is_empty() {
            let path = config.resolve_path(&config.time.holidays);
            let holidays = match crate::holidays::shipped(&config.time.holidays) {
                // A shipped calendar's path, in neither place: the built-in copy.
                Some(text) if !path.exists() => Holidays::parse(text),
                _ => Holidays::load(&path),
            }
            .map_err(|error| {
                let looked = config.looked_in(&config.time.holidays);
                overlay.annotate(key_error("time.holidays", &format!("{error}{looked}")))
            })?;
            config.holidays = Some(Arc::new(holidays));
        }
        config.check().map_err(|error| overlay.annotate(error))?;
        if !ttl_set {
            // SPEC section 5: the default is longer than any rule period. A pack's longer
            // window (a user's 60-day `rolling`, `count = 2` months) lengthens it, so that a
            // worker silent for most of a window is not forgotten within it (audit BB).
            let needed = config.longest_lookback().saturating_add(86_400_000);
            config.time.worker_ttl = config.time.worker_ttl.max(needed);
        }
        Ok(config)
    }

    /// The longest window a rule of any rule set an event can select sums over
    /// ([`crate::engine::rules::Params::lookback`]).
    pub fn longest_lookback(&self) -> i64 {
        let mut longest = 0;
        let _ = self.each_combination(|_, rules, role| {
            if let Ok(set) = RuleSet::resolve(self, rules, role) {
                for def in set.rules() {
                    longest = longest.max(def.params.lookback());
                }
            }
            Ok(())
        });
        longest
    }

    /// Parses every pack the rule tables name.
    fn load_packs(&mut self) -> Result<(), ConfigError> {
        let base = RuleOverride {
            pack: (self.rules.pack != DEFAULT_PACK).then(|| self.rules.pack.clone()),
            pack_file: (!self.rules.pack_file.is_empty()).then(|| self.rules.pack_file.clone()),
            ..RuleOverride::default()
        };
        let mut tables: Vec<(String, &RuleOverride)> = vec![("rules".into(), &base)];
        tables.extend(
            self.platform_rules
                .iter()
                .map(|(name, over)| (format!("rules.platform.{name}"), over)),
        );
        tables.extend(
            self.role_rules
                .iter()
                .map(|(name, over)| (format!("rules.role.{name}"), over)),
        );
        tables.push(("rules.person".into(), &self.person_rules));
        let mut packs = std::mem::take(&mut self.packs);
        for (table, over) in tables {
            // `pack_file = ""` is no file, in any table, as in `[rules]` (in a more specific
            // table it drops a file named by a less specific one: `pack` applies).
            let file = over.pack_file.as_ref().filter(|file| !file.is_empty());
            if over.pack.is_some() && file.is_some() {
                return Err(key_error(
                    &format!("{table}.pack_file"),
                    "set either `pack` or `pack_file` in one table, not both",
                ));
            }
            let (source, key) = match (&over.pack, file) {
                (Some(name), _) => (PackSource::Shipped(name.clone()), "pack"),
                (_, Some(file)) => (PackSource::File(file.clone()), "pack_file"),
                _ => continue,
            };
            if packs.contains_key(&source) {
                continue;
            }
            let pack = match &source {
                PackSource::Shipped(name) => Pack::shipped(name),
                PackSource::File(file) => Pack::load(&self.resolve_path(file)),
            };
            let pack = pack.map_err(|error| {
                let looked = match &source {
                    PackSource::File(file) => self.looked_in(file),
                    PackSource::Shipped(_) => "",
                };
                key_error(&format!("{table}.{key}"), &format!("{error}{looked}"))
            })?;
            packs.insert(source, Arc::new(pack));
        }
        self.packs = packs;
        Ok(())
    }

    /// A path from the config: a relative one is looked up beside the config file first,
    /// then in the working directory (SPEC's own example, `config/holidays/cn.toml`, is
    /// written from the project's root, where the shipped config is `config/workhours.toml`).
    /// When neither holds the file, the path beside the config file is the one reported.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        match &self.base_dir {
            Some(base) if path.is_relative() => {
                let beside = base.join(path);
                if beside.exists() || !path.exists() {
                    beside
                } else {
                    path.to_path_buf()
                }
            }
            _ => path.to_path_buf(),
        }
    }

    /// For a message about a file that could not be read: where a relative path was looked
    /// for, when it was looked for in two places ([`Config::resolve_path`]) and is in neither.
    pub fn looked_in(&self, path: &str) -> &'static str {
        let path = Path::new(path);
        match &self.base_dir {
            Some(base) if path.is_relative() && !base.join(path).exists() && !path.exists() => {
                " (looked for beside the config file, then in the working directory)"
            }
            _ => "",
        }
    }

    /// The pack a source names (every pack of the config is loaded at start).
    pub fn pack(&self, source: &PackSource) -> Option<&Arc<Pack>> {
        self.packs.get(source)
    }

    /// The rules of a worker of `platform` and `role`: the pack in force, resolved with the
    /// rule keys in force.
    pub fn rule_set(&self, platform: &str, role: &str) -> RuleSet {
        let rules = self.rules_for(platform, role);
        RuleSet::resolve(self, &rules, role).expect("rule sets are checked at start-up")
    }

    /// The rules of a worker: `[rules]`, then `[rules.platform.<platform>]`, then
    /// `[rules.role.<role>]`. Names are compared exactly. Two map look-ups and a copy.
    pub fn rules_for(&self, platform: &str, role: &str) -> Rules {
        let mut rules = self.rules.clone();
        if let Some(over) = self.platform_rules.get(platform) {
            over.apply(&mut rules);
        }
        if let Some(over) = self.role_rules.get(role) {
            over.apply(&mut rules);
        }
        rules
    }

    /// The rule keys for persons (`subject = "person"`): `[rules.person]` over `[rules]`.
    pub fn person_rules(&self) -> Rules {
        let mut rules = self.rules.clone();
        self.person_rules.apply(&mut rules);
        rules
    }

    /// Calls `f` for every combination of rule tables an event can select (`[rules]` alone,
    /// each platform, each role, each platform and role, persons): the tables applied, in
    /// order, the rules they give and the role.
    fn each_combination<'a>(
        &'a self,
        mut f: impl FnMut(&[&Layer<'a>], &Rules, &str) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        let layers = |kind: &str, tables: &'a BTreeMap<String, RuleOverride>| -> Vec<Layer<'a>> {
            tables
                .iter()
                .map(|(name, over)| Layer {
                    table: format!("rules.{kind}.{name}"),
                    over,
                })
                .collect()
        };
        let platforms = layers("platform", &self.platform_rules);
        let roles = layers("role", &self.role_rules);
        let mut combinations: Vec<Vec<&Layer>> = vec![vec![]];
        combinations.extend(platforms.iter().map(|p| vec![p]));
        combinations.extend(roles.iter().map(|r| vec![r]));
        for p in &platforms {
            combinations.extend(roles.iter().map(|r| vec![p, r]));
        }
        let person = Layer {
            table: "rules.person".into(),
            over: &self.person_rules,
        };
        combinations.push(vec![&person]);
        for layers in combinations {
            let mut rules = self.rules.clone();
            for layer in &layers {
                layer.over.apply(&mut rules);
            }
            let role = layers
                .iter()
                .find_map(|layer| layer.table.strip_prefix("rules.role."))
                .unwrap_or("");
            f(&layers, &rules, role)?;
        }
        Ok(())
    }

    /// Every (rule id, phase) an alert can carry under this config, and the rule ids that
    /// hold, in the rule sets of every combination of tables: the metrics start their
    /// counters at 0 for them.
    pub fn alert_kinds(&self) -> (Vec<(String, &'static str)>, Vec<String>) {
        let mut phases: Vec<(String, &'static str)> = Vec::new();
        let mut holds: Vec<String> = Vec::new();
        let _ = self.each_combination(|_, rules, role| {
            if let Ok(set) = RuleSet::resolve(self, rules, role) {
                for def in set.rules() {
                    for phase in def.phases() {
                        let entry = (def.id.to_string(), phase.as_str());
                        if !phases.contains(&entry) {
                            phases.push(entry);
                        }
                    }
                    if def.hold && !holds.iter().any(|id| **id == *def.id) {
                        holds.push(def.id.to_string());
                    }
                }
            }
            Ok(())
        });
        (phases, holds)
    }

    /// Start-up checks. Rules are checked for every combination an event can select, so
    /// that no override yields an inconsistent rule set.
    fn check(&self) -> Result<(), ConfigError> {
        self.each_combination(|layers, rules, role| {
            check_rules(rules, layers)?;
            if let Err(error) = RuleSet::resolve(self, rules, role) {
                // The key the user set: the pack's name, or its file.
                let table = layers
                    .iter()
                    .rev()
                    .find(|layer| layer.over.pack.is_some() || layer.over.pack_file.is_some())
                    .map_or("rules", |layer| &layer.table);
                let name = if rules.pack_file.is_empty() {
                    "pack"
                } else {
                    "pack_file"
                };
                return Err(key_error(&format!("{table}.{name}"), &error.to_string()));
            }
            Ok(())
        })?;
        let positive = |key: &str, ms: i64| match ms {
            1.. => Ok(()),
            _ => Err(key_error(key, "must be longer than 0s")),
        };
        positive("time.dedup_window", self.time.dedup_window)?;
        positive("time.worker_ttl", self.time.worker_ttl)?;
        self.check_kafka()?;
        positive("live.idle_timeout", self.live.idle_timeout)?;
        positive("live.delivery_timeout", self.live.delivery_timeout)?;
        positive("live.commit_interval", self.live.commit_interval)?;
        if self.http.listen.trim().is_empty() {
            return Err(key_error("http.listen", "must not be empty"));
        }
        Ok(())
    }

    fn check_kafka(&self) -> Result<(), ConfigError> {
        let kafka = &self.kafka;
        for (key, value) in [
            ("kafka.brokers", &kafka.brokers),
            ("kafka.group_id", &kafka.group_id),
            ("kafka.alerts_topic", &kafka.alerts_topic),
            ("kafka.dead_letter_topic", &kafka.dead_letter_topic),
            ("kafka.state_topic", &kafka.state_topic),
            ("kafka.holds_topic", &kafka.holds_topic),
        ] {
            if value.trim().is_empty() {
                return Err(key_error(key, "must not be empty"));
            }
        }
        if kafka.input_topics.is_empty() {
            return Err(key_error(
                "kafka.input_topics",
                "must list at least one topic",
            ));
        }
        if kafka
            .input_topics
            .iter()
            .any(|topic| topic.trim().is_empty())
        {
            return Err(key_error("kafka.input_topics", "a topic name is empty"));
        }
        let outputs = [
            ("kafka.alerts_topic", &kafka.alerts_topic),
            ("kafka.dead_letter_topic", &kafka.dead_letter_topic),
            ("kafka.state_topic", &kafka.state_topic),
            ("kafka.holds_topic", &kafka.holds_topic),
        ];
        // Kafka refuses other names only when the monitor first writes or subscribes, long
        // after a start that looked fine.
        let inputs = kafka.input_topics.iter().map(|t| ("kafka.input_topics", t));
        for (key, topic) in outputs.into_iter().chain(inputs) {
            if let Err(reason) = topic_name(topic.trim()) {
                return Err(key_error(key, &reason));
            }
        }
        // The monitor reads its inputs and writes each output topic for one purpose: a topic
        // in two roles reads its own dead letters back without end, or restores alerts as state.
        for (i, &(key, topic)) in outputs.iter().enumerate() {
            if kafka
                .input_topics
                .iter()
                .any(|input| input.trim() == topic.trim())
            {
                return Err(key_error(
                    key,
                    &format!(
                        "`{topic}` is also an input topic (kafka.input_topics): the monitor \
                         would read what it writes"
                    ),
                ));
            }
            if let Some((other, _)) = outputs[..i]
                .iter()
                .find(|(_, earlier)| earlier.trim() == topic.trim())
            {
                return Err(key_error(
                    key,
                    &format!("`{topic}` is also `{other}`: each output needs a topic of its own"),
                ));
            }
        }
        // Two spellings of one setting would leave it unclear which wins.
        for (property, instead) in [
            ("bootstrap.servers", "kafka.brokers"),
            ("group.id", "kafka.group_id"),
        ] {
            if kafka.properties.contains_key(property) {
                return Err(key_error(
                    &format!("kafka.properties.{property}"),
                    &format!("set `{instead}` instead"),
                ));
            }
        }
        // Properties the monitor sets itself: another value would be silently replaced.
        for (property, value, why) in FIXED_PROPERTIES {
            if let Some(set) = kafka.properties.get(property)
                && !set.trim().eq_ignore_ascii_case(value)
            {
                return Err(key_error(
                    &format!("kafka.properties.{property}"),
                    &format!("the monitor sets `{value}` itself ({why}); remove it"),
                ));
            }
        }
        Ok(())
    }
}

/// librdkafka properties the monitor sets itself, with the value it needs and why: a user's
/// other value is refused at start rather than replaced without a word.
const FIXED_PROPERTIES: [(&str, &str, &str); 3] = [
    (
        "enable.auto.commit",
        "false",
        "offsets are committed with the state checkpoints",
    ),
    (
        "partition.assignment.strategy",
        "range",
        "co-partitioned input topics must be assigned together",
    ),
    (
        "enable.idempotence",
        "true",
        "a retried alert must not be written twice",
    ),
];

/// Whether `topic` is a name Kafka accepts: 1 to 249 of `a-z A-Z 0-9 . _ -`, and not `.`
/// or `..`.
fn topic_name(topic: &str) -> Result<(), String> {
    const MAX: usize = 249;
    if topic.len() > MAX {
        return Err(format!(
            "a topic name of {} characters: Kafka allows at most {MAX} characters",
            topic.chars().count()
        ));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic == "." || topic == ".." || !topic.chars().all(legal) {
        return Err(format!(
            "`{topic}` is not a Kafka topic name: use letters a-z and A-Z, digits, `.`, `_` \
             and `-`, and not `.` or `..` alone"
        ));
    }
    Ok(())
}

fn key_error(key: &str, reason: &str) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// One override table applied over `[rules]`, with its dotted name for messages.
struct Layer<'a> {
    table: String,
    over: &'a RuleOverride,
}

/// Checks one effective rule set. `layers` are the overrides applied over `[rules]`, in
/// order; a message names the key of the last layer that set the value, else `rules.KEY`.
fn check_rules(rules: &Rules, layers: &[&Layer]) -> Result<(), ConfigError> {
    let key = |field: &str| match layers.iter().rev().find(|layer| layer.over.sets(field)) {
        Some(layer) => format!("{}.{field}", layer.table),
        None => format!("rules.{field}"),
    };
    let context = match layers {
        [] => String::new(),
        [one] => format!(" (in the rules of `{}`)", one.table),
        [first, second] => format!(
            " (in the rules of `{}` combined with `{}`)",
            first.table, second.table
        ),
        _ => unreachable!("at most a platform and a role apply"),
    };
    let fail = |field: &str, reason: String| ConfigError::Key {
        key: key(field),
        reason: format!("{reason}{context}"),
    };
    for (field, value) in [
        ("min_break", rules.min_break),
        ("continuous_limit", rules.continuous_limit),
        ("warn_before", rules.warn_before),
        ("daily_standard", rules.daily_standard),
        ("daily_max", rules.daily_max),
        ("weekly_max", rules.weekly_max),
        ("monthly_overtime_max", rules.monthly_overtime_max),
    ] {
        if value <= 0 {
            return Err(fail(field, "must be longer than 0s".into()));
        }
    }
    if rules.warn_before >= rules.continuous_limit {
        return Err(fail(
            "warn_before",
            format!(
                "is {} but must be less than `{}` ({})",
                format_duration(rules.warn_before),
                key("continuous_limit"),
                format_duration(rules.continuous_limit),
            ),
        ));
    }
    if rules.daily_max < rules.daily_standard {
        return Err(fail(
            "daily_max",
            format!(
                "is {} but must be at least `{}` ({})",
                format_duration(rules.daily_max),
                key("daily_standard"),
                format_duration(rules.daily_standard),
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The serde tree. `[time]`, `[kafka]`, `[live]` and `[http]` deserialize straight into
// their public types; `[rules]` needs its own shape because it also holds the overrides.

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConfigFile {
    /// Taken out before serde ([`RulesSection::split`]); listed so that messages about
    /// unknown sections name it.
    #[allow(dead_code)]
    rules: Option<de::IgnoredAny>,
    time: TimeConfig,
    kafka: KafkaConfig,
    live: LiveConfig,
    http: HttpConfig,
}

/// `[rules]`: the rule keys, `subject`, and the named tables of rule keys.
#[derive(Default)]
struct RulesSection {
    base: RuleOverride,
    subject: Subject,
    platform: BTreeMap<String, RuleOverride>,
    role: BTreeMap<String, RuleOverride>,
    person: RuleOverride,
}

impl RulesSection {
    fn split(mut rules: toml::Table, overlay: &EnvOverlay) -> Result<RulesSection, ConfigError> {
        let subject = match rules.remove("subject") {
            None => Subject::Worker,
            Some(value) => value
                .try_into()
                .map_err(|error| overlay.blame(&error, "rules.subject"))?,
        };
        let mut named = |kind: &str| -> Result<BTreeMap<String, RuleOverride>, ConfigError> {
            let prefix = format!("rules.{kind}");
            match rules.remove(kind) {
                None => Ok(BTreeMap::new()),
                Some(toml::Value::Table(tables)) => tables
                    .into_iter()
                    .map(|(name, table)| {
                        let key = format!("{prefix}.{name}");
                        // SPEC section 5 makes such an event bad (`invalid_value`): no worker
                        // could ever be of this platform or role.
                        if let Err(bad) = crate::event::check_name(kind, &name) {
                            let reason = format!(
                                "no event can have this {kind} (SPEC section 5): {}",
                                bad.detail
                            );
                            return Err(overlay.blame_key(&key, &reason));
                        }
                        if let Some((inner, dotted)) = dotted_name(&name, &table) {
                            let reason = format!(
                                "unknown key, a table; if `{dotted}` is one {kind} name, quote \
                                 it: `[{prefix}.\"{dotted}\"]`"
                            );
                            return Err(overlay.blame_key(&format!("{key}.{inner}"), &reason));
                        }
                        let over: RuleOverride = table
                            .try_into()
                            .map_err(|error| overlay.blame(&error, &key))?;
                        Ok((name, over))
                    })
                    .collect(),
                Some(_) => {
                    Err(overlay.blame_key(&prefix, "invalid type: expected a table of tables"))
                }
            }
        };
        let platform = named("platform")?;
        let role = named("role")?;
        let person = match rules.remove("person") {
            None => RuleOverride::default(),
            Some(table) => table
                .try_into()
                .map_err(|error| overlay.blame(&error, "rules.person"))?,
        };
        let base: RuleOverride = toml::Value::Table(rules).try_into().map_err(|error| {
            // The rule keys' list is that of a table of rule keys; `[rules]` has more.
            const MORE: &str = ", or `subject` and the tables `platform`, `role`, `person`";
            match overlay.blame(&error, "rules") {
                ConfigError::Key { key, mut reason } if reason.starts_with("unknown key") => {
                    reason.push_str(MORE);
                    ConfigError::Key { key, reason }
                }
                // From the environment: "names no config key (`rules.x`: unknown key; expected
                // one of ...)", the list closed by the parenthesis (audit BF).
                ConfigError::Env { var, mut reason } if reason.contains(": unknown key; ") => {
                    if let Some(end) = reason.rfind(')') {
                        reason.insert_str(end, MORE);
                    }
                    ConfigError::Env { var, reason }
                }
                other => other,
            }
        })?;
        Ok(RulesSection {
            base,
            subject,
            platform,
            role,
            person,
        })
    }
}

impl RuleOverride {
    fn apply(&self, rules: &mut Rules) {
        self.apply_keys(rules);
        // `pack` and `pack_file` are one choice: a table that names a pack drops a file named
        // by a less specific one.
        if self.pack.is_some() && self.pack_file.is_none() {
            rules.pack_file.clear();
        }
    }
}

impl ConfigFile {
    fn resolve(self, rules: RulesSection) -> Config {
        let mut base = Rules::default();
        rules.base.apply(&mut base);
        Config {
            rules: base,
            subject: rules.subject,
            time: self.time,
            kafka: self.kafka,
            live: self.live,
            http: self.http,
            platform_rules: rules.platform,
            role_rules: rules.role,
            person_rules: rules.person,
            packs: BTreeMap::new(),
            base_dir: None,
            holidays: None,
        }
    }
}

/// A duration written as a human string (`"20m"`, `"3h 45m"`), in milliseconds.
/// A bare number, as a string or a TOML integer, is rejected: its unit would be a guess.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct DurationVisitor;
    impl Visitor<'_> for DurationVisitor {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration string with units, like \"20m\" or \"3h 45m\"")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
            parse_duration(text).map_err(|reason| E::custom(format!("invalid duration {reason}")))
        }
    }
    deserializer.deserialize_str(DurationVisitor)
}

/// [`duration`] for an optional key (serde calls it only when the key is present).
fn some_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    duration(deserializer).map(Some)
}

/// Any value, for an optional key.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A ratio: a TOML float or integer, at least 0.
fn some_ratio<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    struct RatioVisitor;
    impl Visitor<'_> for RatioVisitor {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number such as 1.0 or 3")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            if !v.is_finite() || v < 0.0 {
                return Err(E::custom(format!(
                    "must be a number of at least 0, got {v}"
                )));
            }
            // Checked here, not only by the pack's rule, so that the message names this key.
            match crate::engine::rules::holiday_pay::ratio_problem(v) {
                Some(problem) => Err(E::custom(problem)),
                None => Ok(v),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            self.visit_f64(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            self.visit_f64(v as f64)
        }
    }
    deserializer.deserialize_any(RatioVisitor).map(Some)
}

fn zone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(|_| {
        de::Error::custom(format!(
            "unknown time zone `{name}` (expected an IANA name such as `Asia/Shanghai`)"
        ))
    })
}

/// `[kafka.properties]`: strings, integers and booleans, stored as strings. A nested table
/// (what TOML makes of an unquoted `sasl.mechanism = "PLAIN"`) is flattened to dotted names.
fn properties<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct PropertiesVisitor {
        prefix: String,
    }
    impl<'de> Visitor<'de> for PropertiesVisitor {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, an integer or a boolean")
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(vec![(self.prefix, value.to_owned())])
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok(vec![(self.prefix, value.to_string())])
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(vec![(self.prefix, value.to_string())])
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Ok(vec![(self.prefix, value.to_string())])
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(name) = map.next_key::<String>()? {
                let prefix = match self.prefix.as_str() {
                    "" => name,
                    prefix => format!("{prefix}.{name}"),
                };
                entries.extend(map.next_value_seed(PropertiesVisitor { prefix })?);
            }
            Ok(entries)
        }
    }
    impl<'de> de::DeserializeSeed<'de> for PropertiesVisitor {
        type Value = Vec<(String, String)>;
        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    let visitor = PropertiesVisitor {
        prefix: String::new(),
    };
    let mut properties = BTreeMap::new();
    for (name, value) in deserializer.deserialize_map(visitor)? {
        // A value where the table belongs (`properties = "x"`, `WORKHOURS_KAFKA__PROPERTIES`).
        if name.is_empty() {
            return Err(de::Error::custom(
                "a table of librdkafka properties is expected, not a value: set each one, e.g. `\"security.protocol\" = \"SASL_SSL\"` under \
                 `[kafka.properties]` or `WORKHOURS_KAFKA__PROPERTIES__SECURITY_PROTOCOL`",
            ));
        }
        if properties.insert(name.clone(), value).is_some() {
            return Err(de::Error::custom(format!(
                "property `{name}` is set twice (quoted and as a dotted key?)"
            )));
        }
    }
    Ok(properties)
}

// ---------------------------------------------------------------------------------------
// Environment overlay.

fn has_env_prefix(name: &str) -> bool {
    name.get(..ENV_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(ENV_PREFIX))
        && !NOT_CONFIG
            .iter()
            .any(|other| other.eq_ignore_ascii_case(name))
}

/// `WORKHOURS_` variables the program reads for something else than a config key: not taken
/// for one (`WORKHOURS_PROGRESS`, the progress line of `replay`, `status` and `report`).
const NOT_CONFIG: [&str; 1] = ["WORKHOURS_PROGRESS"];

/// The `WORKHOURS_` variables of the process. A non-UTF-8 value is an error rather than
/// silently ignored, since the operator meant it to apply.
fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else {
            // Meant for the program, but it can name no key.
            let bytes = name.as_encoded_bytes();
            if bytes
                .get(..ENV_PREFIX.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(ENV_PREFIX.as_bytes()))
            {
                return Err(ConfigError::Env {
                    var: name.to_string_lossy().into_owned(),
                    reason: "the name is not valid UTF-8, so it names no config key".into(),
                });
            }
            continue;
        };
        if !has_env_prefix(name) {
            continue;
        }
        let value = value.into_string().map_err(|_| ConfigError::Env {
            var: name.to_owned(),
            reason: "the value is not valid UTF-8".into(),
        })?;
        vars.push((name.to_owned(), value));
    }
    Ok(vars)
}

/// The key path a variable names: the name after the prefix, lowercased (but a platform or
/// role name with a lowercase letter), split at `__`.
/// After `KAFKA__PROPERTIES__` the rest is one librdkafka property name, whose parts are
/// separated by `_` or `__` (`SASL__MECHANISM` or `SASL_MECHANISM` is `sasl.mechanism`).
fn env_key_path(var: &str) -> Result<Vec<String>, String> {
    let rest = var[ENV_PREFIX.len()..].to_ascii_lowercase();
    if let Some(property) = rest.strip_prefix("kafka__properties__") {
        let name: Vec<&str> = property
            .split('_')
            .filter(|part| !part.is_empty())
            .collect();
        if name.is_empty() {
            return Err("names no librdkafka property".into());
        }
        let mut name = name.join(".");
        // The two properties librdkafka spells with an underscore (no property has these
        // names with a dot).
        if let Some(&(_, underscored)) = UNDERSCORED.iter().find(|(dotted, _)| *dotted == name) {
            name = underscored.to_owned();
        }
        return Ok(vec!["kafka".into(), "properties".into(), name]);
    }
    let mut path: Vec<String> = rest.split("__").map(str::to_owned).collect();
    // A platform or role name written with a lowercase letter keeps its case as written
    // (`PLATFORM__DiDi` is the table `DiDi`), so that names with capitals can be set too; one
    // written all in capitals is lowercase, as the rest of the name.
    if path.len() >= 3 && path[0] == "rules" && (path[1] == "platform" || path[1] == "role") {
        let written = var[ENV_PREFIX.len()..]
            .split("__")
            .nth(2)
            .unwrap_or_default();
        if written.bytes().any(|b| b.is_ascii_lowercase()) {
            path[2] = written.to_owned();
        }
    }
    if path.iter().any(String::is_empty) {
        return Err(format!(
            "names no config key: write `{ENV_PREFIX}<SECTION>__<KEY>`, e.g. `{ENV_PREFIX}KAFKA__BROKERS`"
        ));
    }
    Ok(path)
}

/// librdkafka properties settable as text whose names hold an underscore, by the dotted
/// spelling a variable's name gives them.
const UNDERSCORED: [(&str, &str); 2] = [
    ("log.level", "log_level"),
    ("enabled.events", "enabled_events"),
];

/// Removes the property `name` where the file spells it as an unquoted dotted key (TOML makes
/// that a nested table under `[kafka.properties]`), so that a variable setting it replaces the
/// file's value rather than sets it twice. Tables left empty go too.
fn remove_dotted_property(table: &mut toml::Table, name: &str) {
    fn remove(table: &mut toml::Table, parts: &[&str]) {
        let Some((first, rest)) = parts.split_first() else {
            return;
        };
        if rest.is_empty() {
            table.remove(*first);
            return;
        }
        if let Some(toml::Value::Table(inner)) = table.get_mut(*first) {
            remove(inner, rest);
            if inner.is_empty() {
                table.remove(*first);
            }
        }
    }
    let Some(toml::Value::Table(kafka)) = table.get_mut("kafka") else {
        return;
    };
    let Some(toml::Value::Table(properties)) = kafka.get_mut("properties") else {
        return;
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 1 {
        remove(properties, &parts);
    }
}

/// The TOML value of a variable: an integer for integer keys, a list for
/// `kafka.input_topics` (comma-separated, blanks dropped), a string otherwise.
fn env_value(path: &[String], raw: &str) -> Result<toml::Value, String> {
    let last = path.last().map(String::as_str).unwrap_or_default();
    let rule_key = RULE_KEYS.iter().find(|(key, _)| *key == last);
    if path[0] == "rules" && last == "subject" {
        return Ok(toml::Value::String(raw.trim().to_owned()));
    }
    match rule_key {
        Some((_, KeyType::Integer)) if path[0] == "rules" => {
            return raw
                .trim()
                .parse()
                .map(toml::Value::Integer)
                .map_err(|_| format!("`{raw}` is not an integer"));
        }
        Some((_, KeyType::Number)) if path[0] == "rules" => {
            return raw
                .trim()
                .parse()
                .map(toml::Value::Float)
                .map_err(|_| format!("`{raw}` is not a number"));
        }
        _ => {}
    }
    if path == ["live", "reread_input"] {
        return match raw.trim() {
            "true" => Ok(toml::Value::Boolean(true)),
            "false" => Ok(toml::Value::Boolean(false)),
            other => Err(format!("`{other}` is not `true` or `false`")),
        };
    }
    if path == ["kafka", "input_topics"] {
        let topics = raw
            .split(',')
            .map(str::trim)
            .filter(|topic| !topic.is_empty());
        return Ok(toml::Value::Array(
            topics
                .map(|topic| toml::Value::String(topic.into()))
                .collect(),
        ));
    }
    Ok(toml::Value::String(raw.to_owned()))
}

/// Which variable set which key, so that errors can name the variable.
struct EnvOverlay {
    /// (dotted key, variable name), in the order applied.
    origins: Vec<(String, String)>,
}

impl EnvOverlay {
    fn apply(
        table: &mut toml::Table,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<EnvOverlay, ConfigError> {
        let env_error = |var: &str, reason: String| ConfigError::Env {
            var: var.to_owned(),
            reason,
        };
        // Sorted, so that the outcome does not depend on the order of the environment.
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| has_env_prefix(name))
            .collect();
        vars.sort();
        let mut origins: Vec<(String, String)> = Vec::new();
        for (var, raw) in vars {
            let path = env_key_path(&var).map_err(|reason| env_error(&var, reason))?;
            let key = path.join(".");
            if let Some((_, other)) = origins.iter().find(|(set, _)| *set == key) {
                return Err(env_error(&var, format!("sets `{key}`, as {other} does")));
            }
            let value = env_value(&path, &raw)
                .map_err(|reason| env_error(&var, format!("`{key}`: {reason}")))?;
            if let [kafka, properties, name] = path.as_slice()
                && kafka == "kafka"
                && properties == "properties"
            {
                remove_dotted_property(table, name);
            }
            insert(table, &path, value).map_err(|reason| env_error(&var, reason))?;
            origins.push((key, var));
        }
        Ok(EnvOverlay { origins })
    }

    /// The variable that set `key` or a key under it.
    fn origin(&self, key: &str) -> Option<&str> {
        self.origins
            .iter()
            .find(|(set, _)| {
                set == key
                    || set
                        .strip_prefix(key)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .map(|(_, var)| var.as_str())
    }

    /// A problem with `key` as a whole (not a serde error).
    fn blame_key(&self, key: &str, reason: &str) -> ConfigError {
        match self.origin(key) {
            Some(var) => ConfigError::Env {
                var: var.to_owned(),
                reason: format!("`{key}`: {reason}"),
            },
            None => key_error(key, reason),
        }
    }

    /// Turns a serde error of the table at `prefix` (`""`: the whole file) into one that names
    /// the key, or the variable if it came from one.
    fn blame(&self, error: &toml::de::Error, prefix: &str) -> ConfigError {
        let (key, reason, unknown) = key_and_reason(error);
        let key = match (prefix, key.as_str()) {
            ("", _) => key,
            (prefix, "") => prefix.to_owned(),
            (prefix, key) => format!("{prefix}.{key}"),
        };
        match (self.origin(&key), unknown) {
            (Some(var), true) => {
                let hint = if var.contains("__") {
                    ""
                } else {
                    "; separate the section and the key with `__`"
                };
                ConfigError::Env {
                    var: var.to_owned(),
                    reason: format!("names no config key (`{key}`: {reason}){hint}"),
                }
            }
            (Some(var), false) => ConfigError::Env {
                var: var.to_owned(),
                reason: format!("`{key}`: {reason}"),
            },
            (None, _) if key.is_empty() => ConfigError::Invalid(reason),
            (None, _) => ConfigError::Key { key, reason },
        }
    }

    /// Adds the variable to a check failure about a key that came from the environment.
    fn annotate(&self, error: ConfigError) -> ConfigError {
        match error {
            ConfigError::Key { key, reason } => match self.origin(&key) {
                Some(var) => ConfigError::Key {
                    reason: format!("{reason} (set by {var})"),
                    key,
                },
                None => ConfigError::Key { key, reason },
            },
            other => other,
        }
    }
}

/// A table in an override table (`[rules.platform.mei.tuan]`, which TOML reads as the table
/// `tuan` in the platform `mei`): its key and the name the user most likely meant, the dotted
/// path down to the first table holding something else (`mei.tuan`). No rule key takes a table.
fn dotted_name(name: &str, table: &toml::Value) -> Option<(String, String)> {
    let inner_table = |value: &toml::Value| {
        value
            .as_table()?
            .iter()
            .find(|(_, value)| value.is_table())
            .map(|(key, value)| (key.clone(), value.clone()))
    };
    let (inner, mut value) = inner_table(table)?;
    let mut dotted = format!("{name}.{inner}");
    while let Some((next, deeper)) = inner_table(&value) {
        dotted = format!("{dotted}.{next}");
        value = deeper;
    }
    Some((inner, dotted))
}

/// Sets `path` in the table, creating the tables on the way.
fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (leaf, parents) = path.split_last().expect("a key path is never empty");
    let mut current = table;
    for (depth, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(table) => table,
            _ => {
                return Err(format!(
                    "names no config key: `{}` is a value, not a table",
                    path[..=depth].join(".")
                ));
            }
        };
    }
    current.insert(leaf.clone(), value);
    Ok(())
}

/// Splits a serde error into (full dotted key, reason, whether the key is unknown).
///
/// `toml::de::Error` keeps the key path private but prints it as a last line
/// "in `a.b.c`" when, as here, the error has no source span. An unknown field is reported
/// at its table, so its name is appended to make the full key.
fn key_and_reason(error: &toml::de::Error) -> (String, String, bool) {
    let message = error.message();
    let shown = error.to_string();
    let table = shown
        .strip_prefix(message)
        .map(str::trim)
        .and_then(|rest| rest.strip_prefix("in `")?.strip_suffix('`'))
        .unwrap_or_default();
    let join = |name: &str| match table {
        "" => name.to_owned(),
        table => format!("{table}.{name}"),
    };
    if let Some((name, expected)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    {
        let expected = expected.trim_start_matches(',').trim();
        return (join(name), format!("unknown key; {expected}"), true);
    }
    (table.to_owned(), plain_expected(message), false)
}

/// serde's names of Rust types at the end of a message (`expected u32`, `expected struct
/// RuleOverride`) in the words of the config file.
fn plain_expected(message: &str) -> String {
    let Some((head, expected)) = message.rsplit_once(", expected ") else {
        return message.to_owned();
    };
    let words = match expected {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        // TOML's integers end at i64::MAX.
        "u64" | "usize" => "a whole number from 0 to 9223372036854775807",
        "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "a list, like [\"a\", \"b\"]",
        "a map" => "a table",
        struct_name if struct_name.starts_with("struct ") => "a table of keys",
        _ => return message.to_owned(),
    };
    format!("{head}, expected {words}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, env(vars))
    }

    fn error(text: &str, vars: &[(&str, &str)]) -> String {
        match load(text, vars) {
            Ok(_) => panic!("expected an error for {text:?} with {vars:?}"),
            Err(error) => error.to_string(),
        }
    }

    /// The properties the monitor sets itself may be written with the value it sets.
    #[test]
    fn fixed_properties_with_the_monitors_value_are_taken() {
        let text = "[kafka.properties]\n\"enable.auto.commit\" = false\n\"enable.idempotence\" = \"TRUE\"\n\"partition.assignment.strategy\" = \"range\"";
        assert!(load(text, &[]).is_ok());
    }

    /// A topic in two roles: dead letters read back as input without end (one bad event
    /// filled the input topic), alerts restored as state records (the next start refused with
    /// a false message about an old format).
    #[test]
    fn a_topic_in_two_roles_is_refused() {
        let message = error("[kafka]\ndead_letter_topic = \"workhours.events\"", &[]);
        assert!(
            message.contains(
                "config key `kafka.dead_letter_topic`: `workhours.events` is also an input topic"
            ),
            "{message}"
        );
        let message = error("[kafka]\nalerts_topic = \"workhours.state\"", &[]);
        assert!(
            message.contains(
                "config key `kafka.state_topic`: `workhours.state` is also `kafka.alerts_topic`"
            ),
            "{message}"
        );
        let message = error(
            "[kafka]\ninput_topics = [\"a\", \"b\"]\nholds_topic = \"b\"",
            &[],
        );
        assert!(
            message.contains("`kafka.holds_topic`: `b` is also an input topic"),
            "{message}"
        );
    }

    /// SPEC section 8 compares holiday pay "exactly": the ratio is held in millionths, and a
    /// finer one (0.9999999) was rounded to 1 without a word.
    #[test]
    fn a_holiday_pay_ratio_finer_than_millionths_is_refused() {
        let message = error("[rules]\nholiday_pay_ratio = 0.9999999", &[]);
        assert!(
            message.contains("0.9999999 has more than 6 decimal places"),
            "{message}"
        );
        let message = error("[rules]\nholiday_pay_ratio = 1e-7", &[]);
        assert!(message.contains("more than 6 decimal places"), "{message}");
        for fine in ["0.999999", "1.5", "2", "100"] {
            let text = format!("[rules]\nholiday_pay_ratio = {fine}");
            assert!(load(&text, &[]).is_ok(), "{text}");
        }
    }

    /// A ratio out of range or too fine was refused by the default pack's rule, whose message
    /// named `rules.pack`: not the key, its table nor the environment variable that set it.
    #[test]
    fn a_bad_holiday_pay_ratio_is_named_by_its_key() {
        let message = error("[rules.role.x]\nholiday_pay_ratio = 101.0", &[]);
        assert!(
            message.contains("rules.role.x.holiday_pay_ratio") && message.contains("0 to 100"),
            "{message}"
        );
        let message = error("[rules]\nholiday_pay_ratio = 1.1234567", &[]);
        assert!(
            message.contains("rules.holiday_pay_ratio") && message.contains("6 decimal places"),
            "{message}"
        );
        let message = error("", &[("WORKHOURS_RULES__HOLIDAY_PAY_RATIO", "101")]);
        assert!(
            message.contains("WORKHOURS_RULES__HOLIDAY_PAY_RATIO") && message.contains("0 to 100"),
            "{message}"
        );
    }

    /// serde named Rust types: `expected u32`, `expected struct RuleOverride`.
    #[test]
    fn type_errors_say_what_the_file_needs_not_rust_type_names() {
        for (text, expected) in [
            (
                "[rules]\nquota_min_workers = \"x\"",
                "config key `rules.quota_min_workers`: invalid type: string \"x\", \
                 expected a whole number from 0 to 4294967295",
            ),
            (
                "[rules]\nquota_min_workers = -3",
                "config key `rules.quota_min_workers`: invalid value: integer `-3`, \
                 expected a whole number from 0 to 4294967295",
            ),
            (
                "[rules.platform]\nmeituan = 5",
                "config key `rules.platform.meituan`: invalid type: integer `5`, \
                 expected a table of keys",
            ),
            (
                "[live]\nreread_input = \"yes\"",
                "config key `live.reread_input`: invalid type: string \"yes\", \
                 expected true or false",
            ),
        ] {
            assert_eq!(error(text, &[]), expected, "{text}");
        }
    }

    #[test]
    fn defaults_are_those_of_the_spec() {
        let config = load("", &[]).unwrap();
        assert_eq!(config, Config::default());
        let rules = &config.rules;
        let expected = [
            ("min_break", rules.min_break, 20 * M),
            ("continuous_limit", rules.continuous_limit, 4 * H),
            ("warn_before", rules.warn_before, 15 * M),
            ("session_timeout", rules.session_timeout, 0),
            ("daily_standard", rules.daily_standard, 8 * H),
            ("daily_max", rules.daily_max, 11 * H),
            ("weekly_max", rules.weekly_max, 44 * H),
            ("monthly_overtime_max", rules.monthly_overtime_max, 36 * H),
            ("allowed_lateness", config.time.allowed_lateness, 30_000),
            ("max_future_skew", config.time.max_future_skew, 5 * M),
            ("idle_timeout", config.live.idle_timeout, 2_000),
            ("delivery_timeout", config.live.delivery_timeout, 2 * M),
        ];
        for (key, got, want) in expected {
            assert_eq!(got, want, "{key}");
        }
        assert_eq!(rules.minimum_wage_cents_per_hour, 2100);
        assert_eq!(rules.quota_min_workers, 10);
        assert_eq!(config.time.zone, chrono_tz::Asia::Shanghai);
        assert_eq!(config.kafka.brokers, "localhost:9092");
        assert_eq!(config.kafka.group_id, "workhours");
        assert_eq!(config.kafka.input_topics, ["workhours.events"]);
        assert_eq!(config.kafka.alerts_topic, "workhours.alerts");
        assert_eq!(config.kafka.dead_letter_topic, "workhours.dead-letter");
        assert_eq!(config.kafka.state_topic, "workhours.state");
        assert_eq!(config.kafka.holds_topic, "workhours.holds");
        assert!(config.kafka.properties.is_empty());
        assert_eq!(config.http.listen, "127.0.0.1:9898");
        assert_eq!(config.http.token_file, "");
        assert_eq!(config.rules_for("meituan", "rider"), Rules::default());
    }

    const SHIPPED: &str = include_str!("../config/workhours.toml");

    #[test]
    fn shipped_file_gives_exactly_the_defaults() {
        assert_eq!(load(SHIPPED, &[]).unwrap(), Config::default());
    }

    /// Every key the serde tree knows, as written in the shipped file and the docs.
    const ALL_KEYS: [&str; 33] = [
        "rules.min_break",
        "rules.continuous_limit",
        "rules.warn_before",
        "rules.session_timeout",
        "rules.daily_standard",
        "rules.daily_max",
        "rules.weekly_max",
        "rules.monthly_overtime_max",
        "rules.minimum_wage_cents_per_hour",
        "rules.quota_min_workers",
        "rules.holiday_pay_ratio",
        "rules.pack",
        "rules.pack_file",
        "rules.subject",
        "time.zone",
        "time.allowed_lateness",
        "time.max_future_skew",
        "time.dedup_window",
        "time.worker_ttl",
        "time.holidays",
        "kafka.brokers",
        "kafka.group_id",
        "kafka.input_topics",
        "kafka.alerts_topic",
        "kafka.dead_letter_topic",
        "kafka.state_topic",
        "kafka.holds_topic",
        "live.idle_timeout",
        "live.commit_interval",
        "live.reread_input",
        "live.delivery_timeout",
        "http.listen",
        "http.token_file",
    ];

    #[test]
    fn shipped_file_and_docs_list_every_key() {
        fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
            for (name, value) in table {
                let key = format!("{prefix}{name}");
                match value {
                    toml::Value::Table(inner) => leaves(&format!("{key}."), inner, out),
                    _ => out.push(key),
                }
            }
        }
        let mut shipped = Vec::new();
        leaves("", &SHIPPED.parse().unwrap(), &mut shipped);
        // Shown with its default but left unset, so that the file behaves as no file: set,
        // `time.worker_ttl` no longer follows a user's pack's windows (audit BF).
        assert!(SHIPPED.contains("\n# worker_ttl = \"40d\"\n"));
        assert!(!shipped.iter().any(|key| key == "time.worker_ttl"));
        shipped.push("time.worker_ttl".to_owned());
        shipped.sort();
        let mut all: Vec<String> = ALL_KEYS.iter().map(|key| key.to_string()).collect();
        all.sort();
        assert_eq!(shipped, all);
        assert!(SHIPPED.contains("[kafka.properties]"));

        let docs = include_str!("../docs/config.md");
        for key in ALL_KEYS.iter().chain(&["kafka.properties"]) {
            assert!(
                docs.contains(&format!("`{key}`")),
                "docs/config.md lacks `{key}`"
            );
        }
        // Each key is known to the serde tree and settable from the environment.
        for key in ALL_KEYS {
            let var = format!("WORKHOURS_{}", key.replace('.', "__").to_uppercase());
            let value = match key {
                "time.zone" => "UTC",
                "kafka.brokers" | "http.listen" => "x:1",
                "kafka.input_topics" => "x.1",
                "rules.minimum_wage_cents_per_hour" | "rules.quota_min_workers" => "3",
                "rules.warn_before" => "1m",
                "rules.holiday_pay_ratio" => "1.5",
                "rules.pack" => "eu-561",
                "rules.pack_file" => "",
                "rules.subject" => "person",
                "time.holidays" => "",
                "live.reread_input" => "false",
                "http.token_file" => "/run/secrets/token",
                _ if key.starts_with("kafka.") => "topic",
                _ => "11h",
            };
            load("", &[(&var, value)]).unwrap_or_else(|error| panic!("{var}: {error}"));
        }
    }

    #[test]
    fn overrides_apply_per_platform_and_role_and_role_wins() {
        let text = r#"
            [rules]
            min_break = "25m"
            daily_max = "10h"

            [rules.platform.didi]
            min_break = "30m"
            daily_standard = "9h"
            daily_max = "12h"
            quota_min_workers = 5

            [rules.role.trucker]
            min_break = "45m"
            minimum_wage_cents_per_hour = 2500
        "#;
        let config = load(text, &[]).unwrap();
        let base = Rules {
            min_break: 25 * M,
            daily_max: 10 * H,
            ..Rules::default()
        };
        let didi = Rules {
            min_break: 30 * M,
            daily_standard: 9 * H,
            daily_max: 12 * H,
            quota_min_workers: 5,
            ..base.clone()
        };
        let trucker = Rules {
            min_break: 45 * M,
            minimum_wage_cents_per_hour: 2500,
            ..base.clone()
        };
        let didi_trucker = Rules {
            min_break: 45 * M,
            minimum_wage_cents_per_hour: 2500,
            ..didi.clone()
        };
        let cases = [
            ("meituan", "rider", &base),
            ("didi", "rider", &didi),
            ("meituan", "trucker", &trucker),
            ("didi", "trucker", &didi_trucker),
            ("DiDi", "Trucker", &base),
        ];
        assert_eq!(config.rules, base);
        for (platform, role, want) in cases {
            assert_eq!(&config.rules_for(platform, role), want, "{platform}/{role}");
        }
    }

    /// `kafka.properties` as (name, value) pairs, in name order.
    fn properties_of(config: &Config) -> Vec<(&str, &str)> {
        config
            .kafka
            .properties
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    /// SPEC 6: any key can be set from the environment, platform and role tables with capitals
    /// in their names too (audit AV: `PLATFORM__DiDi` set `didi`, which no event names, and the
    /// file's `[rules.platform.DiDi]` stayed as it was). A name all in capitals is lowercase.
    #[test]
    fn platform_and_role_names_from_the_environment_keep_their_case_unless_all_capitals() {
        let text = r#"
            [rules.platform.DiDi]
            continuous_limit = "1h"
        "#;
        let vars = [
            ("WORKHOURS_RULES__PLATFORM__DiDi__CONTINUOUS_LIMIT", "2h"),
            ("WORKHOURS_RULES__PLATFORM__MEITUAN__CONTINUOUS_LIMIT", "3h"),
            ("WORKHOURS_RULES__ROLE__Driver__DAILY_MAX", "9h"),
        ];
        let config = load(text, &vars).unwrap();
        assert_eq!(config.rules_for("DiDi", "rider").continuous_limit, 2 * H);
        assert_eq!(config.rules_for("didi", "rider").continuous_limit, 4 * H);
        assert_eq!(config.rules_for("meituan", "rider").continuous_limit, 3 * H);
        assert_eq!(config.rules_for("x", "Driver").daily_max, 9 * H);
        assert_eq!(config.rules_for("x", "driver").daily_max, 11 * H);
        // A variable that names no key names the table as written (audit AW).
        let error = load("", &[("WORKHOURS_RULES__PLATFORM__DiDi", "1h")]).unwrap_err();
        assert!(
            error.to_string().contains("`rules.platform.DiDi`"),
            "{error}"
        );
    }

    #[test]
    fn environment_overrides_beat_the_file() {
        let text = r#"
            [rules]
            min_break = "25m"
            [rules.platform.didi]
            daily_max = "12h"
            [time]
            zone = "Asia/Shanghai"
            [kafka]
            brokers = "file:9092"
            input_topics = ["file"]
            [kafka.properties]
            "sasl.mechanism" = "SCRAM-SHA-512"
        "#;
        let vars = [
            ("WORKHOURS_RULES__MIN_BREAK", "30m"),
            ("WORKHOURS_RULES__QUOTA_MIN_WORKERS", "20"),
            ("WORKHOURS_RULES__PLATFORM__DIDI__DAILY_MAX", "10h"),
            (
                "WORKHOURS_RULES__ROLE__TRUCKER__MINIMUM_WAGE_CENTS_PER_HOUR",
                "2500",
            ),
            ("WORKHOURS_TIME__ZONE", "Europe/Berlin"),
            // Read by the progress line, not a config key: ignored here.
            ("WORKHOURS_PROGRESS", "1"),
            ("workhours_kafka__brokers", "kafka:9092"),
            ("WORKHOURS_KAFKA__INPUT_TOPICS", "a, b,"),
            ("WORKHOURS_KAFKA__PROPERTIES__SASL__MECHANISM", "PLAIN"),
            ("WORKHOURS_KAFKA__PROPERTIES__SECURITY_PROTOCOL", "SASL_SSL"),
            ("WORKHOURS_LIVE__IDLE_TIMEOUT", "5s"),
            ("WORKHOURS_HTTP__LISTEN", "0.0.0.0:9898"),
            ("PATH", "/usr/bin"),
            ("XWORKHOURS_NOT_OURS", "ignored"),
        ];
        let config = load(text, &vars).unwrap();
        assert_eq!(config.rules.min_break, 30 * M);
        assert_eq!(config.rules.quota_min_workers, 20);
        assert_eq!(config.rules_for("didi", "rider").daily_max, 10 * H);
        assert_eq!(
            config.rules_for("x", "trucker").minimum_wage_cents_per_hour,
            2500
        );
        assert_eq!(config.time.zone, chrono_tz::Europe::Berlin);
        assert_eq!(config.kafka.brokers, "kafka:9092");
        assert_eq!(config.kafka.input_topics, ["a", "b"]);
        let properties = properties_of(&config);
        assert_eq!(
            properties,
            [
                ("sasl.mechanism", "PLAIN"),
                ("security.protocol", "SASL_SSL")
            ]
        );
        assert_eq!(config.live.idle_timeout, 5_000);
        assert_eq!(config.http.listen, "0.0.0.0:9898");
    }

    /// A property the file spells as an unquoted dotted key (a nested table to TOML) is
    /// overridden by its variable like a quoted one, and leaves its siblings alone; the two
    /// librdkafka properties whose names hold an underscore are reachable from the
    /// environment.
    #[test]
    fn environment_overrides_properties_written_as_dotted_keys() {
        let text = r#"
            [kafka.properties]
            sasl.mechanism = "PLAIN"
            sasl.username = "workhours"
            ssl.ca.location = "/etc/ca.pem"
            linger.ms = 5
        "#;
        let vars = [
            (
                "WORKHOURS_KAFKA__PROPERTIES__SASL_MECHANISM",
                "SCRAM-SHA-512",
            ),
            (
                "WORKHOURS_KAFKA__PROPERTIES__SSL__CA__LOCATION",
                "/run/ca.pem",
            ),
            ("WORKHOURS_KAFKA__PROPERTIES__LINGER_MS", "20"),
            ("WORKHOURS_KAFKA__PROPERTIES__LOG_LEVEL", "3"),
            ("WORKHOURS_KAFKA__PROPERTIES__ENABLED_EVENTS", "0"),
        ];
        let config = load(text, &vars).unwrap();
        let properties = properties_of(&config);
        assert_eq!(
            properties,
            [
                ("enabled_events", "0"),
                ("linger.ms", "20"),
                ("log_level", "3"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "workhours"),
                ("ssl.ca.location", "/run/ca.pem"),
            ]
        );
        // Set twice within the file is still refused (without a variable that replaces both).
        let twice =
            "[kafka.properties]\n\"sasl.mechanism\" = \"PLAIN\"\nsasl.mechanism = \"PLAIN\"";
        let error = load(twice, &[]).unwrap_err().to_string();
        assert!(error.contains("`sasl.mechanism` is set twice"), "{error}");
    }

    #[test]
    fn kafka_properties_keep_strings_integers_and_booleans() {
        let text = r#"
            [kafka.properties]
            "security.protocol" = "SSL"
            "message.max.bytes" = 2000000
            "enable.idempotence" = true
            ssl.ca.location = "/etc/ca.pem"
        "#;
        let config = load(text, &[]).unwrap();
        let want = [
            ("enable.idempotence", "true"),
            ("message.max.bytes", "2000000"),
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/etc/ca.pem"),
        ];
        assert_eq!(properties_of(&config), want);
    }

    /// (case, TOML, environment, text the message must contain).
    type ErrorCase = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
    );

    fn assert_errors(cases: &[ErrorCase]) {
        for (case, text, vars, wanted) in cases {
            let message = error(text, vars);
            for want in *wanted {
                assert!(
                    message.contains(want),
                    "{case}: `{message}` should contain `{want}`"
                );
            }
        }
    }

    /// Durations that must not be `0s` name their key (`live.commit_interval = "0s"` was
    /// taken, and checkpointed on every turn of the loop).
    #[test]
    fn zero_durations_of_time_and_live_are_refused() {
        for key in [
            "time.dedup_window",
            "time.worker_ttl",
            "live.idle_timeout",
            "live.commit_interval",
            "live.delivery_timeout",
        ] {
            let (table, name) = key.split_once('.').unwrap();
            let message = error(&format!("[{table}]\n{name} = \"0s\""), &[]);
            assert!(
                message.contains(&format!("`{key}`")) && message.contains("must be longer than 0s"),
                "{key}: {message}"
            );
        }
    }

    #[test]
    fn bad_durations_name_the_key_the_value_and_why() {
        assert_errors(&[
            (
                "bare number string",
                "[rules]\nmin_break = \"20\"",
                &[],
                &["`rules.min_break`", "`20`", "needs a unit"],
            ),
            (
                "TOML integer",
                "[rules]\nmin_break = 20",
                &[],
                &["`rules.min_break`", "integer `20`", "duration string"],
            ),
            (
                "spelled-out unit",
                "[time]\nallowed_lateness = \"5 minutes\"",
                &[],
                &[
                    "`time.allowed_lateness`",
                    "`5 minutes`",
                    "right after its number",
                    "`5m`",
                ],
            ),
            (
                "unknown unit",
                "[live]\ndelivery_timeout = \"1sec\"",
                &[],
                &["`live.delivery_timeout`", "unknown unit `sec`"],
            ),
            (
                "in a platform override",
                "[rules.platform.didi]\nwarn_before = \"20\"",
                &[],
                &["`rules.platform.didi.warn_before`", "`20`"],
            ),
            (
                "in a role override",
                "[rules.role.rider]\ndaily_max = 11",
                &[],
                &["`rules.role.rider.daily_max`", "integer `11`"],
            ),
            (
                "from the environment",
                "",
                &[("WORKHOURS_RULES__MIN_BREAK", "20")],
                &["WORKHOURS_RULES__MIN_BREAK", "`rules.min_break`", "`20`"],
            ),
        ]);
    }

    /// A platform or role that SPEC section 5 makes an event bad for (`invalid_value`) can
    /// never be in force: its table is a mistake, said at start rather than ignored.
    #[test]
    fn override_tables_no_event_can_reach_are_refused() {
        assert_errors(&[
            (
                "a platform with `/`",
                "[rules.platform.\"a/b\"]\nmin_break = \"30m\"",
                &[],
                &["`rules.platform.a/b`", "`/`", "no event"],
            ),
            (
                "a role with `/`",
                "[rules.role.\"truck/er\"]\npack = \"eu-561\"",
                &[],
                &["`rules.role.truck/er`", "`/`"],
            ),
            (
                "from the environment",
                "",
                &[("WORKHOURS_RULES__ROLE__A/B__MIN_BREAK", "30m")],
                &["/b`", "`/`"],
            ),
        ]);
        let long = "p".repeat(65);
        let message = error(
            &format!("[rules.platform.{long}]\nmin_break = \"30m\""),
            &[],
        );
        assert!(
            message.contains(&format!("`rules.platform.{long}`"))
                && message.contains("64 characters"),
            "{message}"
        );
        let sixty_four = "市".repeat(64);
        let fine = format!("[rules.platform.\"{sixty_four}\"]\nmin_break = \"30m\"");
        let config = load(&fine, &[]).expect("64 characters make a platform");
        assert_eq!(
            config.rules_for(&sixty_four, "rider").min_break,
            30 * 60 * 1000
        );
    }

    #[test]
    fn unknown_keys_are_named_in_full() {
        assert_errors(&[
            (
                "top level",
                "colour = \"blue\"",
                &[],
                &["`colour`", "unknown key", "`rules`"],
            ),
            (
                "top-level section",
                "[rule]\nmin_break = \"20m\"",
                &[],
                &["`rule`", "unknown key"],
            ),
            (
                "in a section",
                "[rules]\nmin_brake = \"20m\"",
                &[],
                &[
                    "`rules.min_brake`",
                    "unknown key",
                    "`min_break`",
                    "`platform`",
                ],
            ),
            (
                "in [kafka]",
                "[kafka]\ntopics = [\"a\"]",
                &[],
                &["`kafka.topics`", "`input_topics`"],
            ),
            (
                "in a platform override",
                "[rules.platform.didi]\ndaily_maximum = \"10h\"",
                &[],
                &["`rules.platform.didi.daily_maximum`", "unknown key"],
            ),
            (
                "nested override",
                "[rules.platform.didi.role.rider]\ndaily_max = \"10h\"",
                &[],
                &["`rules.platform.didi.role`", "unknown key"],
            ),
            (
                "a platform name with a dot, not quoted",
                "[rules.platform.mei.tuan]\ndaily_max = \"10h\"",
                &[],
                &[
                    "`rules.platform.mei.tuan`",
                    "unknown key",
                    "[rules.platform.\"mei.tuan\"]",
                ],
            ),
            (
                "a role name with dots, not quoted",
                "[rules.role.a.b.c]\ndaily_max = \"10h\"",
                &[],
                &["`rules.role.a.b`", "unknown key", "[rules.role.\"a.b.c\"]"],
            ),
            (
                "wrong type",
                "[kafka]\ninput_topics = \"a\"",
                &[],
                &["`kafka.input_topics`", "invalid type"],
            ),
            (
                "negative integer",
                "[rules]\nquota_min_workers = -1",
                &[],
                &["`rules.quota_min_workers`", "-1"],
            ),
            (
                "float property",
                "[kafka.properties]\n\"linger.ms\" = 0.5",
                &[],
                &[
                    "`kafka.properties.linger.ms`",
                    "a string, an integer or a boolean",
                ],
            ),
            (
                "not TOML",
                "[rules\nmin_break = \"20m\"",
                &[],
                &["not valid TOML", "line 1"],
            ),
        ]);
    }

    #[test]
    fn environment_errors_name_the_variable() {
        assert_errors(&[
            (
                "unknown section",
                "",
                &[("WORKHOURS_COLOUR", "blue")],
                &["WORKHOURS_COLOUR", "names no config key", "`colour`"],
            ),
            (
                "a variable of the progress line beside an unknown key: only the key",
                "",
                &[
                    ("WORKHOURS_PROGRESS", "0"),
                    ("WORKHOURS_RULES__MIN_BRAKE", "20m"),
                ],
                &["WORKHOURS_RULES__MIN_BRAKE", "`rules.min_brake`"],
            ),
            (
                "single underscore",
                "",
                &[("WORKHOURS_KAFKA_BROKERS", "k:9092")],
                &[
                    "WORKHOURS_KAFKA_BROKERS",
                    "names no config key",
                    "with `__`",
                ],
            ),
            (
                "unknown key",
                "",
                &[("WORKHOURS_RULES__MIN_BRAKE", "20m")],
                &["WORKHOURS_RULES__MIN_BRAKE", "`rules.min_brake`"],
            ),
            (
                "unknown key in an override",
                "",
                &[("WORKHOURS_RULES__PLATFORM__DIDI__FOO", "1h")],
                &[
                    "WORKHOURS_RULES__PLATFORM__DIDI__FOO",
                    "`rules.platform.didi.foo`",
                ],
            ),
            (
                "below a value",
                "[kafka]\nbrokers = \"k:9092\"",
                &[("WORKHOURS_KAFKA__BROKERS__HOST", "x")],
                &[
                    "WORKHOURS_KAFKA__BROKERS__HOST",
                    "`kafka.brokers` is a value",
                ],
            ),
            (
                "below a value, not in the file",
                "",
                &[("WORKHOURS_HTTP__LISTEN__PORT", "1")],
                &["WORKHOURS_HTTP__LISTEN__PORT", "`http.listen`"],
            ),
            (
                "section only",
                "",
                &[("WORKHOURS_TIME", "UTC")],
                &["WORKHOURS_TIME", "`time`"],
            ),
            (
                "the properties table as a value",
                "",
                &[("WORKHOURS_KAFKA__PROPERTIES", "1")],
                &[
                    "WORKHOURS_KAFKA__PROPERTIES",
                    "`kafka.properties`",
                    "WORKHOURS_KAFKA__PROPERTIES__SECURITY_PROTOCOL",
                ],
            ),
            (
                "empty part",
                "",
                &[("WORKHOURS_RULES____MIN_BREAK", "20m")],
                &["WORKHOURS_RULES____MIN_BREAK", "names no config key"],
            ),
            (
                "misspelt rule key: the list names what [rules] holds besides rule keys",
                "",
                &[("WORKHOURS_RULES__MIN_BRAKE", "20m")],
                &[
                    "WORKHOURS_RULES__MIN_BRAKE",
                    "`pack_file`, or `subject` and the tables `platform`, `role`, `person`)",
                ],
            ),
            ("prefix only", "", &[("WORKHOURS_", "x")], &["WORKHOURS_:"]),
            (
                "no property name",
                "",
                &[("WORKHOURS_KAFKA__PROPERTIES__", "x")],
                &["WORKHOURS_KAFKA__PROPERTIES__", "no librdkafka property"],
            ),
            (
                "not an integer",
                "",
                &[("WORKHOURS_RULES__QUOTA_MIN_WORKERS", "ten")],
                &[
                    "WORKHOURS_RULES__QUOTA_MIN_WORKERS",
                    "`ten` is not an integer",
                ],
            ),
            (
                "two spellings of one key",
                "",
                &[
                    ("WORKHOURS_KAFKA__BROKERS", "a:1"),
                    ("workhours_kafka__brokers", "b:1"),
                ],
                &["`kafka.brokers`", "WORKHOURS_KAFKA__BROKERS"],
            ),
        ]);
    }

    #[test]
    fn unknown_zone_is_named() {
        assert_errors(&[
            (
                "file",
                "[time]\nzone = \"Mars/Olympus\"",
                &[],
                &["`time.zone`", "unknown time zone `Mars/Olympus`"],
            ),
            (
                "offset is not a zone",
                "[time]\nzone = \"+08:00\"",
                &[],
                &["`time.zone`", "`+08:00`"],
            ),
            (
                "environment",
                "",
                &[("WORKHOURS_TIME__ZONE", "Asia/Weihai")],
                &["WORKHOURS_TIME__ZONE", "`time.zone`", "`Asia/Weihai`"],
            ),
        ]);
    }

    #[test]
    fn topic_names_are_checked_as_kafka_checks_them() {
        let long = error(
            &format!("[kafka]\nholds_topic = \"{}\"", "h".repeat(250)),
            &[],
        );
        assert!(long.contains("`kafka.holds_topic`"), "{long}");
        assert!(long.contains("at most 249 characters"), "{long}");
        let longest = format!("[kafka]\nholds_topic = \"{}\"", "h".repeat(249));
        assert!(load(&longest, &[]).is_ok());
        // Every character Kafka allows.
        let legal = "[kafka]\ninput_topics = [\"Platform_A.events-v2\"]";
        assert!(load(legal, &[]).is_ok());
    }

    #[test]
    fn start_up_checks_name_the_key() {
        assert_errors(&[
            (
                "warn_before equal to the limit",
                "[rules]\nwarn_before = \"4h\"",
                &[],
                &[
                    "`rules.warn_before`",
                    "less than `rules.continuous_limit` (4h)",
                ],
            ),
            (
                "limit below warn_before in a platform",
                "[rules.platform.didi]\ncontinuous_limit = \"10m\"",
                &[],
                &[
                    "`rules.warn_before`",
                    "`rules.platform.didi.continuous_limit` (10m)",
                    "rules of `rules.platform.didi`",
                ],
            ),
            (
                // Named as the key it is, not as the pack that reads it.
                "warn_before of no time",
                "[rules]\nwarn_before = \"0s\"",
                &[],
                &["`rules.warn_before`", "must be longer than 0s"],
            ),
            (
                "warn_before in a role override",
                "[rules.role.rider]\nwarn_before = \"5h\"",
                &[],
                &["`rules.role.rider.warn_before`"],
            ),
            (
                "only the combination of platform and role is wrong",
                "[rules.platform.didi]\ncontinuous_limit = \"2h\"\n\
                 [rules.role.driver]\nwarn_before = \"3h\"",
                &[],
                &[
                    "`rules.role.driver.warn_before`",
                    "`rules.platform.didi.continuous_limit` (2h)",
                    "combined with",
                ],
            ),
            (
                "daily_max below daily_standard",
                "[rules]\ndaily_max = \"7h\"",
                &[],
                &["`rules.daily_max`", "at least `rules.daily_standard` (8h)"],
            ),
            (
                "daily_standard raised by a role",
                "[rules.role.trucker]\ndaily_standard = \"12h\"",
                &[],
                &[
                    "`rules.daily_max`",
                    "`rules.role.trucker.daily_standard` (12h)",
                ],
            ),
            (
                "zero min_break",
                "[rules]\nmin_break = \"0s\"",
                &[],
                &["`rules.min_break`", "longer than 0s"],
            ),
            (
                "zero continuous_limit",
                "[rules]\ncontinuous_limit = \"0s\"\nwarn_before = \"0s\"",
                &[],
                &["`rules.continuous_limit`"],
            ),
            (
                "zero daily_standard",
                "[rules.platform.x]\ndaily_standard = \"0ms\"",
                &[],
                &["`rules.platform.x.daily_standard`"],
            ),
            (
                "zero daily_max",
                "[rules]\ndaily_max = \"0s\"",
                &[],
                &["`rules.daily_max`", "longer than 0s"],
            ),
            (
                "zero weekly_max",
                "[rules.role.r]\nweekly_max = \"0s\"",
                &[],
                &["`rules.role.r.weekly_max`"],
            ),
            (
                "zero monthly_overtime_max",
                "[rules]\nmonthly_overtime_max = \"0h\"",
                &[],
                &["`rules.monthly_overtime_max`"],
            ),
            (
                "no input topics",
                "[kafka]\ninput_topics = []",
                &[],
                &["`kafka.input_topics`", "at least one topic"],
            ),
            (
                "no input topics from the environment",
                "",
                &[("WORKHOURS_KAFKA__INPUT_TOPICS", " , ")],
                &[
                    "`kafka.input_topics`",
                    "set by WORKHOURS_KAFKA__INPUT_TOPICS",
                ],
            ),
            (
                "an output topic with a space",
                "[kafka]\nalerts_topic = \"my alerts\"",
                &[],
                &[
                    "`kafka.alerts_topic`",
                    "`my alerts`",
                    "not a Kafka topic name",
                ],
            ),
            (
                "an input topic with a slash",
                "[kafka]\ninput_topics = [\"events\", \"a/b\"]",
                &[],
                &["`kafka.input_topics`", "`a/b`", "not a Kafka topic name"],
            ),
            (
                "a topic named ..",
                "[kafka]\nstate_topic = \"..\"",
                &[],
                &["`kafka.state_topic`", "not a Kafka topic name"],
            ),
            (
                "empty brokers",
                "[kafka]\nbrokers = \"\"",
                &[],
                &["`kafka.brokers`", "empty"],
            ),
            (
                "bootstrap.servers as a property",
                "[kafka.properties]\n\"bootstrap.servers\" = \"k:9092\"",
                &[],
                &["`kafka.properties.bootstrap.servers`", "`kafka.brokers`"],
            ),
            (
                "a property the monitor sets itself, with another value",
                "[kafka.properties]\n\"enable.auto.commit\" = true",
                &[],
                &[
                    "`kafka.properties.enable.auto.commit`",
                    "sets `false` itself",
                ],
            ),
            (
                "a fixed property from the environment",
                "",
                &[("WORKHOURS_KAFKA__PROPERTIES__ENABLE_IDEMPOTENCE", "false")],
                &["`kafka.properties.enable.idempotence`"],
            ),
            (
                // TOML's integers end at i64::MAX: the range names that, not u64's.
                "a negative rate",
                "[rules]\nminimum_wage_cents_per_hour = -5",
                &[],
                &["from 0 to 9223372036854775807"],
            ),
            (
                "another assignor",
                "[kafka.properties]\n\"partition.assignment.strategy\" = \"cooperative-sticky\"",
                &[],
                &[
                    "`kafka.properties.partition.assignment.strategy`",
                    "together",
                ],
            ),
            (
                "property set twice",
                "[kafka.properties]\n\"sasl.mechanism\" = \"PLAIN\"\nsasl.mechanism = \"PLAIN\"",
                &[],
                &["`kafka.properties`", "`sasl.mechanism` is set twice"],
            ),
            (
                "empty listen",
                "[http]\nlisten = \" \"",
                &[],
                &["`http.listen`"],
            ),
        ]);
    }

    /// `pack_file = ""` means no file in every rule table, as in `[rules]`: beside `pack` in
    /// one table, and in a platform's table under a `[rules]` file, where it drops that file.
    #[test]
    fn an_empty_pack_file_is_none_in_every_table() {
        let dir = pack_dir("workhours-empty-pf", "9h");
        let text = r#"
            [rules]
            pack_file = "mine.toml"
            [rules.platform.didi]
            pack_file = ""
            [rules.role.trucker]
            pack = "eu-561"
            pack_file = ""
        "#;
        let config = Config::parse(text, Vec::new(), Some(dir.clone())).unwrap();
        let pack = |p: &str, r: &str| config.rule_set(p, r).pack.to_string();
        assert_eq!(pack("meituan", "rider"), "mine");
        assert_eq!(pack("didi", "rider"), "cn-weihai-2022");
        assert_eq!(pack("meituan", "trucker"), "eu-561");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// SPEC section 8 writes `holidays = "config/holidays/cn.toml"`: a relative path is
    /// looked up beside the config file, then in the working directory (tests run in the
    /// package's root, where that file is shipped).
    #[test]
    fn relative_paths_are_found_beside_the_config_or_in_the_working_directory() {
        let dir = std::env::temp_dir().join(format!("workhours-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = "[time]\nholidays = \"config/holidays/cn.toml\"\n";
        let config = Config::parse(text, Vec::new(), Some(dir.clone())).unwrap();
        assert!(config.holidays.is_some());
        assert_eq!(
            config.resolve_path("config/holidays/cn.toml"),
            Path::new("config/holidays/cn.toml")
        );
        // A file beside the config wins over one in the working directory.
        std::fs::create_dir_all(dir.join("config/holidays")).unwrap();
        std::fs::copy(
            "config/holidays/cn.toml",
            dir.join("config/holidays/cn.toml"),
        )
        .unwrap();
        assert_eq!(
            config.resolve_path("config/holidays/cn.toml"),
            dir.join("config/holidays/cn.toml")
        );
        let parse = |text: &str| Config::parse(text, Vec::new(), Some(dir.clone()));
        // In neither place: the error names the path beside the config file.
        let error = parse("[time]\nholidays = \"nowhere/cn.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`time.holidays`"), "{error}");
        assert!(
            error.contains(&dir.join("nowhere/cn.toml").display().to_string()),
            "{error}"
        );
        // ... and says it was looked for in the working directory too, as a pack file.
        assert!(error.contains("then in the working directory"), "{error}");
        let error = parse("[rules]\npack_file = \"nowhere/mine.toml\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`rules.pack_file`"), "{error}");
        assert!(error.contains("then in the working directory"), "{error}");
        // The token file is looked up the same way (it is read by `run`, not at parse).
        std::fs::write(dir.join("token.txt"), "s3cret\n").unwrap();
        let config = parse("[http]\ntoken_file = \"token.txt\"\n").unwrap();
        let token = crate::http::load_token(&config).unwrap();
        assert_eq!(token.as_deref(), Some("s3cret"));
        let config = parse("[http]\ntoken_file = \"nowhere/token.txt\"\n").unwrap();
        let error = crate::http::load_token(&config).unwrap_err().to_string();
        assert!(error.contains("then in the working directory"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Section 4's kinds in a pack take section 4's parameter names too (SPEC 7: "with
    /// their parameters"), not both at once.
    #[test]
    fn section_4_kinds_take_section_4_parameter_names() {
        use crate::engine::rules::Params;
        let rules = |body: &str| {
            let dir = pack_dir_with(
                "workhours-s4-names",
                "s4.toml",
                &format!("name = \"s4\"\n{body}"),
            );
            let text = "[rules]\npack_file = \"s4.toml\"";
            let rules = Config::parse(text, Vec::new(), Some(dir.clone()))
                .map(|c| c.rule_set("p", "r").rules().to_vec());
            std::fs::remove_dir_all(&dir).unwrap();
            rules
        };
        let rule = |kind: &str, params: &str| {
            format!("[[rules]]\nid = \"{kind}\"\nkind = \"{kind}\"\n{params}\n")
        };
        let found = rules(
            &[
                rule(
                    "overtime",
                    "daily_standard = \"7h\"\nmonthly_overtime_max = \"10h\"",
                ),
                rule("minimum_wage", "minimum_wage_cents_per_hour = 3000"),
                rule(
                    "quota_p90",
                    "daily_standard = \"6h\"\nquota_min_workers = 3",
                ),
            ]
            .concat(),
        )
        .unwrap();
        match [&found[0].params, &found[1].params, &found[2].params] {
            [
                Params::Overtime(o),
                Params::MinimumWage(m),
                Params::QuotaP90(q),
            ] => {
                assert_eq!((o.standard, o.limit), (7 * H, 10 * H));
                assert_eq!(m.cents_per_hour, 3000);
                assert_eq!((q.standard, q.min_workers), (6 * H, 3));
            }
            other => panic!("{other:?}"),
        }
        let error = rules(&rule(
            "overtime",
            "standard = \"7h\"\ndaily_standard = \"7h\"",
        ))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`standard` and `daily_standard` are one parameter"),
            "{error}"
        );
    }

    /// A user's pack file without `name` is named by its stem (SPEC 7 names no such key).
    #[test]
    fn a_pack_file_without_a_name_takes_its_stem() {
        let rule = "[[rules]]\nid = \"r\"\nkind = \"rolling\"\nwindow = \"24h\"\nlimit = \"8h\"\n";
        let dir = pack_dir_with("workhours-nameless", "nameless.toml", rule);
        let text = "[rules]\npack_file = \"nameless.toml\"";
        let config = Config::parse(text, Vec::new(), Some(dir.clone())).unwrap();
        assert_eq!(config.rule_set("p", "r").pack.to_string(), "nameless");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// SPEC section 5: `worker_ttl`'s default is longer than any rule period. A user's pack
    /// with a 60-day window forgot a worker silent for 45 days within it, and its violation
    /// never came (audit BB): the default now covers the longest window, plus a day. A value
    /// set in the file or the environment is kept.
    #[test]
    fn the_default_worker_ttl_covers_the_longest_window_a_value_set_is_kept() {
        const DAY: i64 = 86_400_000;
        let rule = "[[rules]]\nid = \"r\"\nkind = \"rolling\"\nwindow = \"60d\"\nlimit = \"8h\"\n";
        let dir = pack_dir_with("workhours-long-window", "long.toml", rule);
        let ttl = |text: &str, env: Vec<(String, String)>| {
            Config::parse(text, env, Some(dir.clone()))
                .unwrap()
                .time
                .worker_ttl
        };
        let long = "[rules]\npack_file = \"long.toml\"\n";
        assert_eq!(ttl(long, Vec::new()), 61 * DAY);
        // Only in one table, under `[rules.platform.NAME]`.
        let platform = "[rules.platform.freight]\npack_file = \"long.toml\"\n";
        assert_eq!(ttl(platform, Vec::new()), 61 * DAY);
        // Two months of `period`: 62 days at the longest.
        let months = "[rules]\npack_file = \"months.toml\"\n";
        let period = "[[rules]]\nid = \"m\"\nkind = \"period\"\nperiod = \"month\"\ncount = 2\nlimit = \"60h\"\n";
        std::fs::write(dir.join("months.toml"), period).unwrap();
        assert_eq!(ttl(months, Vec::new()), 63 * DAY);
        // The shipped packs' windows are shorter than the 40 days.
        for pack in [
            "cn-weihai-2022",
            "eu-561",
            "us-fmcsa-property",
            "cn-road-traffic",
        ] {
            assert_eq!(
                ttl(&format!("[rules]\npack = \"{pack}\"\n"), Vec::new()),
                40 * DAY
            );
        }
        assert_eq!(ttl("", Vec::new()), 40 * DAY);
        // Set, shorter: kept (docs/config.md says what it costs).
        let set = format!("{long}[time]\nworker_ttl = \"10d\"\n");
        assert_eq!(ttl(&set, Vec::new()), 10 * DAY);
        let env = vec![("WORKHOURS_TIME__WORKER_TTL".to_owned(), "40d".to_owned())];
        assert_eq!(ttl(long, env), 40 * DAY);
        // The shipped file leaves it unset, so that a user's pack set over it is covered too
        // (it set 40 days, and a 60-day window forgot a worker: audit BF).
        let env = vec![(
            "WORKHOURS_RULES__PACK_FILE".to_owned(),
            "long.toml".to_owned(),
        )];
        assert_eq!(ttl(SHIPPED, env), 61 * DAY);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh directory `NAME-PID` holding `mine.toml`, a pack of one rolling rule with
    /// `limit`.
    fn pack_dir(name: &str, limit: &str) -> PathBuf {
        pack_dir_with(
            name,
            "mine.toml",
            &format!(
                "name = \"mine\"\n[[rules]]\nid = \"long_drive\"\nkind = \"rolling\"\nmeasure = \"driving\"\nwindow = \"24h\"\nlimit = \"{limit}\"\n"
            ),
        )
    }

    /// A fresh directory `NAME-PID` holding pack file `file` with `text`.
    fn pack_dir_with(name: &str, file: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
        dir
    }

    #[test]
    fn packs_are_chosen_per_platform_and_role_and_checked_at_start() {
        let dir = pack_dir("workhours-packs", "$daily_max");
        let text = r#"
            [rules]
            daily_max = "9h"
            [rules.platform.didi]
            pack = "didi-2018"
            [rules.platform.hll]
            pack_file = "mine.toml"
            [rules.role.trucker]
            pack = "eu-561"
        "#;
        let config = Config::parse(text, Vec::new(), Some(dir.clone())).unwrap();
        let pack = |p: &str, r: &str| config.rule_set(p, r).pack.to_string();
        assert_eq!(pack("meituan", "rider"), "cn-weihai-2022");
        assert_eq!(pack("didi", "driver"), "didi-2018");
        assert_eq!(pack("hll", "driver"), "mine");
        // The role table names a pack: it wins over the platform's file.
        assert_eq!(pack("hll", "trucker"), "eu-561");
        // `$daily_max` takes the value in force.
        let mine = config.rule_set("hll", "driver");
        match &mine.rules()[0].params {
            crate::engine::rules::Params::Rolling(p) => assert_eq!(p.limit, 9 * H),
            other => panic!("{other:?}"),
        }
        assert_errors(&[
            (
                "unknown pack",
                "[rules.role.driver]\npack = \"nope\"",
                &[],
                &[
                    "`rules.role.driver.pack`",
                    "unknown pack `nope`",
                    "`eu-561`",
                ],
            ),
            (
                "both in one table",
                "[rules]\npack = \"eu-561\"\npack_file = \"x.toml\"",
                &[],
                &["`rules.pack_file`", "either `pack` or `pack_file`"],
            ),
            (
                "missing file",
                "[rules]\npack_file = \"/nonexistent/pack.toml\"",
                &[],
                &["`rules.pack_file`", "cannot read it"],
            ),
            (
                "bad subject",
                "[rules]\nsubject = \"people\"",
                &[],
                &["`rules.subject`", "unknown variant"],
            ),
            (
                "subject from the environment",
                "",
                &[("WORKHOURS_RULES__SUBJECT", "nobody")],
                &["WORKHOURS_RULES__SUBJECT"],
            ),
        ]);
        // The error of a config that reads the packs in the test's directory.
        let error_of = |text: &str| {
            Config::parse(text, Vec::new(), Some(dir.clone()))
                .unwrap_err()
                .to_string()
        };
        // A pack whose rule a key's value breaks names the key that chose the pack: its file.
        let error = error_of("[rules]\npack_file = \"mine.toml\"\ndaily_max = \"30h\"");
        assert!(
            error.contains("`rules.pack_file`")
                && error.contains("`limit` must not exceed `window`"),
            "{error}"
        );
        // In the table that set it.
        let error = error_of("[rules.role.driver]\npack_file = \"mine.toml\"\ndaily_max = \"30h\"");
        assert!(error.contains("`rules.role.driver.pack_file`"), "{error}");
        // A pack that lists no rules would watch nobody: refused, as one without `[[rules]]`.
        std::fs::write(dir.join("empty.toml"), "name = \"empty\"\nrules = []\n").unwrap();
        let error = error_of("[rules]\npack_file = \"empty.toml\"");
        assert!(error.contains("no `[[rules]]`"), "{error}");
        // A rule for no role watches nobody; a pay or group rule writes no hold: both refused
        // (both were taken in silence).
        let rule = |extra: &str| format!("name = \"odd\"\n[[rules]]\nid = \"r\"\n{extra}\n");
        for (file, wanted) in [
            (
                rule("kind = \"continuous\"\nlimit = \"4h\"\nbreak = \"20m\"\nroles = []"),
                "`roles` is empty",
            ),
            (
                rule("kind = \"minimum_wage\"\ncents_per_hour = 2100\nhold = true"),
                "a `minimum_wage` rule writes no hold",
            ),
            (
                rule("kind = \"quota_p90\"\nstandard = \"1h\"\nmin_workers = 1\nhold = true"),
                "a `quota_p90` rule writes no hold",
            ),
            (
                rule("kind = \"holiday_pay\"\nhold = true"),
                "a `holiday_pay` rule writes no hold",
            ),
            // `rest_unless` where no rest counts: it changed nothing (audit AF).
            (
                rule(
                    "kind = \"rolling\"\nwindow = \"1h\"\nlimit = \"30m\"\nrest_unless = \"work\"",
                ),
                "`rest_unless` changes nothing in a `rolling` rule",
            ),
            (
                rule("kind = \"period\"\nperiod = \"day\"\nlimit = \"8h\"\nrest_unless = \"work\""),
                "`rest_unless` changes nothing in a `period` rule without `reset_rest`",
            ),
            (
                rule("kind = \"streak\"\nrest_unless = \"work\""),
                "`rest_unless` changes nothing in a `streak` rule",
            ),
            // A `continuous` or `rest_deadline` rule whose measure could be true in its own
            // rest: replay never ended once such a rule reached a threshold in the rest (model
            // test, tests/model/test_continuous.py), and a deadline fired inside a rest that
            // had qualified.
            (
                rule(
                    "kind = \"continuous\"\nmeasure = \"orders\"\nrest_unless = \"carrying\"\n\
                     limit = \"30m\"\nbreak = \"15m\"",
                ),
                "`rest_unless = \"carrying\"` does not cover `measure = \"orders\"`",
            ),
            (
                rule(
                    "kind = \"rest_deadline\"\nmeasure = \"work\"\nrest_unless = \"duty\"\n\
                     rest = \"10m\"\nwithin = \"30m\"",
                ),
                "`rest_unless = \"duty\"` does not cover `measure = \"work\"`",
            ),
            // A second `quota_p90` rule was never judged, and `roles` on one left a worker of
            // an unlisted first role counted with the whole day in a listed group's quota
            // (tests/model/test_quota.py): both refused.
            (
                rule(
                    "kind = \"quota_p90\"\nstandard = \"1h\"\nmin_workers = 1\n\
                     [[rules]]\nid = \"q2\"\nkind = \"quota_p90\"\nstandard = \"2h\"",
                ),
                "a pack has at most one `quota_p90` rule (`r` is one)",
            ),
            (
                rule("kind = \"quota_p90\"\nstandard = \"1h\"\nroles = [\"driver\"]"),
                "`roles` on a `quota_p90` rule",
            ),
        ] {
            std::fs::write(dir.join("odd.toml"), &file).unwrap();
            let error = error_of("[rules]\npack_file = \"odd.toml\"");
            assert!(error.contains(wanted), "{file}: {error}");
        }
        // `hold = false` is as good as no `hold`.
        std::fs::write(
            dir.join("odd.toml"),
            rule("kind = \"minimum_wage\"\ncents_per_hour = 2100\nhold = false"),
        )
        .unwrap();
        Config::parse(
            "[rules]\npack_file = \"odd.toml\"",
            Vec::new(),
            Some(dir.clone()),
        )
        .unwrap();
        // A file may not pass for a shipped pack with other rules: status and reports would
        // name `eu-561` for rules that are not it (audit AF). The shipped file itself, or a
        // copy, is that pack, under its name or as a file without one.
        std::fs::write(
            dir.join("mine.toml"),
            "name = \"eu-561\"\n[[rules]]\nid = \"r\"\nkind = \"streak\"\n",
        )
        .unwrap();
        let error = error_of("[rules]\npack_file = \"mine.toml\"");
        assert!(
            error.contains("`eu-561`")
                && error.contains("shipped pack")
                && error.contains("`name`"),
            "{error}"
        );
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/packs");
        for file in ["eu-561.toml", "us-fmcsa-property.toml"] {
            std::fs::copy(shipped.join(file), dir.join(file)).unwrap();
            Config::parse(
                &format!("[rules]\npack_file = \"{file}\""),
                Vec::new(),
                Some(dir.clone()),
            )
            .unwrap_or_else(|error| panic!("{file}: {error}"));
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn error_variants_carry_the_key_and_the_variable() {
        match load("[rules]\nwarn_before = \"5h\"", &[]) {
            Err(ConfigError::Key { key, .. }) => assert_eq!(key, "rules.warn_before"),
            other => panic!("{other:?}"),
        }
        match load("", &[("WORKHOURS_NOPE", "1")]) {
            Err(ConfigError::Env { var, .. }) => assert_eq!(var, "WORKHOURS_NOPE"),
            other => panic!("{other:?}"),
        }
    }
}
