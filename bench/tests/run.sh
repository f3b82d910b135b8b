#!/usr/bin/env bash
# bench/tests/run.sh: the tests of bench/ (pytest). Default: sysbench, wrk load and report
# scripts against the real local MariaDB (scripts/ci/services.sh) and a real zufang instance
# (scripts/ci/app-instance.sh, port 18090). --image: the bench image and the compose `bench`
# profile without the stack (needs Docker; scripts/ci/docker.sh installs it when missing).
set -euo pipefail

usage() {
  cat <<USAGE
usage: bench/tests/run.sh [--image | --photos] [PYTEST_ARGS...]
  Installs what it needs (Debian: sysbench wrk shellcheck mariadb-client python3-venv procps curl;
  a venv with pytest from bench/tests/requirements.txt), builds zufang (cargo build -p zufang)
  unless ZUFANG_BIN names a built binary and zufang-openloop unless OPENLOOP_BIN does, then runs
  pytest on bench/tests.
  --image   the image suite instead (bench/tests/test_image.py): builds zufang-offline/bench:test
            on the offline Debian base and runs the scripts in it (about 2.5 minutes).
  --photos  the photo benchmark's live run instead (bench/tests/test_photos_live.py): a release
            zufang (cargo build --release, unless ZUFANG_BIN names one) and its worker on
            loopback with the broker and store of scripts/ci/photo-services.sh (root, Docker).
Environment: ZUFANG_BIN (a built zufang), OPENLOOP_BIN (a built zufang-openloop), BENCH_APP_PORT (the app instance's port, 18090),
  BENCH_APP_URL (use a running app instead of starting one; BENCH_APP_LOG = its log, where the
  development SMS sender writes sign-up codes), BENCH_TEST_PORT (the image suite's app instance,
  18191), BENCH_TEST_KEEP=1 (image suite: keep the work directory and the app instance).
Example: bench/tests/run.sh -k oltp
USAGE
}
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
suite=(bench/tests --ignore=bench/tests/test_image.py --ignore=bench/tests/test_photos_live.py)
if [[ ${1:-} == --image ]]; then suite=(bench/tests/test_image.py); shift; fi
if [[ ${1:-} == --photos ]]; then suite=(bench/tests/test_photos_live.py); shift; fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
scripts/ci/apt.sh sysbench wrk shellcheck mariadb-client python3 python3-venv procps curl python3-pil
eval "$(scripts/ci/services.sh --env)"
export MARIADB_HOST MARIADB_PORT MARIADB_USER MARIADB_PASSWORD_FILE
if [[ ${suite[0]} == bench/tests/test_image.py ]]; then scripts/ci/docker.sh >&2; fi

# One build for the app instances (app-instance.sh would otherwise run cargo itself) and for
# `zufang create-user` in the image suite.
if [[ -z ${ZUFANG_BIN:-} && ${suite[0]} == bench/tests/test_photos_live.py ]]; then
  # The worker decodes 12 MP photos: a debug build would measure the compiler's debug mode.
  command -v cargo >/dev/null || { echo "bench-tests: needs cargo to build zufang (or set ZUFANG_BIN)" >&2; exit 1; }
  echo "bench-tests: building zufang (cargo build --release -p zufang)" >&2
  nice cargo build -q --release -p zufang --bin zufang
  ZUFANG_BIN="${CARGO_TARGET_DIR:-$root/target}/release/zufang"
fi
if [[ -z ${ZUFANG_BIN:-} ]]; then
  command -v cargo >/dev/null || { echo "bench-tests: needs cargo to build zufang (or set ZUFANG_BIN)" >&2; exit 1; }
  echo "bench-tests: building zufang (cargo build -p zufang)" >&2
  nice cargo build -q -p zufang --bin zufang
  ZUFANG_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/zufang"
fi
[[ -x $ZUFANG_BIN ]] || { echo "bench-tests: ZUFANG_BIN=$ZUFANG_BIN is not an executable" >&2; exit 1; }
export ZUFANG_BIN
# The open-loop generator that load.sh --rate and test_openloop.py run (a debug build: the tests'
# rates are low).
if [[ -z ${OPENLOOP_BIN:-} && ${suite[0]} == bench/tests ]]; then
  echo "bench-tests: building zufang-openloop and its unit tests (option parsing, quantiles)" >&2
  nice cargo build -q -p zufang-openloop
  nice cargo test -q -p zufang-openloop
  OPENLOOP_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/zufang-openloop"
fi
export OPENLOOP_BIN

venv=$(scripts/ci/venv.sh bench bench/tests/requirements.txt)
export PYTHONDONTWRITEBYTECODE=1
exec nice "$venv/bin/python" -m pytest -p no:cacheprovider -rfE "${suite[@]}" "$@"
