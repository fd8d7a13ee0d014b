"""Peak memory of ``jaxnet.data.load_csv`` against the file's size, for narrow and wide cells (issue 18 §2.10).

Not part of the test suite or of ``benchmarks.run``. Generates CSV files of
about ``--mib`` MiB in a temporary folder, then loads each in a fresh
subprocess that imports ``jaxnet.data`` without the rest of jaxnet (no jax),
resets the peak-RSS counter (``/proc/self/clear_refs``) and reports the peak
resident memory above the memory before the load::

    python benchmarks/csv_memory.py --mib 64
    python benchmarks/csv_memory.py --mib 64 --src /path/to/other/checkout  # compare another version

Linux only (reads ``/proc/self/status``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CASES = {
    # name: (columns, cell writer)
    "0/1 cells": (100, lambda rng, n, k: rng.integers(0, 2, size=(n, k)).astype(str)),
    "4-decimal cells": (20, lambda rng, n, k: np.char.mod("%.4f", rng.normal(size=(n, k)))),
    "17-digit cells": (20, lambda rng, n, k: np.char.mod("%.17g", rng.normal(size=(n, k)))),
}

CHILD = r"""
import json, resource, sys, types
pkg = types.ModuleType("jaxnet"); pkg.__path__ = [sys.argv[1] + "/jaxnet"]; sys.modules["jaxnet"] = pkg
import numpy as np
import jaxnet.data as data

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM (peak RSS) to the current RSS
x, y, names = data.load_csv(sys.argv[2], dtype=np.dtype(sys.argv[3]), progress=False)
print(json.dumps({"peak": status("VmHWM") - before, "arrays": x.nbytes + y.nbytes, "rows": len(x)}))
"""


def write_file(path: str, k: int, cells, mib: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    target = int(mib * 2**20)
    with open(path, "w") as f:
        f.write(",".join(f"c{j}" for j in range(k)) + "\n")
        while f.tell() < target:
            block = cells(rng, 2000, k)
            f.write("\n".join(",".join(row) for row in block) + "\n")
    return os.path.getsize(path)


def measure(src: str, path: str, dtype: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, src, path, dtype], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=float, default=64.0, help="size of each generated file (default 64)")
    ap.add_argument("--src", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--dtype", action="append", help="float64 and/or float32 (default: both)")
    ap.add_argument("--only", action="append", help="a case name (repeatable; default: all)")
    args = ap.parse_args()
    args.dtype = args.dtype or ["float64", "float32"]
    print(f"jaxnet at {args.src}; files of ~{args.mib:g} MiB")
    print(f"{'file':<16} {'dtype':<8} {'rows':>8} {'arrays/file':>11} {'peak/file':>9} {'peak-arrays':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (k, cells) in CASES.items():
            if args.only and name not in args.only:
                continue
            path = os.path.join(tmp, "d.csv")
            size = write_file(path, k, cells, args.mib)
            for dtype in args.dtype:
                r = measure(args.src, path, dtype)
                extra = r["peak"] - r["arrays"]
                print(
                    f"{name:<16} {dtype:<8} {r['rows']:>8} {r['arrays'] / size:>11.2f} {r['peak'] / size:>9.2f} "
                    f"{extra / 2**20:>8.1f} MiB ({extra / size:.3f}x the file)"
                )


if __name__ == "__main__":
    main()
