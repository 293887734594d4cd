//! Rule packs (SPEC section 7): a named list of rules in TOML, shipped under `config/packs/`
//! (built into the binary) or loaded from a user's file (`pack_file`). The file format and the
//! meaning of every kind are in `docs/pack-format.md`.
//!
//! A pack is parsed once ([`Pack::parse`]) and resolved for each (platform, role) that meets
//! it ([`Pack::resolve`]): every `"$KEY"` takes the value of that rule key, rules limited to
//! other roles drop out, and each kind's parameters are checked in the kind's own module.

use std::sync::Arc;

use crate::duration::parse_duration;
use crate::engine::measure::{Hours, Measure};
use crate::engine::rules::{
    KINDS, Params, RuleDef, continuous, holiday_pay, minimum_wage, overtime, period, quota,
    rest_deadline, rolling, since_rest, streak,
};

/// The packs built into the binary: (name, TOML text).
pub const SHIPPED: [(&str, &str); 7] = [
    (
        "cn-weihai-2022",
        include_str!("../config/packs/cn-weihai-2022.toml"),
    ),
    (
        "cn-mohrss-2024",
        include_str!("../config/packs/cn-mohrss-2024.toml"),
    ),
    ("didi-2018", include_str!("../config/packs/didi-2018.toml")),
    (
        "cn-road-traffic",
        include_str!("../config/packs/cn-road-traffic.toml"),
    ),
    ("eu-561", include_str!("../config/packs/eu-561.toml")),
    (
        "us-fmcsa-property",
        include_str!("../config/packs/us-fmcsa-property.toml"),
    ),
    (
        "us-fmcsa-property-60",
        include_str!("../config/packs/us-fmcsa-property-60.toml"),
    ),
];

/// The pack in force when the config names none (SPEC section 4).
pub const DEFAULT_PACK: &str = "cn-weihai-2022";

/// A value a rule key gives to a `"$KEY"` parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// Milliseconds.
    Duration(i64),
    Integer(i64),
    Number(f64),
    Text(String),
}

/// Where `"$KEY"` values come from: the rule keys in force for a (platform, role).
pub trait KeyValues {
    fn key_value(&self, key: &str) -> Option<KeyValue>;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackError {
    #[error("pack {origin} is not valid TOML: {reason}")]
    Syntax { origin: String, reason: String },
    #[error("pack {origin}: {reason}")]
    Pack { origin: String, reason: String },
    #[error("pack {origin}, rule `{rule}`: {reason}")]
    Rule {
        origin: String,
        rule: String,
        reason: String,
    },
    #[error("unknown pack `{0}` (shipped: {shipped}); use `pack_file` for a pack of your own", shipped = shipped_names())]
    Unknown(String),
}

fn shipped_names() -> String {
    SHIPPED
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A rule as written in a pack.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub id: String,
    pub kind: String,
    pub clause: Option<String>,
    /// Every other key of the rule's table.
    pub params: toml::Table,
}

/// A parsed pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Pack {
    pub name: String,
    pub title: String,
    pub source: String,
    pub url: Option<String>,
    pub not_covered: Vec<String>,
    pub rules: Vec<RuleSpec>,
    /// How messages name the pack: `` `eu-561` `` or the file's path.
    pub origin: String,
}

impl Pack {
    /// A shipped pack by name.
    pub fn shipped(name: &str) -> Result<Pack, PackError> {
        let (_, text) = SHIPPED
            .iter()
            .find(|(shipped, _)| *shipped == name)
            .ok_or_else(|| PackError::Unknown(name.to_owned()))?;
        Pack::parse(text, &format!("`{name}`"))
    }

    /// A user's pack file.
    pub fn load(path: &std::path::Path) -> Result<Pack, PackError> {
        let origin = format!("file {}", path.display());
        let text =
            crate::files::read_text(path, crate::files::MAX_TEXT_BYTES).map_err(|error| {
                PackError::Pack {
                    origin: origin.clone(),
                    reason: format!("cannot read it: {error}"),
                }
            })?;
        // Without a `name`, the pack is named by its file's stem (`mine.toml`: `mine`).
        let stem = path.file_stem().map(|stem| stem.to_string_lossy());
        let pack = Pack::parse_named(&text, &origin, stem.as_deref())?;
        // Status and reports name the pack in force: a file may carry a shipped pack's name
        // only if it is that pack (the shipped file, or a copy).
        if SHIPPED.iter().any(|(name, _)| *name == pack.name) {
            // Everything but where it was read from.
            let shipped = Pack {
                origin: pack.origin.clone(),
                ..Pack::shipped(&pack.name)?
            };
            if shipped != pack {
                return Err(PackError::Pack {
                    origin,
                    reason: format!(
                        "its name is `{}`, that of a shipped pack, but it is not that pack: give \
                         it a `name` of its own (status and reports name the pack in force)",
                        pack.name
                    ),
                });
            }
        }
        Ok(pack)
    }

    /// Parses a pack's TOML; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Pack, PackError> {
        Pack::parse_named(text, origin, None)
    }

    /// [`Pack::parse`], with the name a pack without `name` takes (none: `name` is required).
    fn parse_named(
        text: &str,
        origin: &str,
        default_name: Option<&str>,
    ) -> Result<Pack, PackError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|error: toml::de::Error| PackError::Syntax {
                    origin: origin.to_owned(),
                    reason: error.message().to_owned(),
                })?;
        let pack_error = |reason: String| PackError::Pack {
            origin: origin.to_owned(),
            reason,
        };
        let mut text_of = |key: &str, required: bool| -> Result<Option<String>, PackError> {
            match table.remove(key) {
                Some(toml::Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(pack_error(format!("`{key}` must be a string"))),
                None if required => Err(pack_error(format!("`{key}` is missing"))),
                None => Ok(None),
            }
        };
        let name = match text_of("name", default_name.is_none())? {
            Some(name) => name,
            None => default_name.unwrap_or_default().to_owned(),
        };
        let title = text_of("title", false)?.unwrap_or_default();
        let source = text_of("source", false)?.unwrap_or_default();
        let url = text_of("url", false)?;
        let not_covered = match table.remove("not_covered") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s),
                    _ => Err(pack_error("`not_covered` must list strings".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(pack_error("`not_covered` must be an array".into())),
        };
        let rules = match table.remove("rules") {
            // A pack without rules would leave its workers unwatched without a word.
            Some(toml::Value::Array(items)) if items.is_empty() => {
                return Err(pack_error(
                    "no `[[rules]]` (`rules = []` lists none)".into(),
                ));
            }
            Some(toml::Value::Array(items)) => items,
            Some(_) => return Err(pack_error("`rules` must be an array of tables".into())),
            None => return Err(pack_error("no `[[rules]]`".into())),
        };
        if let Some(key) = table.keys().next() {
            return Err(pack_error(format!(
                "unknown key `{key}` (expected `name`, `title`, `source`, `url`, `not_covered`, `rules`)"
            )));
        }
        let mut specs: Vec<RuleSpec> = Vec::new();
        for (i, item) in rules.into_iter().enumerate() {
            let toml::Value::Table(mut params) = item else {
                return Err(pack_error(format!("rule {} is not a table", i + 1)));
            };
            let mut take = |key: &str| match params.remove(key) {
                Some(toml::Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(pack_error(format!(
                    "rule {}: `{key}` must be a string",
                    i + 1
                ))),
                None => Ok(None),
            };
            let id =
                take("id")?.ok_or_else(|| pack_error(format!("rule {} has no `id`", i + 1)))?;
            let kind =
                take("kind")?.ok_or_else(|| pack_error(format!("rule `{id}` has no `kind`")))?;
            let clause = take("clause")?;
            let rule_error = |reason: String| PackError::Rule {
                origin: origin.to_owned(),
                rule: id.clone(),
                reason,
            };
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(rule_error(
                    "the id must be lowercase letters, digits and `_`".into(),
                ));
            }
            if specs.iter().any(|s| s.id == id) {
                return Err(rule_error("two rules have this id".into()));
            }
            if !KINDS.contains(&kind.as_str()) {
                return Err(rule_error(format!(
                    "unknown kind `{kind}` (kinds: {})",
                    KINDS.join(", ")
                )));
            }
            // A group's quota is judged once a day, by the rule of its platform and role
            // (SPEC section 4): a second rule would not be, and `roles` would count workers by
            // a role other than their group's.
            if kind == "quota_p90" {
                if let Some(other) = specs.iter().find(|s| s.kind == "quota_p90") {
                    return Err(rule_error(format!(
                        "a pack has at most one `quota_p90` rule (`{}` is one): a group's quota \
                         is judged once a day",
                        other.id
                    )));
                }
                if params.contains_key("roles") {
                    return Err(rule_error(
                        "`roles` on a `quota_p90` rule: the rule judges groups, whose platform \
                         and role choose it (give a role its own pack under `[rules.role.NAME]`)"
                            .into(),
                    ));
                }
            }
            specs.push(RuleSpec {
                id,
                kind,
                clause,
                params,
            });
        }
        Ok(Pack {
            name,
            title,
            source,
            url,
            not_covered,
            rules: specs,
            origin: origin.to_owned(),
        })
    }

    /// The pack's rules for a worker of `role`, with `values` for `"$KEY"` parameters.
    pub fn resolve(&self, values: &dyn KeyValues, role: &str) -> Result<Vec<RuleDef>, PackError> {
        self.resolve_where(values, role, |_| true)
    }

    /// [`Pack::resolve`] of the rules `keep` takes only.
    pub fn resolve_where(
        &self,
        values: &dyn KeyValues,
        role: &str,
        keep: impl Fn(&RuleSpec) -> bool,
    ) -> Result<Vec<RuleDef>, PackError> {
        let mut rules = Vec::new();
        let mut observed = false;
        for spec in self.rules.iter().filter(|spec| keep(spec)) {
            let mut reader = Reader {
                origin: &self.origin,
                spec,
                values,
                used: Vec::new(),
            };
            let (mut def, roles) = reader.rule()?;
            reader.finish()?;
            if roles.is_some_and(|roles| !roles.iter().any(|r| r == role)) {
                continue;
            }
            if matches!(def.params, Params::Continuous(_)) && !observed {
                def.observe = true;
                observed = true;
            }
            rules.push(def);
        }
        Ok(rules)
    }
}

/// Reads one rule's parameters, remembering which keys were used so that the rest can be
/// reported as unknown.
pub struct Reader<'a> {
    origin: &'a str,
    spec: &'a RuleSpec,
    values: &'a dyn KeyValues,
    used: Vec<&'a str>,
}

impl<'a> Reader<'a> {
    /// An error about this rule.
    pub fn error(&self, reason: impl Into<String>) -> PackError {
        PackError::Rule {
            origin: self.origin.to_owned(),
            rule: self.spec.id.clone(),
            reason: reason.into(),
        }
    }

    fn raw(&mut self, key: &'a str) -> Option<&'a toml::Value> {
        self.used.push(key);
        self.spec.params.get(key)
    }

    /// `"$KEY"`: the rule key's value; anything else: `None`.
    fn reference(&self, key: &str, value: &toml::Value) -> Result<Option<KeyValue>, PackError> {
        match value.as_str().and_then(|s| s.strip_prefix('$')) {
            Some(name) => self
                .values
                .key_value(name)
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` names no rule key `{name}`"))),
            None => Ok(None),
        }
    }

    /// An optional duration (`"4h30m"` or `"$KEY"` of a duration key), ms.
    pub fn duration(&mut self, key: &'a str) -> Result<Option<i64>, PackError> {
        let Some(value) = self.raw(key) else {
            return Ok(None);
        };
        match self.reference(key, value)? {
            Some(KeyValue::Duration(ms)) => return Ok(Some(ms)),
            Some(_) => return Err(self.error(format!("`{key}` must name a duration key"))),
            None => {}
        }
        match value {
            toml::Value::String(text) => parse_duration(text)
                .map(Some)
                .map_err(|reason| self.error(format!("`{key}`: invalid duration {reason}"))),
            _ => Err(self.error(format!(
                "`{key}` must be a duration string such as \"4h30m\""
            ))),
        }
    }

    /// The value of rule key `name` (a kind's default such as `$daily_standard`).
    pub fn key(&self, name: &str) -> Result<KeyValue, PackError> {
        self.values
            .key_value(name)
            .ok_or_else(|| self.error(format!("no rule key `{name}`")))
    }

    /// A duration parameter that defaults to the duration rule key `name`. It may also be
    /// written under that key's name (SPEC 7: section 4's kinds "with their parameters", such
    /// as `daily_standard = "8h"` in an `overtime` rule), but not both ways.
    pub fn duration_or_key(&mut self, key: &'a str, name: &'a str) -> Result<i64, PackError> {
        match (self.duration(key)?, self.duration(name)?) {
            (Some(_), Some(_)) => Err(self.both(key, name)),
            (Some(ms), None) | (None, Some(ms)) => Ok(ms),
            (None, None) => match self.key(name)? {
                KeyValue::Duration(ms) => Ok(ms),
                _ => Err(self.error(format!("rule key `{name}` is not a duration"))),
            },
        }
    }

    /// An integer parameter that defaults to the integer rule key `name`; written under
    /// either name, as [`Reader::duration_or_key`].
    pub fn integer_or_key(&mut self, key: &'a str, name: &'a str) -> Result<i64, PackError> {
        match (self.integer(key)?, self.integer(name)?) {
            (Some(_), Some(_)) => Err(self.both(key, name)),
            (Some(n), None) | (None, Some(n)) => Ok(n),
            (None, None) => match self.key(name)? {
                KeyValue::Integer(n) => Ok(n),
                _ => Err(self.error(format!("rule key `{name}` is not an integer"))),
            },
        }
    }

    fn both(&self, key: &str, name: &str) -> PackError {
        self.error(format!(
            "`{key}` and `{name}` are one parameter: set one of them"
        ))
    }

    /// A required duration, greater than 0.
    pub fn positive(&mut self, key: &'a str) -> Result<i64, PackError> {
        match self.duration(key)? {
            Some(ms) if ms > 0 => Ok(ms),
            Some(_) => Err(self.error(format!("`{key}` must be longer than 0s"))),
            None => Err(self.error(format!("`{key}` is required"))),
        }
    }

    /// An optional duration that, when present, is greater than 0.
    pub fn positive_opt(&mut self, key: &'a str) -> Result<Option<i64>, PackError> {
        match self.duration(key)? {
            Some(ms) if ms <= 0 => Err(self.error(format!("`{key}` must be longer than 0s"))),
            other => Ok(other),
        }
    }

    /// An optional integer (a TOML integer or `"$KEY"` of an integer key).
    pub fn integer(&mut self, key: &'a str) -> Result<Option<i64>, PackError> {
        let Some(value) = self.raw(key) else {
            return Ok(None);
        };
        match self.reference(key, value)? {
            Some(KeyValue::Integer(n)) => return Ok(Some(n)),
            Some(_) => return Err(self.error(format!("`{key}` must name an integer key"))),
            None => {}
        }
        value
            .as_integer()
            .map(Some)
            .ok_or_else(|| self.error(format!("`{key}` must be an integer")))
    }

    /// An optional number (a TOML float or integer, or `"$KEY"` of a number key).
    pub fn number(&mut self, key: &'a str) -> Result<Option<f64>, PackError> {
        let Some(value) = self.raw(key) else {
            return Ok(None);
        };
        match self.reference(key, value)? {
            Some(KeyValue::Number(n)) => return Ok(Some(n)),
            Some(KeyValue::Integer(n)) => return Ok(Some(n as f64)),
            Some(_) => return Err(self.error(format!("`{key}` must name a number key"))),
            None => {}
        }
        match value {
            toml::Value::Float(f) => Ok(Some(*f)),
            toml::Value::Integer(n) => Ok(Some(*n as f64)),
            _ => Err(self.error(format!("`{key}` must be a number"))),
        }
    }

    pub fn string(&mut self, key: &'a str) -> Result<Option<String>, PackError> {
        match self.raw(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(format!("`{key}` must be a string"))),
        }
    }

    pub fn measure(&mut self, key: &'a str) -> Result<Option<Measure>, PackError> {
        match self.string(key)? {
            None => Ok(None),
            Some(name) => Measure::parse(&name).map(Some).ok_or_else(|| {
                self.error(format!(
                    "`{key}` must be `work`, `orders`, `carrying`, `driving` or `duty`, not `{name}`"
                ))
            }),
        }
    }

    /// `split_break`: `["15m", "30m"]` or `"15m + 30m"`.
    pub fn split(&mut self, key: &'a str) -> Result<Option<(i64, i64)>, PackError> {
        let Some(value) = self.raw(key) else {
            return Ok(None);
        };
        let parts: Vec<String> = match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .unwrap_or_default(),
            toml::Value::String(text) => text.split('+').map(|s| s.trim().to_owned()).collect(),
            _ => Vec::new(),
        };
        let parsed: Vec<i64> = parts
            .iter()
            .map(|part| parse_duration(part).ok().filter(|&ms| ms > 0))
            .collect::<Option<_>>()
            .unwrap_or_default();
        match parsed[..] {
            [first, second] => Ok(Some((first, second))),
            _ => Err(self.error(format!(
                "`{key}` must be two durations longer than 0s, e.g. [\"15m\", \"30m\"]"
            ))),
        }
    }

    fn boolean(&mut self, key: &'a str) -> Result<bool, PackError> {
        match self.raw(key) {
            None => Ok(false),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(_) => Err(self.error(format!("`{key}` must be true or false"))),
        }
    }

    fn roles(&mut self) -> Result<Option<Vec<String>>, PackError> {
        match self.raw("roles") {
            None => Ok(None),
            Some(toml::Value::Array(items)) if items.is_empty() => Err(self.error(
                "`roles` is empty: the rule would watch no one (leave `roles` out for every role)",
            )),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.error("`roles` must list role names")),
            Some(_) => Err(self.error("`roles` must be an array of role names")),
        }
    }

    /// The whole rule, and the roles it is limited to.
    fn rule(&mut self) -> Result<(RuleDef, Option<Vec<String>>), PackError> {
        let roles = self.roles()?;
        let measure = self.measure("measure")?.unwrap_or(Measure::Work);
        let rest_unless = self.measure("rest_unless")?;
        let hours = match self.string("hours")? {
            None => None,
            Some(text) => Some(Hours::parse(&text).ok_or_else(|| {
                self.error(format!(
                    "`hours` must be local hours like \"22:00-06:00\", not {text:?}"
                ))
            })?),
        };
        let hold = self.boolean("hold")?;
        let label = self.string("label")?.map(Arc::from);
        let warning_label = self.string("warning_label")?.map(Arc::from);
        let kind = self.spec.kind.clone();
        let (elapsed_from, allowance) = match kind.as_str() {
            "since_rest" => (
                self.measure("elapsed_from")?,
                self.positive_opt("allowance")?,
            ),
            "period" => (None, self.positive_opt("allowance")?),
            _ => (None, None),
        };
        if allowance.is_some() && measure != Measure::Orders {
            return Err(self.error("`allowance` needs `measure = \"orders\"`"));
        }
        if matches!(kind.as_str(), "minimum_wage" | "quota_p90" | "holiday_pay")
            && (measure != Measure::Work || rest_unless.is_some())
        {
            return Err(self.error(format!(
                "a `{kind}` rule measures working time: no `measure` or `rest_unless`"
            )));
        }
        if hold && matches!(kind.as_str(), "minimum_wage" | "quota_p90" | "holiday_pay") {
            return Err(self.error(format!(
                "a `{kind}` rule writes no hold: its violation is about pay or a group's \
                 quota, which no rest mends (leave `hold` out)"
            )));
        }
        let mut params = self.params(&kind)?;
        if let Params::SinceRest(p) = &mut params {
            p.elapsed = elapsed_from.is_some();
        }
        // Only these kinds have a rest for `rest_unless` to define.
        let has_rest = match &params {
            Params::Continuous(_) | Params::SinceRest(_) | Params::RestDeadline(_) => true,
            Params::Period(p) => p.reset_rest.is_some(),
            _ => false,
        };
        if rest_unless.is_some() && !has_rest {
            let without = if kind == "period" {
                " without `reset_rest`"
            } else {
                ""
            };
            return Err(self.error(format!(
                "`rest_unless` changes nothing in a `{kind}` rule{without}: only `continuous`, \
                 `since_rest`, `rest_deadline` and `period` with `reset_rest` have a rest"
            )));
        }
        // A `continuous` or `rest_deadline` rule reads its measure as what ends its rest: one
        // that could be true in the rest has no meaning there. `since_rest` and `period`
        // define it (docs/pack-format.md). Replay never ended on such a `continuous` rule: with
        // the measure on in a rest whose break had completed (or before the first instant of
        // `rest_unless`, a rest from ever), each instant of the measure opened an episode that
        // the same completion, due at that instant, closed again, and `advance_past` looked at
        // that instant for ever.
        if let Some(unless) = rest_unless
            && matches!(params, Params::Continuous(_) | Params::RestDeadline(_))
            && !measure.within(unless)
        {
            return Err(self.error(format!(
                "`rest_unless = \"{}\"` does not cover `measure = \"{}\"`: a `{kind}` rule's \
                 measure must be false in its rest (measures within one another: carrying, \
                 orders, work; driving, duty)",
                unless.as_str(),
                measure.as_str()
            )));
        }
        let def = RuleDef {
            id: Arc::from(self.spec.id.as_str()),
            measure,
            rest_unless,
            elapsed_from,
            hours,
            allowance,
            hold,
            label,
            warning_label,
            observe: false,
            params,
        };
        Ok((def, roles))
    }

    /// The kind's own parameters, read by the kind's module.
    fn params(&mut self, kind: &str) -> Result<Params, PackError> {
        Ok(match kind {
            "continuous" => Params::Continuous(continuous::Params::read(self)?),
            "period" => Params::Period(period::Params::read(self)?),
            "rolling" => Params::Rolling(rolling::Params::read(self)?),
            "since_rest" => Params::SinceRest(since_rest::Params::read(self)?),
            "rest_deadline" => Params::RestDeadline(rest_deadline::Params::read(self)?),
            "streak" => Params::Streak(streak::Params::read(self)?),
            "overtime" => Params::Overtime(overtime::Params::read(self)?),
            "minimum_wage" => Params::MinimumWage(minimum_wage::Params::read(self)?),
            "quota_p90" => Params::QuotaP90(quota::Params::read(self)?),
            "holiday_pay" => Params::HolidayPay(holiday_pay::Params::read(self)?),
            other => return Err(self.error(format!("unknown kind `{other}`"))),
        })
    }

    /// Every key of the rule was read: anything else is a mistake.
    fn finish(&self) -> Result<(), PackError> {
        match self
            .spec
            .params
            .keys()
            .find(|key| !self.used.contains(&key.as_str()))
        {
            Some(key) => Err(self.error(format!(
                "unknown key `{key}` for a `{}` rule",
                self.spec.kind
            ))),
            None => Ok(()),
        }
    }
}
