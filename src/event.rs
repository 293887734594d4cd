//! Input events: one JSON object per Kafka message or input line, validated exactly as
//! SPEC section 2 says. A bad event is a value ([`BadEvent`]) with a bounded reason code.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

use crate::timefmt;

#[cfg(test)]
mod differential;
mod scan;

/// The event kinds of SPEC section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Login,
    Logout,
    BreakStart,
    BreakEnd,
    OrderAccepted,
    OrderPickedUp,
    OrderDelivered,
    OrderCancelled,
    Heartbeat,
    /// A duty-status change (section 7): the `activity` field says which.
    Activity,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Login,
        Kind::Logout,
        Kind::BreakStart,
        Kind::BreakEnd,
        Kind::OrderAccepted,
        Kind::OrderPickedUp,
        Kind::OrderDelivered,
        Kind::OrderCancelled,
        Kind::Heartbeat,
        Kind::Activity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::Logout => "logout",
            Kind::BreakStart => "break_start",
            Kind::BreakEnd => "break_end",
            Kind::OrderAccepted => "order_accepted",
            Kind::OrderPickedUp => "order_picked_up",
            Kind::OrderDelivered => "order_delivered",
            Kind::OrderCancelled => "order_cancelled",
            Kind::Heartbeat => "heartbeat",
            Kind::Activity => "activity",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Order kinds need a non-empty `order_id`.
    pub fn is_order(self) -> bool {
        matches!(
            self,
            Kind::OrderAccepted | Kind::OrderPickedUp | Kind::OrderDelivered | Kind::OrderCancelled
        )
    }
}

/// The duty status an `activity` event declares (tachograph and ELD duty status, SPEC
/// section 7).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Driving,
    OtherWork,
    Available,
    /// Also the state before a worker's first `activity` event and after a logout.
    #[default]
    Rest,
}

impl Activity {
    pub const ALL: [Activity; 4] = [
        Activity::Driving,
        Activity::OtherWork,
        Activity::Available,
        Activity::Rest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Driving => "driving",
            Activity::OtherWork => "other_work",
            Activity::Available => "available",
            Activity::Rest => "rest",
        }
    }

    fn parse(text: &str) -> Option<Activity> {
        Activity::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// Longest `platform`, `role` or `city`, in characters (SPEC section 5: bounded input).
pub const MAX_NAME_CHARS: usize = 64;

/// A valid event. Strings borrow from the input where they carry no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub worker_id: Cow<'a, str>,
    pub kind: Kind,
    /// Event time, epoch milliseconds.
    pub ts: i64,
    pub event_id: Option<Cow<'a, str>>,
    pub platform: Cow<'a, str>,
    pub role: Cow<'a, str>,
    pub city: Cow<'a, str>,
    pub order_id: Option<Cow<'a, str>>,
    pub fee_cents: Option<u64>,
    /// The person across platforms (section 8), when the platform sends one.
    pub person_id: Option<Cow<'a, str>>,
    /// Set on `activity` events only (validated, and ignored, on others).
    pub activity: Option<Activity>,
}

/// Why an event is bad. The codes are the values of the `reason` label and header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadReason {
    /// A message or line longer than [`MAX_EVENT_BYTES`].
    TooLarge,
    NotUtf8,
    NotJson,
    NotObject,
    DuplicateField,
    MissingField,
    WrongType,
    InvalidValue,
    UnknownKind,
    MissingOrderId,
    BadTimestamp,
    TimestampOutOfRange,
    TimestampInFuture,
    /// Live: the message key is not the event's `worker_id` (or `person_id`).
    KeyMismatch,
    /// An order start for a worker who already has the most active orders allowed.
    TooManyOrders,
}

impl BadReason {
    pub const ALL: [BadReason; 15] = [
        BadReason::TooLarge,
        BadReason::NotUtf8,
        BadReason::NotJson,
        BadReason::NotObject,
        BadReason::DuplicateField,
        BadReason::MissingField,
        BadReason::WrongType,
        BadReason::InvalidValue,
        BadReason::UnknownKind,
        BadReason::MissingOrderId,
        BadReason::BadTimestamp,
        BadReason::TimestampOutOfRange,
        BadReason::TimestampInFuture,
        BadReason::KeyMismatch,
        BadReason::TooManyOrders,
    ];

    pub fn code(self) -> &'static str {
        match self {
            BadReason::TooLarge => "too_large",
            BadReason::NotUtf8 => "not_utf8",
            BadReason::NotJson => "not_json",
            BadReason::NotObject => "not_object",
            BadReason::DuplicateField => "duplicate_field",
            BadReason::MissingField => "missing_field",
            BadReason::WrongType => "wrong_type",
            BadReason::InvalidValue => "invalid_value",
            BadReason::UnknownKind => "unknown_kind",
            BadReason::MissingOrderId => "missing_order_id",
            BadReason::BadTimestamp => "bad_timestamp",
            BadReason::TimestampOutOfRange => "timestamp_out_of_range",
            BadReason::TimestampInFuture => "timestamp_in_future",
            BadReason::KeyMismatch => "key_mismatch",
            BadReason::TooManyOrders => "too_many_orders",
        }
    }
}

/// A bad event: the reason code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEvent {
    pub reason: BadReason,
    pub detail: String,
}

impl BadEvent {
    pub fn new(reason: BadReason, detail: impl Into<String>) -> BadEvent {
        BadEvent {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for BadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.detail)
    }
}

/// The longest message or line that can be an event: 1 MiB, Kafka's default limit on a message
/// (`message.max.bytes`), where events are a few hundred bytes. A longer one is bad
/// (`too_large`) whatever it holds, so that no line makes replay hold it whole.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// Parses and validates one message or line (without its newline).
pub fn parse(bytes: &[u8]) -> Result<Event<'_>, BadEvent> {
    let text = utf8(bytes)?;
    let mut fields = Fields::default();
    if scan::object(text, &mut fields).is_none() {
        // The scanner gave up: a bad line, or one whose reading needs all of serde_json.
        fields = reference_fields(text)?;
    }
    let event = fields.validate();
    if event.is_ok() {
        // A valid event took every known field: the table holds nothing left to drop, and a
        // drop would still test each of its 11 entries.
        debug_assert!(fields.values.iter().all(Option::is_none));
        std::mem::forget(fields);
    }
    event
}

/// [`parse`] with serde_json alone: the reference that the fast scanner must agree with on
/// every input (the differential tests and the fuzz target compare the two), and the path
/// of every line the scanner gives up on.
pub fn parse_reference(bytes: &[u8]) -> Result<Event<'_>, BadEvent> {
    reference_fields(utf8(bytes)?)?.validate()
}

/// Why `bytes` are too long to be an event, if they are (`too_large`): the parsers' first
/// check, and `pseudonymize`'s.
pub fn too_large(bytes: &[u8]) -> Option<String> {
    (bytes.len() > MAX_EVENT_BYTES)
        .then(|| format!("longer than {MAX_EVENT_BYTES} bytes, the most an event may have"))
}

fn utf8(bytes: &[u8]) -> Result<&str, BadEvent> {
    if let Some(detail) = too_large(bytes) {
        return Err(BadEvent::new(BadReason::TooLarge, detail));
    }
    // simdutf8 checks a line in a few wide steps (std's check was about a seventh of the
    // parse floor); std's, on the rare line that fails, says where.
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        return Ok(text);
    }
    std::str::from_utf8(bytes).map_err(|error| {
        BadEvent::new(
            BadReason::NotUtf8,
            format!("not UTF-8 (byte {})", error.valid_up_to()),
        )
    })
}

/// The known fields of a JSON object, read by serde_json; bad JSON and other top-level
/// values are bad events here.
fn reference_fields(text: &str) -> Result<Fields<'_>, BadEvent> {
    let mut fields = Fields::default();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let top = TopSeed(&mut fields)
        .deserialize(&mut deserializer)
        .and_then(|top| deserializer.end().map(|()| top));
    match top {
        // Keys were read as bytes, which lets a raw control character through.
        Ok(Top::Object) => match control_in_string(text) {
            None => Ok(fields),
            Some(at) => Err(BadEvent::new(
                BadReason::NotJson,
                format!(
                    "not JSON: control character (\\u{:04X}) while parsing a string at byte {}",
                    text.as_bytes()[at],
                    at + 1
                ),
            )),
        },
        Ok(Top::Other(what)) => Err(BadEvent::new(
            BadReason::NotObject,
            format!("a JSON {what}, not an object"),
        )),
        Err(error) => Err(BadEvent::new(
            BadReason::NotJson,
            format!("not JSON: {error}"),
        )),
    }
}

/// Rejects an event more than `max_future_skew` ahead of the wall clock (live only).
pub fn check_future(
    event: &Event<'_>,
    now_ms: i64,
    max_future_skew_ms: i64,
) -> Result<(), BadEvent> {
    if event.ts > now_ms.saturating_add(max_future_skew_ms) {
        return Err(BadEvent::new(
            BadReason::TimestampInFuture,
            format!("`ts` is {} ms ahead of the wall clock", event.ts - now_ms),
        ));
    }
    Ok(())
}

/// Any JSON value, keeping only what validation needs.
enum Val<'a> {
    Str(Cow<'a, str>),
    UInt(u64),
    Int(i64),
    Float,
    Bool,
    Null,
    Array,
    Object,
}

impl Val<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::UInt(_) | Val::Int(_) => "an integer",
            // serde_json reads `-0` and integers beyond 64 bits as floats too.
            Val::Float => "a number with a fraction or exponent, `-0`, or beyond 64 bits",
            Val::Bool => "a boolean",
            Val::Null => "null",
            Val::Array => "an array",
            Val::Object => "an object",
        }
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val<'de>, E> {
        Ok(Val::UInt(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val<'de>, E> {
        Ok(Val::Int(v))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Val<'de>, E> {
        Ok(Val::Float)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Val<'de>, E> {
        Ok(Val::Bool)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Val::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Object)
    }
}

impl<'de> Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValVisitor)
    }
}

#[derive(Clone, Copy)]
enum Key {
    WorkerId,
    Kind,
    Ts,
    EventId,
    Platform,
    Role,
    City,
    OrderId,
    FeeCents,
    PersonId,
    Activity,
    Other,
}

const KEY_NAMES: [&str; 11] = [
    "worker_id",
    "kind",
    "ts",
    "event_id",
    "platform",
    "role",
    "city",
    "order_id",
    "fee_cents",
    "person_id",
    "activity",
];

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        self.visit_bytes(v.as_bytes())
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Key, E> {
        Ok(match v {
            b"worker_id" => Key::WorkerId,
            b"kind" => Key::Kind,
            b"ts" => Key::Ts,
            b"event_id" => Key::EventId,
            b"platform" => Key::Platform,
            b"role" => Key::Role,
            b"city" => Key::City,
            b"order_id" => Key::OrderId,
            b"fee_cents" => Key::FeeCents,
            b"person_id" => Key::PersonId,
            b"activity" => Key::Activity,
            _ => Key::Other,
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    /// Read as bytes: serde_json then takes a lone surrogate escape (`"\ud800"`), which
    /// RFC 8259's grammar allows, in a key as it does in the values it skips. An unknown
    /// field's name is never decoded as text (SPEC section 2: unknown fields are ignored), and
    /// no known name has one. serde_json reads bytes without refusing a raw control character
    /// either: [`reference_fields`] does that for the whole line.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(KeyVisitor)
    }
}

/// Whether a JSON string in `text` holds a raw control character (U+0000 to U+001F), which
/// JSON forbids; outside strings only whitespace may be one, which serde_json checks.
fn control_in_string(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => i += 1,
            c if in_string && c < 0x20 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The known fields as they came, before validation; `duplicate` names a repeated key.
#[derive(Default)]
struct Fields<'a> {
    values: [Option<Val<'a>>; 11],
    duplicate: Option<&'static str>,
}

/// What the top-level value was: an object (its fields are then in the seed's table) or
/// another JSON type.
enum Top {
    Object,
    Other(&'static str),
}

/// Fills a table the caller owns, so the few hundred bytes of fields are not moved through
/// serde's layers on every event.
struct TopSeed<'f, 'de>(&'f mut Fields<'de>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, 'de> {
    type Value = Top;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Top, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, 'de> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let fields = self.0;
        while let Some(key) = map.next_key::<Key>()? {
            if matches!(key, Key::Other) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let slot = key as usize;
            let value = map.next_value::<Val<'de>>()?;
            if fields.values[slot].is_some() {
                fields.duplicate.get_or_insert(KEY_NAMES[slot]);
            }
            fields.values[slot] = Some(value);
        }
        Ok(Top::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::Other("array"))
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Top, E> {
        Ok(Top::Other("string"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Top, E> {
        Ok(Top::Other("string"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Top, E> {
        Ok(Top::Other("number"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Top, E> {
        Ok(Top::Other("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Top, E> {
        Ok(Top::Other("number"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Top, E> {
        Ok(Top::Other("boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Top, E> {
        Ok(Top::Other("null"))
    }
}

fn wrong_type(name: &str, expected: &str, got: &Val<'_>) -> BadEvent {
    BadEvent::new(
        BadReason::WrongType,
        format!("`{name}` must be {expected}, got {}", got.type_name()),
    )
}

impl<'a> Fields<'a> {
    #[inline(always)]
    fn take(&mut self, key: Key) -> Option<Val<'a>> {
        self.values[key as usize].take()
    }

    /// An optional string field: absent gives `None`, anything but a string is bad.
    #[inline(always)]
    fn string(&mut self, key: Key) -> Result<Option<Cow<'a, str>>, BadEvent> {
        match self.take(key) {
            None => Ok(None),
            Some(Val::Str(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(KEY_NAMES[key as usize], "a string", &other)),
        }
    }

    #[inline(always)]
    fn required_string(&mut self, key: Key) -> Result<Cow<'a, str>, BadEvent> {
        self.string(key)?.ok_or_else(|| {
            BadEvent::new(
                BadReason::MissingField,
                format!("missing required field `{}`", KEY_NAMES[key as usize]),
            )
        })
    }

    /// Checks fields in a fixed order, so that an event with several faults always gets
    /// the same reason. Takes the values out of the table: by reference, for a table moved
    /// into the call was a 272-byte copy whose stores the first loads waited on.
    fn validate(&mut self) -> Result<Event<'a>, BadEvent> {
        if let Some(name) = self.duplicate {
            return Err(BadEvent::new(
                BadReason::DuplicateField,
                format!("field `{name}` appears twice"),
            ));
        }
        let worker_id = self.required_string(Key::WorkerId)?;
        if let Some(length) = length_outside(&worker_id, 128) {
            return Err(BadEvent::new(
                BadReason::InvalidValue,
                format!("`worker_id` must have 1 to 128 characters, has {length}"),
            ));
        }
        let kind_text = self.required_string(Key::Kind)?;
        let ts = match self.take(Key::Ts) {
            None => {
                return Err(BadEvent::new(
                    BadReason::MissingField,
                    "missing required field `ts`",
                ));
            }
            Some(Val::Str(text)) => timefmt::parse_rfc3339(&text).ok_or_else(|| {
                // RFC 3339 allows second 60; event time (epoch milliseconds, as the integer
                // form) has no leap seconds.
                let leap = text.get(16..19) == Some(":60")
                    && timefmt::parse_rfc3339(&format!("{}59{}", &text[..17], &text[19..]))
                        .is_some();
                let why = if leap {
                    "is a leap second (second 60), which event time in epoch milliseconds cannot hold"
                } else if timefmt::has_rfc3339_form(&text) {
                    "has no such date, time or offset (month 1-12, a day of that month, hour 0-23, minute and second 0-59, offset hours 0-23)"
                } else {
                    "is not RFC 3339 with a `T` and an offset"
                };
                BadEvent::new(BadReason::BadTimestamp, format!("`ts` {text:?} {why}"))
            })?,
            Some(Val::UInt(ms)) => i64::try_from(ms).unwrap_or(i64::MAX),
            Some(Val::Int(ms)) => ms,
            Some(Val::Float) => {
                return Err(BadEvent::new(
                    BadReason::BadTimestamp,
                    "`ts` as a number must be an integer of epoch milliseconds (no fraction or exponent, not `-0`, within 64 bits)",
                ));
            }
            Some(other) => return Err(wrong_type("ts", "a string or an integer", &other)),
        };
        let event_id = self.string(Key::EventId)?;
        let platform = self
            .string(Key::Platform)?
            .unwrap_or(Cow::Borrowed("unknown"));
        let role = self.string(Key::Role)?.unwrap_or(Cow::Borrowed("rider"));
        let city = self.string(Key::City)?.unwrap_or(Cow::Borrowed("unknown"));
        for (name, value) in [("platform", &platform), ("role", &role), ("city", &city)] {
            check_name(name, value)?;
        }
        let order_id = self.string(Key::OrderId)?;
        let fee_cents = match self.take(Key::FeeCents) {
            None => None,
            Some(Val::UInt(fee)) => Some(fee),
            Some(Val::Int(fee)) => {
                return Err(BadEvent::new(
                    BadReason::InvalidValue,
                    format!("`fee_cents` must be at least 0, got {fee}"),
                ));
            }
            Some(other) => return Err(wrong_type("fee_cents", "an integer", &other)),
        };
        let person_id = self.string(Key::PersonId)?;
        if let Some(length) = person_id.as_deref().and_then(|p| length_outside(p, 128)) {
            return Err(BadEvent::new(
                BadReason::InvalidValue,
                format!("`person_id` must have 1 to 128 characters, has {length}"),
            ));
        }
        let activity = match self.string(Key::Activity)? {
            None => None,
            Some(text) => Some(Activity::parse(&text).ok_or_else(|| {
                BadEvent::new(
                    BadReason::InvalidValue,
                    format!(
                        "`activity` must be `driving`, `other_work`, `available` or `rest`, got {text:?}"
                    ),
                )
            })?),
        };
        let kind = Kind::parse(&kind_text).ok_or_else(|| {
            BadEvent::new(
                BadReason::UnknownKind,
                format!("unknown kind {kind_text:?}"),
            )
        })?;
        if kind.is_order() && order_id.as_deref().is_none_or(str::is_empty) {
            return Err(BadEvent::new(
                BadReason::MissingOrderId,
                format!("`{}` needs a non-empty `order_id`", kind.as_str()),
            ));
        }
        if kind == Kind::Activity && activity.is_none() {
            return Err(BadEvent::new(
                BadReason::MissingField,
                "`activity` events need the field `activity`",
            ));
        }
        if !timefmt::in_range(ts) {
            return Err(BadEvent::new(
                BadReason::TimestampOutOfRange,
                "`ts` must be in [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)",
            ));
        }
        Ok(Event {
            worker_id,
            kind,
            ts,
            event_id,
            platform,
            role,
            city,
            order_id,
            fee_cents,
            person_id,
            activity: if kind == Kind::Activity {
                activity
            } else {
                None
            },
        })
    }
}

/// The length in characters of `text` if it is more than `max`. Characters are only counted
/// when the bytes are more: there are never more characters than bytes.
fn chars_over(text: &str, max: usize) -> Option<usize> {
    if text.len() <= max {
        return None;
    }
    let length = text.chars().count();
    (length > max).then_some(length)
}

/// The length in characters of `text` if it is not in `1..=max`.
fn length_outside(text: &str, max: usize) -> Option<usize> {
    if text.is_empty() {
        Some(0)
    } else {
        chars_over(text, max)
    }
}

/// `platform`, `role` and `city` join in aggregate keys: bounded, and without `/`.
#[inline]
pub(crate) fn check_name(name: &str, value: &str) -> Result<(), BadEvent> {
    // A byte loop: names are a few bytes, shorter than memchr's start-up.
    if value.len() > MAX_NAME_CHARS || value.bytes().any(|b| b == b'/') {
        return name_refused(name, value);
    }
    Ok(())
}

/// [`check_name`] of a name that may be refused: too many bytes (perhaps not too many
/// characters) or a `/`.
#[cold]
fn name_refused(name: &str, value: &str) -> Result<(), BadEvent> {
    if let Some(length) = chars_over(value, MAX_NAME_CHARS) {
        return Err(BadEvent::new(
            BadReason::InvalidValue,
            format!("`{name}` must have at most {MAX_NAME_CHARS} characters, has {length}"),
        ));
    }
    if value.bytes().any(|b| b == b'/') {
        return Err(BadEvent::new(
            BadReason::InvalidValue,
            format!("`{name}` must not contain `/` (it separates names in aggregate keys)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &[u8]) -> Option<BadReason> {
        parse(line).err().map(|bad| bad.reason)
    }

    #[test]
    fn an_unknown_key_with_a_lone_surrogate_is_ignored_but_no_raw_control_character() {
        // RFC 8259's grammar allows any `\u` escape; an unknown field is ignored (SPEC
        // section 2), its name too, at the top level as in nested objects (audit Y: a
        // top-level one was `not_json`).
        let base = r#"{"worker_id":"w","kind":"login","ts":1772409600000"#;
        for extra in [
            r#","\ud800":1}"#,
            r#","\udc00x":1}"#,
            r#","worker_i\ud800":1}"#,
            r#","k":"\ud800"}"#,
            r#","k":{"\ud800":1}}"#,
            r#","a\u0001b":1}"#,
        ] {
            let line = format!("{base}{extra}");
            assert_eq!(reason(line.as_bytes()), None, "{line}");
            assert_eq!(
                parse_reference(line.as_bytes()).map(|_| ()),
                Ok(()),
                "{line}"
            );
        }
        // A known field spelled with escapes is still that field.
        let escaped = r#"{"worker\u005fid":"w","kind":"login","ts":1772409600000}"#;
        assert_eq!(parse(escaped.as_bytes()).unwrap().worker_id, "w");
        // Raw control characters stay refused in any string, keys with escapes included.
        for extra in [
            ",\"a\u{1}b\":1}",
            ",\"a\tb\":1}",
            ",\"\\u0041\tb\":1}",
            ",\"k\":\"\t\"}",
        ] {
            let line = format!("{base}{extra}");
            assert_eq!(
                reason(line.as_bytes()),
                Some(BadReason::NotJson),
                "{line:?}"
            );
        }
    }

    #[test]
    fn parses_a_full_event() {
        let line = br#"{"worker_id":"w1","kind":"order_delivered","ts":"2026-03-02T08:00:00.123+08:00","event_id":"e1","platform":"meituan","role":"rider","city":"371000","order_id":"o1","fee_cents":800,"extra":{"a":[1,2]}}"#;
        let event = parse(line).unwrap();
        assert_eq!(event.worker_id, "w1");
        assert_eq!(event.kind, Kind::OrderDelivered);
        assert_eq!(event.ts, 1_772_409_600_123);
        assert_eq!(event.event_id.as_deref(), Some("e1"));
        assert_eq!(event.platform, "meituan");
        assert_eq!(event.city, "371000");
        assert_eq!(event.order_id.as_deref(), Some("o1"));
        assert_eq!(event.fee_cents, Some(800));
    }

    #[test]
    fn defaults_apply_to_missing_optional_fields() {
        let event = parse(br#"{"worker_id":"w\u00e9","kind":"login","ts":1772409600000}"#).unwrap();
        assert_eq!(event.worker_id, "w\u{e9}");
        assert_eq!(
            (&*event.platform, &*event.role, &*event.city),
            ("unknown", "rider", "unknown")
        );
        assert_eq!(event.event_id, None);
        assert_eq!(event.ts, 1_772_409_600_000);
    }

    /// An event of exactly the most bytes is read (padded by an unknown field); one byte more
    /// is `too_large` in both parsers, whatever it holds.
    #[test]
    fn events_longer_than_the_most_are_too_large() {
        let head = r#"{"worker_id":"w","kind":"login","ts":1772409600000,"pad":""#;
        let pad = "x".repeat(MAX_EVENT_BYTES - head.len() - 2);
        let most = format!("{head}{pad}\"}}");
        assert_eq!(most.len(), MAX_EVENT_BYTES);
        assert!(parse(most.as_bytes()).is_ok());
        assert!(parse_reference(most.as_bytes()).is_ok());
        let over = format!("{head}{pad}x\"}}");
        for result in [parse(over.as_bytes()), parse_reference(over.as_bytes())] {
            assert_eq!(result.unwrap_err().reason, BadReason::TooLarge);
        }
        let garbage = vec![0xffu8; MAX_EVENT_BYTES + 1];
        assert_eq!(parse(&garbage).unwrap_err().reason, BadReason::TooLarge);
    }

    #[test]
    fn bad_events_get_their_reason() {
        let long_id = "ü".repeat(129);
        let long = format!(r#"{{"worker_id":"{long_id}","kind":"login","ts":1772409600000}}"#);
        let ok_128 = format!(
            r#"{{"worker_id":"{}","kind":"login","ts":1772409600000}}"#,
            "ü".repeat(128)
        );
        assert!(parse(ok_128.as_bytes()).is_ok());
        let cases: Vec<(&[u8], BadReason)> = vec![
            (b"\xff\xfe", BadReason::NotUtf8),
            (b"{not json", BadReason::NotJson),
            (b"", BadReason::NotJson),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000} x"#,
                BadReason::NotJson,
            ),
            (b"[1,2]", BadReason::NotObject),
            (b"\"login\"", BadReason::NotObject),
            (b"42", BadReason::NotObject),
            (
                br#"{"worker_id":"w","kind":"login","kind":"logout","ts":1772409600000}"#,
                BadReason::DuplicateField,
            ),
            (
                br#"{"kind":"login","ts":1772409600000}"#,
                BadReason::MissingField,
            ),
            (
                br#"{"worker_id":"w","ts":1772409600000}"#,
                BadReason::MissingField,
            ),
            (
                br#"{"worker_id":"w","kind":"login"}"#,
                BadReason::MissingField,
            ),
            (
                br#"{"worker_id":"","kind":"login","ts":1772409600000}"#,
                BadReason::InvalidValue,
            ),
            (long.as_bytes(), BadReason::InvalidValue),
            (
                br#"{"worker_id":7,"kind":"login","ts":1772409600000}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"platform":5}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"platform":null}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"event_id":1}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"fee_cents":-5}"#,
                BadReason::InvalidValue,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"fee_cents":5.0}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"fee_cents":"5"}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"nap","ts":1772409600000}"#,
                BadReason::UnknownKind,
            ),
            (
                br#"{"worker_id":"w","kind":"order_accepted","ts":1772409600000}"#,
                BadReason::MissingOrderId,
            ),
            (
                br#"{"worker_id":"w","kind":"order_delivered","ts":1772409600000,"order_id":""}"#,
                BadReason::MissingOrderId,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":"2026-03-02 08:00:00Z"}"#,
                BadReason::BadTimestamp,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000.0}"#,
                BadReason::BadTimestamp,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1.7e12}"#,
                BadReason::BadTimestamp,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":true}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":"1999-12-31T23:59:59.999Z"}"#,
                BadReason::TimestampOutOfRange,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":"2100-01-01T00:00:00Z"}"#,
                BadReason::TimestampOutOfRange,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":-5}"#,
                BadReason::TimestampOutOfRange,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":99999999999999999999}"#,
                BadReason::BadTimestamp,
            ),
        ];
        let long_city = format!(
            r#"{{"worker_id":"w","kind":"login","ts":1772409600000,"city":"{}"}}"#,
            "市".repeat(65)
        );
        let city_64 = format!(
            r#"{{"worker_id":"w","kind":"login","ts":1772409600000,"city":"{}"}}"#,
            "市".repeat(64)
        );
        assert!(parse(city_64.as_bytes()).is_ok());
        let long_person = format!(
            r#"{{"worker_id":"w","kind":"login","ts":1772409600000,"person_id":"{}"}}"#,
            "p".repeat(129)
        );
        let mut cases = cases;
        cases.extend([
            (long_city.as_bytes(), BadReason::InvalidValue),
            (long_person.as_bytes(), BadReason::InvalidValue),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"platform":"a/b"}"#
                    .as_slice(),
                BadReason::InvalidValue,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"role":"/"}"#,
                BadReason::InvalidValue,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"person_id":""}"#,
                BadReason::InvalidValue,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"person_id":7}"#,
                BadReason::WrongType,
            ),
            (
                br#"{"worker_id":"w","kind":"activity","ts":1772409600000}"#,
                BadReason::MissingField,
            ),
            (
                br#"{"worker_id":"w","kind":"activity","ts":1772409600000,"activity":"nap"}"#,
                BadReason::InvalidValue,
            ),
            (
                br#"{"worker_id":"w","kind":"login","ts":1772409600000,"activity":"nap"}"#,
                BadReason::InvalidValue,
            ),
            (
                br#"{"worker_id":"w","kind":"activity","ts":1772409600000,"activity":null}"#,
                BadReason::WrongType,
            ),
        ]);
        for (line, expected) in cases {
            assert_eq!(
                reason(line),
                Some(expected),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// Integers are 64-bit: the largest `fee_cents` is 2^64 - 1; one more is refused with a
    /// message that says why, as is `-0` (which serde_json reads as a float).
    #[test]
    fn integers_beyond_64_bits_are_refused_clearly() {
        let line = |fee: &str| {
            format!(r#"{{"worker_id":"w","kind":"login","ts":1772409600000,"fee_cents":{fee}}}"#)
        };
        let largest = line("18446744073709551615");
        assert_eq!(parse(largest.as_bytes()).unwrap().fee_cents, Some(u64::MAX));
        for fee in ["18446744073709551616", "-0"] {
            let bad = parse(line(fee).as_bytes()).unwrap_err();
            assert_eq!(bad.reason, BadReason::WrongType, "{fee}");
            assert!(
                bad.detail.contains("beyond 64 bits"),
                "{fee}: {}",
                bad.detail
            );
            assert_eq!(parse_reference(line(fee).as_bytes()).unwrap_err(), bad);
        }
    }

    /// A date, time or offset that does not exist is told so, not that the text is not RFC
    /// 3339 with a `T` and an offset (audit M).
    #[test]
    fn a_date_that_does_not_exist_is_refused_for_what_it_is() {
        let line = |ts: &str| format!(r#"{{"worker_id":"w","kind":"login","ts":"{ts}"}}"#);
        for (ts, form) in [
            ("2025-02-29T08:00:00Z", true),
            ("2026-00-10T08:00:00+08:00", true),
            ("2026-03-02T24:00:00.5z", true),
            ("2026-03-02t08:00:00+24:00", true),
            ("2026-03-02 08:00:00Z", false),
            ("2026-03-02T08:00:00", false),
            ("2026-03-02T08:00:00+0800", false),
            ("2026-03-02T08:00:00.Z", false),
        ] {
            let bad = parse(line(ts).as_bytes()).unwrap_err();
            assert_eq!(bad.reason, BadReason::BadTimestamp, "{ts}");
            assert_eq!(
                bad.detail.contains("has no such date"),
                form,
                "{ts}: {}",
                bad.detail
            );
            assert_eq!(
                bad.detail.contains("is not RFC 3339"),
                !form,
                "{ts}: {}",
                bad.detail
            );
            assert_eq!(parse_reference(line(ts).as_bytes()).unwrap_err(), bad);
        }
    }

    /// A leap second is refused as `bad_timestamp` saying so (RFC 3339 allows second 60; event
    /// time in epoch milliseconds has none), not as a string that is not RFC 3339.
    #[test]
    fn a_leap_second_is_refused_for_what_it_is() {
        let line = |ts: &str| format!(r#"{{"worker_id":"w","kind":"login","ts":"{ts}"}}"#);
        for (ts, leap) in [
            ("2016-12-31T23:59:60Z", true),
            ("2016-12-31T23:59:60.5+00:00", true),
            ("2016-12-31T23:59:61Z", false),
            ("2016-12-31T23:60:00Z", false),
        ] {
            let bad = parse(line(ts).as_bytes()).unwrap_err();
            assert_eq!(bad.reason, BadReason::BadTimestamp, "{ts}");
            assert_eq!(
                bad.detail.contains("leap second"),
                leap,
                "{ts}: {}",
                bad.detail
            );
            assert_eq!(parse_reference(line(ts).as_bytes()).unwrap_err(), bad);
        }
    }

    #[test]
    fn activity_and_person_fields() {
        let event = parse(
            br#"{"worker_id":"w","kind":"activity","ts":1772409600000,"activity":"other_work","person_id":"p1"}"#,
        )
        .unwrap();
        assert_eq!(event.kind, Kind::Activity);
        assert_eq!(event.activity, Some(Activity::OtherWork));
        assert_eq!(event.person_id.as_deref(), Some("p1"));
        // Valid on another kind, but meaningless there.
        let login =
            parse(br#"{"worker_id":"w","kind":"login","ts":1772409600000,"activity":"driving"}"#)
                .unwrap();
        assert_eq!(login.activity, None);
    }

    #[test]
    fn order_id_on_other_kinds_is_type_checked_but_optional() {
        assert!(
            parse(br#"{"worker_id":"w","kind":"login","ts":1772409600000,"order_id":"o"}"#).is_ok()
        );
        assert_eq!(
            reason(br#"{"worker_id":"w","kind":"login","ts":1772409600000,"order_id":3}"#),
            Some(BadReason::WrongType)
        );
    }

    #[test]
    fn future_check_uses_the_skew() {
        let event = parse(br#"{"worker_id":"w","kind":"login","ts":1772409600000}"#).unwrap();
        assert!(check_future(&event, 1_772_409_600_000 - 300_000, 300_000).is_ok());
        assert!(check_future(&event, 1_772_409_600_000 - 300_001, 300_000).is_err());
    }
}
