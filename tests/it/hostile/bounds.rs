//! Input is bounded before it costs much: nesting depth, aliases and size, in linear time,
//! with an error naming the file.

use std::time::{Duration, Instant};

use super::refused;
use crate::support::{Cli, code, path, text};

#[test]
fn deep_huge_and_endless_inputs_fail_fast() {
    let cli = Cli::new();
    let mut bomb = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!(
            "{next}: &{next} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    let deep_yaml = "[".repeat(200_000);
    let deep_json = "{\"a\":".repeat(200_000);
    let deep_block: String = (0..2000).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    for (name, body) in [
        ("bomb.yaml", bomb.as_str()),
        ("deep.yaml", deep_yaml.as_str()),
        ("deep.json", deep_json.as_str()),
        ("deep-block.yaml", deep_block.as_str()),
    ] {
        let f = cli.file(name, body);
        let started = Instant::now();
        refused(&cli, &["apply", "-f", path(&f), "--yes"], name);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            started.elapsed()
        );
        // The same as a kubeconfig: the file is reported, the command goes on without it.
        let started = Instant::now();
        let o = cli.muster(&["clusters", "--kubeconfig", path(&f), "--strict"]);
        assert_eq!(code(&o), 2, "{name}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(name), "{}", text(&o.stderr));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    // An endless file stops at the size bound, in bounded memory (1 GiB of address space).
    let started = Instant::now();
    let o = cli
        .command(
            "bash",
            &[
                "-c",
                &format!(
                    "ulimit -v 1048576; exec {} apply -f /dev/zero --yes",
                    env!("CARGO_BIN_EXE_muster")
                ),
            ],
        )
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("/dev/zero: larger than the limit of 67108864 bytes"),
        "{}",
        text(&o.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // The bound is configurable.
    let small = cli.file(
        "small.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\ndata: {{x: '{}'}}\n",
            "y".repeat(2000)
        ),
    );
    refused(
        &cli,
        &["apply", "-f", path(&small), "--yes", "--max-input-bytes", "1000"],
        "larger than the limit of 1000 bytes",
    );
}
