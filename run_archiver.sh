#!/usr/bin/env bash
# rra's entry point for people and cron:
#   ./run_archiver.sh [config.yaml] [doit args...]   archive (sets itself up on first use)
#   ./run_archiver.sh --init-venv                    (re)create .venv and install rra
#   ./run_archiver.sh --test [pytest args...]        run the test suite in .venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

export LC_ALL=C.UTF-8 LANG=C.UTF-8 PYTHONIOENCODING=utf-8

init_venv() {
    echo "rra: creating $VENV and installing rra into it" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
    touch "$VENV/.rra-installed"
}

ensure_venv() {
    if [[ ! -f "$VENV/.rra-installed" || "$ROOT/pyproject.toml" -nt "$VENV/.rra-installed" ]]; then
        init_venv
    fi
}

if [[ -f "$ROOT/archiver.env" ]]; then
    set -a; source "$ROOT/archiver.env"; set +a
fi

case "${1:-}" in
    --init-venv) init_venv; exit 0 ;;
    --test) shift; ensure_venv; cd "$ROOT"; exec "$VENV/bin/python" -m pytest -q "$@" ;;
esac

ensure_venv
args=()
if [[ $# -gt 0 && "$1" != -* && "$1" != *=* && -f "$1" ]]; then
    args+=("config=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")")
    shift
fi
exec "$VENV/bin/doit" -f "$ROOT/dodo.py" "$@" "${args[@]}"
