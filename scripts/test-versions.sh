#!/usr/bin/env bash
# The fast test suite (no browser, no PostGIS, no slow tests) on every other supported Python version.
#
#   bash scripts/test-versions.sh            # 3.12 and 3.13 (make test-versions; make test runs it)
#   bash scripts/test-versions.sh 3.13       # one version
#
# For each version: finds the interpreter (python3.X on PATH, else pyenv's versions/3.X.*, else /usr/bin/python3.X),
# creates .venv-3.X, installs the project with the pinned constraints.txt (again when pyproject.toml or
# constraints.txt are newer than the last install), and runs pytest on it.  The main .venv (Python 3.11–3.13) runs the whole suite.
# A missing interpreter is an error, with the fix; LANDRENEW_SKIP_VERSIONS=1 skips this step knowingly.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.12 3.13)
MARKS="not browser and not postgis and not slow"

if [ "${LANDRENEW_SKIP_VERSIONS:-}" = 1 ]; then
    echo "!!! LANDRENEW_SKIP_VERSIONS=1: the fast suite is NOT run on Python ${VERSIONS[*]} !!!" >&2
    exit 0
fi

find_python() {  # prints a working interpreter of version $1, or nothing
    local v="$1" c
    for c in "$(command -v "python$v" 2>/dev/null || true)" \
             "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v" \
             "/usr/bin/python$v" "/usr/local/bin/python$v"; do
        [ -n "$c" ] && [ -x "$c" ] || continue
        if "$c" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" 2>/dev/null; then
            echo "$c"
            return
        fi
    done
}

failed=()
for v in "${VERSIONS[@]}"; do
    py="$(find_python "$v")"
    if [ -z "$py" ]; then
        echo "test-versions: no Python $v found (tried python$v on PATH, pyenv versions/$v.*, /usr/bin/python$v)." >&2
        echo "  Fix: install it (e.g. pyenv install $v, or apt-get install python$v python$v-venv)," >&2
        echo "  or set LANDRENEW_SKIP_VERSIONS=1 to skip the other-version runs knowingly." >&2
        exit 1
    fi
    venv=".venv-$v"
    stamp="$venv/.installed"
    start=$(date +%s)
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
        if [ ! -x "$venv/bin/python" ]; then
            echo "== Python $v ($py): creating $venv"
            "$py" -m venv "$venv"
        fi
        echo "== Python $v: installing the pinned dependencies into $venv"
        "$venv/bin/python" -m pip install -q --upgrade "pip>=24"
        "$venv/bin/python" -m pip install -q -c constraints.txt -e ".[test]"
        touch "$stamp"
    fi
    installed=$(date +%s)
    echo "== Python $v: pytest -m \"$MARKS\""
    if "$venv/bin/python" -m pytest -p no:cacheprovider -q -m "$MARKS"; then
        echo "== Python $v: passed (install $((installed - start)) s, tests $(($(date +%s) - installed)) s)"
    else
        failed+=("$v")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "test-versions: the fast suite failed on Python ${failed[*]}" >&2
    exit 1
fi
