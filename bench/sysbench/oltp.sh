#!/usr/bin/env bash
# Check a MariaDB/MySQL host: sysbench 1.0 OLTP workloads over a thread sweep, in its own schema.
# Writes results.json / results.csv / profile.json (+ raw logs) into --out; see docs/benchmarking.md.
set -euo pipefail
BENCH_NAME=oltp
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
: "${SYSBENCH:=sysbench}"
: "${MARIADB_HOST:=${MYSQL_HOST:-127.0.0.1}}"
: "${MARIADB_PORT:=${MYSQL_PORT:-3306}}"
: "${MARIADB_USER:=${MYSQL_USER:-sbtest}}"
: "${MARIADB_PASSWORD_FILE:=}"
: "${MARIADB_SOCKET:=}"
DEFAULT_SCHEMA=sbtest

usage() {
  cat <<EOF
usage: $0 [options] [all|prepare|run|cleanup]
  sysbench 1.0 OLTP on MariaDB/MySQL: prepare tables, run each test over a thread sweep, clean up.
  all (default) = prepare + warm-up + run + cleanup (tables and, if then empty, the schema).

  --tests LIST          oltp_point_select oltp_read_only oltp_read_write oltp_write_only [all four]
  --threads LIST        thread sweep                                   [1 2 4 8 16; quick: 1 2]
  --tables N            number of tables                               [4; quick: 2]
  --table-size N        rows per table                                 [100000; quick: 1000]
  --duration SEC        seconds per run                                [30; quick: 2]
  --warmup SEC          unrecorded oltp_read_only run before the sweep [10; quick: 0]
  --report-interval SEC live progress every SEC seconds (0 = off)      [1]
  --out DIR             results directory        [bench-results/oltp-<UTC time>]
  --quick               a smoke run in seconds (CI)
  --keep                'all' without the final cleanup
  --schema NAME         schema to use                                  [$DEFAULT_SCHEMA]
  --force               allow a schema other than '$DEFAULT_SCHEMA' (system schemas and schemas
                        holding tables other than sbtestN are refused even then)
  --host H / --port P   server                   [\$MARIADB_HOST or 127.0.0.1 / \$MARIADB_PORT or 3306]
  --socket PATH         UNIX socket instead of TCP                     [\$MARIADB_SOCKET]
  --user U              account                                        [\$MARIADB_USER or sbtest]
  --password-file F     file holding the password                      [\$MARIADB_PASSWORD_FILE]
  --no-password         account without password (e.g. unix_socket auth over --socket)
  -h, --help            this help
  Without a password file the password is prompted for on the terminal. It never appears in a
  process listing: sysbench reads it from a --config-file and the client from a
  --defaults-extra-file, both mode 0600 in a private temporary directory removed on exit.

Environment: SYSBENCH, PYTHON, MARIADB_HOST/PORT/USER/SOCKET/PASSWORD_FILE (MYSQL_* accepted).
Exit status: 0 ok, 2 bad option or refused schema, 127 missing dependency, 1 server error,
130 interrupted.
EOF
}

cmd=all tests="oltp_point_select oltp_read_only oltp_read_write oltp_write_only"
threads="" tables="" table_size="" duration="" warmup="" interval=1 out="" quick=0 keep=0
schema=$DEFAULT_SCHEMA force=0 no_password=0
host=$MARIADB_HOST port=$MARIADB_PORT socket=$MARIADB_SOCKET user=$MARIADB_USER pwfile=$MARIADB_PASSWORD_FILE
while [[ $# -gt 0 ]]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    all|prepare|run|cleanup) cmd=$1 ;;
    --tests) tests=$2; shift ;;
    --threads) threads=$2; shift ;;
    --tables) tables=$2; shift ;;
    --table-size) table_size=$2; shift ;;
    --duration) duration=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --report-interval) interval=$2; shift ;;
    --out) out=$2; shift ;;
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --schema) schema=$2; shift ;;
    --force) force=1 ;;
    --host) host=$2; shift ;;
    --port) port=$2; shift ;;
    --socket) socket=$2; shift ;;
    --user) user=$2; shift ;;
    --password-file) pwfile=$2; shift ;;
    --no-password) no_password=1 ;;
    --password|--password=*|-p*) die 2 "passwords are not accepted on the command line (process listings show them); use --password-file or the prompt" ;;
    *) usage >&2; die 2 "unknown option '$1'" ;;
  esac
  shift
done
if ((quick)); then
  : "${threads:=1 2}" "${tables:=2}" "${table_size:=1000}" "${duration:=2}" "${warmup:=0}"
else
  : "${threads:=1 2 4 8 16}" "${tables:=4}" "${table_size:=100000}" "${duration:=30}" "${warmup:=10}"
fi
threads=$(parse_int_list "$threads")
require_positive_int --tables "$tables"
require_positive_int --table-size "$table_size"
require_positive_int --duration "$duration"
[[ $warmup =~ ^[0-9]+$ ]] || die 2 "--warmup must be a whole number of seconds"
[[ $interval =~ ^[0-9]+$ ]] || die 2 "--report-interval must be a whole number of seconds"
for t in $tests; do
  case $t in oltp_point_select|oltp_read_only|oltp_read_write|oltp_write_only) ;;
    *) die 2 "unknown test '$t'" ;; esac
done

# --- the safety rules come before any connection ---------------------------------------
[[ $schema =~ ^[A-Za-z0-9_]{1,64}$ ]] || die 2 "schema name '$schema' must match [A-Za-z0-9_]{1,64}"
case ${schema,,} in
  mysql|information_schema|performance_schema|sys)
    die 2 "refusing to touch system schema '$schema', even with --force" ;;
esac
if [[ $schema != "$DEFAULT_SCHEMA" && $force -eq 0 ]]; then
  die 2 "refusing to touch schema '$schema': this script only uses its own schema '$DEFAULT_SCHEMA' unless --force is given"
fi

need_cmd "$SYSBENCH" "Install sysbench 1.0 (Debian: apt-get install sysbench)."
client=""
for c in mariadb mysql; do command -v "$c" >/dev/null 2>&1 && { client=$c; break; }; done
[[ -n $client ]] || die 127 "neither 'mariadb' nor 'mysql' client found. Install mariadb-client (Debian: apt-get install mariadb-client)."
need_python

install_traps
private_dir oltp-secret
secret_dir=$BENCH_PRIVATE_DIR

password=""
if ((no_password)); then
  :
elif [[ -n $pwfile ]]; then
  [[ -r $pwfile ]] || die 2 "password file '$pwfile' is not readable"
  IFS= read -r password <"$pwfile" || [[ -n $password ]] || die 2 "password file '$pwfile' is empty"
elif [[ -t 0 ]]; then
  IFS= read -rs -p "MariaDB password for $user@${socket:-$host:$port}: " password; echo >&2
else
  die 2 "no password: give --password-file FILE, --no-password, or run on a terminal to be prompted"
fi

# sysbench 1.0's --config-file splits an unquoted value at whitespace and strips one pair of
# matching outer quotes (tested with sysbench 1.0.20): quote with the kind the password lacks.
if [[ $password != *"'"* ]]; then sbpw="'$password'"
elif [[ $password != *'"'* ]]; then sbpw="\"$password\""
elif [[ $password =~ [[:space:]] || $password =~ ^\'.*\'$ || $password =~ ^\".*\"$ ]]; then
  die 2 "this password (whitespace or outer quotes plus both quote kinds) cannot be passed to sysbench 1.0's config file; change it or use --socket with socket auth"
else sbpw=$password
fi
# Option files written with builtins only (printf), so the password is never an argument.
umask 077
cnf="$secret_dir/client.cnf" sbcfg="$secret_dir/sysbench.cfg"
esc=${password//\\/\\\\}; esc=${esc//\"/\\\"}
{
  printf '[client]\nuser="%s"\n' "$user"
  if [[ -n $socket ]]; then printf 'socket="%s"\n' "$socket"; else printf 'host="%s"\nport=%s\nprotocol=tcp\n' "$host" "$port"; fi
  ((no_password)) || printf 'password="%s"\n' "$esc"
} >"$cnf"
{
  printf 'db-driver=mysql\nmysql-user=%s\nmysql-db=%s\n' "$user" "$schema"
  if [[ -n $socket ]]; then printf 'mysql-socket=%s\n' "$socket"; else printf 'mysql-host=%s\nmysql-port=%s\n' "$host" "$port"; fi
  ((no_password)) || printf 'mysql-password=%s\n' "$sbpw"
} >"$sbcfg"
umask 022
unset password esc sbpw

sql() { "$client" --defaults-extra-file="$cnf" --batch --skip-column-names -e "$1"; }

target="$user@${socket:-$host:$port}"
server_version=$(sql 'SELECT VERSION()' 2>"$secret_dir/connect.err") \
  || die 1 "cannot connect to MariaDB as $target: $(head -c 300 "$secret_dir/connect.err")"
log "connected to $target (server $server_version), schema '$schema'"

schema_exists() { [[ -n $(sql "SELECT 1 FROM information_schema.schemata WHERE schema_name='$schema'") ]]; }
foreign_tables() {
  sql "SELECT table_name FROM information_schema.tables WHERE table_schema='$schema' AND table_name NOT REGEXP '^sbtest[0-9]+\$'" | tr '\n' ' '
}
sbtest_tables() {
  sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$schema' AND table_name REGEXP '^sbtest[0-9]+\$'"
}
if schema_exists; then
  foreign=$(foreign_tables)
  [[ -z $foreign ]] || die 2 "refusing: schema '$schema' holds tables that are not sysbench's ($foreign)"
fi

sb() { "$SYSBENCH" --config-file="$sbcfg" "$@"; }
sizing=(--tables="$tables" --table-size="$table_size")
prepared=0 prepare_done=0 created_schema=0

do_prepare() {
  if ! schema_exists; then
    sql "CREATE DATABASE \`$schema\`" || die 1 "cannot create schema '$schema' (grant CREATE, or create it for $user)"
    created_schema=1
  fi
  local existing
  existing=$(sbtest_tables)
  ((existing == 0)) || die 2 "schema '$schema' already has $existing sbtest tables: use 'run', or 'cleanup' first"
  prepared=1
  local pt=$((tables < $(nproc) ? tables : $(nproc)))
  log "prepare: $tables tables x $table_size rows"
  run_tool "$BENCH_OUT/raw/prepare.log" sysbench_progress sb oltp_read_write "${sizing[@]}" --threads="$pt" prepare \
    || die 1 "sysbench prepare failed; see $BENCH_OUT/raw/prepare.log"
  [[ $(sbtest_tables) -ge $tables ]] || die 1 "sysbench prepare created fewer than $tables tables; see $BENCH_OUT/raw/prepare.log"
  prepare_done=1
}

do_cleanup() {
  schema_exists || return 0
  log "cleanup: dropping sbtest tables in '$schema'"
  # Drop every sbtestN present, not only --tables, so an interrupted bigger prepare goes too.
  local n
  n=$(sql "SELECT COALESCE(MAX(CAST(SUBSTRING(table_name,7) AS UNSIGNED)),0) FROM information_schema.tables WHERE table_schema='$schema' AND table_name REGEXP '^sbtest[0-9]+\$'")
  if ((n > 0)); then
    sb oltp_read_write --tables="$n" cleanup >"$BENCH_OUT/raw/cleanup.log" 2>&1 \
      || { log "sysbench cleanup failed; see $BENCH_OUT/raw/cleanup.log"; return 1; }
  fi
  # The schema goes too when nothing else lives in it (so a default run leaves no trace).
  if [[ $(sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$schema'") == 0 ]]; then
    if sql "DROP DATABASE \`$schema\`"; then
      log "cleanup: dropped schema '$schema'"
    else
      log "cleanup: could not drop empty schema '$schema' (left in place)"
    fi
  fi
}

# On exit: 'all' removes what it prepared (unless --keep); an interrupted or failed prepare
# is always undone, so no half-filled tables are left behind.
cleanup_on_exit() {
  if ((prepared && (!prepare_done || !keep))) || ((created_schema && !prepared)); then
    do_cleanup || true
  fi
}

init_out "$out" oltp
case $cmd in
  prepare) keep=1; add_cleanup cleanup_on_exit; do_prepare ;;
  cleanup) prepared=0; do_cleanup ;;
  run|all)
    if [[ $cmd == all ]]; then add_cleanup cleanup_on_exit; do_prepare; fi
    [[ $(sbtest_tables) -ge $tables ]] || die 2 "schema '$schema' has fewer than $tables sbtest tables: run 'prepare' first"
    progress=sysbench_progress
    if ((warmup > 0)); then
      read -ra sweep <<<"$threads"
      log "warm-up: oltp_read_only, ${warmup}s (not recorded)"
      run_tool "$BENCH_OUT/raw/warmup.log" "$progress" sb oltp_read_only "${sizing[@]}" \
        --threads="${sweep[-1]}" --time="$warmup" --report-interval="$interval" run || die 1 "warm-up failed"
    fi
    for t in $tests; do for n in $threads; do
      logf="$BENCH_OUT/raw/${t}-t${n}.log"
      log "$t threads=$n"
      run_tool "$logf" "$progress" sb "$t" "${sizing[@]}" --threads="$n" --time="$duration" \
        --report-interval="$interval" --histogram=on --percentile=95 run \
        || die 1 "sysbench $t failed (threads=$n); see $logf"
      "$PYTHON" "$BENCHLIB_PY" sysbench --records "$BENCH_RECORDS" --log "$logf" --test "$t" \
        --threads "$n" --connections "$n" --extra "tables=$tables" --extra "table_size=$table_size" \
        || die 3 "could not parse $logf"
    done; done
    finish_out "quick=$quick" "duration_s=$duration" "threads=$threads" "tests=$tests" \
      "tables=$tables" "table_size=$table_size" "schema=$schema" "target=$target" \
      "warmup_s=$warmup" "version_mariadb=$server_version"
    ;;
esac
