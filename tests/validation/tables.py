#!/usr/bin/env python3
"""Regenerates the figures of docs/validation.md from `gpuhours validate --json`: the summary
line, the table by group and the table of cases (between the markers in the file).
  python3 tests/validation/tables.py build/gpuhours
"""
import json, os, re, subprocess, sys

def main():
    gpuhours = sys.argv[1]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    v = json.loads(subprocess.run([gpuhours, "validate", "--json"], cwd=root, capture_output=True, text=True).stdout)
    # Training cases here; the serving cases are in docs/serving.md, their own groups and limits.
    cases, gated = [c for c in v["cases"] if not c["group"].startswith("serving")], v["gated"]
    pct = lambda x: f"{100 * x:.1f}%"
    sources = len({c["source"].split(",")[0] for c in cases})
    verdict = "PASS" if v["passed"] else "FAIL"
    target = "met" if v["meets_target"] else "not met"
    summary = (f"Now: **{len(cases)} cases, MAPE {pct(v['mape'])} over all, worst {pct(v['worst_abs_error'])}; the "
               f"{gated['cases']} gated cases {pct(gated['mape'])}, worst {pct(gated['worst_abs_error'])} (gate: {verdict}, "
               f"target: {target}).** From 8 to 12,288 GPUs, sequences from 2K to 128K (CP 8), BF16 and FP8, dense and "
               f"MoE, A100, H100 and H800.")
    groups = ["| group (hardware, dense/MoE, precision) | cases | MAPE |", "|---|---|---|"]
    for g, m in sorted(v["mape_by_group"].items()):
        groups.append(f"| {g} | {sum(c['group'] == g for c in cases)} | {pct(m)} |")
    rows = ["| case | group | figure | reported | simulated | error | source |", "|---|---|---|---|---|---|---|"]
    for c in cases:
        note = " (not gated)" if c.get("tracking") else ""
        rows.append(f"| `{c['id']}` | {c['group']} | {c['metric']} | {c['reported']:.4g} | {c['simulated']:.4g} | "
                    f"{100 * c['error']:+.1f}%{note} | {c['source']} |")
    path = os.path.join(root, "docs", "validation.md")
    text = open(path).read()
    def between(text, name, body):
        pattern = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
        if not pattern.search(text):
            sys.exit(f"docs/validation.md has no <!-- {name} --> markers")
        return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    text = between(text, "summary", summary + "\n\n" + "\n".join(groups))
    text = between(text, "cases", "\n".join(rows))
    open(path, "w").write(text)

main()
