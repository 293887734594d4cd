//! The fast path of [`super::parse`]: a scanner fitted to the shape of an event line. It
//! finds the top-level keys, decodes only the known fields and skips the rest, filling the
//! same field table as the serde-based reference parser.
//!
//! It never decides that a line is bad JSON. Whatever it is not certain to read exactly as
//! serde_json would (any syntax error, a number that is not a small integer, a `\u` escape
//! that is a surrogate, a key with an escape, deep nesting, a top level that is not an
//! object) makes it give up, and the caller reads the line again with the reference parser.
//! So the scanner only has to agree with serde_json on the lines it accepts, which the
//! differential tests (`super::differential`) check on valid and hostile input alike.

use std::borrow::Cow;

use super::{Fields, Key, Val};

/// Gives up: the caller falls back to the reference parser.
type Scan<T> = Option<T>;

/// Fills `fields` from a JSON object, or returns `None` when the reference parser must
/// decide (then `fields` may hold part of the line and must be dropped).
#[inline]
pub(super) fn object<'a>(text: &'a str, fields: &mut Fields<'a>) -> Scan<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (key, end) = key_at(b, i + 1)?;
            i = skip_ws(b, end + 1);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            i = match key {
                Key::Other => skip_value(b, i)?,
                known => {
                    let slot = &mut fields.values[known as usize];
                    if slot.is_some() {
                        fields
                            .duplicate
                            .get_or_insert(super::KEY_NAMES[known as usize]);
                    }
                    known_value(text, i, slot)?
                }
            };
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(())
}

/// JSON whitespace, exactly serde_json's set.
#[inline(always)]
fn skip_ws(b: &[u8], i: usize) -> usize {
    // Nearly always none: every byte above the space is not whitespace.
    match b.get(i) {
        Some(&byte) if byte > b' ' => i,
        _ => skip_ws_from(b, i),
    }
}

fn skip_ws_from(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The key whose text starts at `start` (after its quote) and the index of its closing quote.
/// Keys are decoded by serde_json's strict string reader, so one with an escape (even
/// `"worker\u005fid"`) or a control character makes the scanner give up.
#[inline]
fn key_at(b: &[u8], start: usize) -> Scan<(Key, usize)> {
    // The likely key, by its first bytes, compared with its closing quote in one go (arrays
    // of known length: a few loads, no call to memcmp).
    let rest = &b[start..];
    let known = match rest.first()? {
        b'w' => key_is(rest, b"worker_id\"", Key::WorkerId),
        b'k' => key_is(rest, b"kind\"", Key::Kind),
        b't' => key_is(rest, b"ts\"", Key::Ts),
        b'e' => key_is(rest, b"event_id\"", Key::EventId),
        b'p' if rest.get(1) == Some(&b'l') => key_is(rest, b"platform\"", Key::Platform),
        b'p' => key_is(rest, b"person_id\"", Key::PersonId),
        b'r' => key_is(rest, b"role\"", Key::Role),
        b'c' => key_is(rest, b"city\"", Key::City),
        b'o' => key_is(rest, b"order_id\"", Key::OrderId),
        b'f' => key_is(rest, b"fee_cents\"", Key::FeeCents),
        b'a' => key_is(rest, b"activity\"", Key::Activity),
        _ => None,
    };
    match known {
        Some((key, length)) => Some((key, start + length - 1)),
        // Not that key, so no known key: they differ in their first two bytes.
        None => Some((Key::Other, plain_string_end(b, start)?)),
    }
}

/// `key` and the length of `quoted` if `rest` starts with it.
#[inline(always)]
fn key_is<const N: usize>(rest: &[u8], quoted: &[u8; N], key: Key) -> Option<(Key, usize)> {
    (rest.first_chunk::<N>() == Some(quoted)).then_some((key, N))
}

/// Bytes that end the plain run of a JSON string: the quote, the backslash and the control
/// characters (which JSON forbids raw in strings).
const fn special_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
}

static SPECIAL: [bool; 256] = special_table();

/// The index of the first special byte at or after `i` (or `b.len()`). Eight bytes at a
/// time: most strings of an event are ids and instants of 10 to 30 bytes.
#[inline]
fn plain_run(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mask = special_bytes(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !SPECIAL[b[i] as usize] {
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` below `n` (for `n` <= 0x80). Only the lowest flagged
/// byte is exact (a borrow can flag bytes above it), which is all [`plain_run`] needs.
#[inline]
fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
}

/// The high bit of each special byte of `word` (little-endian), exact up to the lowest.
#[inline]
fn special_bytes(word: u64) -> u64 {
    let quotes = bytes_below(word ^ (ONES * u64::from(b'"')), 1);
    let backslashes = bytes_below(word ^ (ONES * u64::from(b'\\')), 1);
    quotes | backslashes | bytes_below(word, 0x20)
}

/// The index of the closing quote of a string starting at `start` (after its opening quote)
/// that has no escape and no control character; `None` otherwise.
#[inline]
fn plain_string_end(b: &[u8], start: usize) -> Scan<usize> {
    let end = plain_run(b, start);
    (b.get(end) == Some(&b'"')).then_some(end)
}

/// Reads the value of a known field at `i` into its slot and returns its end: a string or a
/// small integer, else `None` (every other type makes the event bad, and the reference
/// parser says how). Written in place: a value returned through the stack and copied into
/// the table cost a store-forwarding stall per field.
#[inline]
fn known_value<'a>(text: &'a str, i: usize, slot: &mut Option<Val<'a>>) -> Scan<usize> {
    let b = text.as_bytes();
    let (value, end) = match *b.get(i)? {
        b'"' => {
            let start = i + 1;
            let end = plain_run(b, start);
            match b.get(end)? {
                b'"' => (Val::Str(Cow::Borrowed(&text[start..end])), end + 1),
                b'\\' => {
                    let (owned, end) = escaped_string(text, start, end)?;
                    (Val::Str(Cow::Owned(owned)), end)
                }
                _ => return None,
            }
        }
        b'-' => {
            let (magnitude, end) = small_integer(b, i + 1)?;
            // serde_json reads `-0` as a float.
            if magnitude == 0 {
                return None;
            }
            (Val::Int(-(magnitude as i64)), end)
        }
        b'0'..=b'9' => {
            let (value, end) = small_integer(b, i)?;
            (Val::UInt(value), end)
        }
        _ => return None,
    };
    *slot = Some(value);
    Some(end)
}

/// At most this many digits always fit in an `i64`, so they read the same as an integer in
/// serde_json whatever their sign. Longer numbers go to the reference parser, which reads
/// those beyond `u64` (or below `i64::MIN`) as floats.
const MAX_SMALL_DIGITS: usize = 18;

/// An integer of at most [`MAX_SMALL_DIGITS`] digits without a leading zero, fraction or
/// exponent, starting at `i`; its value and end.
#[inline]
fn small_integer(b: &[u8], i: usize) -> Scan<(u64, usize)> {
    let mut end = i;
    let mut value = 0u64;
    while let Some(&digit @ b'0'..=b'9') = b.get(end) {
        value = value * 10 + u64::from(digit - b'0');
        end += 1;
        if end - i > MAX_SMALL_DIGITS {
            return None;
        }
    }
    let digits = end - i;
    if digits == 0 || (digits > 1 && b[i] == b'0') {
        return None;
    }
    match b.get(end) {
        Some(b'.' | b'e' | b'E') => None,
        _ => Some((value, end)),
    }
}

/// Decodes a string with escapes: `start` is after the opening quote, `escape` is the first
/// backslash. Gives up on a control character and on any surrogate escape but a valid pair
/// (serde_json rejects lone surrogates in strings it decodes).
#[cold]
fn escaped_string(text: &str, start: usize, mut escape: usize) -> Scan<(String, usize)> {
    let b = text.as_bytes();
    let mut out = String::with_capacity(escape - start + 16);
    out.push_str(&text[start..escape]);
    loop {
        // `b[escape]` is a backslash.
        let mut i = escape + 2;
        match *b.get(escape + 1)? {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let high = hex4(b, i)?;
                i += 4;
                let code = match high {
                    0xD800..=0xDBFF => {
                        if b.get(i..i + 2)? != b"\\u" {
                            return None;
                        }
                        let low = hex4(b, i + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        i += 6;
                        0x1_0000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return None,
                    other => u32::from(other),
                };
                out.push(char::from_u32(code)?);
            }
            _ => return None,
        }
        let end = plain_run(b, i);
        out.push_str(&text[i..end]);
        match b.get(end)? {
            b'"' => return Some((out, end + 1)),
            b'\\' => escape = end,
            _ => return None,
        }
    }
}

/// Four hex digits (either case) at `i`.
fn hex4(b: &[u8], i: usize) -> Scan<u16> {
    let mut value = 0u16;
    for &digit in b.get(i..i + 4)? {
        value = value * 16 + (digit as char).to_digit(16)? as u16;
    }
    Some(value)
}

/// Nesting deeper than this in an ignored value goes to the reference parser (which has no
/// limit there): the open containers fit in one `u64`, one bit each.
const MAX_SKIP_DEPTH: u32 = 64;

/// Skips one JSON value at `i`, accepting exactly what serde_json's `ignore_value` accepts
/// (or giving up); returns its end.
fn skip_value(b: &[u8], mut i: usize) -> Scan<usize> {
    // Bit k set: the k-th open container is an object.
    let mut objects = 0u64;
    let mut depth = 0u32;
    loop {
        // A value starts at `i`.
        match *b.get(i)? {
            b'"' => i = skip_string(b, i + 1)?,
            b'-' => i = skip_number(b, i + 1)?,
            b'0'..=b'9' => i = skip_number(b, i)?,
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            open @ (b'[' | b'{') => {
                if depth == MAX_SKIP_DEPTH {
                    return None;
                }
                let is_object = open == b'{';
                objects = (objects << 1) | u64::from(is_object);
                depth += 1;
                i = skip_ws(b, i + 1);
                let close = if is_object { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    i += 1;
                    depth -= 1;
                    objects >>= 1;
                } else {
                    if is_object {
                        i = skip_key(b, i)?;
                    }
                    continue;
                }
            }
            _ => return None,
        }
        // A value ended at `i`: close containers until one goes on with a comma.
        loop {
            if depth == 0 {
                return Some(i);
            }
            i = skip_ws(b, i);
            let in_object = objects & 1 == 1;
            match *b.get(i)? {
                b',' => {
                    i = skip_ws(b, i + 1);
                    if in_object {
                        i = skip_key(b, i)?;
                    }
                    break;
                }
                b'}' if in_object => {}
                b']' if !in_object => {}
                _ => return None,
            }
            i += 1;
            depth -= 1;
            objects >>= 1;
        }
    }
}

/// Skips `"key"` and the colon after it at `i`, returns where the value starts.
fn skip_key(b: &[u8], i: usize) -> Scan<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(b, skip_string(b, i + 1)?);
    if b.get(i) != Some(&b':') {
        return None;
    }
    Some(skip_ws(b, i + 1))
}

/// Skips the rest of a string after its opening quote as serde_json's `ignore_str` does: any
/// `\u` with four hex digits is fine there, a lone surrogate too.
fn skip_string(b: &[u8], mut i: usize) -> Scan<usize> {
    loop {
        i = plain_run(b, i);
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    hex4(b, i + 2)?;
                    i += 6;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

/// Skips a number after its optional minus sign, by JSON's grammar.
fn skip_number(b: &[u8], mut i: usize) -> Scan<usize> {
    let digits = |mut i: usize| {
        let start = i;
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(i)?,
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = digits(i)?;
    }
    // A digit right after a leading zero: JSON forbids it, serde_json too.
    match b.get(i) {
        Some(b'0'..=b'9') => None,
        _ => Some(i),
    }
}

/// The literal `word` at `i`.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Scan<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}
