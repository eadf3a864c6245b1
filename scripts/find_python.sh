#!/usr/bin/env bash
# Print the path of a Python interpreter of the version given (e.g. 3.13): python3.13
# on the PATH if it runs, else one that pyenv has installed. Exits 1 when there is none.
set -euo pipefail
version="$1"
if command -v "python$version" >/dev/null && "python$version" -c "" 2>/dev/null; then
    command -v "python$version"
    exit 0
fi
root="${PYENV_ROOT:-$HOME/.pyenv}"
for candidate in $(ls -d "$root/versions/$version".* 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/bin/python$version" ]; then
        echo "$candidate/bin/python$version"
        exit 0
    fi
done
echo "livebell: no Python $version found (python$version on the PATH, or pyenv)" >&2
exit 1
