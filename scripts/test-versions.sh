#!/usr/bin/env bash
# The fast test suite (no browser, no PostGIS, no slow tests, no notebooks) on every other supported Python.
#
#   bash scripts/test-versions.sh            # 3.12 and 3.13, side by side (make test-versions; make test runs it)
#   bash scripts/test-versions.sh 3.13       # one version
#   TEST_VERSIONS_SERIAL=1 bash scripts/test-versions.sh    # one after the other
#
# For each version: finds the interpreter (python3.X on PATH, else pyenv's versions/3.X.*, else /usr/bin/python3.X),
# creates .venv-3.X, installs the project with the pinned constraints.txt (again when pyproject.toml or
# constraints.txt are newer than the last install), and runs pytest on it.  The main .venv runs the whole suite,
# notebooks included; the notebooks exercise the same library code and are left out here to keep this step short.
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

run_one() {  # install and test one version; exit status = pytest's
    local v="$1" py="$2" venv=".venv-$1" start installed
    local stamp="$venv/.installed"
    start=$(date +%s)
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
        if [ ! -x "$venv/bin/python" ]; then
            echo "== Python $v ($py): creating $venv"
            "$py" -m venv "$venv"
        fi
        echo "== Python $v: installing the pinned dependencies into $venv"
        "$venv/bin/python" -m pip install -q --no-compile --upgrade "pip>=24"
        "$venv/bin/python" -m pip install -q --no-compile -c constraints.txt -e ".[test]"
        touch "$stamp"
    fi
    installed=$(date +%s)
    echo "== Python $v: pytest -m \"$MARKS\" (without tests/test_notebooks.py)"
    local rc=0
    "$venv/bin/python" -m pytest -p no:cacheprovider -q -m "$MARKS" --ignore=tests/test_notebooks.py || rc=$?
    echo "== Python $v: $([ $rc = 0 ] && echo passed || echo FAILED) (install $((installed - start)) s, tests $(($(date +%s) - installed)) s)"
    return $rc
}

pythons=()
for v in "${VERSIONS[@]}"; do
    py="$(find_python "$v")"
    if [ -z "$py" ]; then
        echo "test-versions: no Python $v found (tried python$v on PATH, pyenv versions/$v.*, /usr/bin/python$v)." >&2
        echo "  Fix: install it (e.g. pyenv install $v, or apt-get install python$v python$v-venv)," >&2
        echo "  or set LANDRENEW_SKIP_VERSIONS=1 to skip the other-version runs knowingly." >&2
        exit 1
    fi
    pythons+=("$py")
done

failed=()
if [ "${TEST_VERSIONS_SERIAL:-}" = 1 ] || [ ${#VERSIONS[@]} = 1 ]; then
    for i in "${!VERSIONS[@]}"; do
        run_one "${VERSIONS[$i]}" "${pythons[$i]}" || failed+=("${VERSIONS[$i]}")
    done
else
    # side by side (pytest uses one core each); each version's output is kept in a log and printed whole
    logs=$(mktemp -d)
    pids=()
    for i in "${!VERSIONS[@]}"; do
        run_one "${VERSIONS[$i]}" "${pythons[$i]}" > "$logs/${VERSIONS[$i]}.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!VERSIONS[@]}"; do
        wait "${pids[$i]}" || failed+=("${VERSIONS[$i]}")
        grep -v "^WARNING: Location 'file://" "$logs/${VERSIONS[$i]}.log" || true
    done
    rm -rf "$logs"
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "test-versions: the fast suite FAILED on Python ${failed[*]}" >&2
    exit 1
fi
echo "test-versions: the fast suite passed on Python ${VERSIONS[*]}"
