//! Every `docker compose …` and `make …` command line in the repository's Markdown (README.md,
//! docs/, every folder README), run as written against the stack `scripts/ci/stack.sh test`
//! brought up, with the images `make up` would have chosen (plain `docker compose`: the
//! generated compose.override.yaml names the offline images). A new line in the docs is picked
//! up by itself: commands that only read run in a first pass; the ones that change the stack run
//! afterwards in the order of `CHANGE_ORDER`, each followed by `docker compose up -d --wait`;
//! the ones that tear it down run last. Not run, each counted and printed with its reason:
//! templates (`<service>`, `...`, `[UNTIL=…]`: nothing to run as written) and the few lines in
//! `NOT_RUN` (foreground servers, the test suites themselves, the registry-only Grafana/Jaeger).
//!
//! The commands `make up` prints (between backticks) run too, right after its documented line.
//! Every line runs with the Debian index dates pinned to the ones the images were built for
//! (`pinned_index_dates`), so a security publication mid-run does not rebuild every image.
//!
//! Runs as its own step after the other suites (`cargo test -p zufang-e2e --test docs`, harness
//! off by default in Cargo.toml): it stops, restarts, redeploys and finally removes the stack.
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zufang_e2e::{record, repo_root};

/// A command line found in the docs and where (first place; how many places).
#[derive(Clone, Debug)]
struct Line {
    command: String,
    at: String,
    places: usize,
}

/// Markers of a template: something to fill in before it can run.
const TEMPLATE_MARKERS: &[&str] = &["<", "...", "…", "[UNTIL", "[IMAGE", "[--", "NNNNNN", "UNTIL=T"];

/// Lines that are not run here, by prefix, with the reason.
const NOT_RUN: &[(&str, &str)] = &[
    ("make test", "the test suites themselves"),
    ("make dev", "a development server on this host's own MariaDB/Redis, in the foreground (outside the stack)"),
    ("make bench", "the loopback benchmark: minutes, and it rewrites docs/performance.md (make test-bench runs its scripts)"),
    ("docker compose --profile bench run --rm bench bench/http/load.sh --connections", "the full HTTP benchmark (4 levels x 60 s): the --quick lines run"),
    ("make restore UNTIL=", "a second from the runbook's example incident, before this stack existed: ops.rs restores to a second of its own"),
];

/// Commands that change the stack, by prefix, in the order they run (after the read-only ones).
const CHANGE_ORDER: &[&str] = &[
    "docker compose run --rm secrets-init",
    "docker compose run --rm --entrypoint bash secrets-init",
    "docker compose exec mysql bash /docker-entrypoint-initdb.d/",
    "docker compose exec lb1 nginx -s reload",
    "docker compose kill -s HUP prometheus",
    "docker compose restart",
    "docker compose stop",
    "docker compose start",
    "docker compose up -d",
    "docker compose --profile zabbix up",
    "docker compose build",
    "make images-offline",
    "make images-refresh",
    "make backup",
    "make restore",
    "make deploy",
    "make rollback",
    "docker compose up",
];

/// Tear-down, last, in this order (`position` matches the whole command or its first words, so
/// the profile-wide `down -v` sorts before the plain profile-wide `down`: run order is by index below).
/// Each runs on the state the one before left, as a user's next command would, with no stack
/// brought back in between (each bring-back is a full `up -d --wait`): `make up` after `make down`
/// (and a bench run with a plain down: `strand_bench_one_shots`), `make clean` after the
/// profile-wide `down`.
const LAST_ORDER: &[&str] = &[
    "make down",
    "make up",
    "docker compose --profile '*' down -v",
    "docker compose --profile '*' down",
    "make clean",
];
/// A cheap bench line: Compose starts the profile's one-shots (bench-account, bench-results) first.
const BENCH_PROBE: &str = "docker compose --profile bench run --rm bench bench/report/report.sh --help";

/// What the shell's stderr says when a documented command is wrong rather than unlucky.
const BROKEN: &[&str] = &[
    "no such service",
    "pull access denied",
    "permission denied",
    "unknown flag",
    "unknown shorthand flag",
    "command not found",
    "executable file not found",
    "is not running",
    "no such file or directory",
    "no rule to make target",
    "cannot create directory",
];

fn markdown_files() -> Result<Vec<String>> {
    let out = Command::new("git").current_dir(repo_root()).args(["ls-files", "*.md"]).output()?;
    Ok(String::from_utf8(out.stdout)?.lines().map(str::to_string).collect())
}

/// `cmd # comment` -> `cmd` (a `#` after whitespace, outside quotes).
fn strip_comment(text: &str) -> String {
    let (mut single, mut double, mut prev_space) = (false, false, false);
    for (i, c) in text.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if prev_space && !single && !double => return text[..i].trim_end().to_string(),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    text.trim_end().to_string()
}

fn is_command(text: &str) -> bool {
    text.starts_with("docker compose ") || text.starts_with("make ") || text == "make"
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every command line of one Markdown text: whole lines inside fenced blocks (with `\`
/// continuations), and inline code spans in prose.
fn commands_in(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let (mut fenced, mut i) = (false, 0);
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            fenced = !fenced;
            i += 1;
            continue;
        }
        if fenced {
            let t = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
            if is_command(t) {
                let (start, mut joined) = (i, t.to_string());
                while joined.ends_with('\\') && i + 1 < lines.len() {
                    joined.pop();
                    i += 1;
                    joined.push(' ');
                    joined.push_str(lines[i].trim());
                }
                found.push((start + 1, normalise(&strip_comment(&joined))));
            }
        } else {
            for (n, span) in line.split('`').enumerate() {
                if n % 2 == 1 && is_command(span.trim()) {
                    found.push((i + 1, normalise(span)));
                }
            }
        }
        i += 1;
    }
    found
}

fn all_lines() -> Result<Vec<Line>> {
    let mut by_command: BTreeMap<String, Line> = BTreeMap::new();
    let mut order = Vec::new();
    for file in markdown_files()? {
        let text = std::fs::read_to_string(repo_root().join(&file)).with_context(|| file.clone())?;
        for (n, command) in commands_in(&text) {
            by_command.entry(command.clone()).and_modify(|l| l.places += 1).or_insert_with(|| {
                order.push(command.clone());
                Line { command, at: format!("{file}:{n}"), places: 1 }
            });
        }
    }
    Ok(order.into_iter().map(|c| by_command[&c].clone()).collect())
}

enum Plan {
    Template,
    NotRun(&'static str),
    Read,
    Change(usize),
    Last(usize),
}

fn plan(command: &str) -> Plan {
    if TEMPLATE_MARKERS.iter().any(|m| command.contains(m)) {
        return Plan::Template;
    }
    if let Some((_, why)) = NOT_RUN.iter().find(|(p, _)| command.starts_with(p)) {
        return Plan::NotRun(why);
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    if words.iter().any(|w| *w == "grafana" || *w == "jaeger") {
        return Plan::NotRun("Grafana and Jaeger have no offline image (registry-only profile)");
    }
    if command == "docker compose up" {
        return Plan::NotRun("foreground: follows every log until Ctrl-C (`docker compose up -d --wait` is run)");
    }
    if let Some(i) = LAST_ORDER.iter().position(|p| command == *p || command.starts_with(&format!("{p} "))) {
        // Run order: make down, make up, the profile-wide down, make clean, down -v.
        let rank = [0, 1, 4, 2, 3][i];
        return Plan::Last(rank);
    }
    if let Some(i) = CHANGE_ORDER.iter().position(|p| command.starts_with(p)) {
        return Plan::Change(i);
    }
    Plan::Read
}

struct Outcome {
    ok: bool,
    code: i32,
    secs: f64,
    why: String,
    stdout: String,
}

/// The Debian index dates the stack's images were built for (.cache/images/debian-index-dates),
/// as build.sh's ZUFANG_*_DATE: `make up`, `make deploy` and `make images-*` then reuse those
/// images instead of rebuilding all of them when Debian publishes an update during the run.
fn pinned_index_dates() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join(".cache/images/debian-index-dates")).unwrap_or_default();
    let mut env = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(suite), Some(_url), Some(date)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if suite.ends_with("-security") {
            env.push(("ZUFANG_SECURITY_DATE".to_string(), date.to_string()));
        } else if suite.ends_with("-updates") {
            env.push(("ZUFANG_UPDATES_DATE".to_string(), date.to_string()));
        }
    }
    env
}

/// `bash -c COMMAND` in the repository root, no terminal, bounded.
fn run_line(command: &str, limit: Duration) -> Result<Outcome> {
    let t0 = Instant::now();
    let mut child = Command::new("timeout")
        .args([&format!("{}", limit.as_secs()), "bash", "-c", command])
        .envs(pinned_index_dates())
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = {
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        let o = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
        let e = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let status = child.wait()?;
        (status, o.join().unwrap_or_default(), e.join().unwrap_or_default())
    };
    let (status, stdout, stderr) = out;
    let code = status.code().unwrap_or(-1);
    let lower = stderr.to_lowercase();
    let broken = BROKEN.iter().find(|b| lower.contains(*b));
    // A pipeline that ends in grep answers "no match" with 1: an answer, not an error.
    let grep_no_match = code == 1 && last_pipeline_stage(command).starts_with("grep ");
    let ok = broken.is_none() && (code == 0 || grep_no_match);
    let tail = |s: &str| s.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
    let why = if ok {
        String::new()
    } else if code == 124 {
        format!("timed out after {limit:?}")
    } else {
        format!(
            "exit {code}{}; stderr: {}; stdout: {}",
            broken.map(|b| format!(" ({b})")).unwrap_or_default(),
            tail(&stderr),
            tail(&stdout)
        )
    };
    Ok(Outcome { ok, code, secs: t0.elapsed().as_secs_f64(), why, stdout })
}

/// What an operator used to plain Compose does: a bench run (its one-shots stay, finished; after
/// `make down` Compose first creates what they depend on), then `docker compose down` without
/// `--profile '*'`, which removes the network under them. Compose
/// would start those containers as they are and Docker refuses ("network ... not found"); the
/// `make up` that follows must leave the bench runnable.
fn strand_bench_one_shots() -> Result<()> {
    for command in [BENCH_PROBE, "docker compose down --timeout 20"] {
        let o = run_line(command, Duration::from_secs(300))?;
        ensure!(o.ok, "{command}: {}", o.why);
    }
    let left = run_line("docker compose --profile bench ps -a -q bench-account", Duration::from_secs(60))?;
    ensure!(!left.stdout.trim().is_empty(), "a plain down removed bench-account: the stranding no longer happens");
    Ok(())
}

/// The stack back up and healthy after a command that changed it (not counted as a doc line).
fn bring_back() -> Result<()> {
    let o = run_line("docker compose up -d --wait --wait-timeout 300", Duration::from_secs(330))?;
    if !o.ok {
        bail!("the stack did not come back: {}", o.why);
    }
    Ok(())
}

#[test]
fn every_documented_command_runs_as_written() -> Result<()> {
    let lines = all_lines()?;
    assert!(lines.len() > 50, "the docs' commands were not found ({} lines): is the parser broken?", lines.len());
    let (mut read, mut change, mut last, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        match plan(&line.command) {
            Plan::Template => skipped.push((line, "template: placeholders to fill in".to_string())),
            Plan::NotRun(why) => skipped.push((line, why.to_string())),
            Plan::Read => read.push(line),
            Plan::Change(i) => change.push((i, line)),
            Plan::Last(i) => last.push((i, line)),
        }
    }
    change.sort_by_key(|(i, _)| *i);
    last.sort_by_key(|(i, _)| *i);
    let (mut failed, mut figures) = (Vec::new(), Vec::new());
    let mut report = |line: &Line, phase: &str, o: &Outcome| {
        eprintln!(
            "{} {phase:<6} {:>6.1}s exit {:<3} {}  ({}{})",
            if o.ok { "ok  " } else { "FAIL" },
            o.secs,
            o.code,
            line.command,
            line.at,
            if line.places > 1 { format!(" +{} more", line.places - 1) } else { String::new() }
        );
        figures.push(
            serde_json::json!({"command": line.command, "at": line.at, "phase": phase, "ok": o.ok, "secs": o.secs}),
        );
        if !o.ok {
            eprintln!("     {}", o.why);
            failed.push(format!("{} ({}): {}", line.command, line.at, o.why));
        }
    };
    for line in &read {
        let o = run_line(&line.command, Duration::from_secs(300))?;
        report(line, "read", &o);
    }
    for (_, line) in &change {
        let o = run_line(&line.command, Duration::from_secs(900))?;
        report(line, "change", &o);
        bring_back()?;
    }
    let documented: Vec<String> = read.iter().chain(change.iter().map(|(_, l)| l)).map(|l| l.command.clone()).collect();
    let mut printed_run = 0;
    for (_, line) in &last {
        if line.command == "make up" {
            strand_bench_one_shots()?;
        }
        let o = run_line(&line.command, Duration::from_secs(900))?;
        report(line, "last", &o);
        if line.command == "make up" {
            // What `make up` prints for its user (commands between backticks): the read-only ones
            // the docs do not already hold run now, on the stack it just brought up.
            for (_, command) in commands_in(&o.stdout) {
                if documented.contains(&command) || !matches!(plan(&command), Plan::Read) {
                    continue;
                }
                let printed = Line { command, at: "printed by make up".into(), places: 1 };
                let p = run_line(&printed.command, Duration::from_secs(300))?;
                report(&printed, "printed", &p);
                printed_run += 1;
            }
            ensure!(o.stdout.contains("`make down`"), "make up printed no commands between backticks:\n{}", o.stdout);
            // The bench's one-shots stranded before `make up` were replaced: the profile starts.
            let probe = Line { command: BENCH_PROBE.into(), at: "after a plain down and make up".into(), places: 1 };
            let p = run_line(BENCH_PROBE, Duration::from_secs(300))?;
            report(&probe, "probe", &p);
        }
    }
    for (line, why) in &skipped {
        eprintln!("skip {:<6} {}  ({}): {why}", "", line.command, line.at);
    }
    let ran = read.len() + change.len() + last.len() + printed_run;
    eprintln!("{ran} documented commands run, {} failed; {} not run (reasons above)", failed.len(), skipped.len());
    record(
        "docs",
        &serde_json::json!({"test": "docs-commands", "ran": ran, "skipped": skipped.len(), "lines": figures}),
    );
    if !failed.is_empty() {
        bail!("{} documented command(s) do not work as written:\n{}", failed.len(), failed.join("\n"));
    }
    Ok(())
}

/// The last stage of a shell pipeline: after the last `|` outside quotes that is not part of `||`
/// (a grep pattern like 'vrrp|fault' belongs to its stage).
fn last_pipeline_stage(command: &str) -> &str {
    let mut quote = None::<char>;
    let mut start = 0;
    let mut prev = ' ';
    let mut it = command.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '|' && prev != '|' && it.peek().map(|&(_, n)| n) != Some('|') => start = i + 1,
            None => {}
        }
        prev = c;
    }
    command[start..].trim()
}

#[test]
fn a_grep_with_alternatives_is_the_last_stage() {
    assert_eq!(last_pipeline_stage("docker compose logs lb2 | grep -iE 'vrrp|fault'"), "grep -iE 'vrrp|fault'");
    assert_eq!(last_pipeline_stage("a | b \"x|y\" | grep z"), "grep z");
    assert_eq!(last_pipeline_stage("grep x f || true"), "grep x f || true");
    assert_eq!(last_pipeline_stage("ls"), "ls");
}

#[test]
fn the_parser_finds_fenced_continued_and_inline_commands() {
    let md = "Run `make backup` now.\n```sh\n$ docker compose ps   # all\nmake restore \\\n  UNTIL='x'\n```\nNot `ls` here.\n";
    let found: Vec<String> = commands_in(md).into_iter().map(|(_, c)| c).collect();
    assert_eq!(found, ["make backup", "docker compose ps", "make restore UNTIL='x'"]);
    assert_eq!(strip_comment("docker compose logs | grep '#x' # note"), "docker compose logs | grep '#x'");
    assert!(matches!(plan("docker compose exec <service> sh"), Plan::Template));
    assert!(matches!(plan("docker compose ps"), Plan::Read));
    assert!(matches!(plan("make clean"), Plan::Last(_)));
    assert!(matches!(plan("docker compose restart app1"), Plan::Change(_)));
}

#[test]
fn the_plan_covers_the_docs_and_tears_down_last() -> Result<()> {
    let lines = all_lines()?;
    let mut counts = BTreeMap::new();
    for line in &lines {
        let phase = match plan(&line.command) {
            Plan::Template => "template",
            Plan::NotRun(_) => "not-run",
            Plan::Read => "read",
            Plan::Change(_) => "change",
            Plan::Last(_) => "last",
        };
        eprintln!("{phase:<8} {}  ({})", line.command, line.at);
        *counts.entry(phase).or_insert(0) += 1;
    }
    eprintln!("{counts:?}");
    assert!(counts.get("read").copied().unwrap_or(0) > 30, "{counts:?}");
    for teardown in ["make clean", "make down", "docker compose --profile '*' down"] {
        assert!(matches!(plan(teardown), Plan::Last(_)), "{teardown} must run last");
    }
    // A plain `docker compose down` leaves the profiles' containers stranded (see
    // strand_bench_one_shots): the docs teach the profile-wide one.
    let plain: Vec<_> = lines.iter().filter(|l| l.command.starts_with("docker compose down")).collect();
    assert!(
        plain.is_empty(),
        "docs teach a plain `docker compose down` (use --profile '*'): {:?}",
        plain.iter().map(|l| &l.at).collect::<Vec<_>>()
    );
    Ok(())
}
