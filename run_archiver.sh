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
    echo "rra: installing rra into $VENV" >&2
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    if ! "$VENV/bin/python" -m pip install -e "$ROOT[test]" >"$VENV/install.log" 2>&1; then
        cat "$VENV/install.log" >&2
        echo "rra: installing into $VENV failed (log above, also in $VENV/install.log)" >&2
        exit 1
    fi
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
config=""
if [[ $# -gt 0 && ( "$1" == *.yaml || "$1" == *.yml ) && ! -f "$1" ]]; then
    echo "rra: config file $1 not found" >&2
    exit 1
fi
if [[ $# -gt 0 && "$1" != -* && "$1" != *=* && -f "$1" ]]; then
    config="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    shift
fi

# Legacy flags map onto the graph; anything else goes to doit as it is.
tasks=() vars=() opts=() rra_cmd=() rra_opts=() run="" dry_run=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --incremental) ;;                                   # always incremental now
        --import-only|--retry-failed-import) tasks+=(import) ;;
        --migrate-only|--retry-failed-migrate) tasks+=(migrate) ;;
        --report-status) rra_cmd=(report) ;;
        --compare-state) rra_cmd=(report --live) ;;
        --recover-import-state) rra_cmd=(recover --stage import) ;;
        --recover-migrate-state) rra_cmd=(recover --stage migrate) ;;
        --validate) vars+=(validate=1) ;;
        -v|--verbose) vars+=(verbose=1); rra_opts+=(-v) ;;
        -n) opts+=(-n "$2"); shift ;;
        -n*) opts+=("$1") ;;
        --run) run="$2"; shift ;;
        --run=*) run="${1#--run=}" ;;
        --dry-run) dry_run=1 ;;
        *) opts+=("$1") ;;
    esac
    shift
done
[[ -n "$config" ]] && vars+=("config=$config") && rra_opts+=(--config "$config")

if [[ ${#rra_cmd[@]} -gt 0 ]]; then
    exec "$VENV/bin/rra" "${rra_opts[@]}" "${rra_cmd[@]}"
fi
if [[ -n "$run" ]]; then
    [[ "$run" =~ ^[0-9]+$ ]] || { echo "rra: --run takes a run number, got '$run'" >&2; exit 1; }
    opts+=(-a); tasks=("fhiclize:$run" "validate:$run")    # rebuild every target of the run
fi
doit=("$VENV/bin/doit" -f "$ROOT/dodo.py")
if [[ -n "$dry_run" ]]; then
    # what would run: tasks doit finds out of date (R), without running them
    "${doit[@]}" list --all --status "${tasks[@]}" "${vars[@]}" | awk '$1 == "R" && $2 ~ /:/ {print $2}'
    exit "${PIPESTATUS[0]}"
fi
exec "${doit[@]}" "${opts[@]}" "${tasks[@]}" "${vars[@]}"
