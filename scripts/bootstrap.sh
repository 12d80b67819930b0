#!/usr/bin/env bash
# Builds .venv with everything this CPU machine can run: profiler, torch, TensorFlow (+Keras),
# MXNet, Chainer, numba, the probes, and the dev tools. Idempotent: re-runs only when
# pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.bootstrap-$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [[ -f "$stamp" ]]; then
  exit 0
fi
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q)
# This machine's pip config names local wheel folders that may be absent; pip warns once per package.
quiet() { "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2); }
quiet "${pip[@]}" -e ".[cpu,dev]"
# Chainer 7.8.1 ships only an sdist whose setup.py breaks on setuptools>=70 and under build isolation.
quiet "${pip[@]}" "setuptools<70" wheel
quiet "${pip[@]}" --no-build-isolation "chainer==7.8.1"
# Chainer also needs setuptools<70 at run time (numpy.distutils imports distutils.msvccompiler);
# torch declares setuptools>=77 but only uses it to build C++ extensions, which no scenario does.
# HolisticTraceAnalysis, an independent reader the tests check our Chrome export with, needs numpy >= 2,
# which MXNet 1.9 in $VENV cannot have: it gets an environment of its own. Optional: where it cannot
# be installed, the tests that use it skip with the reason (SKIP_HTA=1 leaves it out).
HTA_VENV=${HTA_VENV:-.venv-hta}
if [[ "${SKIP_HTA:-}" != 1 ]]; then
  if ! { [[ -x "$HTA_VENV/bin/python" ]] || "$PYTHON" -m venv "$HTA_VENV"; } ||
     ! quiet "$HTA_VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
       "HolisticTraceAnalysis==0.5.0"; then
    echo "bootstrap: HolisticTraceAnalysis could not be installed in $HTA_VENV; the tests that use it will skip" >&2
  fi
fi
rm -f "$VENV"/.bootstrap-*
touch "$stamp"
