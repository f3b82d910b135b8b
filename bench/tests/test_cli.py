"""Every script of bench/: shellcheck-clean, a usage on --help, exit 127 with a hint when its tool
is missing."""
import subprocess

import pytest

from helpers import HTTP, REPORT, ROOT, SYSBENCH

SCRIPTS = [f"{SYSBENCH}/host.sh", f"{SYSBENCH}/oltp.sh", f"{HTTP}/load.sh", REPORT, "bench/failover/hard-kill.sh",
           "bench/photos/photos.sh"]


def test_every_shell_script_is_shellcheck_clean():
    files = subprocess.run(["git", "ls-files", "bench/*.sh"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split()
    assert f"{SYSBENCH}/oltp.sh" in files and "bench/tests/run.sh" in files, files
    r = subprocess.run(["shellcheck", "-x", *files], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_a_usage_naming_out(bench, script):
    r = bench.ok(script, "--help")
    assert "usage" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert "--out" in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("script", [f"{HTTP}/performance.sh", "bench/tests/run.sh"])
def test_help_of_the_other_entry_points_lists_their_options(bench, script):
    r = bench.ok(script, "--help")
    assert "--quick" in r.stdout or "--image" in r.stdout, r.stdout + r.stderr


def test_a_missing_tool_exits_127_with_a_hint_and_no_output(bench):
    w = bench.work
    cases = [({"SYSBENCH": "/nonexistent/sysbench"}, [f"{SYSBENCH}/host.sh", "--quick", "--out", w / "x1"]),
             ({"SYSBENCH": "/nonexistent/sysbench"}, [f"{SYSBENCH}/oltp.sh", "--quick", "--out", w / "x2"]),
             ({"WRK": "/nonexistent/wrk"}, [f"{HTTP}/load.sh", "--quick", "--url", "http://127.0.0.1:18090",
                                            "--out", w / "x3"])]
    for env, args in cases:
        r = bench.expect_rc(127, *args, env=env)
        assert "not found" in r.stderr, r.stderr
        assert not args[-1].exists(), f"{args[-1]} created despite the error"
