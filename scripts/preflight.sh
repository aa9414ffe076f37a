#!/usr/bin/env bash
# The runner preflight of the action (action.yml), before anything is installed:
#   scripts/preflight.sh PYTHON
# One `::error` line saying what to install or which input to set, exit 2 — never a traceback.
set -uo pipefail
python="${1:?usage: preflight.sh PYTHON}"
error() { local line="$*"; echo "::error title=aprqa preflight::${line//[$'\r\n']/ }"; exit 2; }
hint="add actions/setup-python (python-version: '3.11') before this action, or set its input python to a Python 3.11 or newer"
if ! command -v "$python" > /dev/null 2>&1; then
  error "the Python interpreter '$python' is not on this runner: $hint"
fi
# Parsed by any Python 3 (and 2): prints the version, exits 1 when it is older than 3.11.
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null)"
case $? in
  0) ;;
  1) error "apr-qa-action needs Python 3.11 or newer; '$python' is Python $version: $hint" ;;
  *) error "'$python' does not run as a Python interpreter: $hint" ;;
esac
if ! "$python" -c 'import venv, ensurepip' > /dev/null 2>&1; then
  error "'$python' (Python $version) cannot create a virtual environment: install its venv module (Debian/Ubuntu: apt-get install python$version-venv)"
fi
echo "preflight: Python $version at $(command -v "$python")"
