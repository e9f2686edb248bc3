//! `fibrectl -b FILE` (`-b -`: standard input), like `ip -b`: one fibrectl command
//! per line, without the `fibrectl` and its options, run in order over the
//! session's one connection. Words are split as a POSIX shell splits them
//! (quotes, backslashes); `#` starts a comment; blank lines are skipped.
//!
//! The first line that fails stops the batch: its message is printed with the
//! file's name and the line number, and fibrectl exits with that command's code.
//! With `--force` every line runs, and the exit code is the first failure's.

use super::failure::{usage, Failure};
use super::session::Session;
use std::io::BufRead;
use std::process::ExitCode;

/// A batch line's words, split as a shell would (no expansions); an unclosed
/// quote or a trailing backslash is an error.
pub fn split(line: &str) -> Result<Vec<String>, Failure> {
    shlex::split(line).ok_or_else(|| usage("unclosed quote or trailing backslash"))
}

/// Runs every line of `input` (called `name` in messages) through `run_line`, a
/// whole fibrectl command's words, stopping at the first failure unless `force`.
pub fn run(
    input: impl BufRead,
    name: &str,
    force: bool,
    session: &Session,
    mut run_line: impl FnMut(Vec<String>) -> Result<(), Failure>,
) -> ExitCode {
    let mut first_failure = None;
    for (i, line) in input.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        let done = match line {
            Ok(line) => split(&line).and_then(|words| {
                if words.is_empty() {
                    Ok(())
                } else {
                    run_line(words)
                }
            }),
            Err(e) => Err(usage(format!("reading: {e}"))),
        };
        let Err(failure) = done else {
            continue;
        };
        if matches!(failure, Failure::Daemon(_)) {
            session.disconnect();
        }
        let code = failure.at(&at).report();
        first_failure.get_or_insert(code);
        if !force {
            break;
        }
    }
    first_failure.unwrap_or(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line).unwrap_or_else(|_| panic!("{line:?} refused"))
    }

    #[test]
    fn lines_split_like_a_shell() {
        assert_eq!(
            words("route add 10.0.0.0/8  via 192.0.2.1\t# the default"),
            ["route", "add", "10.0.0.0/8", "via", "192.0.2.1"]
        );
        assert_eq!(
            words(r#"route load "/tmp/my routes.txt" --via 192.0.2.1"#),
            ["route", "load", "/tmp/my routes.txt", "--via", "192.0.2.1"]
        );
        assert_eq!(
            words(r"route load a\ b 'c d'"),
            ["route", "load", "a b", "c d"]
        );
        assert!(words("   ").is_empty());
        assert!(words("# only a comment").is_empty());
        assert!(split("route show 'unclosed").is_err());
        assert!(split("route show \\").is_err());
    }

    /// Runs `text` with a `run_line` that fails on `fail` lines and records what ran.
    fn batch(text: &str, force: bool) -> (Vec<String>, ExitCode) {
        let session = Session::new("/nonexistent".into(), false);
        let mut ran = Vec::new();
        let code = run(text.as_bytes(), "t", force, &session, |w| {
            ran.push(w.join(" "));
            match w[0].as_str() {
                "fail" => Err(usage("no")),
                "refused" => Err(super::super::failure::daemon("refused")),
                _ => Ok(()),
            }
        });
        (ran, code)
    }

    #[test]
    fn the_first_failure_stops_the_batch_unless_forced() {
        let text = "# header\n\na 1\nrefused\nb 'x y'\nfail\nc\n";
        let (ran, code) = batch(text, false);
        assert_eq!(ran, ["a 1", "refused"]);
        assert_eq!(code, ExitCode::from(1));
        let (ran, code) = batch(text, true);
        assert_eq!(ran, ["a 1", "refused", "b x y", "fail", "c"]);
        assert_eq!(code, ExitCode::from(1), "the first failure's code");
        let (ran, code) = batch("a\nb 'open\nc\n", false);
        assert_eq!(ran, ["a"], "a line that does not split fails as usage");
        assert_eq!(code, ExitCode::from(2));
        let (ran, code) = batch("a\nb\n", false);
        assert_eq!((ran.len(), code), (2, ExitCode::SUCCESS));
    }
}
