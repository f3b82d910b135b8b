"""Shared by the bench tests: run a repository script as a user would (own TMPDIR, output
captured), the local MariaDB, and one reading of a results directory."""
import csv
import json
import os
import pathlib
import signal
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SYSBENCH = "bench/sysbench"
HTTP = "bench/http"
REPORT = "bench/report/report.sh"


class Bench:
    """The scripts run from the repository root with TMPDIR pointing at work/tmp, so whatever a
    script leaves behind there is visible to no_leftovers()."""

    def __init__(self, work: pathlib.Path):
        self.work = work
        self.tmp = work / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.env = {**os.environ, "TMPDIR": str(self.tmp)}
        self.client_cnf = work / "client.cnf"
        pw = pathlib.Path(os.environ["MARIADB_PASSWORD_FILE"]).read_text().strip()
        self.client_cnf.write_text(
            f'[client]\nuser={os.environ["MARIADB_USER"]}\npassword="{pw}"\n'
            f'host={os.environ["MARIADB_HOST"]}\nport={os.environ["MARIADB_PORT"]}\nprotocol=tcp\n')
        self.client_cnf.chmod(0o600)

    def environ(self, env=None, unset=()):
        e = {**self.env, **(env or {})}
        for k in unset:
            e.pop(k, None)
        return e

    def run(self, *args, env=None, unset=(), nice=False):
        """Run a command to its end; stdin is /dev/null, so a password prompt fails at once."""
        cmd = (["nice"] if nice else []) + [str(a) for a in args]
        return subprocess.run(cmd, cwd=ROOT, env=self.environ(env, unset), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"exit {r.returncode}: {' '.join(map(str, args))}\n{tail(r)}"
        return r

    def expect_rc(self, want, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == want, f"exit {r.returncode}, want {want}: {' '.join(map(str, args))}\n{tail(r)}"
        return r

    def no_leftovers(self):
        left = sorted(str(p) for p in self.tmp.iterdir())
        assert not left, f"left behind in TMPDIR: {left}"

    def sql(self, query):
        return subprocess.run(["mariadb", f"--defaults-extra-file={self.client_cnf}", "--batch",
                               "--skip-column-names", "-e", query],
                              check=True, capture_output=True, text=True).stdout.strip()

    def schema_exists(self, name):
        return bool(self.sql(f"SELECT 1 FROM information_schema.schemata WHERE schema_name='{name}'"))


def tail(r, n=25):
    out = (r.stdout or "") + (r.stderr or "")
    return "\n".join(out.splitlines()[-n:])


def assert_results(path, rows=None, min_rows=1, tests=(), container=False):
    """A results directory as the scripts write it: every row positive, p99 >= p95, the CSV
    matching the JSON. Outside a container also the machine profile and the tool's version;
    inside (the bench image) the profile must say so, and rows must carry no failed requests
    (wrk) or at most 5% retried deadlocks (sysbench's "ignored errors": oltp_write_only on two
    small tables has a few)."""
    path = pathlib.Path(path)
    doc = json.loads((path / "results.json").read_text())
    got = doc["results"]
    with open(path / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    errs = []
    if rows is not None and len(got) != rows:
        errs.append(f"{len(got)} rows, want {rows}")
    if len(got) < min_rows:
        errs.append(f"{len(got)} rows, want >= {min_rows}")
    if len(csv_rows) != len(got):
        errs.append(f"csv has {len(csv_rows)} rows, json {len(got)}")
    errs += [f"csv row {c.get('test')}: throughput {c.get('throughput')!r}"
             for c in csv_rows if not float(c.get("throughput") or 0) > 0]
    for r in got:
        for k in ("throughput", "lat_avg_ms", "lat_p95_ms", "lat_p99_ms", "duration_s"):
            if not (isinstance(r.get(k), (int, float)) and r[k] > 0):
                errs.append(f"{r['test']}@{r['threads']}: {k}={r.get(k)!r} not positive")
        if r["lat_p99_ms"] < r["lat_p95_ms"]:
            errs.append(f"{r['test']}: p99 < p95")
        if r.get("qps") is not None and r["qps"] < r["throughput"]:
            errs.append(f"{r['test']}: qps < tps")
        if container:
            limit = 0 if r["tool"] == "wrk" else 0.05 * r["extra"]["events"]
            if r["errors"] > limit:
                errs.append(f"{r['test']}@{r['threads']}: {r['errors']} errors, at most {limit}")
    names = {r["test"] for r in got} | {r["test"].split("_")[0] for r in got}
    if not set(tests) <= names:
        errs.append(f"tests {sorted(names)} lack {sorted(set(tests) - names)}")
    profile = doc["profile"]
    if container:
        if profile.get("container") is not True:
            errs.append(f"profile does not say container: {profile}")
    else:
        errs += [f"profile lacks {k}" for k in ("cpu_model", "cpu_cores_usable", "memory_mib", "kernel")
                 if not profile.get(k)]
        tool = "sysbench" if got and got[0]["tool"] == "sysbench" else "wrk"
        if not profile.get("versions", {}).get(tool):
            errs.append("profile lacks the tool version")
    assert not errs, "\n".join(errs)
    return doc


def interrupt_when(bench, args, started, log_name):
    """Start ARGS as a job typed at a terminal would run (its own process group, SIGINT not
    ignored: `env --default-signal=INT` undoes an ignore inherited from whatever started this
    suite in the background, a CI runner; a signal ignored on entry cannot be trapped by bash),
    wait until STARTED(log text) holds, then press Ctrl-C: SIGINT to the whole group.
    Returns (exit status, log text, pgid)."""
    log = bench.work / log_name
    with open(log, "w") as f:
        p = subprocess.Popen(["env", "--default-signal=INT", *map(str, args)], cwd=ROOT, env=bench.env,
                             stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, process_group=0)
    try:
        for _ in range(120):
            if started(log.read_text()):
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"the run did not start:\n{log.read_text()}")
        time.sleep(1)
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return rc, log.read_text(), p.pid


def group_alive(pgid):
    """Whether any process of the group is left, after a few seconds' grace."""
    for _ in range(6):
        if subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode != 0:
            return ""
        time.sleep(0.5)
    return subprocess.run(["pgrep", "-a", "-g", str(pgid)], capture_output=True, text=True).stdout
