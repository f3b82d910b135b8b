#!/usr/bin/env bash
# rabbitmq/tests/run.sh: the broker's contract against a REAL broker (make test-queue). Builds the
# offline RabbitMQ image when its tag is missing (scripts/images/build.sh --no-app: the tags are
# hashes of the inputs, so it reuses every image that exists), then pytest starts the broker with
# `docker run` from compose.yaml's `rabbitmq` service on its own network (containers zq-*, never
# the compose project), proves the definitions, permissions, retry/dead-letter paths, metrics,
# secrets handling and durability, and removes what it started.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: rabbitmq/tests/run.sh [PYTEST_ARGS...]    (make test-queue)
  Needs root (docker; the secrets' numeric owners), the Debian mirror (image build) and PyPI
  (pika, pytest, PyYAML from rabbitmq/tests/requirements.txt, hashed).
Environment:
  ZQ_RABBITMQ_IMAGE   test this image instead of the offline build (e.g. the registry's
                      rabbitmq:*-management image, where a registry answers)
  ZQ_KEEP=1           leave the broker, its network and volume in place after the run
Example: rabbitmq/tests/run.sh -k retry
USAGE
}
[[ ${1:-} == --help || ${1:-} == -h ]] && { usage; exit 0; }
[[ $EUID -eq 0 ]] || { echo "rabbitmq-tests: needs root (docker, secret file owners)" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
started=$SECONDS
scripts/ci/apt.sh python3 python3-venv shellcheck
scripts/ci/docker.sh >/dev/null
venv=$(scripts/ci/venv.sh rabbitmq-tests rabbitmq/tests/requirements.txt)

if [[ -z ${ZQ_RABBITMQ_IMAGE:-} ]]; then
  ZQ_RABBITMQ_IMAGE=$(scripts/images/build.sh --list --no-app 2>/dev/null | grep -m1 '/rabbitmq:' || true)
  [[ -n $ZQ_RABBITMQ_IMAGE ]] || { echo "rabbitmq-tests: build.sh --list names no rabbitmq image" >&2; exit 1; }
  if ! docker image inspect "$ZQ_RABBITMQ_IMAGE" >/dev/null 2>&1; then
    echo "rabbitmq-tests: building the offline images that are missing (log: .cache/images/)" >&2
    t0=$SECONDS
    nice scripts/images/build.sh --no-app >&2
    echo "rabbitmq-tests: images ready in $((SECONDS - t0))s" >&2
  fi
fi
export ZQ_RABBITMQ_IMAGE
echo "rabbitmq-tests: image $ZQ_RABBITMQ_IMAGE" >&2
rc=0
PYTHONDONTWRITEBYTECODE=1 nice "$venv/bin/python" -m pytest -p no:cacheprovider -v -rfE rabbitmq/tests "$@" || rc=$?
echo "rabbitmq-tests: runtime $((SECONDS - started))s" >&2
exit "$rc"
