#!/usr/bin/env bash
# s3/tests/run.sh: the object store's contract against a REAL Garage node (make test-s3). pytest
# starts the image with `docker run` on its own network (containers zg-*, never the compose
# project) and removes what it started.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: s3/tests/run.sh [PYTEST_ARGS...]    (make test-s3)
  Needs root (docker; the secrets' numeric owners) and PyPI (boto3, pytest from
  s3/tests/requirements.txt, hashed).
Environment:
  ZG_GARAGE_IMAGE  the image under test (default: the offline build zufang-offline/garage:<hash> of
                   scripts/images/build.sh, built when missing; or .env's GARAGE_IMAGE from a registry)
  ZG_INIT_IMAGE    the s3-init image (default zufang/s3-init:local, built from s3/init.Dockerfile
                   on .env's BASE_IMAGE when missing)
  ZG_KEEP=1        leave the node, its network and volumes in place after the run
Example: s3/tests/run.sh -k restart
USAGE
}
[[ ${1:-} == --help || ${1:-} == -h ]] && { usage; exit 0; }
[[ $EUID -eq 0 ]] || { echo "s3-tests: needs root (docker, secret file owners)" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
started=$SECONDS
scripts/ci/apt.sh python3 python3-venv
scripts/ci/docker.sh >/dev/null
venv=$(scripts/ci/venv.sh s3-tests s3/tests/requirements.txt)
if [[ -z ${ZG_GARAGE_IMAGE:-} ]]; then
  # The offline image build.sh makes (what `make up` runs without a registry), built if missing.
  ZG_GARAGE_IMAGE=$(scripts/images/build.sh --no-app --list 2>/dev/null | grep '/garage:')
  if ! docker image inspect "$ZG_GARAGE_IMAGE" >/dev/null 2>&1; then
    echo "s3-tests: building $ZG_GARAGE_IMAGE (Garage compiles for ~15 min on a cold machine)" >&2
    scripts/images/build.sh --no-app >&2
  fi
fi
: "${ZG_INIT_IMAGE:=zufang/s3-init:local}"
if ! docker image inspect "$ZG_INIT_IMAGE" >/dev/null 2>&1; then
  nice docker build -q --build-arg "BASE_IMAGE=$(sed -n 's/^BASE_IMAGE=//p' .env)" \
    -f s3/init.Dockerfile -t "$ZG_INIT_IMAGE" s3 >&2
fi
export ZG_GARAGE_IMAGE ZG_INIT_IMAGE
echo "s3-tests: image $ZG_GARAGE_IMAGE" >&2
rc=0
PYTHONDONTWRITEBYTECODE=1 nice "$venv/bin/python" -m pytest -p no:cacheprovider -v -rfE s3/tests "$@" || rc=$?
echo "s3-tests: runtime $((SECONDS - started))s" >&2
exit "$rc"
