#!/usr/bin/env bash
# The contract suite: schemathesis (every check) against a real zufang instance (real MariaDB and
# Redis, migrated and seeded small) from app/openapi.json, as anonymous, user, agent and admin.
#   app/tests/contract/run.sh [--max-examples N] [--role ROLE]... [-- extra schemathesis args]
# Defaults: 25 examples per operation and phase, all four roles. Prints per role the operations
# tested and the cases generated, then a summary; non-zero when any role's run fails, or when a
# copy of the document missing one documented status (the canary) is not caught.
# Environment: CONTRACT_PORT (18095), CONTRACT_SEED (a fixed hypothesis seed for a reproducible run),
# CONTRACT_ROLE_TIMEOUT (240: seconds one role's run may take before it counts as failed).
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
max_examples=25 roles=() extra=()
while (($#)); do
  case $1 in
    --help|-h) usage; exit 0 ;;
    --max-examples) max_examples=${2:?--max-examples needs a number}; shift 2 ;;
    --role) roles+=("${2:?--role needs anonymous, user, agent or admin}"); shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "contract: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $max_examples =~ ^[1-9][0-9]*$ ]] || { echo "contract: --max-examples must be a positive number" >&2; exit 2; }
((${#roles[@]})) || roles=(anonymous user agent admin)
for r in "${roles[@]}"; do
  [[ $r =~ ^(anonymous|user|agent|admin)$ ]] || { echo "contract: unknown role $r" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
command -v cargo >/dev/null || { echo "contract: cargo not found (install Rust stable)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "contract: python3 not found" >&2; exit 1; }
"$root/scripts/ci/apt.sh" curl ca-certificates python3-venv

venv=$("$root/scripts/ci/venv.sh" contract "$here/requirements.txt")
# One Rust build at a time on a shared machine (flock), then the binary the instance runs; the
# document is compiled into it (include_str), so the file checked below is the one it serves.
build=(cargo build -q -p zufang --bin zufang --locked)
if command -v flock >/dev/null; then flock /tmp/rust-build.lock "${build[@]}"; else "${build[@]}"; fi
export ZUFANG_BIN="$root/target/debug/zufang"

name=contract port=${CONTRACT_PORT:-18095}
# Limits high enough that generated traffic from one address is not answered 429 everywhere
# (429 stays documented); Argon2 at test cost so thousands of generated logins stay cheap.
export ZUFANG__AUTH__MAX_FAILED_LOGINS=100000 ZUFANG__AUTH__MAX_FAILED_LOGINS_PER_ACCOUNT=100000
export ZUFANG__AUTH__MAX_SIGNUPS_PER_IP_PER_HOUR=100000 ZUFANG__AUTH__MAX_SIGNUPS_PER_TEL_PER_HOUR=100000
export ZUFANG__AUTH__PASSWORD_HASH_MEMORY_KIB=1024 ZUFANG__AUTH__PASSWORD_HASH_ITERATIONS=1
export ZUFANG__SMS__MAX_PER_NUMBER_PER_DAY=100000 ZUFANG__SMS__MAX_PER_IP_PER_HOUR=100000
export ZUFANG__SMS__RESEND_INTERVAL_SECONDS=0
# Photo uploads go through the real path: a real RabbitMQ and Garage (scripts/ci/photo-services.sh),
# so an upload the generator gets right is stored and queued (202), not a 503 for a missing store.
eval "$("$root/scripts/ci/photo-services.sh" --env)"
export ZUFANG__AMQP__PORT=$ZUFANG_TEST_AMQP_PORT ZUFANG__AMQP__PASSWORD=$ZUFANG_TEST_AMQP_APP_PASSWORD
export ZUFANG__S3__ENDPOINT=$ZUFANG_TEST_S3_ENDPOINT ZUFANG__S3__ACCESS_KEY_ID=$ZUFANG_TEST_S3_APP_KEY_ID
export ZUFANG__S3__SECRET_ACCESS_KEY=$ZUFANG_TEST_S3_APP_SECRET ZUFANG__PHOTOS__UPLOADS_PER_USER_PER_HOUR=100000
instance() { "$root/scripts/ci/app-instance.sh" "$@"; }
instance stop "$name"
# A fresh database each run: generated writes from an earlier run would change what this one sees.
eval "$("$root/scripts/ci/services.sh" --env)"
mariadb --protocol=socket -e "DROP DATABASE IF EXISTS zufang_$name"
# Keys hold generated text (quotes, spaces): pass them NUL-separated.
redis-cli -h 127.0.0.1 --scan --pattern "zufang:$name:*" | tr '\n' '\0' | xargs -0 -r -n 500 redis-cli -h 127.0.0.1 DEL >/dev/null
instance start "$name" "$port"
trap 'instance stop "$name"' EXIT
base=$(instance url "$name")

# One account per role; the password is random per run and never printed.
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
declare -A tel=([user]=13900000001 [agent]=13900000002 [admin]=13900000003 [target]=13900000004)
declare -A token=()
for role in user agent admin; do
  ZUFANG_NEW_USER_PASSWORD=$password instance exec "$name" create-user \
    --username "contract_$role" --tel "${tel[$role]}" --role "$role" >/dev/null 2>&1 \
    || { echo "contract: create-user contract_$role failed" >&2; exit 1; }
  body=$(python3 -c 'import json,sys; print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}))' \
    "contract_$role" "$password")
  token[$role]=$(curl -fsS -H 'content-type: application/json' -d "$body" "$base/api/tokens/" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
    || { echo "contract: login as contract_$role failed" >&2; exit 1; }
done

# The account the admin's user writes (roles, deactivation, revocation) act on.
target=$(ZUFANG_NEW_USER_PASSWORD=$password instance exec "$name" create-user \
  --username contract_target --tel "${tel[target]}" --role user 2>&1 | grep -oE 'id [0-9]+' | grep -oE '[0-9]+') \
  || { echo "contract: create-user contract_target failed" >&2; exit 1; }
export CONTRACT_TARGET_USER_ID=$target

work="$root/.cache/contract"; mkdir -p "$work"
results=() failed=0
for role in "${roles[@]}"; do
  auth=()
  [[ $role == anonymous ]] || auth=(-H "Authorization: Bearer ${token[$role]}")
  out="$work/$role.log"
  echo "contract: schemathesis as $role (--max-examples $max_examples)" >&2
  seed=()
  [[ -z ${CONTRACT_SEED:-} ]] || seed=(--seed "$CONTRACT_SEED")
  started=$SECONDS status=pass
  # --checks all: status codes, content types, headers and bodies as documented, 5xx, auth really
  # enforced, negative data rejected and positive data accepted. no_color for a log a CI keeps.
  # Run from .cache/contract: schemathesis keeps its replay database in the working directory.
  (cd "$work" && NO_COLOR=1 timeout "${CONTRACT_ROLE_TIMEOUT:-240}" "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$root/app/openapi.json" \
    --url "$base" --checks all --max-examples "$max_examples" "${seed[@]}" "${auth[@]}" "${extra[@]}") 2>&1 | tee "$out" \
    || status=fail
  [[ $status == pass ]] || failed=1
  ops=$(grep -oE 'Tested: *[0-9]+' "$out" | head -1 | grep -oE '[0-9]+' || echo '?')
  cases=$(grep -oE '[0-9]+ generated' "$out" | head -1 | grep -oE '[0-9]+' || echo '?')
  results+=("$(printf '%-10s %-5s operations %-4s cases %-6s %ss' "$role" "$status" "$ops" "$cases" "$((SECONDS - started))")")
done
# The suite must be able to fail: a copy of the document without POST /api/tokens/'s 415 has to
# be caught as an undocumented status, or a pass above proves nothing.
wrong="$work/openapi-without-415.json"
python3 - "$root/app/openapi.json" "$wrong" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
del doc["paths"]["/api/tokens/"]["post"]["responses"]["415"]
json.dump(doc, open(sys.argv[2], "w"))
PY
canary=pass
if (cd "$work" && NO_COLOR=1 timeout 120 "$venv/bin/schemathesis" --config-file "$here/schemathesis.toml" run "$wrong" \
  --url "$base" --checks all --max-examples 5 --include-name "POST /api/tokens/") >"$work/canary.log" 2>&1; then
  canary=fail
elif ! grep -q 'Undocumented status code' "$work/canary.log"; then
  canary=fail
fi
[[ $canary == pass ]] || failed=1
results+=("$(printf '%-10s %-5s (a document missing one 415 must fail: see %s)' canary "$canary" "${work#"$root"/}/canary.log")")

echo
echo "contract: schemathesis --checks all, --max-examples $max_examples"
printf '  %s\n' "${results[@]}"
exit "$failed"
