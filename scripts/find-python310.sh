#!/usr/bin/env bash
# Print the path of a working Python 3.10 (Rasa 3.6 needs exactly 3.10).
# `python3.10` on PATH may be a pyenv shim that exists but refuses to run,
# so every candidate is actually executed before it is chosen.
set -u
candidates=()
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root 2>/dev/null)
  for p in "$root"/versions/3.10.*/bin/python3.10; do [ -x "$p" ] && candidates+=("$p"); done
fi
for p in "${HOME:-/root}"/.pyenv/versions/3.10.*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
  [ -x "$p" ] && candidates+=("$p")
done
for p in "${candidates[@]}"; do
  if v=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) && [ "$v" = "3.10" ]; then
    echo "$p"; exit 0
  fi
done
echo "error: no working Python 3.10 found. Rasa 3.6 needs Python 3.10: install it (e.g. 'pyenv install 3.10') or put python3.10 on PATH." >&2
exit 1
