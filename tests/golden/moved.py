#!/usr/bin/env python3
"""Which figures a change moves: compares the golden JSON files with the current build's output
and prints each number that moved (old -> new, relative change), for the commit message.
  python3 tests/golden/moved.py build/gpuhours [--all]   (--all: every moved number, not only headline ones)
"""
import json, os, subprocess, sys, tempfile

HEADLINE = ("step.seconds", "step.mfu", "run.gpu_hours", "run.wall_clock_days", "run.cost_usd",
            "claim.ratio", "gpu_hours.p50", "mape", "simulated")

def walk(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k in b: walk(a[k], b[k], f"{path}.{k}" if path else k, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            label = x.get("id") or x.get("name") if isinstance(x, dict) else None
            walk(x, y, f"{path}[{label or i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a != b:
        out.append((path, a, b))

def main():
    gpuhours, everything = sys.argv[1], "--all" in sys.argv
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["bash", os.path.join(here, "golden.sh"), gpuhours, "--update"], check=False,
                       env={**os.environ, "GOLDEN_DIR": tmp}, stdout=subprocess.DEVNULL)
        for name in sorted(os.listdir(here)):
            if not name.endswith(".json") or not os.path.exists(os.path.join(tmp, name)): continue
            old, new = (json.load(open(os.path.join(d, name))) for d in (here, tmp))
            moved = []
            walk(old, new, "", moved)
            shown = [m for m in moved if everything or m[0].endswith(HEADLINE)]
            for path, a, b in shown:
                rel = (b - a) / a if a else float("inf")
                print(f"{name[:-5]}: {path}: {a:.6g} -> {b:.6g} ({rel:+.3%})")

main()
