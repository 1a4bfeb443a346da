#!/usr/bin/env bash
# The stop-time demo, on a copy: the repository stays as it is (git status clean).
#   examples/stop_time_demo.sh [DIR]      (default: work/demo, which git ignores)
# 1. copies examples/run_records to DIR/run_records and archives it into DIR/work
#    (the template's defaults: filesystem artdaqDB, embedded UconDB store);
# 2. appends a stop time to the running run 1004, as DAQInterface does at the stop
#    transition (two lines at the end of metadata.txt);
# 3. archives again: only run 1004 is rebuilt, one new artdaqDB version and one new
#    UconDB version of its blob and of its files (ucon_db.files_object).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$(mkdir -p "${1:-$ROOT/work/demo}" && cd "${1:-$ROOT/work/demo}" && pwd)"
rm -rf "$DIR/run_records" "$DIR/work"
cp -R "$ROOT/examples/run_records" "$DIR/run_records"
export RUN_RECORDS_DIR="$DIR/run_records" WORK_DIR="$DIR/work"
archive() { "$ROOT/run_archiver.sh" "$ROOT/config.yaml.template" "$@"; }

echo "== 1. archive the five example runs (1004 is still running)"
archive
echo "== 2. the stop transition of run 1004"
meta="$DIR/run_records/1004/metadata.txt"
chmod u+w "$meta"
printf '\nDAQInterface stop time: %s\n\nTotal events: %s\n' "Wed Apr  3 03:41:17 UTC 2024" 1843 >> "$meta"
tail -4 "$meta"
echo "== 3. what would run, then archive again"
archive --dry-run
archive
echo "== what the log says about run 1004: two artdaqDB versions, two UconDB versions of each object"
grep -F '[run 1004]' "$WORK_DIR/archiver.log" | grep -E 'stored 1004/|uploaded|replaced' || true
