#!/usr/bin/env bash
# Runs bench/peers.py in its own virtual environment, made from bench/requirements.txt on first
# use and remade whenever that file changes. Only peers.py's JSON goes to stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${THINKTWICE_BENCH_VENV:-$HOME/.cache/thinktwice/bench-venv}
reqs=$here/requirements.txt
python=${PYTHON:-python3}

# The stamp holds the hash of the requirements and of the interpreter that made the venv; it is
# written only after pip succeeds, so an interrupted install is redone next time.
want=$( { cat "$reqs"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
stamp=$venv/.thinktwice-requirements
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "run-peers: installing the peer benchmarks' packages into $venv (once; a few hundred MB)" >&2
  if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    echo "run-peers: $venv exists and is not a virtual environment; remove it or set THINKTWICE_BENCH_VENV" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$venv")"
  # --clear: start from an empty venv, so nothing of an older set of packages lingers.
  "$python" -m venv --clear "$venv" >&2 || {
    echo "run-peers: '$python -m venv' failed; install python3-venv or set PYTHON to a Python 3.11+" >&2
    exit 1
  }
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs" >&2 || {
    echo "run-peers: pip could not install $reqs (is PyPI reachable?)" >&2
    exit 1
  }
  echo "$want" > "$stamp"
fi
exec "$venv/bin/python" "$here/peers.py" "$@"
