"""The compose `bench` profile without the compose stack (bench/tests/run.sh --image): builds the
bench image on the offline Debian base and runs the real scripts in it, against the host's MariaDB
and a real app instance (127.0.0.1:$BENCH_TEST_PORT), and the profile's accounts against the
offline MariaDB image with a real secrets volume. Needs Docker."""
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest

from helpers import HTTP, REPORT, ROOT, SYSBENCH, assert_results

IMAGE = "zufang-offline/bench:test"
PORT = os.environ.get("BENCH_TEST_PORT", "18191")
KEEP = os.environ.get("BENCH_TEST_KEEP") == "1"
SUFFIX = secrets.token_hex(4)
SCHEMA = f"sbtest_img_{SUFFIX}"
ENV = {**os.environ, "DOCKER_BUILDKIT": "0"}


def sh(*args, check=True, env=None):
    r = subprocess.run([str(a) for a in args], cwd=ROOT, env={**ENV, **(env or {})}, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {' '.join(map(str, args))}\n{(r.stdout + r.stderr)[-3000:]}")
    return r


def offline_tag(pattern=None):
    """A tag `scripts/images/build.sh --list --no-app` maps the current inputs to: the first (the
    Debian base) or the first containing PATTERN."""
    tags = sh("scripts/images/build.sh", "--list", "--no-app").stdout.split()
    return next(t for t in tags if pattern is None or pattern in t)


def docker_build(tag, base, dockerfile, context, log):
    (ROOT / ".cache/images").mkdir(parents=True, exist_ok=True)
    with open(ROOT / ".cache/images" / log, "w") as f:
        r = subprocess.run(["nice", "docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}",
                            "-t", tag, "-f", dockerfile, context], cwd=ROOT, env=ENV, stdout=f,
                           stderr=subprocess.STDOUT)
    assert r.returncode == 0, f"docker build of {tag} failed: .cache/images/{log}"


def have_image(tag):
    return sh("docker", "image", "inspect", tag, check=False).returncode == 0


@pytest.fixture(scope="module")
def base():
    tag = offline_tag()
    if not have_image(tag):  # debootstrap, once
        sh("nice", "scripts/images/base/mkrootfs.sh", tag)
    return tag


@pytest.fixture(scope="module")
def image(base):
    docker_build(IMAGE, base, "bench/image/Dockerfile", "bench/image", "bench-test.log")
    return IMAGE


@pytest.fixture(scope="module")
def work():
    w = pathlib.Path(tempfile.mkdtemp(prefix="bench-image-tests."))
    w.chmod(0o755)
    # The test account's password, readable by the container's uid 10010 (a copy, mode 0444, in
    # the private work directory; the original stays 0600); results written by uid 10010.
    (w / "secrets").mkdir(mode=0o755)
    shutil.copy(os.environ["MARIADB_PASSWORD_FILE"], w / "secrets/mariadb_password")
    (w / "secrets/mariadb_password").chmod(0o444)
    (w / "out").mkdir()
    (w / "out").chmod(0o777)
    yield w
    if KEEP:
        print(f"kept {w} and the app instance benchimg")
    else:
        shutil.rmtree(w, ignore_errors=True)


@pytest.fixture(scope="module")
def app_url():
    r = sh("nice", "scripts/ci/app-instance.sh", "start", "benchimg", PORT, check=False)
    try:
        assert r.returncode == 0, f"app-instance start failed (.cache/app-benchimg.log): {r.stderr[-1500:]}"
        yield f"http://127.0.0.1:{PORT}"
    finally:
        if not KEEP:
            sh("scripts/ci/app-instance.sh", "stop", "benchimg", check=False)


def bench_run(image, work, *args):
    """The image as compose.yaml runs it, but on the host network (host MariaDB, the app
    instance): bench/ read-only, results in work/out (= bench-results/ inside)."""
    return sh("docker", "run", "--rm", "--network", "host", "-v", f"{ROOT}/bench:/bench/bench:ro",
              "-v", f"{work}/out:/bench/bench-results", "-v", f"{work}/secrets:/run/bench-secrets:ro",
              "-e", f"MARIADB_HOST={os.environ['MARIADB_HOST']}", "-e", f"MARIADB_PORT={os.environ['MARIADB_PORT']}",
              "-e", f"MARIADB_USER={os.environ['MARIADB_USER']}",
              "-e", "MARIADB_PASSWORD_FILE=/run/bench-secrets/mariadb_password", image, *args, check=False)


def test_image_runs_as_10010_in_bench_with_every_tool_the_scripts_call(image):
    assert sh("docker", "image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip() == "10010:10010"
    assert sh("docker", "image", "inspect", "-f", "{{.Config.WorkingDir}}", image).stdout.strip() == "/bench"
    sh("docker", "run", "--rm", image, "bash", "-c", """
        set -e
        [[ $(id -u) == 10010 ]]
        sysbench --version | grep -q "^sysbench 1\\."
        wrk --version 2>&1 | grep -q "^wrk .*4\\.[0-9]"
        mariadb --version
        python3 -c "import matplotlib; print(matplotlib.__version__)"
        for c in gawk free tail mktemp df nproc timeout curl; do command -v "$c" >/dev/null || { echo "missing $c"; exit 1; }; done
        [[ -w bench-results ]]""")
    size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", image).stdout)
    print(f"size: {size // 1000000} MB")


def test_dockerfile_passes_hadolint_at_info_level_and_the_runtime_scripts_shellcheck():
    venv = sh("scripts/ci/venv.sh", "hadolint", "scripts/images/lint-requirements.txt").stdout.strip()
    sh(f"{venv}/bin/hadolint", "--failure-threshold", "info", "bench/image/Dockerfile")
    sh("shellcheck", "-x", "scripts/images/runtime/mysql-bench-user.sh", "scripts/images/runtime/init-secrets.sh")


def compose_config(*args):
    # -p: a project name of its own, so nothing here can refer to the lead's `zufang` project.
    return sh("docker", "compose", "-p", "benchcheck", "-f", "compose.yaml", *args,
              env={"BENCH_IMAGE": "zufang/bench:local"}).stdout


@pytest.fixture(scope="module")
def services():
    return json.loads(compose_config("--profile", "bench", "config", "--format", "json"))["services"]


def test_compose_bench_profile_sets_networks_mounts_env_and_the_mysql_initdb_line(services):
    b = services["bench"]
    assert b["profiles"] == ["bench"] and b["image"] == "zufang/bench:local", b
    assert b["build"]["context"] == str(ROOT / "bench/image"), b["build"]
    assert set(b["networks"]) == {"edge", "backend"}, b["networks"]
    assert b["restart"] == "no", b
    vols = {v["target"]: v for v in b["volumes"]}
    assert vols["/bench/bench"].get("read_only") is True, vols
    assert vols["/bench/bench"]["source"] == str(ROOT / "bench"), vols
    assert vols["/bench/bench-results"]["source"].endswith("/bench-results"), vols
    assert vols["/run/stack-secrets/bench"].get("read_only") is True, vols
    assert vols["/run/stack-secrets/bench"]["source"].endswith("secrets-bench"), vols
    env = b["environment"]
    assert env["MARIADB_HOST"] == "mysql" and env["MARIADB_USER"] == "bench", env
    assert env["MARIADB_PASSWORD_FILE"] == "/run/stack-secrets/bench/mariadb_password", env
    assert env["LOAD_URL"] == "http://172.28.10.100", env
    assert b["depends_on"]["bench-account"]["condition"] == "service_completed_successfully", b
    a = services["bench-account"]
    assert a["profiles"] == ["bench"] and "create-user" in a["entrypoint"][-1], a
    targets = [v["target"] for v in services["mysql"]["volumes"]]
    assert "/docker-entrypoint-initdb.d/20-bench-user.sh" in targets, targets
    assert "/docker-entrypoint-initdb.d/10-exporter-user.sh" in targets, "the exporter initdb line is gone"
    # Without the profile the two services stay out of a plain `up`.
    plain = compose_config("config", "--services").split()
    assert "bench" not in plain and "bench-account" not in plain, plain


def test_oltp_quick_in_the_image_needs_no_flags_and_cleans_up(image, work):
    # No connection flags: host, user and password file come from the environment, as in compose.
    # A schema of its own (--force): other test areas use `sbtest` on the same server meanwhile.
    r = bench_run(image, work, f"{SYSBENCH}/oltp.sh", "--quick", "--schema", SCHEMA, "--force",
                  "--out", "bench-results/oltp")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert_results(work / "out/oltp", min_rows=8, container=True)
    left = sh("mariadb", "--protocol=socket", "-N", "-e", f"SHOW DATABASES LIKE '{SCHEMA}'").stdout.strip()
    assert not left, f"{SCHEMA} left behind"


def test_oltp_in_the_image_refuses_another_schema_and_writes_nothing(image, work):
    r = bench_run(image, work, f"{SYSBENCH}/oltp.sh", "--quick", "--schema", "zufang_benchimg",
                  "--out", "bench-results/refused")
    assert r.returncode == 2, f"exit {r.returncode}, expected 2"
    assert not (work / "out/refused").exists(), "a refused run wrote results"


def test_load_quick_in_the_image_logs_in_and_sends_the_jwt_on_half_the_requests(image, work, app_url):
    # The API account the way compose's bench-account creates it: `zufang create-user`, password
    # from the environment (here the instance's own settings, from app-instance.sh). One line with
    # its newline, as secrets-init writes it (`read` fails on a last line without).
    pw = work / "secrets/api_password"
    pw.write_text(secrets.token_urlsafe(18) + "\n")
    pw.chmod(0o444)
    sh(os.environ["ZUFANG_BIN"], "create-user", "--username", "bench", "--tel", "19900000000", "--role", "user",
       env={"ZUFANG_CONFIG_DIR": str(ROOT / "app/config"), "ZUFANG_ENV": "development",
            "ZUFANG_SECRETS_DIR": str(work / "no-secrets"),
            "ZUFANG__DATABASE__HOST": os.environ["MARIADB_HOST"], "ZUFANG__DATABASE__PORT": os.environ["MARIADB_PORT"],
            "ZUFANG__DATABASE__USERNAME": os.environ["MARIADB_USER"], "ZUFANG__DATABASE__NAME": "zufang_benchimg",
            "ZUFANG__DATABASE__PASSWORD": pathlib.Path(os.environ["MARIADB_PASSWORD_FILE"]).read_text().strip(),
            "ZUFANG_NEW_USER_PASSWORD": pw.read_text().rstrip("\n")})
    r = bench_run(image, work, f"{HTTP}/load.sh", "--quick", "--url", app_url, "--user", "bench",
                  "--password-file", "/run/bench-secrets/api_password", "--auth-share", "0.5",
                  "--out", "bench-results/http")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    doc = assert_results(work / "out/http", min_rows=2, container=True)
    assert doc["params"]["authenticated"] == "yes", doc["params"]
    assert all(r["extra"]["authenticated_share"] for r in doc["results"]), [r["extra"] for r in doc["results"]]


def test_host_quick_in_the_image_measures_cpu_memory_fileio_threads_mutex(image, work):
    # The machine as the container sees it; file I/O in the container's /tmp (its writable layer).
    r = bench_run(image, work, f"{SYSBENCH}/host.sh", "--quick", "--out", "bench-results/host")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert_results(work / "out/host", min_rows=5, tests=("cpu", "memory", "fileio", "threads", "mutex"),
                   container=True)


def test_report_in_the_image_writes_markdown_showing_its_pngs(image, work):
    for d in ("oltp", "http", "host"):
        assert (work / f"out/{d}/results.json").stat().st_size, f"needs the {d} results of the tests above"
    r = bench_run(image, work, REPORT, "bench-results/oltp", "bench-results/http", "bench-results/host",
                  "--out", "bench-results/report")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    md = (work / "out/report/report.md").read_text()
    assert len(md) > 200, "report.md nearly empty"
    pngs = sorted((work / "out/report").glob("*.png"))
    for f in pngs:
        assert f.read_bytes()[:4] == b"\x89PNG", f"{f} is not a PNG"
        assert f.name in md, f"report.md does not show {f.name}"
    assert len(pngs) >= 4, f"only {len(pngs)} PNGs"


@pytest.fixture(scope="module")
def stack_db(base, work):
    """secrets-init (init-secrets.sh) on a fresh volume, then the offline MariaDB image's first
    start with both initdb scripts of compose.yaml. Yields (container, volume)."""
    mariadb_image = offline_tag("/mariadb:")
    if not have_image(mariadb_image):
        docker_build(mariadb_image, base, "scripts/images/mariadb/Dockerfile", "scripts/images/mariadb",
                     "bench-test-mariadb.log")
    vol, ctr = f"bench-test-secrets-{SUFFIX}", f"bench-test-mariadb-{SUFFIX}"
    sh("docker", "volume", "create", vol)
    try:
        sh("docker", "run", "--rm", "--network", "none", "-v", f"{vol}:/secrets",
           "-v", f"{ROOT}/scripts/images/runtime/init-secrets.sh:/init-secrets.sh:ro", base, "bash",
           "/init-secrets.sh", "/secrets")
        sh("docker", "run", "-d", "--name", ctr, "-v", f"{vol}:/run/stack-secrets:ro",
           "-e", "MARIADB_ROOT_PASSWORD_FILE=/run/stack-secrets/mysql/root_password", "-e", "MARIADB_DATABASE=zufang",
           "-e", "MARIADB_USER=zufang", "-e", "MARIADB_PASSWORD_FILE=/run/stack-secrets/mysql/database_password",
           "-v", f"{ROOT}/scripts/images/runtime/mysql-initdb-sql.sh:/docker-entrypoint-initdb.d/00-zufang-sql.sh:ro",
           "-v", f"{ROOT}/scripts/images/runtime/mysql-exporter-user.sh:/docker-entrypoint-initdb.d/10-exporter-user.sh:ro",
           "-v", f"{ROOT}/scripts/images/runtime/mysql-bench-user.sh:/docker-entrypoint-initdb.d/20-bench-user.sh:ro",
           mariadb_image, "mariadbd", "--max-connections=50", "--innodb-buffer-pool-size=64M")
        for _ in range(90):
            if sh("docker", "exec", ctr, "healthcheck.sh", "--connect", "--innodb_initialized",
                  check=False).returncode == 0:
                break
            time.sleep(1)
        else:
            raise AssertionError("MariaDB not healthy:\n" + sh("docker", "logs", "--tail", "30", ctr, check=False).stderr)
        yield ctr, vol
    finally:
        sh("docker", "rm", "-f", ctr, check=False)
        sh("docker", "volume", "rm", vol, check=False)


def in_db(image, work, stack_db, *args):
    ctr, vol = stack_db
    return sh("docker", "run", "--rm", "--network", f"container:{ctr}", "-v", f"{vol}:/run/stack-secrets:ro",
              "-v", f"{ROOT}/bench:/bench/bench:ro", "-v", f"{work}/out:/bench/bench-results",
              "-e", "MARIADB_HOST=127.0.0.1", "-e", "MARIADB_PORT=3306", "-e", "MARIADB_USER=bench",
              "-e", "MARIADB_PASSWORD_FILE=/run/stack-secrets/bench/mariadb_password", image, *args, check=False)


def test_the_bench_account_of_the_offline_mariadb_runs_oltp_in_sbtest_only(image, work, stack_db):
    ctr = stack_db[0]
    logs = sh("docker", "logs", ctr)
    assert "initdb: bench account ready" in logs.stdout + logs.stderr, "initdb did not create the account"
    r = in_db(image, work, stack_db, f"{SYSBENCH}/oltp.sh", "--quick", "--tests", "oltp_read_write",
              "--threads", "2", "--out", "bench-results/stack-oltp")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert_results(work / "out/stack-oltp", min_rows=1, container=True)
    # The password is read as uid 10010 inside the container, where the file is.
    r = in_db(image, work, stack_db, "bash", "-c",
              'mariadb --defaults-extra-file=<(printf "[client]\\npassword=\\"%s\\"\\n" '
              '"$(head -n 1 "$MARIADB_PASSWORD_FILE")") -h 127.0.0.1 -u bench '
              '-e "SELECT COUNT(*) FROM zufang._sqlx_migrations"')
    assert r.returncode != 0 and "denied" in r.stdout + r.stderr, f"bench reached the zufang database: {r}"
    # The by-hand path for a volume initialised before the profile existed: idempotent.
    assert "bench account ready" in sh("docker", "exec", ctr, "bash", "/docker-entrypoint-initdb.d/20-bench-user.sh").stdout
    assert "docker compose exec mysql" in sh("docker", "exec", ctr, "bash",
                                             "/docker-entrypoint-initdb.d/20-bench-user.sh", "--help").stdout


def test_the_bench_account_one_shot_creates_the_api_user_twice(base, services, stack_db):
    # compose.yaml's entrypoint and environment, verbatim, after `zufang migrate` like the stack's;
    # the binary is the one the runner built (the stack's app image carries the same code), run as
    # the app image's uid 10001 on the Debian base, read-only, production settings.
    ctr, vol = stack_db
    entry = services["bench-account"]["entrypoint"][-1]
    run = ["docker", "run", "--rm", "--network", f"container:{ctr}", "--read-only", "--user", "10001:10001",
           "-v", f"{vol}:/run/stack-secrets:ro", "-v", f"{os.environ['ZUFANG_BIN']}:/usr/local/bin/zufang:ro",
           "-v", f"{ROOT}/app/config:/app/config:ro", "-e", "ZUFANG_ENV=production", "-e", "ZUFANG_CONFIG_DIR=/app/config",
           "-e", "ZUFANG__SMS__ALLOW_LOG_SENDER_IN_PRODUCTION=true",
           "-e", "ZUFANG_SECRETS_DIR=/run/stack-secrets/app", "-e", "ZUFANG__DATABASE__HOST=127.0.0.1", base]
    sh(*run, "zufang", "migrate")
    for _ in range(2):  # twice: the second run must succeed too (idempotent)
        sh(*run, "sh", "-c", entry)
    n = sh("docker", "exec", ctr, "bash", "-c", 'mariadb -uroot -p"$(cat /run/stack-secrets/mysql/root_password)" '
           '-N -e "SELECT COUNT(*) FROM zufang.users WHERE username=\\"bench\\""').stdout.strip()
    assert n == "1", f"users named bench: {n!r}"
