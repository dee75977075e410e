#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter: Rasa Open Source 3.6 runs on 3.8 to 3.10 only.
set -euo pipefail
candidates=(python3.10)
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
else
  root=${PYENV_ROOT:-$HOME/.pyenv}
fi
for dir in "$root"/versions/3.10*/bin; do
  [ -x "$dir/python3.10" ] && candidates+=("$dir/python3.10")
done
for candidate in "${candidates[@]}"; do
  if path=$(command -v "$candidate" 2>/dev/null) && \
     "$path" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
cat >&2 <<'MSG'
Python 3.10 was not found (on PATH as python3.10, or under pyenv).
Rasa Open Source 3.6.21 needs Python 3.8-3.10. Install 3.10, for example:
  pyenv install 3.10.13      or      apt-get install python3.10 python3.10-venv
then run make again.
MSG
exit 1
