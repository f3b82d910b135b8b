"""bench/sysbench/host.sh and oltp.sh against this machine and the real local MariaDB."""
import json
import os
import subprocess

from helpers import ROOT, SYSBENCH, assert_results, group_alive, interrupt_when

HOST, OLTP = f"{SYSBENCH}/host.sh", f"{SYSBENCH}/oltp.sh"
OLTP_TESTS = ("oltp_point_select", "oltp_read_only", "oltp_read_write", "oltp_write_only")


def test_fileio_size_above_the_free_disk_share_is_refused(bench):
    r = bench.expect_rc(2, HOST, "--tests", "fileio", "--size", "100T", "--dir", bench.tmp,
                        "--out", bench.work / "refused")
    assert "free space" in r.stderr, r.stderr
    # A share of 1% refuses a size just above 1% of the free space, too (the knob works).
    st = os.statvfs(bench.tmp)
    free_mb = st.f_bavail * st.f_frsize // (1024 * 1024)
    bench.expect_rc(2, HOST, "--tests", "fileio", "--size", f"{free_mb // 100 + 16}M", "--max-disk-share", "1",
                    "--dir", bench.tmp, "--out", bench.work / "refused")
    assert not (bench.work / "refused").exists(), "refused run created its output dir"
    bench.no_leftovers()


def test_host_quick_measures_cpu_memory_fileio_threads_mutex(bench, host_quick):
    r, out = host_quick
    assert r.returncode == 0, r.stdout + r.stderr
    # cpu 2 + memory(read,write x 1M) 4 + fileio(seqrd,rndrw) 4 + threads 2 + mutex 2
    assert_results(out, rows=14, tests=("cpu", "memory", "fileio", "threads", "mutex"))
    bench.no_leftovers()
    assert list((out / "raw").glob("*.log")), "no raw logs"


def test_oltp_refuses_foreign_and_system_schemas_and_argv_passwords(bench):
    w = bench.work
    r = bench.expect_rc(2, OLTP, "--quick", "--schema", "zufang_bench_victim", "--out", w / "r1")
    assert "refusing" in r.stderr, r.stderr
    bench.expect_rc(2, OLTP, "--quick", "--schema", "mysql", "--force", "--out", w / "r2")
    bench.sql("DROP DATABASE IF EXISTS zufang_bench_victim; CREATE DATABASE zufang_bench_victim; "
              "CREATE TABLE zufang_bench_victim.keepme (id INT PRIMARY KEY); "
              "INSERT INTO zufang_bench_victim.keepme VALUES (7);")
    try:
        r = bench.expect_rc(2, OLTP, "--quick", "--schema", "zufang_bench_victim", "--force", "--out", w / "r3")
        assert "not sysbench's" in r.stderr, r.stderr
        bench.expect_rc(2, OLTP, "--schema", "zufang_bench_victim", "--force", "cleanup")
        assert bench.sql("SELECT id FROM zufang_bench_victim.keepme") == "7", "victim table touched"
        assert bench.sql("SELECT COUNT(*) FROM information_schema.tables "
                         "WHERE table_schema='zufang_bench_victim'") == "1"
    finally:
        bench.sql("DROP DATABASE IF EXISTS zufang_bench_victim")
    bench.expect_rc(2, OLTP, "--quick", "--password", "hunter2")
    bench.no_leftovers()


def test_oltp_quick_runs_4_tests_x_2_threads_without_the_password_in_argv(bench, oltp_quick):
    assert oltp_quick.returncode == 0, oltp_quick.log[-3000:]
    assert oltp_quick.sysbench_seen > 0, "sysbench never seen in the process listings"
    assert not oltp_quick.password_seen, f"password in the process listings: {oltp_quick.password_seen}"
    assert_results(oltp_quick.out, rows=8, tests=OLTP_TESTS)
    assert not bench.schema_exists("sbtest"), "schema sbtest left behind"
    bench.no_leftovers()


def test_p95_from_the_histogram_equals_sysbenchs_own(host_quick, oltp_quick):
    bad = []
    for path in (host_quick[1], oltp_quick.out):
        for r in json.loads((path / "results.json").read_text())["results"]:
            ref = r["extra"].get("sysbench_p95_ms")
            if ref is None or abs(ref - r["lat_p95_ms"]) > max(0.011, ref * 0.01):
                bad.append(f"{r['test']}@{r['threads']}: histogram p95 {r['lat_p95_ms']} vs sysbench {ref}")
    assert not bad, "\n".join(bad)


def test_oltp_prepare_run_cleanup_as_separate_steps(bench, oltp_quick):
    w = bench.work
    bench.ok(OLTP, "--quick", "--out", w / "p", "prepare")
    assert bench.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='sbtest'") == "2"
    bench.ok(OLTP, "--quick", "--tests", "oltp_point_select", "--threads", "1", "--duration", "1",
             "--out", w / "r", "run")
    assert_results(w / "r", rows=1, tests=("oltp_point_select",))
    assert bench.schema_exists("sbtest"), "'run' removed the schema"
    r = bench.expect_rc(2, OLTP, "--quick", "--out", w / "again", "all")  # already prepared
    assert "already has" in r.stderr, r.stderr
    bench.ok(OLTP, "--out", w / "c", "cleanup")
    assert not bench.schema_exists("sbtest"), "cleanup left schema sbtest"
    bench.no_leftovers()


def test_oltp_over_the_socket_with_socket_auth_needs_no_password(bench, oltp_quick):
    # The no-secret option from docs/benchmarking.md: a unix_socket-authenticated account (root of
    # this throwaway CI server) over the socket, --no-password. No password exists anywhere.
    sock = subprocess.run(["mariadb", "--protocol=socket", "--batch", "--skip-column-names", "-e",
                           "SELECT @@socket"], capture_output=True, text=True)
    assert sock.returncode == 0, f"no socket-auth root here: {sock.stderr}"
    sock, user = sock.stdout.strip(), subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    out = bench.work / "sock"
    bench.ok(OLTP, "--quick", "--socket", sock, "--user", user, "--no-password", "--tests", "oltp_point_select",
             "--threads", "1", "--duration", "1", "--out", out, unset=["MARIADB_PASSWORD_FILE"])
    doc = assert_results(out, rows=1, tests=("oltp_point_select",))
    assert doc["params"]["target"] == f"{user}@{sock}", doc["params"]
    assert not bench.schema_exists("sbtest"), "schema sbtest left behind"
    r = bench.expect_rc(2, OLTP, "--quick", unset=["MARIADB_PASSWORD_FILE"])  # stdin is /dev/null
    assert "no password" in r.stderr, r.stderr


def test_oltp_takes_passwords_with_blanks_quotes_hash_and_backslash(bench, oltp_quick):
    # sysbench's config file splits unquoted values at blanks and strips outer quotes; a password
    # with blanks, both quote kinds in turn, '#', '=' and a backslash must still get through.
    def root_sql(q):
        subprocess.run(["mariadb", "--protocol=socket", "-e", q], check=True, capture_output=True, text=True)
    failed = []
    try:
        for pw in ['p"w #x=y\\z', "a'b c", " lead and trail "]:
            (bench.work / "odd-pw").write_text(pw + "\n")
            esc = pw.replace("\\", "\\\\").replace("'", "\\'")
            root_sql(f"CREATE OR REPLACE USER 'bench_oddpw'@'127.0.0.1' IDENTIFIED BY '{esc}'; "
                     f"CREATE OR REPLACE USER 'bench_oddpw'@'localhost' IDENTIFIED BY '{esc}'; "
                     "GRANT ALL ON sbtest.* TO 'bench_oddpw'@'127.0.0.1'; "
                     "GRANT ALL ON sbtest.* TO 'bench_oddpw'@'localhost';")
            r = bench.run(OLTP, "--quick", "--user", "bench_oddpw", "--password-file", bench.work / "odd-pw",
                          "--tests", "oltp_point_select", "--threads", "1", "--duration", "1",
                          "--out", bench.work / "odd", unset=["MARIADB_PASSWORD_FILE"])
            if r.returncode != 0:
                failed.append(f"password [{pw}] failed:\n" + "\n".join(r.stderr.splitlines()[-5:]))
            subprocess.run(["rm", "-rf", str(bench.work / "odd")], check=True)
    finally:
        root_sql("DROP USER IF EXISTS 'bench_oddpw'@'127.0.0.1'; DROP USER IF EXISTS 'bench_oddpw'@'localhost'; "
                 "DROP DATABASE IF EXISTS sbtest")
    assert not failed, "\n".join(failed)


def test_oltp_ctrl_c_mid_run_exits_130_and_drops_the_schema(bench, oltp_quick):
    rc, log, _ = interrupt_when(bench, [OLTP, "--quick", "--duration", "60", "--tests", "oltp_read_only",
                                        "--threads", "2", "--out", bench.work / "oi"],
                                lambda text: "oltp_read_only threads=2" in text, "oi.log")
    assert rc == 130, f"exit {rc}, want 130\n{log}"
    assert not bench.schema_exists("sbtest"), "schema sbtest survived Ctrl-C"
    bench.no_leftovers()


def test_host_ctrl_c_mid_fileio_exits_130_and_removes_the_files(bench):
    def file_of(text):
        for line in text.splitlines():
            if "fileio: working in " in line:
                return line.split("fileio: working in ", 1)[1].split()[0]
        return None

    files = []

    def started(text):
        d = file_of(text)
        if "fileio_rndrw threads=1" in text and d and os.path.exists(f"{d}/test_file.0"):
            files.append(d)
            return True
        return False

    rc, log, pgid = interrupt_when(bench, [HOST, "--tests", "fileio", "--fileio-modes", "rndrw", "--threads", "1",
                                           "--duration", "60", "--size", "64M", "--out", bench.work / "int"],
                                   started, "int.log")
    assert rc == 130, f"exit {rc}, want 130\n{log}"
    assert not os.path.exists(files[0]), f"{files[0]} survived Ctrl-C"
    left = group_alive(pgid)
    assert not left, f"processes of the group survived:\n{left}"
    bench.no_leftovers()


def test_the_parser_rejects_truncated_sysbench_output(bench, oltp_quick):
    head = (oltp_quick.out / "raw/oltp_read_only-t1.log").read_text().splitlines(keepends=True)[:5]
    (bench.work / "trunc.log").write_text("".join(head))
    bench.expect_rc(3, "python3", ROOT / "bench/lib/benchlib.py", "sysbench", "--records", bench.work / "rec",
                    "--log", bench.work / "trunc.log", "--test", "oltp_read_only", "--threads", "1")
