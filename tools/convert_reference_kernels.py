#!/usr/bin/env python3
"""Converts ../shared/reference/h100-kernels-2026-11.json (kernel times measured through PyTorch on one
H100 SXM) into a gpuhours calibration profile (hardware/calibration/*.yaml), keeping its provenance.

  python3 tools/convert_reference_kernels.py ../shared/reference/h100-kernels-2026-11.json \
      > hardware/calibration/h100-sxm-2026-11.yaml

GEMM times measured in several layouts (NN, NT, TN) for one shape are averaged: a training step
runs all three (forward, input gradient, weight gradient)."""
import json
import sys
from collections import defaultdict


def main(path):
    d = json.load(open(path))
    s, env = d["sections"], d["env"]
    smi = [x.strip() for x in env["smi"].split(",")]
    out = []
    w = out.append
    w("# Calibration profile: kernel times measured on one NVIDIA H100 SXM, converted by")
    w("# tools/convert_reference_kernels.py from shared/reference/h100-kernels-2026-11.json.")
    w("name: h100-sxm-2026-11")
    w("gpu: h100-sxm")
    w("derived_from: none")
    w("provenance:")
    w(f'  source: "shared/reference/h100-kernels-2026-11.json"')
    w(f'  method: {json.dumps(d["about"])}')
    w(f'  device: "{env["name"]}"')
    w(f"  sms: {env['sms']}")
    w(f'  driver: "{smi[1]}"')
    w(f'  max_sm_clock_mhz: {smi[2]}')
    w(f'  power_limit_w: {smi[4]}')
    w(f'  cuda: "{env["cuda"]}"')
    w(f'  libraries: "PyTorch {env["torch"]} (cuBLAS / cuBLASLt, cuDNN / flash SDPA)"')
    w('  date: "2026-11-22"')
    for dtype in ("bf16", "fp8"):
        shapes = defaultdict(list)
        for sec, rows in s.items():
            if sec.startswith(f"gemm_{dtype}"):
                for r in rows:
                    shapes[(r["M"], r["N"], r["K"])].append(r["s"])
        w(f"gemm_{dtype}:  # [M, N, K, seconds]: C[MxN] = A[MxK] B[KxN], mean over measured layouts")
        for (m, n, k), ts in sorted(shapes.items()):
            w(f"  - [{m}, {n}, {k}, {sum(ts) / len(ts):.9g}]")
    w("grouped_gemm_bf16:  # [groups, M per group, N, K, seconds]")
    for r in s["grouped_mm_bf16"]:
        w(f"  - [{r['groups']}, {r['tokens_per_group']}, {r['N']}, {r['K']}, {r['s']:.9g}]")
    w("attention:  # causal flash SDPA: [batch, heads, seq, d_qk, d_v, forward seconds, forward+backward seconds]")
    for r in s["attention_sdpa"]:
        w(f"  - [{r['B']}, {r['H']}, {r['S']}, {r['Dqk']}, {r['Dv']}, {r['fwd_s']:.9g}, {r['fwd_bwd_s']:.9g}]")
    hbm = s["hbm_copy"]["4GiB"]["GBps_rw"]
    e = s["elementwise"]
    w("memory:  # bytes read + written per second")
    w(f"  copy: {hbm * 1e9:.6g}  # 4 GiB device copy")
    w(f"  elementwise: {min(e['rmsnorm_fwd']['GBps'], e['silu_mul']['GBps']) * 1e9:.6g}  # min of RMSNorm and SiLU*x on (16384, 7168) BF16")
    p = s["power_under_gemm"]
    w("sustained:  # 12 s loop of 8192^3 BF16 GEMMs under the power cap")
    w(f"  gemm_bf16_flops_per_s: {p['tflops'] * 1e12:.6g}")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
