"""MB/s of rra.fhicl to-json and to-fhicl: the golden corpus and a generated 5 MB file.

The real C++ fhicl_to_json converts the golden corpus at 0.76 MB/s on these machines.
"""
import gc
import sys
import time
from pathlib import Path

from rra.fhicl import cppjson, to_document, to_fhicl

DATA = Path(__file__).resolve().parents[1] / 'tests' / 'data'
GOLDEN = DATA / 'golden/artdaqdb/fhicl/input'


def generated(size=5 * 1024 * 1024):
    """A FHiCL file of about `size` bytes: nested tables, sequences, comments, prolog."""
    parts, total, i = ['BEGIN_PROLOG\n#include "common.fcl"\nstd: { a: 1 b: "x" }\nEND_PROLOG\n'], 0, 0
    while total < size:
        block = ('# component %d\ncomponent%d: {\n  fragment_receiver: {\n    board_id: %d # the board\n'
                 '    generator: ToySimulator\n    request_address: "227.128.12.26"\n'
                 '    pattern: \'(.*)_%d(\\.fcl$)\'\n    ranks: [%d, %d, "x", [1, 2]]\n    rate: 1.5e3\n'
                 '    common: @local::std\n  }\n  metrics: { brFile: { level: 4 fileName: "br_%d.log" } }\n}\n'
                 % (i, i, i, i, i, i + 1, i))
        parts.append(block)
        total += len(block)
        i += 1
    return ''.join(parts)


def rate(label, nbytes, func, repeat=3):
    best = min(_timed(func) for _ in range(repeat))
    print('%-34s %8.2f MB/s  (%.1f KB in %.3f s)' % (label, nbytes / best / 1e6, nbytes / 1e3, best))
    return nbytes / best / 1e6


def _timed(func):
    gc.collect()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main():
    texts = [(p.name, p.read_text()) for p in sorted(GOLDEN.rglob('*.fcl'))]
    size = sum(len(t.encode()) for _, t in texts)
    docs = [to_document(t, n) for n, t in texts]
    rate('golden to-json (%d files)' % len(texts), size, lambda: [cppjson.dumps(to_document(t, n)) for n, t in texts])
    rate('golden to-fhicl', size, lambda: [to_fhicl(d) for d in docs])
    big = generated()
    nbytes = len(big.encode())
    doc = to_document(big, 'big.fcl')
    rate('generated to-json (%.1f MB)' % (nbytes / 1e6), nbytes, lambda: cppjson.dumps(to_document(big, 'big.fcl')), 2)
    rate('generated to-fhicl', nbytes, lambda: to_fhicl(doc), 2)
    text = cppjson.dumps(doc)
    rate('generated JSON loads (%.1f MB)' % (len(text) / 1e6), len(text), lambda: cppjson.loads(text), 2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
