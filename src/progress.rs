//! Progress of a long read on stderr: events read, rate, share of the input and time left.
//!
//! Shown only when stderr is a terminal (and `WORKHOURS_PROGRESS` is not `0`); a pipe or a
//! file gets nothing, so scripts and logs see the same bytes as before. The line is drawn on
//! the first read, then redrawn at most five times a second from the reading thread (no timer
//! thread), and cleared when the reader is dropped, before the command writes its summary.

use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(200);

/// A reader that counts what passes through it and draws a progress line.
pub struct Progress<R> {
    inner: R,
    what: &'static str,
    /// The input's size when known (a regular file), for the share and the time left.
    total: Option<u64>,
    bytes: u64,
    lines: u64,
    start: Instant,
    last: Instant,
    out: Box<dyn Write + Send>,
    drawn: bool,
}

/// Wraps `input` for command `what` when progress should show; `total` is the input's size
/// when it is a regular file.
pub fn wrap<R: Read + Send + 'static>(
    what: &'static str,
    input: R,
    total: Option<u64>,
) -> Box<dyn Read + Send> {
    if enabled(
        io::stderr().is_terminal(),
        std::env::var("WORKHOURS_PROGRESS").ok(),
    ) {
        Box::new(Progress::new(what, input, total, Box::new(io::stderr())))
    } else {
        Box::new(input)
    }
}

/// Whether to show progress: on a terminal, unless `WORKHOURS_PROGRESS=0`; `=1` forces it.
fn enabled(terminal: bool, setting: Option<String>) -> bool {
    match setting.as_deref() {
        Some("0") => false,
        Some("1") => true,
        _ => terminal,
    }
}

impl<R> Progress<R> {
    pub fn new(
        what: &'static str,
        inner: R,
        total: Option<u64>,
        out: Box<dyn Write + Send>,
    ) -> Progress<R> {
        let now = Instant::now();
        Progress {
            inner,
            what,
            total: total.filter(|&t| t > 0),
            bytes: 0,
            lines: 0,
            start: now,
            last: now,
            out,
            drawn: false,
        }
    }

    fn draw(&mut self, now: Instant) {
        let line = render(
            self.what,
            self.lines,
            self.bytes,
            self.total,
            now - self.start,
        );
        // Clear the line, draw, and return to its start: anything else written to stderr
        // then starts at the first column.
        let _ = write!(self.out, "\r\x1b[K{line}\r");
        let _ = self.out.flush();
        self.drawn = true;
    }
}

/// The progress line: `replay: 1,234,567 events, 512,000/s, 43% of 1.5 GB, 9s left`.
pub fn render(what: &str, lines: u64, bytes: u64, total: Option<u64>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let mut text = format!("{what}: {} events", grouped(lines));
    if secs >= 0.05 {
        text.push_str(&format!(", {}/s", grouped((lines as f64 / secs) as u64)));
    }
    match total {
        Some(total) => {
            let share = (bytes as f64 / total as f64).min(1.0);
            text.push_str(&format!(
                ", {:.0}% of {}",
                (share * 100.0).floor(),
                size(total)
            ));
            if bytes > 0 && secs >= 0.05 && bytes < total {
                let left = (total - bytes) as f64 * secs / bytes as f64;
                text.push_str(&format!(", {} left", duration(left)));
            }
        }
        None => text.push_str(&format!(", {} read", size(bytes))),
    }
    text
}

/// 1234567 as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in decimal units: `812 B`, `12.3 MB`, `1.5 GB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Seconds as `9s`, `4m 05s`, `2h 10m`.
fn duration(secs: f64) -> String {
    let s = secs.ceil() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        self.lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        let now = Instant::now();
        // The first read draws at once, so even a short run shows where it stands, and the
        // end of the input draws its totals.
        if !self.drawn || n == 0 || now - self.last >= EVERY {
            self.last = now;
            self.draw(now);
        }
        Ok(n)
    }
}

impl<R> Drop for Progress<R> {
    fn drop(&mut self) {
        if self.drawn {
            let _ = write!(self.out, "\r\x1b[K");
            let _ = self.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_line_names_events_rate_share_and_time_left() {
        let line = render(
            "replay",
            1_234_567,
            500_000_000,
            Some(1_500_000_000),
            Duration::from_secs(2),
        );
        assert_eq!(
            line,
            "replay: 1,234,567 events, 617,283/s, 33% of 1.5 GB, 4s left"
        );
        // A pipe: no size, so the bytes read instead of a share.
        let line = render("status", 999, 12_300_000, None, Duration::from_secs(1));
        assert_eq!(line, "status: 999 events, 999/s, 12.3 MB read");
        assert_eq!(duration(65.0), "1m 05s");
        assert_eq!(duration(7300.0), "2h 01m");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(size(999), "999 B");
    }

    #[test]
    fn it_draws_while_reading_and_clears_its_line_when_dropped() {
        let out = Shared::default();
        let input = "a\nb\nc\n".repeat(1000);
        let mut reader = Progress::new(
            "replay",
            io::Cursor::new(input.clone().into_bytes()),
            Some(input.len() as u64),
            Box::new(out.clone()),
        );
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, input.as_bytes(), "bytes pass through unchanged");
        assert_eq!(reader.lines, 3000);
        drop(reader);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("\r\x1b[Kreplay: "), "{text:?}");
        assert!(text.contains(" events"), "{text:?}");
        assert!(text.ends_with("\r\x1b[K"), "cleared at the end: {text:?}");
    }

    #[test]
    fn only_a_terminal_or_a_forced_setting_shows_it() {
        assert!(enabled(true, None));
        assert!(!enabled(false, None));
        assert!(!enabled(true, Some("0".into())));
        assert!(enabled(false, Some("1".into())));
    }
}
