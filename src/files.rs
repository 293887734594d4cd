//! Reading the small files a command names (config, pack, holidays, token, key) with a bound,
//! and refusing an output path that is the input.
//!
//! A path can name something endless (`/dev/zero`, a FIFO, a wrong path to a large file):
//! read whole, it would grow memory until the process is killed. These files are read up to
//! their bound and one byte more, and refused beyond it with a message that names the bound.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Opens the input file a command names. A directory opens on Linux and fails only at its
/// first read, with no path in the message: refused here, naming the path.
pub fn open_input(path: &Path) -> anyhow::Result<File> {
    use anyhow::Context;
    let file = File::open(path).with_context(|| format!("cannot read input {}", path.display()))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("cannot read input {}: it is a directory", path.display());
    }
    Ok(file)
}

/// Largest config, pack or holidays file read (they are a few KiB; a long holiday calendar
/// stays far below it).
pub const MAX_TEXT_BYTES: u64 = 4 << 20;

/// Reads `path` whole when it holds at most `max` bytes; a larger file (or an endless one) is
/// an [`io::ErrorKind::InvalidData`] error that says so, as is one that is not UTF-8.
pub fn read_text(path: &Path, max: u64) -> io::Result<String> {
    let bytes = read_bytes(path, max)?;
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Reads `path` whole when it holds at most `max` bytes; else an
/// [`io::ErrorKind::InvalidData`] error that names the bound.
pub fn read_bytes(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let bytes = read_at_most(path, max)?;
    if bytes.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(bytes)
}

/// The first `max` bytes of `path` and one more when it has more: longer than `max` means
/// beyond the bound, for the caller to say so in its own words.
pub fn read_at_most(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    // A folder opens; its first read fails with "Is a directory", which says it well.
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The error of a file beyond its bound.
fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than {max} bytes, the most read from it (is it the right file?)"),
    )
}

/// Whether two paths name one existing file (through symbolic and hard links too): the same
/// device and inode.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Refuses to write `flag`'s file `output` when it is the input file: creating it would empty
/// the input before it is read (or replace it with what was made of it).
pub fn refuse_overwriting_input(
    input: Option<&Path>,
    output: &Path,
    flag: &str,
) -> anyhow::Result<()> {
    match input.filter(|p| p.as_os_str() != "-") {
        Some(input) => anyhow::ensure!(
            !same_file(input, output),
            "{flag} {} is the input file: writing it would destroy the input",
            output.display()
        ),
        // Standard input redirected from the output file (`--output f < f`).
        None => anyhow::ensure!(
            !stdin_is(output),
            "{flag} {} is the file on standard input: writing it would destroy the input",
            output.display()
        ),
    }
    Ok(())
}

/// Refuses to write `flag`'s file `output` when it is `file`, another file the command reads
/// (`what`: "the config file", "the key file"): a slip of the arguments would replace it.
pub fn refuse_overwriting(
    file: Option<&Path>,
    what: &str,
    output: &Path,
    flag: &str,
) -> anyhow::Result<()> {
    if let Some(file) = file.filter(|p| p.as_os_str() != "-") {
        anyhow::ensure!(
            !same_file(file, output),
            "{flag} {} is {what}: writing it would destroy it",
            output.display()
        );
    }
    Ok(())
}

/// Whether standard input is the existing file `path` (same device and inode).
fn stdin_is(path: &Path) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(stdin) = io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    match (File::from(stdin).metadata(), std::fs::metadata(path)) {
        (Ok(input), Ok(output)) => {
            input.is_file() && input.dev() == output.dev() && input.ino() == output.ino()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_at_its_bound() {
        let error = read_bytes(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("larger than 1024 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_file_within_its_bound_is_read_whole() {
        let dir = std::env::temp_dir().join(format!("workhours-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.toml");
        std::fs::write(&path, "x = 1\n").unwrap();
        assert_eq!(read_text(&path, 6).unwrap(), "x = 1\n");
        assert!(read_text(&path, 5).is_err());
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(
            read_text(&path, 6)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
        let link = dir.join("b.toml");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(refuse_overwriting_input(Some(&path), &link, "--output").is_err());
        assert!(refuse_overwriting_input(Some(Path::new("-")), &link, "--output").is_ok());
        assert!(refuse_overwriting_input(None, &link, "--output").is_ok());
        let error = refuse_overwriting(Some(&path), "the key file", &link, "--output")
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("is the key file: writing it would destroy it"),
            "{error}"
        );
        assert!(refuse_overwriting(None, "the key file", &link, "--output").is_ok());
        // A hard link is the same file under another name: writing it would empty the input.
        let hard = dir.join("c.toml");
        let _ = std::fs::remove_file(&hard);
        std::fs::hard_link(&path, &hard).unwrap();
        assert!(refuse_overwriting_input(Some(&path), &hard, "--output").is_err());
        assert!(refuse_overwriting(Some(&hard), "the key file", &path, "--output").is_err());
        assert!(refuse_overwriting_input(Some(&path), &dir.join("d.toml"), "--output").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
