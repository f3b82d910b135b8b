"""zufang-openloop (bench/openloop) and load.sh --rate: the requests sent match rate x duration, as
counted by the server that received them; errors and statuses are counted; the report has its
columns. Against a small local server (counting what arrives) and the real app instance. No timed
assertions: counts and columns only."""
import json
import os
import pathlib
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import HTTP, ROOT, assert_results

LOAD = f"{HTTP}/load.sh"


@pytest.fixture(scope="module")
def openloop():
    """The binary run.sh built (OPENLOOP_BIN), else the workspace's release build."""
    path = os.environ.get("OPENLOOP_BIN") or str(ROOT / "target/release/zufang-openloop")
    assert os.access(path, os.X_OK), f"{path} is not built (bench/tests/run.sh builds it)"
    return path


class Counting(BaseHTTPRequestHandler):
    """200 for every path but /fail (503); counts the requests it answered."""
    protocol_version = "HTTP/1.1"
    seen = 0
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        with Counting.lock:
            Counting.seen += 1
        body = b'{"ok":true}'
        self.send_response(503 if self.path == "/fail" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def run(openloop, *args):
    r = subprocess.run([openloop, *map(str, args)], capture_output=True, text=True, timeout=60)
    line = next((x for x in r.stdout.splitlines() if x.startswith("OPENLOOP_JSON ")), None)
    return r, json.loads(line.split(" ", 1)[1]) if line else None


@pytest.mark.parametrize("keepalive", [True, False], ids=["keepalive", "new-connection-each"])
def test_the_server_receives_rate_times_duration_requests(openloop, server, keepalive):
    # 150 req/s for 4 s is 600 requests: the server must count 600 (+-2 %, not the 300 or 1,200
    # of a rate or duration off by 2x), and each got a 200 counted in the report.
    before = Counting.seen
    r, s = run(openloop, "--url", f"{server}/x", "--rate", 150, "--duration", 4, "--connections", 16,
               *([] if keepalive else ["--no-keepalive"]))
    assert r.returncode == 0 and s, r.stdout + r.stderr
    got = Counting.seen - before
    assert 588 <= got <= 612, f"the server saw {got} requests, want 600 +- 2 %"
    assert (s["requests"], s["answers"], s["errors"], s["status"]) == (600, 600, 0, {"2xx": 600}), s
    assert s["keepalive"] is keepalive, s


def test_the_report_has_the_percentile_columns_in_order(openloop, server):
    _, s = run(openloop, "--url", f"{server}/", "--rate", 50, "--duration", 2)
    lat = s["latency_ms"]
    assert set(lat) == {"mean", "p50", "p90", "p95", "p99", "p999", "max"}, lat
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
    assert {"rate", "duration_s", "connections", "requests", "answers", "errors", "error_kinds", "status",
            "rate_achieved", "elapsed_s"} <= set(s), s


def test_error_answers_and_refused_connections_are_counted(openloop, server, tmp_path):
    r, s = run(openloop, "--url", f"{server}/fail", "--rate", 20, "--duration", 1)
    assert r.returncode == 0 and s["status"] == {"5xx": 20} and s["errors"] == 0, s
    # Nothing listens on port 1: every request is a connect error, and without an answer the run
    # exits 1. The log has one line a request.
    log = tmp_path / "refused.csv"
    r, s = run(openloop, "--url", "http://127.0.0.1:1/", "--rate", 20, "--duration", 1, "--log", log)
    assert r.returncode == 1 and s["error_kinds"]["connect"] == 20 and s["answers"] == 0, s
    lines = log.read_text().splitlines()
    assert lines[0] == "seq,due_unix_s,latency_ms,outcome" and len(lines) == 21, lines[:3]
    assert all(line.endswith(",connect") for line in lines[1:]), lines[1:3]


def test_paths_are_sent_in_turn_and_auth_lines_need_a_token(openloop, server, tmp_path):
    paths = tmp_path / "paths"
    paths.write_text("/a\nAUTH /b\n")
    r, _ = run(openloop, "--url", server, "--rate", 10, "--duration", 1, "--paths", paths)
    assert r.returncode == 2 and "--token-file" in r.stderr, r.stderr
    token = tmp_path / "token"
    token.write_text("abc.def.ghi\n")
    r, s = run(openloop, "--url", server, "--rate", 10, "--duration", 1, "--paths", paths, "--token-file", token)
    assert r.returncode == 0 and s["answers"] == 10, r.stdout + r.stderr


@pytest.mark.parametrize("args,names", [
    (["--rate", "0", "--duration", "1"], "--rate"),
    (["--rate", "5", "--duration", "-1"], "--duration"),
    (["--rate", "5", "--duration", "1", "--connections", "0"], "--connections"),
    (["--rate", "5"], "--duration"),
])
def test_bad_options_exit_2_naming_the_option(openloop, server, args, names):
    r, _ = run(openloop, "--url", server, *args)
    assert r.returncode == 2 and names in r.stderr, r.stderr


def test_load_sh_rate_runs_the_api_mix_open_loop_against_the_app(bench, app, openloop):
    out = bench.work / "open"
    r = bench.run(LOAD, "--quick", "--warmup", "0", "--rate", "30", "--duration", "3", "--url", app.url,
                  "--out", out, env={"OPENLOOP_BIN": openloop}, nice=True)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = assert_results(out, rows=1, tests=("http_mix_open",))
    (row,) = doc["results"]
    x = row["extra"]
    assert (row["tool"], row["test"], x["rate_target"], x["requests"]) == ("openloop", "http_mix_open", 30, 90), row
    assert x["answers"] == 90 and row["errors"] == 0, x
    assert {"lat_p50_ms", "lat_p999_ms"} <= set(x) and row["lat_p99_ms"] >= x["lat_p50_ms"] > 0, x
    assert doc["params"]["mode"] == "open_loop", doc["params"]
    bench.no_leftovers()


def test_load_sh_rate_refuses_a_bad_rate(bench, app):
    r = bench.expect_rc(2, LOAD, "--rate", "fast", "--url", app.url)
    assert "fast" in r.stderr, r.stderr


def test_load_sh_rate_without_the_binary_or_cargo_exits_127_with_a_hint(bench, app):
    r = bench.expect_rc(127, LOAD, "--quick", "--rate", "10", "--url", app.url, "--out", bench.work / "nobin",
                        env={"OPENLOOP_BIN": "/nonexistent/zufang-openloop", "PATH": "/usr/bin:/bin"})
    assert "zufang-openloop" in r.stderr, r.stderr
    assert not pathlib.Path(bench.work / "nobin").exists()


def test_the_failover_table_counts_failures_per_trial(bench, tmp_path):
    # benchlib failover-trials on a hand-made run: two trials, a 404 and a timeout in the second.
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "trials.tsv").write_text("1\tlb1\tlb2\t1000.0\t480\n2\tlb2\tlb1\t1010.0\t1200\n")
    rows = ["seq,due_unix_s,latency_ms,outcome"]
    rows += [f"{i},{997 + i * 0.1:.1f},2.0,200" for i in range(200)]  # 997.0 .. 1016.9
    rows[150] = "149,1011.9,2.0,404"
    rows[160] = "159,1012.9,2000.0,timeout"
    (raw / "requests.csv").write_text("\n".join(rows) + "\n")
    (raw / "keepalived.log").write_text("Entering MASTER STATE\n" * 3)
    docs = tmp_path / "doc.md"
    docs.write_text("a\n<!-- failover-bench:begin -->\nold\n<!-- failover-bench:end -->\nb\n")
    bench.ok("python3", "bench/lib/benchlib.py", "failover-trials", "--dir", tmp_path, "--rate", "10", "--timeout",
             "2", "--template", "nginx/keepalived/keepalived.conf.tmpl", "--docs", docs)
    table = (tmp_path / "trials.md").read_text()
    assert "| 1 | lb1 | 480 ms | 100 | 0 |" in table, table
    assert "| 2 | lb2 | 1200 ms | 100 | 2 | 1 |" in table, table
    assert "1 of 2 within 1 s" in table and "2 (1.00 %)" in table, table
    assert "flapping): 0" in table and "VRRPv3" in table, table
    text = docs.read_text()
    assert text.startswith("a\n<!-- failover-bench:begin -->\n") and "old" not in text and text.endswith("b\n"), text
