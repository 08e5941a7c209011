#!/usr/bin/env bash
# Set up the course environment and either open the course or run the test suite.
#
#   ./dev.sh lab     install (once) and open the course in JupyterLab
#   ./dev.sh test    install (once), lint (ruff) and run the whole test suite, browser
#                    tests included
#   ./dev.sh book    install (once) and build the course as a static website in build/book/
#                    (--with-solutions adds the instructor's solutions: never publish that one)
#   ./dev.sh hub     install (once) and start the course server for a class, from roster.csv
#                    (as root; README, "Run a class"; ./dev.sh hub --help for its options)
#   ./dev.sh bench NAME   install (once) and run benchmarks/bench_NAME.py (ops, widgets,
#                    autograde, grading, cluster) with its options; it prints figures
#
# Both install the exact versions in requirements/lock.txt into .venv, so every
# student, instructor and CI run has the same environment.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
LOCK=requirements/lock.txt

install() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the lock or the package metadata changed since the last install.
    local stamp="$VENV/.installed" want
    want=$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -r "$LOCK"
        "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
        echo "$want" > "$stamp"
    fi
}

install_chromium() {
    # The browser tests drive Debian's chromium through playwright (no browser download).
    [ -x /usr/bin/chromium ] && return
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

install_proxy() {
    # The course server's proxy: configurable-http-proxy from npm, at the versions of
    # hub/package-lock.json (Node.js from the machine, or Debian's).
    if ! command -v npm >/dev/null; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
    local stamp=hub/node_modules/.installed want
    want=$(sha256sum hub/package-lock.json | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        npm ci --prefix hub --no-audit --no-fund --loglevel=error
        echo "$want" > "$stamp"
    fi
}

# Scripts of the environment (jupyter, nbgrader and the `alembic` that nbgrader runs by
# name) must be found on PATH, as if the venv were activated.
export PATH="$PWD/$VENV/bin:$PATH"

case "${1:-}" in
    lab)
        install
        shift
        # Jupyter refuses to start as root unless told; containers and these machines run as root.
        root_flag=""
        [ "$(id -u)" -ne 0 ] || root_flag="--allow-root"
        # The course's Jupyter config (jupyter-config/): its server extension serves the
        # formgrader's submission views with a Content-Security-Policy.
        export JUPYTER_CONFIG_PATH="$PWD/jupyter-config${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"
        exec "$VENV/bin/jupyter" lab --notebook-dir=. ${root_flag:+"$root_flag"} "$@"
        ;;
    test)
        install
        install_chromium
        install_proxy
        shift
        # the lint gate first (pyproject.toml's [tool.ruff]): mistakes, not layout
        "$VENV/bin/ruff" check .
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    book)
        install
        shift
        exec "$VENV/bin/python" book/build.py "$@"
        ;;
    hub)
        install
        install_proxy
        shift
        exec "$VENV/bin/python" -m course.hub "$@"
        ;;
    bench)
        install
        shift
        name=${1:?usage: ./dev.sh bench ops|widgets|autograde|grading|cluster [its options]}
        shift
        # the benchmarks share the tests' kit (tests/coursekit.py): on the path here, as
        # pytest's pythonpath setting puts it there for the tests, not by the scripts
        PYTHONPATH="$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" exec "$VENV/bin/python" "benchmarks/bench_$name.py" "$@"
        ;;
    *)
        echo "usage: ./dev.sh lab | test [pytest arguments] | book [--with-solutions] | hub [--roster roster.csv ...] | bench NAME [options]" >&2
        exit 2
        ;;
esac
