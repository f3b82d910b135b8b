#!/usr/bin/env bash
# Tests of the compose `bench` profile without the compose stack: builds the bench image on the
# offline Debian base and runs the real scripts in it, against the host's MariaDB and a real app
# instance (127.0.0.1:18191), and the profile's accounts against the offline MariaDB image.
#   scripts/images/bench/tests/run.sh          all checks, summary "N passed, M failed"
# Environment: BENCH_TEST_PORT (18191), BENCH_TEST_KEEP=1 (keep the work dir and the app).
set -euo pipefail

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
[[ $# -eq 0 ]] || { usage >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)
cd "$root"
here=scripts/images/bench
: "${BENCH_TEST_PORT:=18191}"
: "${BENCH_TEST_KEEP:=0}"
export DOCKER_BUILDKIT=0
log() { printf '%s bench-tests: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- prerequisites ------------------------------------------------------------------------
scripts/ci/apt.sh shellcheck python3-venv curl >&2
scripts/ci/docker.sh >&2
eval "$(scripts/ci/services.sh --env)"

suffix=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-tests.XXXXXX")
chmod 755 "$work"
db_ctr="" vol="bench-test-secrets-$suffix"
cleanup() {
  # The checks run in subshells: the MariaDB container's id is passed on in a file.
  db_ctr=$(cat "$work/db_ctr" 2>/dev/null || true)
  [[ -n $db_ctr ]] && docker rm -f "$db_ctr" >/dev/null 2>&1
  docker volume rm "$vol" >/dev/null 2>&1 || true
  if [[ $BENCH_TEST_KEEP == 1 ]]; then
    log "kept $work and the app instance benchimg"
  else
    scripts/ci/app-instance.sh stop benchimg || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# --- the image ----------------------------------------------------------------------------
base=$(scripts/images/build.sh --list --no-app 2>/dev/null | awk 'NR == 1')
if ! docker image inspect "$base" >/dev/null 2>&1; then
  log "building the Debian base $base (debootstrap, once)"
  nice scripts/images/base/mkrootfs.sh "$base" >&2
fi
image=zufang-offline/bench:test
log "building $image on $base (log: .cache/images/bench-test.log)"
mkdir -p .cache/images
if ! nice docker build --network host --build-arg "BASE_IMAGE=$base" -t "$image" \
    -f "$here/Dockerfile" "$here" >.cache/images/bench-test.log 2>&1; then
  tail -n 30 .cache/images/bench-test.log >&2
  echo "0 passed, 1 failed"; exit 1
fi

log "app instance benchimg on 127.0.0.1:$BENCH_TEST_PORT"
app_error=""
nice scripts/ci/app-instance.sh start benchimg "$BENCH_TEST_PORT" >&2 || app_error="app-instance start failed (.cache/app-benchimg.log)"
app_url=http://127.0.0.1:$BENCH_TEST_PORT

# The test account's password file, readable by the container's uid 10010 (a copy, mode 0444,
# in the private work directory; the original stays 0600).
install -d -m 0755 "$work/secrets"
install -m 0444 "$MARIADB_PASSWORD_FILE" "$work/secrets/mariadb_password"
# Result folders are written by uid 10010.
install -d -m 0777 "$work/out"

# bench_run ARGS...: the image as compose.yaml runs it, but on the host network (host MariaDB,
# the app instance), scripts read-only, results in $work/out (= bench-results/ inside).
bench_run() {
  docker run --rm --network host \
    -v "$root/scripts:/bench/scripts:ro" -v "$work/out:/bench/bench-results" \
    -v "$work/secrets:/run/bench-secrets:ro" \
    -e MARIADB_HOST="$MARIADB_HOST" -e MARIADB_PORT="$MARIADB_PORT" -e MARIADB_USER="$MARIADB_USER" \
    -e MARIADB_PASSWORD_FILE=/run/bench-secrets/mariadb_password \
    "$image" "$@"
}

# check_results DIR MIN_ROWS: results.json rows with positive throughput/latencies, no errors,
# as many CSV rows, measured inside a container.
check_results() {
  python3 - "$1" "$2" <<'PY'
import csv, json, sys
d, n = sys.argv[1], int(sys.argv[2])
doc = json.load(open(f"{d}/results.json"))
rows = doc["results"]
assert len(rows) >= n, f"{len(rows)} rows, expected >= {n}"
for r in rows:
    assert r["throughput"] > 0 and r["lat_avg_ms"] > 0 and r["lat_p95_ms"] > 0, r
    assert r["lat_p99_ms"] >= r["lat_p95_ms"], r
    # wrk: every error is a failed request; sysbench: "ignored errors" are deadlocks it retried
    # (oltp_write_only on 2 small tables has a few), so at most 5% of the transactions.
    limit = 0 if r["tool"] == "wrk" else 0.05 * r["extra"]["events"]
    assert r["errors"] <= limit, r
assert doc["profile"]["container"] is True, doc["profile"]
csv_rows = list(csv.DictReader(open(f"{d}/results.csv")))
assert len(csv_rows) == len(rows) and all(float(c["throughput"]) > 0 for c in csv_rows), csv_rows
print(f"  {len(rows)} rows, e.g. {rows[0]['test']} {rows[0]['throughput']} {rows[0]['unit']}")
PY
}

passed=0 failed=0
check() { # check NAME FUNCTION
  local name=$1 fn=$2 t0=$SECONDS pid
  log "--- $name"
  # In the background, not in the `if`: bash ignores `set -e` inside an if condition, and every
  # step of a check must count.
  "$fn" >"$work/$fn.log" 2>&1 &
  pid=$!
  if wait "$pid"; then
    passed=$((passed + 1)); log "ok   $name ($((SECONDS - t0))s)"
  else
    failed=$((failed + 1)); log "FAIL $name ($((SECONDS - t0))s); last lines:"; tail -n 25 "$work/$fn.log" >&2
  fi
}

# --- checks -------------------------------------------------------------------------------
t_image_contract() {
  local user
  user=$(docker image inspect -f '{{.Config.User}}' "$image")
  [[ $user == 10010:10010 ]] || { echo "image user '$user', expected 10010:10010"; return 1; }
  [[ $(docker image inspect -f '{{.Config.WorkingDir}}' "$image") == /bench ]] || { echo "workdir is not /bench"; return 1; }
  docker run --rm "$image" bash -c '
    set -e
    [[ $(id -u) == 10010 ]]
    sysbench --version | grep -q "^sysbench 1\."
    wrk --version 2>&1 | grep -q "^wrk .*4\.[0-9]"
    mariadb --version
    python3 -c "import matplotlib; print(matplotlib.__version__)"
    for c in gawk free tail mktemp df nproc timeout curl; do command -v "$c" >/dev/null || { echo "missing $c"; exit 1; }; done
    [[ -w bench-results ]]'
  echo "size: $(( $(docker image inspect -f '{{.Size}}' "$image") / 1000000 )) MB"
}

t_lint() {
  local hadolint
  hadolint="$(scripts/ci/venv.sh hadolint scripts/images/lint-requirements.txt)/bin/hadolint"
  "$hadolint" --failure-threshold info "$here/Dockerfile"
  shellcheck "$here/tests/run.sh" scripts/images/runtime/mysql-bench-user.sh scripts/images/runtime/init-secrets.sh
}

t_compose_bench_profile() {
  # -p: a project name of its own, so nothing here can refer to the lead's `zufang` project.
  BENCH_IMAGE=zufang/bench:local docker compose -p benchcheck -f compose.yaml \
    --profile bench config --format json >"$work/config.json"
  python3 - "$work/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["services"]
b = c["bench"]
assert b["profiles"] == ["bench"] and b["image"] == "zufang/bench:local", b
assert set(b["networks"]) == {"edge", "backend"}, b["networks"]
assert b["restart"] == "no", b
vols = {v["target"]: v for v in b["volumes"]}
assert vols["/bench/scripts"].get("read_only") is True, vols
assert vols["/bench/bench-results"]["source"].endswith("/bench-results"), vols
assert vols["/run/stack-secrets"].get("read_only") is True, vols
env = b["environment"]
assert env["MARIADB_HOST"] == "mysql" and env["MARIADB_USER"] == "bench", env
assert env["MARIADB_PASSWORD_FILE"] == "/run/stack-secrets/bench/mariadb_password", env
assert env["LOAD_URL"] == "http://172.28.10.100", env
assert b["depends_on"]["bench-account"]["condition"] == "service_completed_successfully", b
a = c["bench-account"]
assert a["profiles"] == ["bench"] and "create-user" in a["entrypoint"][-1], a
targets = [v["target"] for v in c["mysql"]["volumes"]]
assert "/docker-entrypoint-initdb.d/20-bench-user.sh" in targets, targets
assert "/docker-entrypoint-initdb.d/10-exporter-user.sh" in targets, "the exporter initdb line is gone"
print("compose bench profile ok")
PY
  # Without the profile the two services stay out of a plain `up`.
  # (Output captured first: with pipefail, `producer | grep -q` fails when grep stops reading early.)
  local plain
  plain=$(BENCH_IMAGE=x docker compose -p benchcheck -f compose.yaml config --services)
  if grep -qx 'bench\|bench-account' <<<"$plain"; then
    echo "bench services are active without --profile bench"; return 1
  fi
}

schema=sbtest_img_$suffix
t_oltp_quick_in_the_container() {
  # No connection flags: host, user and password file come from the environment, as in compose.
  # A schema of its own (--force): other test areas use `sbtest` on the same server meanwhile.
  bench_run scripts/sysbench/oltp.sh --quick --schema "$schema" --force --out bench-results/oltp
  check_results "$work/out/oltp" 8
  # Cleanup ran: the schema is gone.
  [[ -z $(mariadb --protocol=socket -N -e "SHOW DATABASES LIKE '$schema'") ]] || { echo "$schema left behind"; return 1; }
}

t_oltp_refuses_another_schema_in_the_container() {
  local rc=0
  bench_run scripts/sysbench/oltp.sh --quick --schema zufang_benchimg --out bench-results/refused || rc=$?
  [[ $rc == 2 ]] || { echo "exit $rc, expected 2"; return 1; }
  [[ ! -e $work/out/refused ]] || { echo "a refused run wrote results"; return 1; }
}

api_pw=$work/secrets/api_password
t_http_quick_with_a_jwt_in_the_container() {
  [[ -z $app_error ]] || { echo "$app_error"; return 1; }
  # The API account the way compose's bench-account creates it: `zufang create-user`, password
  # from the environment (here the instance's own settings, from app-instance.sh).
  # One line with its newline, as secrets-init writes it (`read` fails on a last line without).
  { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; echo; } >"$api_pw"
  chmod 0444 "$api_pw"
  (
    export ZUFANG_CONFIG_DIR="$root/app/config" ZUFANG_ENV=development ZUFANG_SECRETS_DIR="$work/no-secrets"
    export ZUFANG__DATABASE__HOST=$MARIADB_HOST ZUFANG__DATABASE__PORT=$MARIADB_PORT
    export ZUFANG__DATABASE__USERNAME=$MARIADB_USER ZUFANG__DATABASE__NAME=zufang_benchimg
    ZUFANG__DATABASE__PASSWORD=$(cat "$MARIADB_PASSWORD_FILE"); export ZUFANG__DATABASE__PASSWORD
    IFS= read -r ZUFANG_NEW_USER_PASSWORD <"$api_pw"; export ZUFANG_NEW_USER_PASSWORD
    target/debug/zufang create-user --username bench --tel 19900000000 --role user
  )
  bench_run scripts/load/http.sh --quick --url "$app_url" --user bench \
    --password-file /run/bench-secrets/api_password --auth-share 0.5 --out bench-results/http
  check_results "$work/out/http" 2
  python3 - "$work/out/http/results.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["params"]["authenticated"] == "yes", d["params"]
assert all(r["extra"]["authenticated_share"] for r in d["results"]), [r["extra"] for r in d["results"]]
PY
}

t_host_quick_in_the_container() {
  # The machine as the container sees it; file I/O in the container's /tmp (its writable layer).
  bench_run scripts/sysbench/host.sh --quick --out bench-results/host
  check_results "$work/out/host" 5
  python3 - "$work/out/host/results.json" <<'PY'
import json, sys
tests = {r["test"].split("_")[0] for r in json.load(open(sys.argv[1]))["results"]}
assert {"cpu", "memory", "fileio", "threads", "mutex"} <= tests, tests
PY
}

t_report_in_the_container() {
  local d
  for d in oltp http host; do
    [[ -s $work/out/$d/results.json ]] || { echo "needs the $d results of the checks above"; return 1; }
  done
  bench_run scripts/report bench-results/oltp bench-results/http bench-results/host --out bench-results/report
  [[ $(wc -c <"$work/out/report/report.md") -gt 200 ]] || { echo "report.md nearly empty"; return 1; }
  local n=0 f
  for f in "$work/out/report"/*.png; do
    [[ -s $f && $(head -c 4 "$f" | od -An -c | tr -d ' ') == 211PNG ]] || { echo "$f is not a PNG"; return 1; }
    grep -qF "$(basename "$f")" "$work/out/report/report.md" || { echo "report.md does not show $f"; return 1; }
    n=$((n + 1))
  done
  ((n >= 4)) || { echo "only $n PNGs"; return 1; }
  echo "$n PNGs"
}

# The stack's accounts, in the offline MariaDB image with a real secrets volume: secrets-init
# (init-secrets.sh) -> MariaDB first start with both initdb scripts -> the `bench` account reads
# its password as uid 10010 and runs oltp.sh in sbtest, and is denied the zufang database.
mariadb_image=$(scripts/images/build.sh --list --no-app 2>/dev/null | awk '/\/mariadb:/ && !n { print; n = 1 }')
in_db() { docker run --rm --network "container:$db_ctr" -v "$vol:/run/stack-secrets:ro" -v "$root/scripts:/bench/scripts:ro" \
  -v "$work/out:/bench/bench-results" -e MARIADB_HOST=127.0.0.1 -e MARIADB_PORT=3306 -e MARIADB_USER=bench \
  -e MARIADB_PASSWORD_FILE=/run/stack-secrets/bench/mariadb_password "$image" "$@"; }
t_stack_accounts_in_the_offline_mariadb() {
  if ! docker image inspect "$mariadb_image" >/dev/null 2>&1; then
    log "building $mariadb_image (scripts/images/mariadb)"
    nice docker build --network host --build-arg "BASE_IMAGE=$base" -t "$mariadb_image" \
      -f scripts/images/mariadb/Dockerfile scripts/images/mariadb >.cache/images/bench-test-mariadb.log 2>&1
  fi
  docker volume create "$vol" >/dev/null
  docker run --rm --network none -v "$vol:/secrets" -v "$root/scripts/images/runtime/init-secrets.sh:/init-secrets.sh:ro" \
    "$base" bash /init-secrets.sh /secrets
  db_ctr=$(docker run -d --name "bench-test-mariadb-$suffix" -v "$vol:/run/stack-secrets:ro" \
    -e MARIADB_ROOT_PASSWORD_FILE=/run/stack-secrets/mysql/root_password -e MARIADB_DATABASE=zufang \
    -e MARIADB_USER=zufang -e MARIADB_PASSWORD_FILE=/run/stack-secrets/mysql/database_password \
    -v "$root/scripts/images/runtime/mysql-exporter-user.sh:/docker-entrypoint-initdb.d/10-exporter-user.sh:ro" \
    -v "$root/scripts/images/runtime/mysql-bench-user.sh:/docker-entrypoint-initdb.d/20-bench-user.sh:ro" \
    "$mariadb_image" mariadbd --max-connections=50 --innodb-buffer-pool-size=64M)
  echo "$db_ctr" >"$work/db_ctr"
  local ok=0
  for _ in $(seq 1 90); do
    if docker exec "$db_ctr" healthcheck.sh --connect --innodb_initialized >/dev/null 2>&1; then ok=1; break; fi
    sleep 1
  done
  ((ok)) || { docker logs --tail 30 "$db_ctr"; return 1; }
  local out
  out=$(docker logs "$db_ctr" 2>&1)
  grep -q "initdb: bench account ready" <<<"$out" || { tail -n 30 <<<"$out"; echo "initdb did not create the account"; return 1; }
  in_db scripts/sysbench/oltp.sh --quick --tests oltp_read_write --threads 2 --out bench-results/stack-oltp
  check_results "$work/out/stack-oltp" 1
  local rc=0
  # shellcheck disable=SC2016 # expanded by bash inside the container, where the file is
  in_db bash -c 'mariadb --defaults-extra-file=<(printf "[client]\npassword=\"%s\"\n" "$(head -n 1 "$MARIADB_PASSWORD_FILE")") -h 127.0.0.1 -u bench -e "SELECT COUNT(*) FROM zufang._sqlx_migrations"' >"$work/denied.log" 2>&1 || rc=$?
  if [[ $rc == 0 ]] || ! grep -q denied "$work/denied.log"; then
    cat "$work/denied.log"; echo "bench reached the zufang database"; return 1
  fi
  # The by-hand path for a volume initialised before the profile existed: idempotent.
  out=$(docker exec "$db_ctr" bash /docker-entrypoint-initdb.d/20-bench-user.sh)
  grep -q "bench account ready" <<<"$out"
  out=$(docker exec "$db_ctr" bash /docker-entrypoint-initdb.d/20-bench-user.sh --help)
  grep -q "docker compose exec mysql" <<<"$out"
}

t_bench_account_one_shot() {
  db_ctr=$(cat "$work/db_ctr" 2>/dev/null || true)
  [[ -n $db_ctr ]] || { echo "needs the MariaDB container of the previous check"; return 1; }
  [[ -x target/debug/zufang ]] || { echo "no target/debug/zufang (app-instance.sh builds it)"; return 1; }
  # compose.yaml's entrypoint and environment, verbatim, after `zufang migrate` like the stack's;
  # the binary is the one app-instance.sh built (the stack's app image carries the same code),
  # run as the app image's uid 10001 on the Debian base, read-only, production settings.
  local entry
  entry=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["services"]["bench-account"]["entrypoint"][-1])' "$work/config.json")
  local run=(docker run --rm --network "container:$db_ctr" --read-only --user 10001:10001
    -v "$vol:/run/stack-secrets:ro" -v "$root/target/debug/zufang:/usr/local/bin/zufang:ro"
    -v "$root/app/config:/app/config:ro" -e ZUFANG_ENV=production -e ZUFANG_CONFIG_DIR=/app/config
    -e ZUFANG_SECRETS_DIR=/run/stack-secrets/app -e ZUFANG__DATABASE__HOST=127.0.0.1)
  "${run[@]}" "$base" zufang migrate
  for _ in 1 2; do  # twice: the second run must succeed too (idempotent)
    "${run[@]}" "$base" sh -c "$entry"
  done
  local n
  n=$(docker exec "$db_ctr" bash -c 'mariadb -uroot -p"$(cat /run/stack-secrets/mysql/root_password)" -N -e "SELECT COUNT(*) FROM zufang.users WHERE username=\"bench\""')
  [[ $n == 1 ]] || { echo "users named bench: '$n'"; return 1; }
}

check "image: user 10010, /bench, every tool the scripts call" t_image_contract
check "lint: hadolint (info level) and shellcheck" t_lint
check "compose.yaml bench profile: networks, mounts, env, mysql initdb line" t_compose_bench_profile
check "oltp.sh --quick in the image against MariaDB, no flags, cleanup" t_oltp_quick_in_the_container
check "oltp.sh in the image refuses another schema (exit 2, no results)" t_oltp_refuses_another_schema_in_the_container
check "http.sh --quick in the image, login + JWT on half the requests" t_http_quick_with_a_jwt_in_the_container
check "host.sh --quick in the image: cpu, memory, fileio, threads, mutex" t_host_quick_in_the_container
check "scripts/report in the image: report.md + PNGs" t_report_in_the_container
check "secrets-init + initdb: sbtest-only bench account in the offline MariaDB" t_stack_accounts_in_the_offline_mariadb
check "bench-account one-shot (compose entrypoint, uid 10001) creates the API user, twice" t_bench_account_one_shot

echo "$passed passed, $failed failed"
((failed == 0))
