//! Differential tests: the fast scanner path of [`parse`] must give exactly what the
//! serde_json reference [`parse_reference`] gives, the same event (down to which strings are
//! borrowed) or the same bad event (reason and detail), on valid and hostile lines alike.

use proptest::prelude::*;
use std::borrow::Cow;

use super::{Event, Fields, parse, parse_reference, scan, utf8};

/// Which strings of an event borrow from the line: part of "the same event".
fn borrowed(event: &Event<'_>) -> [Option<bool>; 7] {
    let is = |cow: &Cow<'_, str>| matches!(cow, Cow::Borrowed(_));
    [
        Some(is(&event.worker_id)),
        event.event_id.as_ref().map(is),
        Some(is(&event.platform)),
        Some(is(&event.role)),
        Some(is(&event.city)),
        event.order_id.as_ref().map(is),
        event.person_id.as_ref().map(is),
    ]
}

/// Asserts that both parsers agree on `line`.
fn agree(line: &[u8]) {
    let fast = parse(line);
    let reference = parse_reference(line);
    assert_eq!(
        fast,
        reference,
        "the parsers disagree on {:?}",
        String::from_utf8_lossy(line)
    );
    if let (Ok(fast), Ok(reference)) = (&fast, &reference) {
        assert_eq!(
            borrowed(fast),
            borrowed(reference),
            "borrowing differs on {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

/// Whether the scanner reads `line` itself (rather than leaving it to serde_json).
fn scanned(line: &str) -> bool {
    let mut fields = Fields::default();
    scan::object(line, &mut fields).is_some()
}

const KNOWN: [&str; 11] = [
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

/// Lines from the simulator's shape and the unit tests' corners, each valid or bad.
const SEEDS: &[&str] = &[
    r#"{"event_id":"dd-015013-1","worker_id":"dd-015013","kind":"login","ts":"2026-03-01T21:30:01.976Z","platform":"didi","role":"driver","city":"370100"}"#,
    r#"{"worker_id":"w1","kind":"order_delivered","ts":"2026-03-02T08:00:00.123+08:00","event_id":"e1","platform":"meituan","role":"rider","city":"371000","order_id":"o1","fee_cents":800,"extra":{"a":[1,2]}}"#,
    r#"{"worker_id":"w\u00e9","kind":"activity","ts":1772409600000,"activity":"other_work","person_id":"p1"}"#,
    r#" { "worker_id" : "w" , "kind" : "login" , "ts" : -5 , "x" : [ true , false , null , -0.5e-3 , "\ud800" ] } "#,
    r#"{"worker_id":"w","kind":"order_accepted","ts":"2026-03-02T08:00:00Z","order_id":"a\"b\\c\/d\b\f\n\r\t\u0041\ud83d\ude00"}"#,
    r#"{"worker\u005fid":"w","kind":"login","ts":1772409600000,"kind":"logout","y":{"":{}}}"#,
    r#"{"worker_id":"w","kind":"login","ts":1772409600000,"fee_cents":18446744073709551616,"platform":"a/b"}"#,
    r#"[{"worker_id":"w"}, 1, "s", null]"#,
];

/// Single-byte edits of every seed at every position: deletions and replacements with bytes
/// that matter to JSON, UTF-8 or the scanner.
#[test]
fn every_single_byte_edit_of_the_seeds() {
    let bytes: &[u8] = b"\"\\{}[],:0129-+.eEuU/ \t\n\r\x00\x1f\x7f\x80\xc3\xed\xff";
    let mut lines = 0;
    for seed in SEEDS {
        let seed = seed.as_bytes();
        agree(seed);
        for at in 0..=seed.len() {
            let mut cut = seed[..at].to_vec();
            agree(&cut);
            cut.extend_from_slice(&seed[(at + 1).min(seed.len())..]);
            agree(&cut);
            for &byte in bytes {
                let mut line = seed.to_vec();
                line.insert(at, byte);
                agree(&line);
                if at < seed.len() {
                    line.remove(at + 1);
                    agree(&line);
                }
                lines += 2;
            }
        }
    }
    assert!(lines > 10_000, "{lines}");
}

/// The scanner does read the usual lines itself; the agreement above is not only the
/// reference parser agreeing with itself.
#[test]
fn usual_lines_take_the_fast_path() {
    for seed in &SEEDS[..5] {
        assert!(scanned(seed), "{seed}");
    }
    // Given up on: a key with an escape, a float in a known field, `-0`, a long integer,
    // a lone surrogate, a top level that is not an object, trailing garbage, a BOM.
    for line in [
        r#"{"worker\u005fid":"w","kind":"login","ts":1}"#,
        r#"{"worker_id":"w","kind":"login","ts":1.5}"#,
        r#"{"worker_id":"w","kind":"login","ts":-0}"#,
        r#"{"worker_id":"w","kind":"login","ts":1234567890123456789}"#,
        r#"{"worker_id":"\ud800","kind":"login","ts":1}"#,
        r#"[]"#,
        r#"{} x"#,
        "\u{feff}{}",
    ] {
        assert!(!scanned(line), "{line}");
        agree(line.as_bytes());
    }
}

/// Nesting in ignored values: the scanner skips up to its limit, serde_json has none there.
#[test]
fn deep_nesting_agrees() {
    for depth in [1, 2, 63, 64, 65, 66, 127, 128, 129, 1000, 100_000] {
        for (open, close) in [("[", "]"), ("{\"k\":", "}"), ("[{\"a\":", "}]")] {
            let value = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let line =
                format!(r#"{{"worker_id":"w","x":{value},"kind":"login","ts":1772409600000}}"#);
            agree(line.as_bytes());
            let unclosed = format!(r#"{{"worker_id":"w","x":{}1}}"#, open.repeat(depth));
            agree(unclosed.as_bytes());
            let known = format!(r#"{{"worker_id":{value},"kind":"login","ts":1772409600000}}"#);
            agree(known.as_bytes());
            let top = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            agree(top.as_bytes());
        }
        // The outermost container closed by the wrong bracket, under `depth` of the other
        // kind: the scanner must remember each open container's kind at every depth.
        for (outer, inner, wrong) in [("{\"k\":", ("[", "]"), "]"), ("[", ("{\"k\":", "}"), "}")] {
            let value = format!(
                "{outer}{}1{}{wrong}",
                inner.0.repeat(depth),
                inner.1.repeat(depth)
            );
            let line =
                format!(r#"{{"worker_id":"w","x":{value},"kind":"login","ts":1772409600000}}"#);
            agree(line.as_bytes());
        }
    }
}

/// Whitespace between tokens, mostly none, sometimes what JSON does not call whitespace.
fn ws() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        12 => Just(""),
        2 => Just(" "),
        1 => prop::sample::select(&["\t", "\n", "\r", "  \r\n\t", "\x0c", "\u{a0}", "\u{feff}", "\x0b"][..]),
    ]
}

/// A JSON string literal body: plain text, non-ASCII, escapes of every kind (and bad ones),
/// raw control characters, slashes; sometimes long, for the length limits.
fn string_body() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => "[a-z0-9_:.+-]{1,8}",
        2 => prop::sample::select(&[
            "é", "市", "😀", "ü", "/", " ", "\u{7f}", "\u{2028}",
            "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
            "\\u0041", "\\u00e9", "\\u5E02", "\\u002F", "\\u0000", "\\u001f",
            "\\ud83d\\ude00", "\\uD83D\\uDE00", "\\ud800", "\\udc00", "\\ud800\\u0041",
            "\\ud800\\ud800\\udc00", "\\ud800\\n", "\\ud800x", "\\udbff\\udfff",
            "\\u12", "\\uzzzz", "\\x", "\\", "\\'", "\u{1}", "\n", "\t", "\u{1f}",
        ][..]).prop_map(str::to_owned),
        1 => (prop::sample::select(&["a", "é", "市", "/"][..]), 60usize..70)
            .prop_map(|(c, n)| c.repeat(n)),
        1 => (prop::sample::select(&["w", "ü", "\\u00fc"][..]), 125usize..132)
            .prop_map(|(c, n)| c.repeat(n)),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

/// A value that fits the field: a valid event is the common case.
fn fitting_value(key: &str) -> BoxedStrategy<String> {
    let quoted = |options: &'static [&'static str]| {
        prop::sample::select(options)
            .prop_map(|s| format!("\"{s}\""))
            .boxed()
    };
    match key {
        "kind" => quoted(&[
            "login",
            "logout",
            "break_start",
            "break_end",
            "order_accepted",
            "order_picked_up",
            "order_delivered",
            "order_cancelled",
            "heartbeat",
            "activity",
            "nap",
            "",
        ]),
        "activity" => quoted(&["driving", "other_work", "available", "rest", "nap"]),
        "ts" => prop_oneof![
            quoted(&[
                "2026-03-02T08:00:00Z",
                "2026-03-02T08:00:00.123+08:00",
                "2026-03-01t21:30:01.976z",
                "1999-12-31T23:59:59.999Z",
                "2100-01-01T00:00:00Z",
                "2099-12-31T23:59:59.999999-01:00",
                "2026-03-02 08:00:00Z",
                "2026-02-29T08:00:00Z",
                "2026-03-02T08:00:00",
            ]),
            (946_684_800_000i64 - 10..4_102_444_800_000 + 10).prop_map(|ms| ms.to_string()),
        ]
        .boxed(),
        "fee_cents" => (0u64..100_000).prop_map(|fee| fee.to_string()).boxed(),
        "worker_id" | "person_id" => "[a-z]{1,3}-[0-9]{1,6}"
            .prop_map(|s| format!("\"{s}\""))
            .boxed(),
        "platform" => quoted(&["didi", "meituan", "eleme", "caocao"]),
        "role" => quoted(&["rider", "driver", "trucker"]),
        "city" => quoted(&["370100", "440300", "unknown"]),
        _ => "[a-z]{1,3}-[0-9]{1,4}"
            .prop_map(|s| format!("\"{s}\""))
            .boxed(),
    }
}

/// Numbers in every form JSON has, and some it has not.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&[
            "0", "-0", "00", "01", "-01", "-", "+1", "1.", ".5", "1.0", "-1.5", "1e5", "1E+5",
            "1e-5", "1e", "1e+", "0e0", "-0.0", "1.5e", "18446744073709551615",
            "18446744073709551616", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809", "1772409600000", "-1772409600000",
            "999999999999999999", "-999999999999999999", "1000000000000000000",
            "-1000000000000000000", "1e400", "-1e400", "1e-400", "123456789012345678901234567890",
            "1772409600000.0", "1.7724096e12", "NaN", "Infinity", "0x10", "1_000",
        ][..]).prop_map(str::to_owned),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| n.to_string()),
    ]
}

/// Any JSON-ish value, nested a little.
fn any_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => string_body().prop_map(|s| format!("\"{s}\"")),
        3 => number(),
        1 => prop::sample::select(&["true", "false", "null", "tru", "nul", "nulll", "True"][..])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((string_body(), inner), 0..4).prop_map(|entries| {
                let entries: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", entries.join(","))
            }),
            Just("[1,]".to_owned()),
            Just("{\"a\":1,}".to_owned()),
            Just("{\"a\" 1}".to_owned()),
            Just("[1 2]".to_owned()),
        ]
    })
}

/// A key: a known one (most often), an unknown one, or a known one spelled with escapes.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => prop::sample::select(&KNOWN[..]).prop_map(str::to_owned),
        2 => prop::sample::select(&[
            "extra", "x", "", "ts2", "worker", "pl", "p", "platforms", "Kind", "kind ", "workerid",
            "worker_i", "é", "\\u0074s", "worker\\u005fid", "\\u006bind", "k\\u0000", "\\ud800",
            "a\\nb", "\\x", "\u{1}", "t\\\"s",
        ][..]).prop_map(str::to_owned),
        1 => string_body(),
    ]
}

/// One member: mostly a fitting value for a known key, else anything.
fn member() -> impl Strategy<Value = (String, String)> {
    key().prop_flat_map(|key| {
        let value = prop_oneof![
            6 => fitting_value(&key),
            3 => any_value().boxed(),
        ];
        (Just(key), value)
    })
}

/// A whole line: an object of members with whitespace between tokens, a valid event more
/// often than not (the required fields first, in some order), with the odd prefix or suffix.
fn line() -> impl Strategy<Value = String> {
    let required = Just(vec![
        ("worker_id".to_owned(), "\"w-1\"".to_owned()),
        ("kind".to_owned(), "\"login\"".to_owned()),
        ("ts".to_owned(), "1772409600000".to_owned()),
    ]);
    (
        prop_oneof![3 => required, 1 => Just(Vec::new())],
        prop::collection::vec(member(), 0..9),
        prop::collection::vec(ws(), 40),
        prop_oneof![
            20 => Just(""),
            1 => prop::sample::select(&["\u{feff}", "x", "[", "\"", "}"][..]),
        ],
        prop_oneof![
            20 => Just(""),
            1 => prop::sample::select(&[" x", "}", ",", "{}", " \n ", "\u{0}", "]"][..]),
        ],
    )
        .prop_map(|(required, members, ws, prefix, suffix)| {
            // The members replace required ones of the same key half of the time.
            let mut all = required;
            all.extend(members);
            let mut w = ws.into_iter().cycle();
            let mut line = format!("{prefix}{}{{", w.next().unwrap_or(""));
            for (i, (key, value)) in all.iter().enumerate() {
                if i > 0 {
                    line.push_str(w.next().unwrap_or(""));
                    line.push(',');
                }
                let parts = [w.next(), w.next(), w.next(), w.next()].map(Option::unwrap_or_default);
                line.push_str(&format!(
                    "{}\"{key}\"{}:{}{value}{}",
                    parts[0], parts[1], parts[2], parts[3]
                ));
            }
            line.push('}');
            line.push_str(w.next().unwrap_or(""));
            line.push_str(suffix);
            line
        })
}

/// Byte-level damage to a line: deletions, insertions and replacements with bytes that
/// matter, truncation, a repeated stretch.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    Truncate(usize),
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        3 => prop::sample::select(&b"\"\\{}[],:0-.eu/ \t\n\x00\x1f\x80\xbf\xc3\xe5\xed\xf0\xff"[..]),
        1 => any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>()).prop_map(Edit::Delete),
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>()).prop_map(Edit::Truncate),
        (any::<usize>(), 1usize..12).prop_map(|(at, n)| Edit::Repeat(at, n)),
    ]
}

fn apply(line: &mut Vec<u8>, edit: &Edit) {
    let len = line.len();
    if len == 0 {
        return;
    }
    match *edit {
        Edit::Delete(at) => {
            line.remove(at % len);
        }
        Edit::Insert(at, b) => line.insert(at % (len + 1), b),
        Edit::Replace(at, b) => line[at % len] = b,
        Edit::Truncate(at) => line.truncate(at % len),
        Edit::Repeat(at, n) => {
            let at = at % len;
            let end = (at + n).min(len);
            let copy = line[at..end].to_vec();
            line.splice(at..at, copy);
        }
    }
}

/// UTF-8 beyond ASCII.
const UTF8_VALID: &[&[u8]] = &[
    b"\xc3\xa9",
    b"\xe4\xb8\xad",
    b"\xf0\x9f\x98\x80",
    b"\xef\xbf\xbf",
    b"\xf4\x8f\xbf\xbf",
];

/// Not UTF-8: overlong forms, surrogates, code points past U+10FFFF, stray continuation bytes
/// and cut sequences.
const UTF8_INVALID: &[&[u8]] = &[
    b"\xc0\xaf",
    b"\xc1\xbf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xff",
    b"\x80",
    b"\xbf",
    b"\xc3",
    b"\xe4\xb8",
    b"\xf0\x9f\x98",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 6000, ..ProptestConfig::default() })]

    /// Generated lines, mostly well-formed, some valid events, many subtly bad.
    #[test]
    fn parsers_agree_on_generated_lines(line in line()) {
        agree(line.as_bytes());
    }

    /// The same lines with byte-level damage, invalid UTF-8 included.
    #[test]
    fn parsers_agree_on_damaged_lines(line in line(), edits in prop::collection::vec(edit(), 1..4)) {
        let mut bytes = line.into_bytes();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        agree(&bytes);
    }

    /// Both parsers check UTF-8 with simdutf8 (std's check says where a line fails): it must
    /// accept exactly what std accepts, on lines long enough for its wide steps too.
    #[test]
    fn utf8_check_agrees_with_std(
        parts in prop::collection::vec(
            // About one line in three has no invalid piece (one piece in 13 is invalid).
            prop_oneof![
                8 => prop::collection::vec(b' '..=b'~', 1..80),
                4 => prop::sample::select(UTF8_VALID).prop_map(<[u8]>::to_vec),
                1 => prop::sample::select(UTF8_INVALID).prop_map(<[u8]>::to_vec),
            ],
            0..40,
        )
    ) {
        let bytes = parts.concat();
        let std = std::str::from_utf8(&bytes);
        match utf8(&bytes) {
            Ok(text) => prop_assert_eq!(Ok(text), std),
            Err(bad) => {
                let error = std.expect_err("std accepts what the check refused");
                prop_assert_eq!(bad.detail, format!("not UTF-8 (byte {})", error.valid_up_to()));
            }
        }
    }

    /// Short random byte strings over the JSON alphabet.
    #[test]
    fn parsers_agree_on_random_bytes(
        bytes in prop::collection::vec(
            prop::sample::select(&b"{}[]\":,\\ 0123456789-+.eEtrufalsn\"worker_idkindts\x80\xff"[..]),
            0..40,
        )
    ) {
        agree(&bytes);
    }
}
