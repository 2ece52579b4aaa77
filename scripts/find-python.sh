#!/usr/bin/env bash
# Prints the path of a Python 3.13 interpreter: the one Azure Functions runs
# this app on (through the worker library azure-functions-runtime).
# Looks on PATH first, then in pyenv's versions; names the fix when none is found.
set -euo pipefail
is_313() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; }
for candidate in python3.13 python3 python; do
  path=$(command -v "$candidate" 2>/dev/null || true)
  if [ -n "$path" ] && is_313 "$path"; then echo "$path"; exit 0; fi
done
root=$( (pyenv root 2>/dev/null) || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for path in $(ls -d "$root"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V -r); do
  if is_313 "$path"; then echo "$path"; exit 0; fi
done
echo "error: Python 3.13 not found (looked on PATH and in $root/versions); install it, e.g. 'pyenv install 3.13', or run make with PYTHON=/path/to/python3.13" >&2
exit 1
