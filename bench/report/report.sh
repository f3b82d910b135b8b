#!/usr/bin/env bash
# Markdown + PNG report from benchmark results (bench/sysbench/*.sh, bench/http/load.sh),
# optionally compared to a baseline run. The work is in bench/report/report.py; this wrapper
# finds a python3 with matplotlib: $REPORT_PYTHON, else the system python3 if it has matplotlib
# (Debian: python3-matplotlib, e.g. in the bench image), else a cached venv built from
# bench/report/requirements.txt by scripts/ci/venv.sh.
#   bench/report/report.sh RESULTS... [--baseline RESULTS] [--threshold PCT] [--out DIR] [--fail-on-regression]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The repository's venv helper; absent in the bench image, which has Debian's matplotlib instead.
venv_sh=$here/../../scripts/ci/venv.sh
py=${REPORT_PYTHON:-}
if [[ -z $py ]]; then
  command -v python3 >/dev/null 2>&1 || { echo "report: error: python3 not found (Debian: apt-get install python3)" >&2; exit 127; }
  case " $* " in
    *" -h "*|*" --help "*) exec python3 "$here/report.py" "$@" ;;
  esac
  if python3 -c 'import matplotlib' >/dev/null 2>&1; then
    py=python3
  elif [[ -x $venv_sh ]]; then
    venv=$("$venv_sh" report "$here/requirements.txt") \
      || { echo "report: error: could not build the matplotlib venv (needs python3-venv and PyPI)" >&2; exit 127; }
    py=$venv/bin/python
  else
    echo "report: error: matplotlib not found: install python3-matplotlib or set REPORT_PYTHON" >&2
    exit 127
  fi
fi
exec "$py" "$here/report.py" "$@"
