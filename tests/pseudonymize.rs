//! The built binary's `pseudonymize`: known `person_id`s, lines kept byte for byte, and no raw
//! id in anything it writes, on the good path and on every error path.

mod common;

use common::{bin, run, scratch, stderr, stdout};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

const KEY: &str = "5d0c9a6f1e2b7c48a3d9e0f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5";
const OTHER_KEY: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
/// HMAC-SHA256 under `KEY` (its 64 ASCII bytes), computed with Python's `hmac` module.
const PID_A: &str = "978d090d8bd9f9cdf2d723d084352adbc65c24e7d2b3221d54a990c522559d23";
const PID_NUMBER: &str = "6eab71a408c8dc95b695f26e12031309a2d65e34832d66d8cd2de1e6159c23db";
/// `RAWID-110101199003070011` under `OTHER_KEY`.
const PID_A_OTHER_KEY: &str = "813b4e1098f091ece5527bcdf57ee451ccd36bed0e03943ab817e13948c86ed2";

/// Every raw id of the input: none may appear in anything the program writes. The string
/// ids all contain `RAWID`, which is checked too.
const RAW: [&str; 18] = [
    "RAWID-110101199003070011",
    "RAWID-220102198805050022",
    "990011223344556677",
    "RAWID-MALFORMED-0001",
    "RAWID-NOTOBJ-0002",
    "RAWID-OBJ-0003",
    "RAWID-ARR-0004",
    "RAWID-DUP-0005a",
    "RAWID-DUP-0005b",
    "RAWID-BOTH-0006",
    "RAWID-UTF8-0007",
    "RAWID-CTRL-0008",
    "77665544332211009988776655",
    "RAWID-ESC-0009",
    "RAWID-ESC-000\\u0039",
    "RAWID-TRAIL-0010",
    "553311224466",
    "RAWID-SPACE-0011",
];

/// The input, line by line, with what each line must become (`None`: dropped, with the
/// reason code expected on stderr).
fn cases() -> Vec<(Vec<u8>, Result<String, &'static str>)> {
    let ev = r#""worker_id":"w1","kind":"login","ts":1772409600000"#;
    let good = |line: String, out: String| (line.into_bytes(), Ok(out));
    let bad = |line: Vec<u8>, reason| (line, Err(reason));
    vec![
        good(
            format!(r#"{{{ev},"id_number":"RAWID-110101199003070011","platform":"meituan"}}"#),
            format!(r#"{{{ev},"person_id":"{PID_A}","platform":"meituan"}}"#),
        ),
        // Same id on another line, other spacing and order: the same person_id.
        good(
            format!(r#"{{ "id_number" : "RAWID-110101199003070011", {ev} }}"#),
            format!(r#"{{ "person_id" : "{PID_A}", {ev} }}"#),
        ),
        good(
            format!(r#"{{{ev},"id_number":990011223344556677}}"#),
            format!(r#"{{{ev},"person_id":"{PID_NUMBER}"}}"#),
        ),
        good(format!(r#"{{{ev}}}"#), format!(r#"{{{ev}}}"#)),
        good(
            format!(r#"{{{ev},"id_number":null}}"#),
            format!(r#"{{{ev}}}"#),
        ),
        bad(
            br#"{"worker_id":"w2","id_number":"RAWID-MALFORMED-0001""#.to_vec(),
            "not_json",
        ),
        bad(br#"["RAWID-NOTOBJ-0002"]"#.to_vec(), "not_object"),
        bad(
            br#"{"worker_id":"w3","id_number":{"n":"RAWID-OBJ-0003"}}"#.to_vec(),
            "wrong_type",
        ),
        bad(
            br#"{"worker_id":"w3","id_number":["RAWID-ARR-0004"]}"#.to_vec(),
            "wrong_type",
        ),
        bad(
            br#"{"id_number":"RAWID-DUP-0005a","worker_id":"w4","id_number":"RAWID-DUP-0005b"}"#
                .to_vec(),
            "duplicate_field",
        ),
        bad(
            br#"{"person_id":"p","id_number":"RAWID-BOTH-0006"}"#.to_vec(),
            "person_id_present",
        ),
        bad(
            b"{\"id_number\":\"RAWID-UTF8-0007\xff\"}".to_vec(),
            "not_utf8",
        ),
        bad(
            b"{\"id_number\":\"RAWID-CTRL-0008\x01\"}".to_vec(),
            "not_json",
        ),
        bad(
            br#"{"id_number":77665544332211009988776655}"#.to_vec(),
            "wrong_type",
        ),
        bad(
            br#"{"id_number":"RAWID-TRAIL-0010"} {"#.to_vec(),
            "not_json",
        ),
        bad(br#"{"id_number":-553311224466}"#.to_vec(), "wrong_type"),
        bad(br#"{"id_number":RAWID-SPACE-0011}"#.to_vec(), "not_json"),
        good(
            format!(r#"{{{ev},"id_number":"RAWID-220102198805050022"}}"#),
            format!(
                r#"{{{ev},"person_id":"{}"}}"#,
                // Checked below to differ from PID_A; its value is the program's.
                "{B}"
            ),
        ),
        // Escapes are read as JSON reads them: this is RAWID-ESC-0009.
        good(
            format!(r#"{{{ev},"id\u005fnumber":"RAWID-ESC-000\u0039"}}"#),
            format!(r#"{{{ev},"person_id":"{{ESC}}"}}"#),
        ),
    ]
}

fn input_bytes() -> Vec<u8> {
    let mut input = Vec::new();
    for (line, _) in cases() {
        input.extend_from_slice(&line);
        input.push(b'\n');
    }
    input
}

fn write_key(dir: &Path, name: &str, key: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{key}\n")).unwrap();
    path
}

/// Panics if any raw id (or the key, when given) is in `bytes`.
fn assert_clean(what: &str, bytes: &[u8], key: Option<&str>) {
    let text = String::from_utf8_lossy(bytes);
    for raw in RAW.iter().copied().chain(["RAWID"]) {
        assert!(!text.contains(raw), "{what} leaks {raw}:\n{text}");
    }
    if let Some(key) = key {
        assert!(!text.contains(key), "{what} leaks the key:\n{text}");
    }
}

fn assert_output_clean(what: &str, output: &Output, key: Option<&str>) {
    assert_clean(&format!("{what} stdout"), &output.stdout, key);
    assert_clean(&format!("{what} stderr"), &output.stderr, key);
}

fn pseudonymize_stdin(key_file: &Path, input: &[u8]) -> Output {
    let mut child = bin()
        .args(["pseudonymize", "--key-file"])
        .arg(key_file)
        .arg("-")
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn workhours");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn pseudonymizes_known_values_and_leaks_no_raw_id() {
    let dir = scratch("pseudonymize-good");
    let key_file = write_key(&dir, "key", KEY);
    let input = dir.join("raw.jsonl");
    std::fs::write(&input, input_bytes()).unwrap();
    let out_file = dir.join("pseudonymized.jsonl");

    let output = run(bin()
        .args(["pseudonymize", "--key-file"])
        .arg(&key_file)
        .arg("--output")
        .arg(&out_file)
        .arg(&input)
        .env("RUST_LOG", "trace"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_output_clean("--output run", &output, Some(KEY));
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    let written = std::fs::read(&out_file).unwrap();
    assert_clean("output file", &written, Some(KEY));

    // The output, line by line: known person_ids, every other byte kept, bad lines gone.
    let written = String::from_utf8(written).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    let expected: Vec<String> = cases()
        .into_iter()
        .filter_map(|(_, out)| out.ok())
        .collect();
    assert_eq!(lines.len(), expected.len(), "{written}");
    let b_id = person_id_of(lines[5]);
    let esc_id = person_id_of(lines[6]);
    for (line, expected) in lines.iter().zip(&expected) {
        let expected = expected.replace("{B}", &b_id).replace("{ESC}", &esc_id);
        assert_eq!(*line, expected);
        serde_json::from_str::<serde_json::Value>(line).expect("output lines are JSON");
    }
    assert_ne!(b_id, PID_A);
    assert_ne!(esc_id, PID_A);
    assert_eq!(b_id.len(), 64);

    // Bad lines: their number and reason on stderr, in order, and a summary.
    let report = stderr(&output);
    let expected_bad: Vec<String> = cases()
        .into_iter()
        .enumerate()
        .filter_map(|(i, (_, out))| out.err().map(|r| format!("line {}: bad line: {r}:", i + 1)))
        .collect();
    let reported: Vec<&str> = report.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(reported.len(), expected_bad.len(), "{report}");
    for (line, expected) in reported.iter().zip(&expected_bad) {
        assert!(line.starts_with(expected.as_str()), "{line} vs {expected}");
    }
    assert!(report.contains("pseudonymized"), "{report}");

    // The same through stdin and stdout gives the same bytes.
    let piped = pseudonymize_stdin(&key_file, &input_bytes());
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_output_clean("stdin run", &piped, Some(KEY));
    assert_eq!(stdout(&piped), written);

    // Another key: other person_ids for the same ids.
    let other = write_key(&dir, "other-key", OTHER_KEY);
    let piped = pseudonymize_stdin(&other, &input_bytes());
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_output_clean("other-key run", &piped, Some(OTHER_KEY));
    let first = stdout(&piped).lines().next().unwrap().to_owned();
    assert_eq!(person_id_of(&first), PID_A_OTHER_KEY);

    // The output is valid input for workhours: replay reads every line as a good event.
    let replay = run(bin().arg("replay").arg(&out_file));
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_output_clean("replay of the output", &replay, None);
    assert!(
        !stderr(&replay).contains("bad event:"),
        "{}",
        stderr(&replay)
    );
}

fn person_id_of(line: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["person_id"].as_str().unwrap().to_owned()
}

#[test]
fn error_paths_fail_clearly_and_leak_nothing() {
    let dir = scratch("pseudonymize-errors");
    let input = dir.join("raw.jsonl");
    std::fs::write(&input, input_bytes()).unwrap();
    let good_key = write_key(&dir, "key", KEY);
    let short_secret = "RAWKEY-short-secret-0123";
    let short_key = dir.join("short-key");
    std::fs::write(&short_key, format!("{short_secret}\n")).unwrap();
    let empty_key = dir.join("empty-key");
    std::fs::write(&empty_key, "\n").unwrap();
    let long_key = dir.join("long-key");
    std::fs::write(&long_key, "k".repeat(4096)).unwrap();
    let out_file = dir.join("out.jsonl");

    let runs: [(&str, Vec<std::ffi::OsString>, &str); 7] = [
        (
            "missing key file",
            vec![
                "--key-file".into(),
                dir.join("no-such-key").into(),
                input.clone().into(),
            ],
            "cannot read key file",
        ),
        (
            "key file is a folder",
            vec![
                "--key-file".into(),
                dir.clone().into(),
                input.clone().into(),
            ],
            "key file",
        ),
        (
            "empty key",
            vec![
                "--key-file".into(),
                empty_key.into(),
                "--output".into(),
                out_file.clone().into(),
                input.clone().into(),
            ],
            "is empty",
        ),
        (
            "long key",
            vec!["--key-file".into(), long_key.into(), input.clone().into()],
            "more than the 1024",
        ),
        (
            "missing input",
            vec![
                "--key-file".into(),
                good_key.clone().into(),
                dir.join("no-such-input").into(),
            ],
            "cannot read input",
        ),
        (
            "output over the input",
            vec![
                "--key-file".into(),
                good_key.clone().into(),
                "--output".into(),
                input.clone().into(),
                input.clone().into(),
            ],
            "is the input file",
        ),
        (
            "field person_id",
            vec![
                "--key-file".into(),
                good_key.into(),
                "--field".into(),
                "person_id".into(),
                input.clone().into(),
            ],
            "--field",
        ),
    ];
    for (what, args, message) in runs {
        let output = run(bin()
            .arg("pseudonymize")
            .args(&args)
            .env("RUST_LOG", "trace"));
        assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{what}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{what}: {}", stdout(&output));
        assert_output_clean(what, &output, Some(KEY));
        assert_clean(what, &output.stderr, Some(short_secret));
    }
    // A bad key leaves no output file, and the input survives a refused overwrite.
    assert!(!out_file.exists());
    assert_eq!(std::fs::read(&input).unwrap(), input_bytes());

    // SPEC section 8 sets no least key length (HMAC takes any): a short key is used as it
    // is, with a warning that gives its length and never its bytes.
    let one = dir.join("one.jsonl");
    std::fs::write(
        &one,
        "{\"worker_id\":\"w1\",\"id_number\":\"RAWID-110101199003070011\"}\n",
    )
    .unwrap();
    let output = run(bin()
        .arg("pseudonymize")
        .arg("--key-file")
        .arg(&short_key)
        .arg(&one)
        .env("RUST_LOG", "trace"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // HMAC-SHA256 under the 24 bytes of `short_secret`, computed with Python's `hmac` module.
    assert_eq!(
        stdout(&output),
        "{\"worker_id\":\"w1\",\"person_id\":\"28d5151b135e76a6fb13080825d1490544034cb3b7ae81c64d7c858a47240ce7\"}\n"
    );
    assert!(
        stderr(&output).contains("24 bytes") && stderr(&output).contains("recommended"),
        "{}",
        stderr(&output)
    );
    assert_clean("short key", &output.stderr, Some(short_secret));
    assert_clean("short key", &output.stdout, Some(short_secret));
}

/// A directory as input is refused naming it, as `replay` refuses one (audit X: the message
/// was "Is a directory (os error 21)", without the path).
#[test]
fn a_directory_as_input_is_refused_with_its_path() {
    let dir = scratch("pseudonymize-directory");
    let key_file = write_key(&dir, "key", KEY);
    let output = run(bin()
        .args(["pseudonymize", "--key-file"])
        .arg(&key_file)
        .arg(&dir));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains(&format!(
            "cannot read input {}: it is a directory",
            dir.display()
        )),
        "{text}"
    );
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
}
