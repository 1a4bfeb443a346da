"""rra's FHiCL engine against the C++ library, side by side in one process: MB/s and the ratio.

    python bench/fhicl_speed.py [--rounds N] [--mb SIZE] [--corpus DIR ...]

to-JSON: conftoolp.fhicl_to_json(text) against rra.fhicl.to_json(text) (what the store writes: the bytes of
cppjson.dumps(to_document(text)), made without the tree), same output.
Export: conftoolp.read_document (dataformat fhicl) of documents stored with write_document,
against to_fhicl(cppjson.loads(bytes)) of the same stored files (the C++ side also looks the
document up in its index). Inputs: the 67 golden files (../shared/golden/artdaqdb/fhicl/input)
and generated files of the same shape at 50 KB and SIZE MB (the two rates show whether time
grows faster than size). Passes alternate, C++ then rra; each is timed in CPU seconds of this
process, as the machines are shared; the ratio is best against best, and the spread is the lowest
and highest ratio of the rounds. Without ../shared/reference the C++ columns are left out.
"""

import argparse
import gc
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from rra.fhicl import cppjson, to_fhicl, to_json

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
GOLDEN = DATA / "golden/artdaqdb/fhicl/input"  # a copy of ../shared/golden/artdaqdb/fhicl/input
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference/artdaq_database"
_STAMP = re.compile(r'"timestamp" : "[^"]*"')


def generated(size=5 * 1024 * 1024):
    """A FHiCL file of about `size` bytes: nested tables, sequences, comments, prolog."""
    parts, total, i = ['BEGIN_PROLOG\n#include "common.fcl"\nstd: { a: 1 b: "x" }\nEND_PROLOG\n'], 0, 0
    while total < size:
        block = (
            "# component %d\ncomponent%d: {\n  fragment_receiver: {\n    board_id: %d # the board\n"
            '    generator: ToySimulator\n    request_address: "227.128.12.26"\n'
            "    pattern: '(.*)_%d(\\.fcl$)'\n    ranks: [%d, %d, \"x\", [1, 2]]\n    rate: 1.5e3\n"
            '    common: @local::std\n  }\n  metrics: { brFile: { level: 4 fileName: "br_%d.log" } }\n}\n'
            % (i, i, i, i, i, i + 1, i)
        )
        parts.append(block)
        total += len(block)
        i += 1
    return "".join(parts)


def conftoolp():
    """The C++ module, or (None, why not)."""
    if not REFERENCE.is_dir():
        return None, "no %s (a clone without ../shared)" % REFERENCE
    sys.path.insert(0, str(REFERENCE / "python"))
    try:
        import conftoolp as module
    except ImportError as e:
        return None, "conftoolp does not import: %s" % e
    return module, ""


def cpu(func):
    gc.collect()
    start = time.process_time()
    func()
    return time.process_time() - start


def compare(label, nbytes, rounds, rra, cpp=None):
    """Alternate cpp and rra `rounds` times; print best MB/s of each and the ratio with its spread."""
    times = {"cpp": [], "rra": []}
    for _ in range(rounds):
        if cpp:
            times["cpp"].append(cpu(cpp))
        times["rra"].append(cpu(rra))
    best = {k: min(v) for k, v in times.items() if v}
    line = "%-30s %6.2f MB  rra %6.2f MB/s" % (label, nbytes / 1e6, nbytes / best["rra"] / 1e6)
    if cpp:
        ratios = [c / r for c, r in zip(times["cpp"], times["rra"])]
        line += "  C++ %5.2f MB/s  ratio %4.2fx (rounds %.2f-%.2f)" % (
            nbytes / best["cpp"] / 1e6,
            best["cpp"] / best["rra"],
            min(ratios),
            max(ratios),
        )
    print(line, flush=True)
    return nbytes / best["rra"] / 1e6


def compare_to_json(api, texts, rounds, label):
    nbytes = sum(len(t.encode()) for _, t in texts)
    rra = lambda: [to_json(t, n) for n, t in texts]
    cpp = api and (lambda: [api.fhicl_to_json(t, n) for n, t in texts])
    if api:
        unstamped = lambda text: _STAMP.sub("", text)
        same = sum(unstamped(api.fhicl_to_json(t, n)[1]) == unstamped(to_json(t, n)) for n, t in texts)
        if same != len(texts):
            print("  (!) %d of %d outputs differ from the C++" % (len(texts) - same, len(texts)))
    return compare("%s to-JSON" % label, nbytes, rounds, rra, cpp)


def export(api, texts, rounds, label):
    """Store texts with the C++ write_document, then export them both ways."""
    with tempfile.TemporaryDirectory(prefix="rra-fhicl-speed-") as tmp:
        os.environ["ARTDAQ_DATABASE_URI"] = "filesystemdb://%s/db" % tmp
        queries = []
        for i, (_, text) in enumerate(texts):
            where = {"configurations.name": "1/bench", "entities.name": "e%05d" % i}
            store = {
                "operation": "store",
                "dataformat": "fhicl",
                "collection": "bench",
                "filter": dict(where, version="1/bench", **{"runs.name": "1"}),
            }
            ok, out = api.write_document(json.dumps(store), text)
            if ok is not True:
                raise SystemExit("write_document failed: %s" % out[:200])
            # no 'operation' here: the module's own (not 'readdocument') is the one it accepts
            queries.append(json.dumps({"dataformat": "fhicl", "collection": "bench", "filter": where}))
        stored = [p.read_bytes() for p in sorted(Path(tmp, "db/bench").glob("*.json")) if p.name != "index.json"]
        cpp_out = sorted(api.read_document(q)[1] for q in queries)
        rra_out = sorted(to_fhicl(cppjson.loads(b)) for b in stored)
        if cpp_out != rra_out:
            differ = sum(a != b for a, b in zip(cpp_out, rra_out))
            print("  (!) %d of %d exports differ from the C++" % (differ, len(queries)))
        nbytes = sum(len(t.encode()) for t in rra_out)
        return compare(
            "%s export" % label,
            nbytes,
            rounds,
            lambda: [to_fhicl(cppjson.loads(b)) for b in stored],
            lambda: [api.read_document(q) for q in queries],
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds for small inputs (3 for the big one)")
    parser.add_argument("--mb", type=float, default=5.0, help="size of the big generated file in MB")
    parser.add_argument(
        "--corpus",
        action="append",
        default=[],
        metavar="DIR",
        help="also to-JSON every .fcl under DIR (repeatable), e.g. real DAQ configurations",
    )
    args = parser.parse_args(argv)
    api, why = conftoolp()
    if api is None:
        print("C++ left out: %s" % why)
    small = [("gen50k.fcl", generated(50 * 1000))]
    big = [("big.fcl", generated(int(args.mb * 1e6)))]
    if GOLDEN.is_dir():
        golden = [(p.name, p.read_text()) for p in sorted(GOLDEN.rglob("*.fcl"))]
        compare_to_json(api, golden, args.rounds, "golden (%d files)" % len(golden))
    else:
        golden = None
        print("golden files left out: no %s" % GOLDEN)
    for corpus in args.corpus:
        texts = [(p.name, p.read_text()) for p in sorted(Path(corpus).rglob("*.fcl"))]
        compare_to_json(api, texts, args.rounds, "%s (%d files)" % (Path(corpus).name, len(texts)))
    rate_small = compare_to_json(api, small, args.rounds, "generated 50 KB")
    rate_big = compare_to_json(api, big, 3, "generated %.1f MB" % args.mb)
    print("%-30s %.2f (1.0 = linear in size)" % ("  to-JSON 50 KB rate / big rate", rate_small / rate_big))
    if api:
        if golden:
            export(api, golden, args.rounds, "golden (%d files)" % len(golden))
        export(api, small, args.rounds, "generated 50 KB")
        export(api, big, 3, "generated %.1f MB" % args.mb)
    else:
        inputs = [
            ("golden" if golden else "generated 50 KB", golden or small, args.rounds),
            ("generated %.1f MB" % args.mb, big, 3),
        ]
        for label, texts, rounds in inputs:
            stored = [cppjson.encode_bytes(to_json(t, n)) for n, t in texts]
            nbytes = sum(len(to_fhicl(cppjson.loads(b)).encode()) for b in stored)
            compare(
                "%s export (rra only)" % label, nbytes, rounds, lambda: [to_fhicl(cppjson.loads(b)) for b in stored]
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
