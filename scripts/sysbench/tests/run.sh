#!/usr/bin/env bash
# Tests for scripts/sysbench, scripts/load and scripts/report, against the real local MariaDB
# (scripts/ci/services.sh) and a real zufang instance (scripts/ci/app-instance.sh, port 18090).
# Installs sysbench, wrk, shellcheck, the MariaDB client and python3-venv when missing.
#   scripts/sysbench/tests/run.sh          run everything; last line "N passed, M failed"
# Environment: BENCH_APP_URL=http://... use an already running app instead of app-instance.sh
# (BENCH_APP_LOG=its log, where the development SMS sender writes sign-up codes).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
started=$SECONDS
S=scripts/sysbench L=scripts/load
app_port=18090

echo "== setup"
scripts/ci/apt.sh sysbench wrk shellcheck mariadb-client python3 python3-venv procps
eval "$(scripts/ci/services.sh --env)"
export MARIADB_HOST MARIADB_PORT MARIADB_USER MARIADB_PASSWORD_FILE
w=$(mktemp -d /tmp/bench-tests.XXXXXX)
mkdir -p "$w/tmp"
export TMPDIR=$w/tmp   # the scripts' temporary dirs land here, so leftovers are visible
app_started=0
finish() {
  if ((app_started)); then scripts/ci/app-instance.sh stop bench >/dev/null 2>&1 || true; fi
  rm -rf -- "$w"
}
trap finish EXIT
sql() { mariadb --defaults-extra-file="$w/client.cnf" --batch --skip-column-names -e "$1"; }
printf '[client]\nuser=%s\npassword="%s"\nhost=%s\nport=%s\nprotocol=tcp\n' \
  "$MARIADB_USER" "$(cat "$MARIADB_PASSWORD_FILE")" "$MARIADB_HOST" "$MARIADB_PORT" >"$w/client.cnf"
chmod 600 "$w/client.cnf"
schema_exists() { [[ -n $(sql "SELECT 1 FROM information_schema.schemata WHERE schema_name='$1'") ]]; }
# Results checks in one place: every row positive, p99 >= p95, CSV matches JSON.
jcheck() { python3 - "$@" <<'EOF'
import csv, json, sys
path, want_rows = sys.argv[1], int(sys.argv[2])
tests = set(sys.argv[3].split()) if len(sys.argv) > 3 else None
d = json.load(open(path + "/results.json"))
rows = d["results"]
csv_rows = list(csv.DictReader(open(path + "/results.csv")))
errs = []
if len(rows) != want_rows: errs.append(f"{len(rows)} rows, want {want_rows}")
if len(csv_rows) != len(rows): errs.append(f"csv has {len(csv_rows)} rows, json {len(rows)}")
for r in rows:
    for k in ("throughput", "lat_avg_ms", "lat_p95_ms", "lat_p99_ms", "duration_s"):
        if not (isinstance(r.get(k), (int, float)) and r[k] > 0):
            errs.append(f"{r['test']}@{r['threads']}: {k}={r.get(k)!r} not positive")
    if r["lat_p99_ms"] < r["lat_p95_ms"]: errs.append(f"{r['test']}: p99 < p95")
    if r.get("qps") is not None and r["qps"] < r["throughput"]: errs.append(f"{r['test']}: qps < tps")
got = {r["test"] for r in rows} | {r["test"].split("_")[0] for r in rows}
if tests and not tests <= got: errs.append(f"tests {sorted(got)} lack {sorted(tests - got)}")
p = d["profile"]
for k in ("cpu_model", "cpu_cores_usable", "memory_mib", "kernel"):
    if not p.get(k): errs.append(f"profile lacks {k}")
if not p.get("versions", {}).get("sysbench" if rows and rows[0]["tool"] == "sysbench" else "wrk"):
    errs.append("profile lacks the tool version")
for e in errs: print("   ", e)
sys.exit(1 if errs else 0)
EOF
}

pass=0 failed=0 failures=()
check() { # check NAME FUNCTION: a test function returns non-zero on failure
  local name=$1; shift
  echo "-- $name"
  if "$@" >"$w/out.log" 2>&1; then
    pass=$((pass + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name"; sed 's/^/     | /' "$w/out.log" | tail -25
  fi
}
expect_rc() { # expect_rc RC CMD...: run CMD, fail unless it exits RC
  local want=$1 rc=0; shift
  "$@" || rc=$?
  [[ $rc == "$want" ]] || { echo "exit $rc, want $want: $*"; return 1; }
}
no_leftovers() {
  local left
  left=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 2>/dev/null)
  [[ -z $left ]] || { echo "left behind in TMPDIR: $left"; return 1; }
}

# ---------------------------------------------------------------------------------------
t_shellcheck() {
  shellcheck -x $S/*.sh $S/lib/common.sh $S/tests/run.sh $L/*.sh scripts/report
}
t_help() {
  local s
  for s in $S/host.sh $S/oltp.sh $L/http.sh scripts/report; do
    "$s" --help >"$w/help" 2>&1 || { echo "$s --help failed"; return 1; }
    grep -qi 'usage' "$w/help" || { echo "$s --help prints no usage"; return 1; }
    grep -q -- '--out' "$w/help" || { echo "$s --help does not mention --out"; return 1; }
  done
}
t_missing_deps() {
  SYSBENCH=/nonexistent/sysbench expect_rc 127 $S/host.sh --quick --out "$w/x1" 2>"$w/e" || return 1
  grep -q "not found" "$w/e" || return 1
  SYSBENCH=/nonexistent/sysbench expect_rc 127 $S/oltp.sh --quick --out "$w/x2" 2>"$w/e" || return 1
  grep -q "not found" "$w/e" || return 1
  WRK=/nonexistent/wrk expect_rc 127 $L/http.sh --quick --url http://127.0.0.1:$app_port --out "$w/x3" 2>"$w/e" || return 1
  grep -q "not found" "$w/e" || return 1
  [[ ! -e $w/x1 && ! -e $w/x2 && ! -e $w/x3 ]] || { echo "output dir created despite the error"; return 1; }
}
t_fileio_size_refused() {
  expect_rc 2 $S/host.sh --tests fileio --size 100T --dir "$TMPDIR" --out "$w/refused" 2>"$w/e" || return 1
  grep -q "free space" "$w/e" || { cat "$w/e"; return 1; }
  # A share of 1% refuses a size just above 1% of the free space, too (the knob works).
  local free_mb; free_mb=$(df -P -BM "$TMPDIR" | awk 'NR==2 {print int($4)}')
  expect_rc 2 $S/host.sh --tests fileio --size "$((free_mb / 100 + 16))M" --max-disk-share 1 --dir "$TMPDIR" --out "$w/refused" 2>"$w/e" || return 1
  [[ ! -e $w/refused ]] || { echo "refused run created its output dir"; return 1; }
  no_leftovers
}
t_host_quick() {
  nice $S/host.sh --quick --out "$w/host" || return 1
  # cpu 2 + memory(read,write x 1M) 4 + fileio(seqrd,rndrw) 4 + threads 2 + mutex 2
  jcheck "$w/host" 14 "cpu memory fileio threads mutex" || return 1
  no_leftovers || return 1
  ls "$w/host/raw/"*.log >/dev/null
}
t_percentiles_match_sysbench() {
  # p95/p99 come from sysbench's histogram; p95 must equal the one sysbench computes itself.
  python3 - "$w/host/results.json" "$w/oltp/results.json" <<'EOF'
import json, sys
bad = 0
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        ref = r["extra"].get("sysbench_p95_ms")
        if ref is None or abs(ref - r["lat_p95_ms"]) > max(0.011, ref * 0.01):
            print(f"{r['test']}@{r['threads']}: histogram p95 {r['lat_p95_ms']} vs sysbench {ref}"); bad += 1
sys.exit(1 if bad else 0)
EOF
}
t_host_ctrl_c_cleans_up() {
  local pid rc=0 dir=""
  # Job control on: the job gets its own process group and keeps SIGINT (a non-interactive
  # shell would start it with SIGINT ignored), like a command typed at a terminal. `env
  # --default-signal=INT` also undoes an ignore inherited from whatever started this suite in
  # the background (a CI runner): a signal ignored on entry cannot be trapped by bash.
  set -m
  env --default-signal=INT $S/host.sh --tests fileio --fileio-modes rndrw --threads 1 --duration 60 --size 64M \
    --out "$w/int" >"$w/int.log" 2>&1 &
  pid=$!
  set +m
  for _ in $(seq 1 120); do
    grep -q "fileio_rndrw threads=1" "$w/int.log" && break; sleep 0.25
  done
  dir=$(sed -n 's/.*fileio: working in \([^ ]*\).*/\1/p' "$w/int.log")
  [[ -n $dir && -e $dir/test_file.0 ]] || { echo "fileio run did not start"; cat "$w/int.log"; kill -- -"$pid"; return 1; }
  sleep 1
  kill -INT -- -"$pid"     # Ctrl-C: SIGINT to the whole foreground process group
  wait "$pid" || rc=$?
  [[ $rc == 130 ]] || { echo "exit $rc, want 130"; cat "$w/int.log"; return 1; }
  [[ ! -e $dir ]] || { echo "$dir survived Ctrl-C"; return 1; }
  for _ in 1 2 3 4 5 6; do pgrep -g "$pid" >/dev/null || break; sleep 0.5; done
  ! pgrep -g "$pid" >/dev/null || { echo "processes of the group survived:"; pgrep -a -g "$pid"; return 1; }
  no_leftovers
}
t_oltp_refuses_foreign_schemas() {
  expect_rc 2 $S/oltp.sh --quick --schema zufang_bench_victim --out "$w/r1" 2>"$w/e" || return 1
  grep -q "refusing" "$w/e" || return 1
  expect_rc 2 $S/oltp.sh --quick --schema mysql --force --out "$w/r2" 2>"$w/e" || return 1
  sql "DROP DATABASE IF EXISTS zufang_bench_victim; CREATE DATABASE zufang_bench_victim;
       CREATE TABLE zufang_bench_victim.keepme (id INT PRIMARY KEY); INSERT INTO zufang_bench_victim.keepme VALUES (7);"
  expect_rc 2 $S/oltp.sh --quick --schema zufang_bench_victim --force --out "$w/r3" 2>"$w/e" || return 1
  grep -q "not sysbench's" "$w/e" || { cat "$w/e"; return 1; }
  expect_rc 2 $S/oltp.sh --schema zufang_bench_victim --force cleanup 2>"$w/e" || return 1
  [[ $(sql "SELECT id FROM zufang_bench_victim.keepme") == 7 ]] || { echo "victim table touched"; return 1; }
  [[ $(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='zufang_bench_victim'") == 1 ]] || return 1
  sql "DROP DATABASE zufang_bench_victim"
  expect_rc 2 $S/oltp.sh --quick --password hunter2 2>/dev/null || return 1
  no_leftovers
}
t_oltp_quick_and_password_not_in_argv() {
  local pid rc=0 seen=0 leaked=0
  schema_exists sbtest && { echo "schema sbtest exists before the test; drop it"; return 1; }
  # Own process group (job control), so only this run's processes are inspected: the test
  # account's password is shared with other suites running on the same machine.
  set -m
  nice $S/oltp.sh --quick --out "$w/oltp" >"$w/oltp.log" 2>&1 &
  pid=$!
  set +m
  while kill -0 "$pid" 2>/dev/null; do
    ps -eo pgid=,args= | awk -v g="$pid" '$1 == g' >"$w/ps"
    grep -q ' sysbench ' "$w/ps" && seen=$((seen + 1))
    if grep -qF -f "$MARIADB_PASSWORD_FILE" "$w/ps"; then
      leaked=$((leaked + 1)); grep -F -f "$MARIADB_PASSWORD_FILE" "$w/ps" | cut -c1-60
    fi
    sleep 0.2
  done
  wait "$pid" || rc=$?
  [[ $rc == 0 ]] || { tail -20 "$w/oltp.log"; return 1; }
  echo "sysbench seen in $seen process listings, password in $leaked"
  ((seen > 0 && leaked == 0)) || return 1
  jcheck "$w/oltp" 8 "oltp_point_select oltp_read_only oltp_read_write oltp_write_only" || return 1
  ! schema_exists sbtest || { echo "schema sbtest left behind"; return 1; }
  no_leftovers
}
t_oltp_prepare_run_cleanup() {
  $S/oltp.sh --quick --out "$w/p" prepare || return 1
  [[ $(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='sbtest'") == 2 ]] || { echo "prepare made no 2 tables"; return 1; }
  $S/oltp.sh --quick --tests oltp_point_select --threads 1 --duration 1 --out "$w/r" run || return 1
  jcheck "$w/r" 1 "oltp_point_select" || return 1
  schema_exists sbtest || { echo "'run' removed the schema"; return 1; }
  expect_rc 2 $S/oltp.sh --quick --out "$w/again" all 2>"$w/e" || return 1   # already prepared
  grep -q "already has" "$w/e" || return 1
  $S/oltp.sh --out "$w/c" cleanup || return 1
  ! schema_exists sbtest || { echo "cleanup left schema sbtest"; return 1; }
  no_leftovers
}
t_oltp_socket_auth_without_password() {
  # The no-secret option from docs/benchmarking.md: a unix_socket-authenticated account (root of
  # this throwaway CI server) over the socket, --no-password. No password exists anywhere.
  local sock
  sock=$(mariadb --protocol=socket --batch --skip-column-names -e 'SELECT @@socket') || { echo "no socket-auth root here"; return 1; }
  env -u MARIADB_PASSWORD_FILE $S/oltp.sh --quick --socket "$sock" --user "$(id -un)" --no-password \
    --tests oltp_point_select --threads 1 --duration 1 --out "$w/sock" || return 1
  jcheck "$w/sock" 1 "oltp_point_select" || return 1
  grep -q "target=$(id -un)@$sock" <(python3 -c 'import json,sys; print("target="+json.load(open(sys.argv[1]))["params"]["target"])' "$w/sock/results.json") || return 1
  ! schema_exists sbtest || { echo "schema sbtest left behind"; return 1; }
  expect_rc 2 env -u MARIADB_PASSWORD_FILE $S/oltp.sh --quick </dev/null 2>"$w/e" || return 1
  grep -q "no password" "$w/e"
}
t_oltp_awkward_password() {
  # sysbench's config file splits unquoted values at blanks and strips outer quotes; a password
  # with blanks, both quote kinds in turn, '#', '=' and a backslash must still get through.
  local pw rc=0
  for pw in 'p"w #x=y\z' "a'b c" ' lead and trail '; do
    printf '%s\n' "$pw" >"$w/odd-pw"
    local esc=${pw//\\/\\\\}; esc=${esc//\'/\\\'}
    mariadb --protocol=socket -e "CREATE OR REPLACE USER 'bench_oddpw'@'127.0.0.1' IDENTIFIED BY '$esc';
      CREATE OR REPLACE USER 'bench_oddpw'@'localhost' IDENTIFIED BY '$esc';
      GRANT ALL ON sbtest.* TO 'bench_oddpw'@'127.0.0.1'; GRANT ALL ON sbtest.* TO 'bench_oddpw'@'localhost';" || return 1
    env -u MARIADB_PASSWORD_FILE $S/oltp.sh --quick --user bench_oddpw --password-file "$w/odd-pw" \
      --tests oltp_point_select --threads 1 --duration 1 --out "$w/odd" >"$w/odd.log" 2>&1 || { echo "password [$pw] failed:"; tail -5 "$w/odd.log"; rc=1; }
    rm -rf "$w/odd"
  done
  mariadb --protocol=socket -e "DROP USER IF EXISTS 'bench_oddpw'@'127.0.0.1'; DROP USER IF EXISTS 'bench_oddpw'@'localhost'; DROP DATABASE IF EXISTS sbtest"
  return "$rc"
}
t_oltp_ctrl_c_cleans_up() {
  local pid rc=0
  set -m
  env --default-signal=INT $S/oltp.sh --quick --duration 60 --tests oltp_read_only --threads 2 --out "$w/oi" >"$w/oi.log" 2>&1 &
  pid=$!
  set +m
  for _ in $(seq 1 120); do grep -q "oltp_read_only threads=2" "$w/oi.log" && break; sleep 0.25; done
  grep -q "oltp_read_only threads=2" "$w/oi.log" || { cat "$w/oi.log"; kill -- -"$pid"; return 1; }
  sleep 1
  kill -INT -- -"$pid"
  wait "$pid" || rc=$?
  [[ $rc == 130 ]] || { echo "exit $rc, want 130"; cat "$w/oi.log"; return 1; }
  ! schema_exists sbtest || { echo "schema sbtest survived Ctrl-C"; return 1; }
  no_leftovers
}
t_http_target_missing() {
  expect_rc 1 $L/http.sh --quick --url http://127.0.0.1:1 --out "$w/hm" 2>"$w/e" || return 1
  grep -q "not usable" "$w/e" || { cat "$w/e"; return 1; }
  expect_rc 2 $L/http.sh --quick --auth-share 0.5 --url "$app_url" 2>/dev/null || return 1
  no_leftovers
}
t_http_quick() {
  [[ -n $app_url ]] || { echo "no app instance: $app_error"; return 1; }
  nice $L/http.sh --quick --url "$app_url" --report-interval 1 --out "$w/http" || return 1
  jcheck "$w/http" 2 "http_mix" || return 1
  python3 - "$w/http/results.json" <<'EOF' || return 1
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    s = r["extra"]["status_classes"]
    assert r["errors"] == 0, f"errors at c={r['connections']}: {r['extra']['socket_errors']} {s}"
    assert s["2xx"] > 0, s
EOF
  no_leftovers
}
t_http_token_share_counted() {
  # A JWT read from --token-file goes on the chosen share of requests: with share 1 and only
  # /api/users/me/ in the mix, a bogus token makes every response a 4xx, counted as errors.
  [[ -n $app_url ]] || { echo "no app instance: $app_error"; return 1; }
  printf 'not.a.jwt\n' >"$w/token"
  $L/http.sh --quick --connections 2 --warmup 0 --url "$app_url" --token-file "$w/token" \
    --auth-share 1 --mix me=1 --out "$w/tok" || return 1
  python3 - "$w/tok/results.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
s = r["extra"]["status_classes"]
print(r["extra"]["requests"], s, r["errors"], r["extra"]["authenticated_share"])
assert r["extra"]["authenticated_share"] == 1.0
assert s["2xx"] == 0 and s["4xx"] > 0 and r["errors"] >= s["4xx"], s
EOF
}
t_http_login_failure_is_clear() {
  # --user/--password-file log in via POST /api/tokens/ before the sweep; an unknown user (or an
  # app without the auth endpoints) must stop the run with a clear error, not produce a sweep of 401s.
  [[ -n $app_url ]] || { echo "no app instance: $app_error"; return 1; }
  printf 'wrong-password\n' >"$w/pw"
  expect_rc 1 $L/http.sh --quick --url "$app_url" --user nobody-bench --password-file "$w/pw" --out "$w/login" 2>"$w/e" || return 1
  grep -q "login failed" "$w/e" || { cat "$w/e"; return 1; }
  [[ ! -e $w/login ]] || { echo "a failed login still created results"; return 1; }
  no_leftovers
}
t_http_authenticated_via_login() {
  # A real account: SMS code (the development "log" sender writes it to the app's log), sign-up,
  # then http.sh logs in with --user/--password-file and sends the JWT on half of the requests,
  # /api/users/me/ included; all of them must succeed.
  [[ -n $app_url ]] || { echo "no app instance: $app_error"; return 1; }
  [[ -f $app_log ]] || { echo "app log $app_log unknown (BENCH_APP_URL given?): cannot read the SMS code"; return 1; }
  head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$w/user-pw"
  python3 - "$app_url" "$app_log" "$w/user-pw" >"$w/user" <<'PY' || return 1
import json, random, re, sys, time, urllib.request
url, log, pwfile = sys.argv[1:4]
tel = "139" + "".join(random.choice("0123456789") for _ in range(8))
user = "bench_" + "".join(random.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(10))
def post(path, body=None):
    req = urllib.request.Request(url + path, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=10).status
post(f"/api/mobile-codes/{tel}/")
code = None
for _ in range(50):
    for line in open(log, encoding="utf-8", errors="replace"):
        if tel in line:
            m = re.search(r'"code"\s*:\s*"?(\d{6})', line) or re.search(r"code[=:]\s*\"?(\d{6})", line)
            if m: code = m.group(1)
    if code: break
    time.sleep(0.1)
assert code, "SMS code not found in the app log"
assert post("/api/users/", {"username": user, "password": open(pwfile).read().strip(), "tel": tel, "code": code}) in (200, 201)
print(user)
PY
  $L/http.sh --quick --connections 2 --warmup 0 --url "$app_url" --user "$(cat "$w/user")" \
    --password-file "$w/user-pw" --auth-share 0.5 --out "$w/auth" || return 1
  python3 - "$w/auth/results.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["params"]["authenticated"] == "yes", d["params"]
for r in d["results"]:
    a, s = r["extra"]["authenticated_share"], r["extra"]["status_classes"]
    print(r["connections"], r["extra"]["requests"], s, "authenticated share", a)
    assert 0.3 < a < 0.7, a
    assert r["errors"] == 0 and s["4xx"] == 0 and s["2xx"] > 0, (r["errors"], s)
PY
  no_leftovers
}
t_report() {
  local inputs=("$w/host" "$w/oltp") png n=0
  [[ -f $w/http/results.json ]] && inputs+=("$w/http/results.csv")
  scripts/report "${inputs[@]}" --out "$w/report" || return 1
  [[ -s $w/report/report.md ]] || return 1
  grep -q "## oltp — tps" "$w/report/report.md" && grep -q "## host — IOPS" "$w/report/report.md" || return 1
  grep -q "AMD\|Intel\|cpu\|[A-Za-z]" <(grep -A3 '## Machine' "$w/report/report.md") || return 1
  for png in $(grep -o '([a-z0-9-]*\.png)' "$w/report/report.md" | tr -d '()'); do
    [[ $(head -c 8 "$w/report/$png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || { echo "$png is not a PNG"; return 1; }
    (($(stat -c %s "$w/report/$png") > 5000)) || { echo "$png is tiny"; return 1; }
    n=$((n + 1))
  done
  echo "$n plots"; ((n >= 8))
}
t_report_baseline_flags_regressions() {
  python3 - "$w/oltp/results.json" "$w/worse.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["results"]:
    r["throughput"] *= 0.5; r["lat_p99_ms"] *= 2
json.dump(d, open(sys.argv[2], "w"))
EOF
  expect_rc 3 scripts/report "$w/worse.json" --baseline "$w/oltp" --threshold 10 --fail-on-regression --out "$w/cmp" 2>"$w/e" || return 1
  grep -q "8 regression" "$w/e" || { cat "$w/e"; return 1; }
  grep -q "REGRESSION" "$w/cmp/report.md" || return 1
  scripts/report "$w/oltp" --baseline "$w/oltp" --fail-on-regression --out "$w/same" 2>"$w/e" || return 1
  grep -q "0 regression" "$w/e" || return 1
  expect_rc 2 scripts/report "$w/does-not-exist" --out "$w/none" 2>/dev/null
}
t_parser_rejects_truncated_output() {
  head -5 "$w/oltp/raw/oltp_read_only-t1.log" >"$w/trunc.log"
  expect_rc 3 python3 $S/lib/benchlib.py sysbench --records "$w/rec" --log "$w/trunc.log" --test oltp_read_only --threads 1
}

# ---------------------------------------------------------------------------------------
app_url=${BENCH_APP_URL:-} app_error="" app_log=${BENCH_APP_LOG:-$root/.cache/app-bench.log}
if [[ -z $app_url ]]; then
  if [[ -x scripts/ci/app-instance.sh ]]; then
    if scripts/ci/app-instance.sh start bench "$app_port" >"$w/app.log" 2>&1; then
      app_started=1 app_url=http://127.0.0.1:$app_port
    else
      app_error="scripts/ci/app-instance.sh start bench $app_port failed: $(tail -3 "$w/app.log")"
    fi
  else
    app_error="scripts/ci/app-instance.sh does not exist (yet)"
  fi
fi
[[ -n $app_url ]] && echo "== app under test: $app_url" || echo "== NO app: $app_error (HTTP tests will fail)"

echo "== tests"
check "shellcheck on every script" t_shellcheck
check "--help on every script" t_help
check "missing sysbench/wrk: exit 127 with a hint" t_missing_deps
check "fileio --size above the free-disk share is refused" t_fileio_size_refused
check "host --quick: cpu memory fileio threads mutex, positive results" t_host_quick
check "oltp refuses foreign and system schemas and argv passwords" t_oltp_refuses_foreign_schemas
check "oltp --quick: 4 tests x 2 threads, password never in argv, sbtest dropped" t_oltp_quick_and_password_not_in_argv
check "p95 from the histogram equals sysbench's own p95" t_percentiles_match_sysbench
check "oltp prepare / run / cleanup as separate steps" t_oltp_prepare_run_cleanup
check "oltp over the UNIX socket, socket auth, no password; none given = refused" t_oltp_socket_auth_without_password
check "oltp with a password holding blanks, quotes, # and a backslash" t_oltp_awkward_password
check "oltp Ctrl-C mid-run: exit 130, schema removed" t_oltp_ctrl_c_cleans_up
check "host Ctrl-C mid-fileio: exit 130, files removed" t_host_ctrl_c_cleans_up
check "http: unreachable target and token-less auth share refused" t_http_target_missing
check "http --quick against the real app: positive results, no errors" t_http_quick
check "http: JWT from --token-file on the requested share, 4xx counted" t_http_token_share_counted
check "http: failed login stops the run with a clear error" t_http_login_failure_is_clear
check "http: login via POST /api/tokens/, JWT on half the requests, no errors" t_http_authenticated_via_login
check "report: Markdown and non-empty PNG plots" t_report
check "report --baseline flags regressions beyond the threshold" t_report_baseline_flags_regressions
check "parser rejects truncated sysbench output" t_parser_rejects_truncated_output

echo "== $((SECONDS - started))s"
((failed == 0)) || printf 'failed: %s\n' "${failures[@]}"
echo "$pass passed, $failed failed"
((failed == 0))
