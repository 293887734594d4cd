//! `workhours pseudonymize` (SPEC section 8): JSON lines in, JSON lines out, with a national
//! id replaced by `person_id`, the lowercase hex HMAC-SHA256 of the id under a key that the
//! regulator issues. Platforms run it at the source, so that raw ids never reach Kafka.
//!
//! The raw value is never written anywhere: not to the output, not to stderr, not in an
//! error. serde_json's messages can quote the input, so none of them is ever shown; a bad
//! line is reported by its number, a reason code and a column. Every other byte of a line
//! is kept: the member is rewritten in place, so the order, spacing and escapes of the other
//! fields stay as they were (platforms diff these files).
//!
//! Choices where SPEC is silent (also in `docs/persons.md` and `--help`):
//! - The key file's bytes are the key, as they are, less one trailing `\n` or `\r\n`; not
//!   empty, at most [`MAX_KEY_BYTES`]. HMAC takes a key of any length, and so does SPEC: a
//!   key shorter than [`MIN_KEY_BYTES`] is used, with a warning on stderr. `openssl rand
//!   -hex 32` gives 64 hex characters, used as 64 bytes of key and not decoded, so that
//!   every platform gets the same bytes whatever tool reads the file.
//! - The field is looked for at the top level of the object, by its name after JSON
//!   unescaping. A string value is hashed as its UTF-8 bytes after unescaping, exactly (no
//!   trimming, no change of case); a non-negative JSON integer as its decimal digits, so
//!   `110...` and `"110..."` give the same `person_id`.
//! - `null`, `""` or a string of whitespace only is no id: the member is removed and no
//!   `person_id` added (the worker then stands for a person of their own). Hashing them
//!   would make one person of everybody without an id.
//! - A line without the field is written unchanged, with or without `person_id`, so that a
//!   file already pseudonymized goes through again unchanged.
//! - A bad line is dropped and reported: not UTF-8, not JSON, not an object, the field
//!   twice, the field and `person_id` both, the field of another type. Dropping is the only
//!   way to be sure that no raw value is written; the exit code stays 0, as in `replay`.
//! - Blank lines are skipped; every line written ends in `\n` (a `\r` before it is dropped).

use anyhow::Context;
use hmac::{Hmac, Mac};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use sha2::Sha256;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::cli::PseudonymizeArgs;
use crate::replay::Blocks;

/// The field replaced when `--field` is not given.
pub const DEFAULT_FIELD: &str = "id_number";
/// The field written in its place (SPEC sections 2 and 8).
pub const PERSON_ID: &str = "person_id";
/// Shortest key used without a warning: 256 bits as raw bytes, 128 bits as hex text.
pub const MIN_KEY_BYTES: usize = 32;
/// Longest key file accepted: a larger file is more likely the wrong file than a key.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why the key cannot be used. The messages name the file and its length, never its bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {}: {error}", path.display())]
    Unreadable { path: PathBuf, error: io::Error },
    #[error(
        "key file {} is empty (less one trailing newline); the regulator makes a key with \
         `openssl rand -hex 32 > FILE`",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "key file {} holds {}more than the {MAX_KEY_BYTES} bytes a key may have: is it the key file?",
        path.display(),
        len.map_or_else(String::new, |len| format!("{len} bytes, "))
    )]
    TooLong { path: PathBuf, len: Option<usize> },
}

/// Reads the key file: its bytes less one trailing `\n` or `\r\n`, checked for length
/// (not empty, not longer than [`MAX_KEY_BYTES`]).
pub fn load_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    let unreadable = |error| KeyError::Unreadable {
        path: path.to_owned(),
        error,
    };
    // Read up to the bound (and its newline) and one byte more, so that a wrong path to a
    // large or endless file (`/dev/zero`) fails at once.
    let bound = MAX_KEY_BYTES as u64 + 2;
    let mut key = crate::files::read_at_most(path, bound).map_err(unreadable)?;
    if key.len() as u64 > bound {
        return Err(KeyError::TooLong {
            path: path.to_owned(),
            len: None,
        });
    }
    if key.ends_with(b"\r\n") {
        key.truncate(key.len() - 2);
    } else if key.ends_with(b"\n") {
        key.truncate(key.len() - 1);
    }
    if key.is_empty() {
        return Err(KeyError::Empty {
            path: path.to_owned(),
        });
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong {
            path: path.to_owned(),
            len: Some(key.len()),
        });
    }
    Ok(key)
}

/// Why a line was dropped. The reason codes are those of `replay` where they mean the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BadReason {
    TooLarge,
    NotUtf8,
    NotJson,
    NotObject,
    DuplicateField,
    PersonIdPresent,
    WrongType,
}

impl BadReason {
    pub fn code(self) -> &'static str {
        match self {
            BadReason::TooLarge => "too_large",
            BadReason::NotUtf8 => "not_utf8",
            BadReason::NotJson => "not_json",
            BadReason::NotObject => "not_object",
            BadReason::DuplicateField => "duplicate_field",
            BadReason::PersonIdPresent => "person_id_present",
            BadReason::WrongType => "wrong_type",
        }
    }
}

/// A dropped line: the reason and a detail that never quotes the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub reason: BadReason,
    pub detail: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.detail)
    }
}

/// What to write for a good line, as byte ranges of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// No field: the line as it is.
    Unchanged,
    /// The field's name becomes `person_id` and its value the pseudonym; the bytes between
    /// them (`:` and its spacing) stay.
    Replace {
        name: Range<usize>,
        value: Range<usize>,
        person_id: [u8; 64],
    },
    /// No id (`null` or blank): the member and one comma beside it are cut.
    Remove(Range<usize>),
}

impl Rewrite {
    /// Writes `line` rewritten, without a line end.
    pub fn write_to(&self, line: &[u8], out: &mut impl Write) -> io::Result<()> {
        match self {
            Rewrite::Unchanged => out.write_all(line),
            Rewrite::Replace {
                name,
                value,
                person_id,
            } => {
                out.write_all(&line[..name.start])?;
                out.write_all(b"\"person_id\"")?;
                out.write_all(&line[name.end..value.start])?;
                out.write_all(b"\"")?;
                out.write_all(person_id)?;
                out.write_all(b"\"")?;
                out.write_all(&line[value.end..])
            }
            Rewrite::Remove(cut) => {
                out.write_all(&line[..cut.start])?;
                out.write_all(&line[cut.end..])
            }
        }
    }
}

/// The HMAC under the key, ready for many lines, and the field it replaces.
#[derive(Clone)]
pub struct Pseudonymizer {
    /// Keyed once: each line clones the state instead of hashing the key again.
    mac: Hmac<Sha256>,
    field: String,
}

// By hand, so that no derive ever prints the keyed state.
impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

impl Pseudonymizer {
    /// Any key length is valid HMAC; the file's length rules are [`load_key`]'s.
    pub fn new(key: &[u8], field: &str) -> Pseudonymizer {
        let mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
        Pseudonymizer {
            mac,
            field: field.to_owned(),
        }
    }

    /// The field replaced.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// `person_id` of a value: lowercase hex HMAC-SHA256 of its bytes.
    pub fn person_id(&self, value: &[u8]) -> String {
        let hex = self.person_id_hex(value);
        String::from_utf8(hex.to_vec()).expect("hex is ASCII")
    }

    fn person_id_hex(&self, value: &[u8]) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut mac = self.mac.clone();
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        let mut hex = [0u8; 64];
        for (i, byte) in digest.iter().enumerate() {
            hex[2 * i] = DIGITS[usize::from(byte >> 4)];
            hex[2 * i + 1] = DIGITS[usize::from(byte & 0xf)];
        }
        hex
    }

    /// How to write one line (without its line end), or why to drop it.
    pub fn rewrite(&self, line: &[u8]) -> Result<Rewrite, BadLine> {
        // Replay's bound on a line, which reading cuts longer lines to.
        if let Some(detail) = crate::event::too_large(line) {
            return Err(BadLine {
                reason: BadReason::TooLarge,
                detail,
            });
        }
        let text = std::str::from_utf8(line).map_err(|error| BadLine {
            reason: BadReason::NotUtf8,
            detail: format!("invalid UTF-8 at byte {}", error.valid_up_to() + 1),
        })?;
        let scan = scan(text, &self.field)?;
        let Some(member) = scan.field else {
            return Ok(Rewrite::Unchanged);
        };
        if scan.field_count > 1 {
            return Err(BadLine {
                reason: BadReason::DuplicateField,
                detail: format!("`{}` appears {} times", self.field, scan.field_count),
            });
        }
        if scan.has_person_id {
            return Err(BadLine {
                reason: BadReason::PersonIdPresent,
                detail: format!("the line has both `{}` and `{PERSON_ID}`", self.field),
            });
        }
        let bytes = text.as_bytes();
        let name = name_span(bytes, member.before, member.value.start);
        let raw = &text[member.value.clone()];
        let id: Id<'_> = serde_json::from_str(raw).map_err(|_| BadLine {
            // Cannot happen: the value parsed once already. Said without the value.
            reason: BadReason::NotJson,
            detail: format!("the value of `{}` cannot be read", self.field),
        })?;
        let value: &[u8] = match &id {
            Id::Text(text) if text.trim().is_empty() => {
                return Ok(Rewrite::Remove(cut_span(bytes, &member, name.start)));
            }
            Id::Null => return Ok(Rewrite::Remove(cut_span(bytes, &member, name.start))),
            Id::Text(text) => text.as_bytes(),
            // The digits as written: JSON allows no sign, leading zero or spacing in them.
            Id::Integer => raw.as_bytes(),
            Id::Other(kind) => {
                return Err(BadLine {
                    reason: BadReason::WrongType,
                    detail: format!(
                        "`{}` is {kind}; it must be a string or a non-negative integer",
                        self.field
                    ),
                });
            }
        };
        Ok(Rewrite::Replace {
            name,
            value: member.value,
            person_id: self.person_id_hex(value),
        })
    }
}

/// The field's member in a line: where the previous member (or `{`) ends, and its value.
#[derive(Debug)]
struct Member {
    before: usize,
    value: Range<usize>,
    first: bool,
}

/// What one pass of serde_json over a line found at its top level.
#[derive(Debug, Default)]
struct Scan {
    field: Option<Member>,
    field_count: u32,
    has_person_id: bool,
}

fn scan(text: &str, field: &str) -> Result<Scan, BadLine> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let scan = ScanSeed { text, field }
        .deserialize(&mut deserializer)
        .and_then(|scan| deserializer.end().map(|()| scan));
    scan.map_err(|error| {
        // Never show serde_json's message: it can quote the line. Its category and column
        // are safe.
        let reason = match error.classify() {
            serde_json::error::Category::Data => BadReason::NotObject,
            _ => BadReason::NotJson,
        };
        let detail = match reason {
            BadReason::NotObject => "the line is JSON but not an object".to_owned(),
            _ if error.is_eof() => format!("the line ends early, at column {}", error.column()),
            _ => format!("syntax error at column {}", error.column()),
        };
        BadLine { reason, detail }
    })
}

struct ScanSeed<'a> {
    text: &'a str,
    field: &'a str,
}

impl<'de> DeserializeSeed<'de> for ScanSeed<'_> {
    type Value = Scan;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scan, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ScanSeed<'_> {
    type Value = Scan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scan, A::Error> {
        let base = self.text.as_ptr() as usize;
        // The map parsed, so the first non-blank byte is its `{`.
        let open = self.text.len() - self.text.trim_start_matches(is_json_space).len();
        let mut before = open + 1;
        let mut scan = Scan::default();
        let mut first = true;
        while let Some(name) = map.next_key_seed(NameSeed { field: self.field })? {
            let raw: &'de RawValue = map.next_value()?;
            let raw = raw.get();
            // The raw value borrows from the line, so its address gives its place in it.
            let start = (raw.as_ptr() as usize)
                .checked_sub(base)
                .filter(|start| start + raw.len() <= self.text.len())
                .ok_or_else(|| de::Error::custom("value outside the line"))?;
            let end = start + raw.len();
            match name {
                Name::Field => {
                    scan.field_count += 1;
                    if scan.field.is_none() {
                        scan.field = Some(Member {
                            before,
                            value: start..end,
                            first,
                        });
                    }
                }
                Name::PersonId => scan.has_person_id = true,
                Name::Other => {}
            }
            before = end;
            first = false;
        }
        Ok(scan)
    }
}

enum Name {
    Field,
    PersonId,
    Other,
}

/// Classifies a member name without keeping it.
struct NameSeed<'a> {
    field: &'a str,
}

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = Name;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Name, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for NameSeed<'_> {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Name, E> {
        Ok(if name == self.field {
            Name::Field
        } else if name == PERSON_ID {
            Name::PersonId
        } else {
            Name::Other
        })
    }
}

/// The field's value, as far as pseudonymizing cares.
enum Id<'a> {
    Text(Cow<'a, str>),
    Integer,
    Null,
    /// Any other type, named for the message.
    Other(&'static str),
}

impl<'de> de::Deserialize<'de> for Id<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = Id<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Id<'de>, E> {
        Ok(Id::Text(Cow::Borrowed(text)))
    }
    // Escapes make serde_json unescape into a buffer of its own.
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Id<'de>, E> {
        Ok(Id::Text(Cow::Owned(text.to_owned())))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Id<'de>, E> {
        Ok(Id::Integer)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Id<'de>, E> {
        Ok(Id::Other("a negative number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Id<'de>, E> {
        Ok(Id::Other(
            "a number with a fraction or an exponent, or above 18446744073709551615",
        ))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Id<'de>, E> {
        Ok(Id::Other("a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Id<'de>, E> {
        Ok(Id::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Id<'de>, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Id::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Id<'de>, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Id::Other("an object"))
    }
}

fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_json_space_byte(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The member name's span, quotes included. Between the previous value (or `{`) and this
/// value there is only blank space, a comma, the quoted name and a colon, and neither a
/// comma nor a colon can stand outside a string there, so the quotes are found from both
/// ends without reading the name.
fn name_span(line: &[u8], before: usize, value_start: usize) -> Range<usize> {
    let gap = &line[before..value_start];
    let open = gap
        .iter()
        .position(|b| !is_json_space_byte(b) && *b != b',')
        .expect("a member has a name");
    let colon = gap
        .iter()
        .rposition(|b| !is_json_space_byte(b))
        .expect("a member has a colon");
    let close = gap[..colon]
        .iter()
        .rposition(|b| !is_json_space_byte(b))
        .expect("a member name has quotes");
    debug_assert_eq!(gap[open], b'"');
    debug_assert_eq!(gap[colon], b':');
    debug_assert_eq!(gap[close], b'"');
    before + open..before + close + 1
}

/// The span to cut to remove a member: with the comma before it, or for the first member
/// the comma after it (if any), so that the object stays valid JSON.
fn cut_span(line: &[u8], member: &Member, name_start: usize) -> Range<usize> {
    if !member.first {
        return member.before..member.value.end;
    }
    let after = &line[member.value.end..];
    match after.iter().position(|b| !is_json_space_byte(b)) {
        Some(i) if after[i] == b',' => name_start..member.value.end + i + 1,
        _ => name_start..member.value.end,
    }
}

/// What a run read and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: u64,
    pub blank: u64,
    pub pseudonymized: u64,
    pub without_field: u64,
    pub no_id: u64,
    pub bad: BTreeMap<BadReason, u64>,
}

impl Report {
    pub fn bad_total(&self) -> u64 {
        self.bad.values().sum()
    }

    /// The summary table written to stderr.
    pub fn write_summary(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "workhours pseudonymize summary")?;
        let rows = [
            ("lines read", self.lines),
            ("blank lines skipped", self.blank),
            ("pseudonymized", self.pseudonymized),
            ("without the field", self.without_field),
            ("no id (null or blank)", self.no_id),
            ("bad lines (dropped)", self.bad_total()),
        ];
        for (name, value) in rows {
            writeln!(out, "  {name:<28}{value:>12}")?;
        }
        for (reason, count) in &self.bad {
            writeln!(out, "    {:<26}{count:>12}", reason.code())?;
        }
        Ok(())
    }
}

/// Pseudonymizes JSON lines from `input` to `out`; one line per dropped line to `diag`.
pub fn pseudonymize(
    pseudonymizer: &Pseudonymizer,
    input: impl Read,
    out: &mut impl Write,
    diag: &mut impl Write,
) -> io::Result<Report> {
    let mut report = Report::default();
    let mut blocks = Blocks::new(input);
    while let Some(block) = blocks.next()? {
        for line in block.split_inclusive(|&b| b == b'\n') {
            report.lines += 1;
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(is_json_space_byte) {
                report.blank += 1;
                continue;
            }
            match pseudonymizer.rewrite(line) {
                Ok(rewrite) => {
                    match rewrite {
                        Rewrite::Unchanged => report.without_field += 1,
                        Rewrite::Replace { .. } => report.pseudonymized += 1,
                        Rewrite::Remove(_) => report.no_id += 1,
                    }
                    rewrite.write_to(line, out)?;
                    out.write_all(b"\n")?;
                }
                Err(bad) => {
                    *report.bad.entry(bad.reason).or_default() += 1;
                    writeln!(diag, "line {}: bad line: {bad}", report.lines)?;
                }
            }
        }
    }
    Ok(report)
}

/// What to say of a key shorter than [`MIN_KEY_BYTES`] (its length, never its bytes).
pub fn short_key_warning(path: &Path, len: usize) -> Option<String> {
    (len < MIN_KEY_BYTES).then(|| {
        format!(
            "key file {} holds {len} bytes (less one trailing newline), fewer than the \
             {MIN_KEY_BYTES} recommended; used as it is (a short key is easier to guess: the \
             regulator makes one with `openssl rand -hex 32 > FILE`)",
            path.display()
        )
    })
}

/// The `pseudonymize` subcommand.
pub fn run(args: &PseudonymizeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.field.is_empty() && args.field != PERSON_ID,
        "--field must name the field that holds the id, not be empty or `{PERSON_ID}`"
    );
    // The key first: a bad key must not leave a truncated output file behind.
    let key = load_key(&args.key_file)?;
    if let Some(warning) = short_key_warning(&args.key_file, key.len()) {
        eprintln!("warning: {warning}");
    }
    let pseudonymizer = Pseudonymizer::new(&key, &args.field);
    drop(key);
    let input_path = args.input.as_deref().filter(|p| p.as_os_str() != "-");
    let input: Box<dyn Read> = match input_path {
        None => Box::new(io::stdin().lock()),
        Some(path) => Box::new(crate::files::open_input(path)?),
    };
    let output_path = args.output.as_deref().filter(|p| p.as_os_str() != "-");
    let out: Box<dyn Write> = match output_path {
        None => Box::new(io::stdout().lock()),
        Some(path) => {
            crate::files::refuse_overwriting_input(input_path, path, "--output")?;
            crate::files::refuse_overwriting(
                Some(&args.key_file),
                "the key file",
                path,
                "--output",
            )?;
            Box::new(
                File::create(path)
                    .with_context(|| format!("cannot create output {}", path.display()))?,
            )
        }
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut diag = BufWriter::new(io::stderr().lock());
    let report = pseudonymize(&pseudonymizer, input, &mut out, &mut diag)
        .context("pseudonymize failed; the output is incomplete")?;
    out.flush()
        .context("cannot write the output; it is incomplete")?;
    report.write_summary(&mut diag)?;
    diag.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 4231 section 4: HMAC-SHA-256 of test cases 1 to 4, 6 and 7 (5 is truncated).
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let key_4: Vec<u8> = (1..=25).collect();
        let cases: [(&[u8], &[u8], &str); 6] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                &key_4,
                &[0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &[0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            let pseudonymizer = Pseudonymizer::new(key, DEFAULT_FIELD);
            assert_eq!(pseudonymizer.person_id(data), expected, "key {}", hex(key));
        }
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn run_line(line: &str) -> Result<String, BadLine> {
        let pseudonymizer = Pseudonymizer::new(KEY, DEFAULT_FIELD);
        let rewrite = pseudonymizer.rewrite(line.as_bytes())?;
        let mut out = Vec::new();
        rewrite.write_to(line.as_bytes(), &mut out).unwrap();
        Ok(String::from_utf8(out).unwrap())
    }

    fn pid(value: &str) -> String {
        Pseudonymizer::new(KEY, DEFAULT_FIELD).person_id(value.as_bytes())
    }

    #[test]
    fn same_value_same_key_same_id_and_another_key_another() {
        let a = Pseudonymizer::new(KEY, DEFAULT_FIELD);
        let b = Pseudonymizer::new(&KEY[1..], DEFAULT_FIELD);
        let id = a.person_id(b"110101199003070011");
        assert_eq!(id, a.clone().person_id(b"110101199003070011"));
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_ne!(id, b.person_id(b"110101199003070011"));
        assert_ne!(id, a.person_id(b"110101199003070012"));
    }

    #[test]
    fn replaces_in_place_and_keeps_every_other_byte() {
        let id = pid("110101199003070011");
        let cases = [
            (
                r#"{"worker_id":"w1","id_number":"110101199003070011","kind":"login"}"#,
                format!(r#"{{"worker_id":"w1","person_id":"{id}","kind":"login"}}"#),
            ),
            // Spacing, escapes and order of the other members stay as written.
            (
                r#"  { "b" : "\u00e9" ,"id_number" :  "110101199003070011" , "a":[1, 2] }"#,
                format!(r#"  {{ "b" : "\u00e9" ,"person_id" :  "{id}" , "a":[1, 2] }}"#),
            ),
            // First and only member.
            (
                r#"{"id_number":"110101199003070011"}"#,
                format!(r#"{{"person_id":"{id}"}}"#),
            ),
            // An integer hashes as its digits: the same person as the string.
            (
                r#"{"id_number":110101199003070011,"x":1}"#,
                format!(r#"{{"person_id":"{id}","x":1}}"#),
            ),
            // Escapes in the value and in the name are read as JSON reads them.
            (
                r#"{"id\u005fnumber":"11010119900307001\u0031"}"#,
                format!(r#"{{"person_id":"{id}"}}"#),
            ),
            // A name with an escaped quote and a colon before the field.
            (
                r#"{"a\":b":"c:d","id_number":"110101199003070011"}"#,
                format!(r#"{{"a\":b":"c:d","person_id":"{id}"}}"#),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(run_line(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn no_id_removes_the_member_and_keeps_valid_json() {
        let cases = [
            (r#"{"a":1,"id_number":null,"b":2}"#, r#"{"a":1,"b":2}"#),
            (r#"{"id_number":"","b":2}"#, r#"{"b":2}"#),
            (r#"{ "id_number" : "  " , "b":2}"#, r#"{  "b":2}"#),
            (r#"{"a":1, "id_number": null}"#, r#"{"a":1}"#),
            (r#"{"id_number":null}"#, r#"{}"#),
            (r#"{ "id_number":null }"#, r#"{  }"#),
        ];
        for (input, expected) in cases {
            let output = run_line(input).unwrap();
            assert_eq!(output, expected, "{input}");
            serde_json::from_str::<serde_json::Value>(&output).expect("valid JSON");
        }
    }

    #[test]
    fn lines_without_the_field_pass_unchanged() {
        for line in [
            r#"{"worker_id":"w1","kind":"login"}"#,
            r#"{"person_id":"abc","worker_id":"w1"}"#,
            r#"{"person_id":"a","person_id":"b"}"#,
            r#"{}"#,
            // Only the top level is looked at (docs/persons.md says so).
            r#"{"worker":{"id_number":"x"}}"#,
        ] {
            assert_eq!(run_line(line).unwrap(), line);
        }
    }

    #[test]
    fn bad_lines_are_refused_without_quoting_them() {
        let raw = "RAW110101199003070011";
        let cases: [(String, BadReason); 14] = [
            (format!(r#"{{"id_number":"{raw}""#), BadReason::NotJson),
            (
                format!(r#"{{"id_number":"{raw}"}} trailing"#),
                BadReason::NotJson,
            ),
            (format!(r#"{{"id_number":{raw}}}"#), BadReason::NotJson),
            (format!(r#"["{raw}"]"#), BadReason::NotObject),
            (format!(r#""{raw}""#), BadReason::NotObject),
            (
                format!(r#"{{"id_number":"{raw}","id_number":"{raw}2"}}"#),
                BadReason::DuplicateField,
            ),
            (
                format!(r#"{{"person_id":"p","id_number":"{raw}"}}"#),
                BadReason::PersonIdPresent,
            ),
            (
                format!(r#"{{"id_number":{{"n":"{raw}"}}}}"#),
                BadReason::WrongType,
            ),
            (
                format!(r#"{{"id_number":["{raw}"]}}"#),
                BadReason::WrongType,
            ),
            (r#"{"id_number":true}"#.to_owned(), BadReason::WrongType),
            (
                r#"{"id_number":-110101199003070011}"#.to_owned(),
                BadReason::WrongType,
            ),
            (
                r#"{"id_number":1.10101199003070011e17}"#.to_owned(),
                BadReason::WrongType,
            ),
            (
                r#"{"id_number":110101199003070011110101}"#.to_owned(),
                BadReason::WrongType,
            ),
            (
                format!("{{\"id_number\":\"{raw}\u{1}\"}}"),
                BadReason::NotJson,
            ),
        ];
        for (line, reason) in cases {
            let bad = run_line(&line).unwrap_err();
            assert_eq!(bad.reason, reason, "{line}");
            let shown = bad.to_string();
            assert!(!shown.contains("RAW") && !shown.contains("1101"), "{shown}");
        }
        let mut not_utf8 = format!(r#"{{"id_number":"{raw}"#).into_bytes();
        not_utf8.extend_from_slice(b"\xff\"}");
        let bad = Pseudonymizer::new(KEY, DEFAULT_FIELD)
            .rewrite(&not_utf8)
            .unwrap_err();
        assert_eq!(bad.reason, BadReason::NotUtf8);
        assert!(!bad.to_string().contains("RAW"));
    }

    #[test]
    fn another_field_name() {
        let pseudonymizer = Pseudonymizer::new(KEY, "sfz");
        let line = br#"{"sfz":"110101199003070011","id_number":"kept"}"#;
        let mut out = Vec::new();
        pseudonymizer
            .rewrite(line)
            .unwrap()
            .write_to(line, &mut out)
            .unwrap();
        let expected = format!(
            r#"{{"person_id":"{}","id_number":"kept"}}"#,
            pid("110101199003070011")
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn streams_lines_and_reports_bad_ones_by_number() {
        let input = concat!(
            "{\"id_number\":\"A\"}\r\n",
            "\n",
            "{\"kind\":\"login\"}\n",
            "not json\n",
            "{\"id_number\":null}\n",
            "{\"id_number\":\"A\"}",
        );
        let pseudonymizer = Pseudonymizer::new(KEY, DEFAULT_FIELD);
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        let report = pseudonymize(&pseudonymizer, input.as_bytes(), &mut out, &mut diag).unwrap();
        let a = pid("A");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "{{\"person_id\":\"{a}\"}}\n{{\"kind\":\"login\"}}\n{{}}\n{{\"person_id\":\"{a}\"}}\n"
            )
        );
        assert_eq!(
            String::from_utf8(diag).unwrap(),
            "line 4: bad line: not_json: syntax error at column 2\n"
        );
        assert_eq!(
            report,
            Report {
                lines: 6,
                blank: 1,
                pseudonymized: 2,
                without_field: 1,
                no_id: 1,
                bad: BTreeMap::from([(BadReason::NotJson, 1)]),
            }
        );
    }

    /// A line longer than any event is refused, not held whole, and the lines after it go on.
    #[test]
    fn a_line_longer_than_any_event_is_too_large() {
        let long = format!(
            "{{\"id_number\":\"B\",\"pad\":\"{}\"}}",
            "x".repeat(crate::event::MAX_EVENT_BYTES)
        );
        let input = format!("{long}\n{{\"id_number\":\"A\"}}\n");
        let pseudonymizer = Pseudonymizer::new(KEY, DEFAULT_FIELD);
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        let report = pseudonymize(&pseudonymizer, input.as_bytes(), &mut out, &mut diag).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{{\"person_id\":\"{}\"}}\n", pid("A"))
        );
        assert_eq!(
            String::from_utf8(diag).unwrap(),
            "line 1: bad line: too_large: longer than 1048576 bytes, the most an event may have\n"
        );
        assert_eq!(report.bad, BTreeMap::from([(BadReason::TooLarge, 1)]));
    }

    #[test]
    fn key_file_rules() {
        let dir = std::env::temp_dir().join(format!("workhours-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let hex64 = "ab".repeat(32);
        let key = load_key(&write("lf", format!("{hex64}\n").as_bytes())).unwrap();
        assert_eq!(key, hex64.as_bytes());
        let key = load_key(&write("crlf", format!("{hex64}\r\n").as_bytes())).unwrap();
        assert_eq!(key, hex64.as_bytes());
        // Only one newline is removed: the rest is key.
        let key = load_key(&write("two", format!("{hex64}\n\n").as_bytes())).unwrap();
        assert_eq!(key, format!("{hex64}\n").as_bytes());
        // Shorter than recommended: used as it is, with a warning that names only its length.
        let path = write("short", b"0123456789abcdef0123456789abcde\n");
        let short = load_key(&path).unwrap();
        assert_eq!(short, b"0123456789abcdef0123456789abcde");
        let message = short_key_warning(&path, short.len()).unwrap();
        assert!(
            message.contains("recommended") && message.contains("31 bytes"),
            "{message}"
        );
        assert!(!message.contains("0123456789"), "{message}");
        assert_eq!(short_key_warning(&path, MIN_KEY_BYTES), None);
        let empty = load_key(&write("empty", b"\n"));
        assert!(matches!(empty, Err(KeyError::Empty { .. })), "{empty:?}");
        let long = load_key(&write("long", &[b'k'; MAX_KEY_BYTES + 1]));
        assert!(matches!(long, Err(KeyError::TooLong { .. })), "{long:?}");
        let missing = load_key(&dir.join("missing"));
        assert!(matches!(missing, Err(KeyError::Unreadable { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
