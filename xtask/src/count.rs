//! Test counts read from the runners' own result lines, for one closing summary line.

/// Passed, failed and skipped tests over every runner of one `cargo xtask` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Whether any result line was seen at all.
    pub seen: bool,
}

impl TestCounts {
    /// A cheap pre-filter for lines worth keeping.
    pub fn may_count(line: &str) -> bool {
        let line = strip_ansi(line);
        line.contains("test result:") || line.contains(" run: ")
    }

    /// Adds the counts of one runner invocation's output. nextest's `Summary` line is the
    /// whole truth when present: nextest also echoes a failed test's own libtest output,
    /// `test result:` line included, which must not be counted twice.
    pub fn observe_run<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) {
        let lines: Vec<String> = lines.into_iter().map(strip_ansi).collect();
        let nextest = lines
            .iter()
            .any(|l| l.trim_start().starts_with("Summary ["));
        for line in &lines {
            if nextest == line.trim_start().starts_with("Summary [") {
                self.observe(line);
            }
        }
    }

    /// Adds the counts of one output line, if it is a result line:
    /// nextest's `Summary [ 1.2s] 12 tests run: 11 passed, 1 failed, 2 skipped` or
    /// libtest's `test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; ...`.
    pub fn observe(&mut self, line: &str) {
        let line = strip_ansi(line);
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test result:") {
            // `ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s`
            let rest = rest.split_once('.').map_or(rest, |(_, r)| r);
            self.seen = true;
            for part in rest.split(';') {
                match count_and_word(part) {
                    Some((n, "passed")) => self.passed += n,
                    Some((n, "failed")) => self.failed += n,
                    Some((n, "ignored")) => self.skipped += n,
                    _ => {}
                }
            }
        } else if line.starts_with("Summary [")
            && let Some((_, rest)) = line.split_once(" run: ")
        {
            // `11 passed (1 slow), 1 failed, 1 timed out, 2 skipped`
            self.seen = true;
            for part in rest.split(',') {
                match count_and_word(part) {
                    Some((n, "passed")) => self.passed += n,
                    Some((n, "failed" | "timed" | "exec")) => self.failed += n,
                    Some((n, "skipped")) => self.skipped += n,
                    _ => {}
                }
            }
        }
    }

    /// `summary: 12 passed, 0 failed, 2 skipped`, or `None` if no runner reported.
    pub fn summary_line(&self) -> Option<String> {
        self.seen.then(|| {
            format!(
                "summary: {} passed, {} failed, {} skipped",
                self.passed, self.failed, self.skipped
            )
        })
    }
}

/// `" 5 passed"` → `(5, "passed")`.
fn count_and_word(part: &str) -> Option<(u64, &str)> {
    let mut words = part.split_whitespace();
    let n = words.next()?.parse().ok()?;
    Some((n, words.next()?))
}

/// Removes terminal colour sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(lines: &[&str]) -> TestCounts {
        let mut c = TestCounts::default();
        for l in lines {
            assert!(TestCounts::may_count(l) || !l.contains("passed"), "{l}");
            c.observe(l);
        }
        c
    }

    #[test]
    fn nextest_summary_is_counted() {
        let c = counts(&["     Summary [   0.114s] 2 tests run: 1 passed, 1 failed, 1 skipped"]);
        assert_eq!((c.passed, c.failed, c.skipped, c.seen), (1, 1, 1, true));
    }

    #[test]
    fn nextest_timeouts_count_as_failures_and_slow_notes_are_ignored() {
        let c = counts(&[
            "     Summary [  60.0s] 9/10 tests run: 7 passed (2 slow), 1 failed, 1 timed out, 0 skipped",
        ]);
        assert_eq!((c.passed, c.failed, c.skipped), (7, 2, 0));
    }

    #[test]
    fn failed_test_output_echoed_by_nextest_is_not_counted_twice() {
        let mut c = TestCounts::default();
        c.observe_run([
            "    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.12s",
            "     Summary [   1.733s] 12 tests run: 11 passed, 1 failed, 1 skipped",
        ]);
        assert_eq!((c.passed, c.failed, c.skipped), (11, 1, 1));
        c.observe_run([
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
        ]);
        assert_eq!((c.passed, c.failed, c.skipped), (12, 1, 1));
    }

    #[test]
    fn libtest_results_add_up_across_binaries() {
        let c = counts(&[
            "test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s",
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s",
        ]);
        assert_eq!((c.passed, c.failed, c.skipped), (6, 2, 1));
        assert_eq!(
            c.summary_line().unwrap(),
            "summary: 6 passed, 2 failed, 1 skipped"
        );
    }

    #[test]
    fn coloured_lines_are_read() {
        let c = counts(&[
            "\u{1b}[32;1m     Summary\u{1b}[0m [   0.1s] \u{1b}[1m3\u{1b}[0m tests run: \u{1b}[1m3\u{1b}[0m \u{1b}[32;1mpassed\u{1b}[0m, \u{1b}[1m0\u{1b}[0m \u{1b}[33;1mskipped\u{1b}[0m",
        ]);
        assert_eq!((c.passed, c.failed, c.skipped), (3, 0, 0));
    }

    #[test]
    fn other_lines_are_ignored() {
        let c = counts(&[
            "running 3 tests",
            "test foo ... ok",
            "error: test run failed",
        ]);
        assert_eq!(c, TestCounts::default());
        assert_eq!(c.summary_line(), None);
    }
}
