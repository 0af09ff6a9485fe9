#!/usr/bin/env python3
"""Converts kernel-time measurements (JSON: tests/data/h100-kernels-2026-11.json, and the
output of bench/torch_kernels.py) into one gpuhours calibration profile (hardware/calibration/*.yaml),
keeping the provenance of each source.

  python3 bench/convert_reference_kernels.py tests/data/h100-kernels-2026-11.json \
      tests/data/h100-kernels-gpuhours-2026-11-27.json > hardware/calibration/h100-sxm-2026-11.yaml
  python3 bench/convert_reference_kernels.py --name h100-sxm-2026-11-cublaslt \
      tests/data/h100-gpuhours-bench-2026-11-27.json > hardware/calibration/h100-sxm-2026-11-cublaslt.yaml

Attention rows go to one table per kernel library: `attention` for cuDNN's fused attention (what
Transformer Engine runs on Hopper and later) and `attention_flash_attention_2` for FlashAttention-2
(PyTorch SDPA's FLASH_ATTENTION backend); rows of any other backend (memory-efficient attention,
which SDPA falls back to for d_qk != d_v) are left out. A row without a `backend` field (the
2026-11-22 file) is taken as cuDNN's: that file's SDPA ran the default backend selection, its
rows reach 554-651 TFLOP/s forward (FlashAttention-2's 2026-11-27 rows: 208-322) and include
d_qk != d_v, which the flash backend rejects.
Element-wise and copy bandwidths come from the first source.

GEMM times measured in several layouts (NN, NT, TN) for one shape are averaged: a training step
runs all three (forward, input gradient, weight gradient).

Every H100 SXM profile also gets `gemm_fp8_by_rows`, FP8 GEMM throughput against rows for the
GEMMs of decoding iterations, which the eager timings above cannot give (a GEMM of a few hundred
rows takes less than the ~25 us they add to every GEMM). It is published, not measured here:
DeepGEMM's README timed its FP8 GEMMs on H800 SXM5 (the H100 SXM's SMs, clocks and HBM) with a
profiler, kernel time alone; at each M, the mean of the two shapes it timed at every M."""
import json
import sys
from collections import defaultdict

DEEPGEMM_SOURCE = ("deepseek-ai/DeepGEMM README (commit 327ec92, 2025-04-09), tested on H800 SXM5 with NVCC 12.8: "
                   "FP8 GEMMs for dense models at M = 64, 128 and 4096, and MoE grouped GEMMs in the masked layout "
                   "(decoding) at 256, 512 and 1024 rows per group; throughput of N x K = 4096 x 7168 and "
                   "7168 x 2048, the two shapes timed at every M")
# [M, TFLOP/s of N x K = 4096 x 7168, of 7168 x 2048] from that README's tables.
DEEPGEMM_ROWS = [(64, 287, 295), (128, 533, 510), (256, 932, 815), (512, 1040, 916), (1024, 1233, 925),
                 (4096, 1410, 1168)]


def main(argv):
    name = "h100-sxm-2026-11"
    if argv[:1] == ["--name"]:
        name, argv = argv[1], argv[2:]
    paths = argv
    docs = [json.load(open(p)) for p in paths]
    d = docs[0]
    s, env = d["sections"], d["env"]
    smi = [x.strip() for x in env["smi"].split(",")]
    out = []
    w = out.append
    w("# Calibration profile: kernel times measured on NVIDIA H100 SXM GPUs, converted by")
    w("# bench/convert_reference_kernels.py from: " + ", ".join(paths))
    w(f"name: {name}")
    w("gpu: h100-sxm")
    w("derived_from: none")
    w("provenance:")
    w(f'  source: "{" + ".join(paths)}"')
    w(f'  method: {json.dumps(" | ".join(x["about"] for x in docs))}')
    w(f'  device: "{env["name"]}"')
    w(f"  sms: {env['sms']}")
    w(f'  driver: "{smi[1]}"')
    w(f'  max_sm_clock_mhz: {smi[2].split()[0]}')
    w(f'  power_limit_w: {smi[4].split()[0]}')
    w(f'  cuda: "{env["cuda"]}"')
    if env["torch"].startswith("none ("):  # gpuhours-bench: no framework, the library's own kernels
        libs = "gpuhours-bench, " + env["torch"][len("none ("):].rstrip(")")
    else:
        libs = f"PyTorch {env['torch']} (cuBLAS / cuBLASLt, cuDNN / flash SDPA)"
    w(f'  libraries: "{libs}"')
    w('  date: "' + " and ".join(x["env"].get("date", "2026-11-22") for x in docs) + '"')
    for dtype in ("bf16", "fp8"):
        shapes = defaultdict(list)
        for doc in docs:
            for sec, rows in doc["sections"].items():
                if sec.startswith(f"gemm_{dtype}"):
                    for r in rows:
                        shapes[(r["M"], r["N"], r["K"])].append(r["s"])
        w(f"gemm_{dtype}:  # [M, N, K, seconds]: C[MxN] = A[MxK] B[KxN], mean over measured layouts")
        for (m, n, k), ts in sorted(shapes.items()):
            w(f"  - [{m}, {n}, {k}, {sum(ts) / len(ts):.9g}]")
    if not any(doc["sections"].get("grouped_mm_bf16") for doc in docs):
        w("grouped_gemm_bf16: []  # none measured: grouped GEMMs use the GEMM table per group")
    else:
        w("grouped_gemm_bf16:  # [groups, M per group, N, K, seconds]")
    for doc in docs:
        for r in doc["sections"].get("grouped_mm_bf16", []):
            w(f"  - [{r['groups']}, {r['tokens_per_group']}, {r['N']}, {r['K']}, {r['s']:.9g}]")
    libraries = {"CUDNN_ATTENTION": [], "FLASH_ATTENTION": []}
    for doc in docs:
        for section in ("attention_sdpa", "attention_cudnn"):
            for r in doc["sections"].get(section, []):
                backend = r.get("backend", "CUDNN_ATTENTION")
                if backend in libraries:
                    libraries[backend].append(
                        f"  - [{r['B']}, {r['H']}, {r['S']}, {r['Dqk']}, {r['Dv']}, {r['fwd_s']:.9g}, {r['fwd_bwd_s']:.9g}]")
    row = "[batch, heads, seq, d_qk, d_v, forward seconds, forward+backward seconds]"
    for key, backend, what in (("attention", "CUDNN_ATTENTION", "cuDNN fused attention"),
                               ("attention_flash_attention_2", "FLASH_ATTENTION", "FlashAttention-2 (SDPA flash backend)")):
        if libraries[backend]:
            w(f"{key}:  # causal, {what}: {row}")
            out.extend(libraries[backend])
        elif key == "attention":
            w("attention: []  # none measured: attention uses the GPU catalogue's measured ceilings")
    hbm = s["hbm_copy"]["4GiB"]["GBps_rw"]
    e = s["elementwise"]
    w("memory:  # bytes read + written per second")
    w(f"  copy: {hbm * 1e9:.6g}  # 4 GiB device copy")
    w(f"  elementwise: {min(e['rmsnorm_fwd']['GBps'], e['silu_mul']['GBps']) * 1e9:.6g}  # min of RMSNorm and SiLU*x on (16384, 7168) BF16")
    p = s["power_under_gemm"]
    w("sustained:  # 12 s loop of 8192^3 BF16 GEMMs under the power cap")
    w("  shape: [8192, 8192, 8192]")
    w(f"  gemm_bf16_flops_per_s: {p['tflops'] * 1e12:.6g}")
    w("gemm_fp8_by_rows:  # decoding GEMMs: FP8 throughput against rows M (kernel time, no host launch)")
    w(f"  source: \"{DEEPGEMM_SOURCE}\"")
    w("  rows:  # [M, TFLOP/s]: mean of N x K = 4096 x 7168 and 7168 x 2048")
    for m, a, b in DEEPGEMM_ROWS:
        w(f"    - [{m}, {(a + b) / 2:g}]  # {a} and {b}")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
