//! The parse floor of replay (issue 11): reads a JSON-lines file with replay's own block
//! reader, parses and validates every line into an [`Event`] with [`event::parse`], and drops
//! it. Replay cannot be faster than this, so `bench/parse.sh` reports replay's rate as a
//! fraction of it.
//!
//! ```text
//! cargo run --release --example parse_floor -- [--reference] FILE
//! ```
//!
//! `--reference` parses with [`event::parse_reference`] (serde_json alone) instead, to
//! compare the fast path with it in one run.
//!
//! Prints one line of `key=value` figures: lines, blank lines, valid and bad events, seconds
//! and events (non-blank lines) per second.

use std::fs::File;
use std::hint::black_box;
use std::time::Instant;

use workhours::event::{self, BadEvent, Event};
use workhours::replay::{self, Blocks};

type Parser = for<'a> fn(&'a [u8]) -> Result<Event<'a>, BadEvent>;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (parse, path): (Parser, _) = match args.as_slice() {
        [path] => (event::parse, path),
        [flag, path] if flag == "--reference" => (event::parse_reference, path),
        _ => anyhow::bail!("usage: parse_floor [--reference] FILE"),
    };
    let file = File::open(path).map_err(|error| anyhow::anyhow!("cannot read {path}: {error}"))?;
    let start = Instant::now();
    let mut blocks = Blocks::new(file);
    let (mut lines, mut blank, mut valid, mut bad) = (0u64, 0u64, 0u64, 0u64);
    while let Some(block) = blocks.next()? {
        // The same line handling as `replay::replay_into`.
        for line in replay::lines(block) {
            lines += 1;
            if replay::is_blank(line) {
                blank += 1;
                continue;
            }
            match parse(black_box(line)) {
                Ok(event) => {
                    black_box::<&Event<'_>>(&event);
                    valid += 1;
                }
                Err(error) => {
                    black_box(&error);
                    bad += 1;
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let events = valid + bad;
    println!(
        "lines={lines} blank={blank} valid={valid} bad={bad} seconds={seconds:.3} events_per_s={:.0}",
        events as f64 / seconds
    );
    Ok(())
}
