"""Fixtures of the bench suite. Runs that several tests read (host.sh and oltp.sh --quick, the
HTTP sweep) happen once per session; the tests assert on what they left."""
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

from helpers import HTTP, ROOT, SYSBENCH, Bench

APP_PORT = int(os.environ.get("BENCH_APP_PORT", "18090"))


@pytest.fixture(scope="session")
def bench():
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-tests."))
    yield Bench(work)
    shutil.rmtree(work, ignore_errors=True)


@dataclass
class App:
    url: str
    log: pathlib.Path  # where the development SMS sender writes sign-up codes


@pytest.fixture(scope="session")
def app(bench):
    """A real zufang instance (scripts/ci/app-instance.sh, binary from $ZUFANG_BIN when set), or
    the one named by BENCH_APP_URL (its log by BENCH_APP_LOG)."""
    log = pathlib.Path(os.environ.get("BENCH_APP_LOG", ROOT / ".cache/app-bench.log"))
    if os.environ.get("BENCH_APP_URL"):
        yield App(os.environ["BENCH_APP_URL"], log)
        return
    # Another checkout's instance on the port would answer app-instance.sh's readiness probe
    # while ours failed to bind, and the tests would read the wrong log.
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", APP_PORT)) == 0:
            raise RuntimeError(f"port {APP_PORT} is taken by another process: set BENCH_APP_PORT")
    cmd = [str(ROOT / "scripts/ci/app-instance.sh"), "start", "bench", str(APP_PORT)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    try:
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed: {r.stderr[-1500:]}")
        yield App(f"http://127.0.0.1:{APP_PORT}", log)
    finally:
        subprocess.run([str(ROOT / "scripts/ci/app-instance.sh"), "stop", "bench"], cwd=ROOT,
                       capture_output=True)


@pytest.fixture(scope="session")
def host_quick(bench):
    out = bench.work / "host"
    return bench.run(f"{SYSBENCH}/host.sh", "--quick", "--out", out, nice=True), out


@dataclass
class OltpRun:
    returncode: int
    log: str
    out: pathlib.Path
    sysbench_seen: int   # process listings of the run's group that showed sysbench
    password_seen: list  # listings lines of the group that held the password


@pytest.fixture(scope="session")
def oltp_quick(bench):
    """oltp.sh --quick in a process group of its own, its listings sampled while it runs: only
    this run's processes are inspected (the test account's password is shared with other suites
    running on the same machine)."""
    assert not bench.schema_exists("sbtest"), "schema sbtest exists before the test; drop it"
    out, log = bench.work / "oltp", bench.work / "oltp.log"
    password = pathlib.Path(os.environ["MARIADB_PASSWORD_FILE"]).read_text().strip()
    seen, leaked = 0, []
    with open(log, "w") as f:
        p = subprocess.Popen(["nice", f"{SYSBENCH}/oltp.sh", "--quick", "--out", str(out)], cwd=ROOT,
                             env=bench.env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             process_group=0)
        while p.poll() is None:
            ps = subprocess.run(["ps", "-eo", "pgid=,args="], capture_output=True, text=True).stdout
            mine = [line.strip() for line in ps.splitlines() if line.split(None, 1)[0] == str(p.pid)]
            seen += any(" sysbench " in f" {line.split(None, 1)[-1]} " for line in mine)
            leaked += [line[:60] for line in mine if password in line]
            time.sleep(0.2)
    return OltpRun(p.returncode, log.read_text(), out, seen, leaked)


@pytest.fixture(scope="session")
def http_quick(bench, app):
    out = bench.work / "http"
    return bench.run(f"{HTTP}/load.sh", "--quick", "--url", app.url, "--report-interval", "1",
                     "--out", out, nice=True), out

