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

usage() {
    cat <<'EOF'
Usage: run_archiver.sh [CONFIG.yaml] [flags] [doit arguments...]
       run_archiver.sh --init-venv | --test [pytest arguments...] | --help

Archives every run record that is out of date (doit on dodo.py). Without CONFIG the
config is $RRA_CONFIG, else ./config.yaml of the current directory; the bundled template
only when started from the repository directory itself.

  --incremental            the default (accepted for legacy cron lines)
  --import-only            fhiclize + artdaqdb only (--retry-failed-import: the same)
  --migrate-only           blob + ucondb + validate (--retry-failed-migrate: the same)
  --run R                  rebuild every target of run R (with --import-only: fhiclize, artdaqdb)
  --dry-run                list every task that would run and "N runs, M tasks"; run nothing
  --validate               also run the legacy content checks on validation
  -n N                     N worker processes
  -q, --quiet              no line per task and no progress: failures and the summary only
  -v, --verbose            debug logging
  --report-status          rra report (with --compare-state: rra report --live)
  --compare-state          rra report --live
  --recover-import-state   rra recover --stage import (with --dry-run: writes nothing)
  --recover-migrate-state  rra recover --stage migrate (with --dry-run: writes nothing)

Anything else goes to doit as it is (e.g. list, validate:1234, full=1).
Exit codes: 0 all done, 1 some runs failed or a known error, 2 an rra bug, 130 interrupted.
EOF
}

case "${1:-}" in
    --init-venv) init_venv; exit 0 ;;
    --test)
        # The suite starts a few hundred Python processes: they share compiled bytecode, kept in
        # the venv (the tree stays free of __pycache__) even where PYTHONDONTWRITEBYTECODE is set.
        shift; ensure_venv; cd "$ROOT"
        unset PYTHONDONTWRITEBYTECODE; export PYTHONPYCACHEPREFIX="$VENV/pycache"
        # Its temporary files (run records, archives, doit states: ~0.5 GB a run, fsynced) go
        # to memory where /dev/shm is a tmpfs with 4 GB free that may hold programs (tests run
        # stand-in tools from there), unless TMPDIR says where: the same code runs, and the
        # disk's fsyncs, which no test can observe, cost a fifth of it.
        if [[ -z "${TMPDIR:-}" && "$(stat -f -c %T /dev/shm 2>/dev/null)" == tmpfs ]] &&
           ! awk '$2 == "/dev/shm" && $4 ~ /(^|,)noexec(,|$)/ { found = 1 } END { exit !found }' /proc/mounts &&
           (( $(df -Pk /dev/shm | awk 'NR == 2 { print $4 }') > 4 * 1024 * 1024 )); then
            export TMPDIR=/dev/shm
        fi
        exec "$VENV/bin/python" -m pytest -q "$@" ;;
    -h|--help) usage; exit 0 ;;
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

# Legacy flags map onto the graph; anything else goes to doit as it is. Flags are collected
# first and make one command at the end, so their order does not matter.
stages="" vars=() opts=() rra_opts=() run="" dry_run="" report="" live="" recover=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --incremental) ;;                                   # always incremental now
        --import-only|--retry-failed-import) stages=import ;;
        --migrate-only|--retry-failed-migrate) stages=migrate ;;
        --report-status) report=1 ;;
        --compare-state) report=1; live=1 ;;
        --recover-import-state) recover=import ;;
        --recover-migrate-state) recover=migrate ;;
        --validate) vars+=(validate=1) ;;
        -v|--verbose) vars+=(verbose=1); rra_opts+=(-v) ;;
        -q|--quiet) vars+=(quiet=1) ;;
        -h|--help) usage; exit 0 ;;
        -n|--run)
            [[ $# -ge 2 ]] || { echo "rra: $1 takes a number" >&2; exit 1; }
            if [[ "$1" == -n ]]; then opts+=(-n "$2"); else run="$2"; fi
            shift ;;
        -n*) opts+=("$1") ;;
        --run=*) run="${1#--run=}" ;;
        --dry-run) dry_run=1 ;;
        *) opts+=("$1") ;;
    esac
    shift
done
[[ -n "$config" ]] && vars+=("config=$config") && rra_opts+=(--config "$config")

if [[ -n "$recover" ]]; then
    exec "$VENV/bin/rra" "${rra_opts[@]}" recover --stage "$recover" ${dry_run:+--dry-run}
fi
if [[ -n "$report" ]]; then
    exec "$VENV/bin/rra" "${rra_opts[@]}" report ${live:+--live}
fi

tasks=() forced=()
[[ -n "$stages" ]] && tasks=("$stages")
if [[ -n "$run" ]]; then
    [[ "$run" =~ ^[0-9]+$ ]] || { echo "rra: --run takes a run number, got '$run'" >&2; exit 1; }
    opts+=(-a)                                              # rebuild, even if up to date
    if [[ "$stages" == import ]]; then
        tasks=("fhiclize:$run" "artdaqdb:$run")
    else
        tasks=("fhiclize:$run" "validate:$run")             # the migrate stages need the import's
    fi
    forced=(--forced)
fi
doit=("$VENV/bin/doit" -f "$ROOT/dodo.py")
if [[ -n "$dry_run" ]]; then
    listed=()                                               # --run R: R's tasks; else all
    if [[ -n "$run" ]]; then
        for stage in fhiclize artdaqdb blob ucondb validate; do listed+=("$stage:$run"); done
    fi
    status="$("${doit[@]}" list --all --status "${listed[@]}" "${vars[@]}")" || exit $?
    printf '%s\n' "$status" | "$VENV/bin/python" -m rra.dryrun --stages "${stages:-all}" "${forced[@]}"
    exit $?
fi
exec "${doit[@]}" "${opts[@]}" "${tasks[@]}" "${vars[@]}"
