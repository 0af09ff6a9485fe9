#!/usr/bin/env python3
"""Measures kernel times on the local GPU through PyTorch, for a gpuhours calibration profile.

  python3 bench/torch_kernels.py SHAPES.txt OUT.json [--graphs]

SHAPES.txt: lines "dtype groups M N K" (`gpuhours shapes SCENARIO` prints them; bench/shapes-presets.txt
holds those of the presets and of the reference steps). Measures, with CUDA events after warm-up:
GEMMs C[MxN] = A[MxK] B[KxN] in BF16 (torch.matmul) and FP8 E4M3 with per-tensor scales
(torch._scaled_mm), grouped GEMMs (torch._grouped_mm where present), causal flash attention
forward and forward+backward (SDPA, flash backend; and cuDNN's fused SDPA, section
attention_cudnn), and eager element-wise kernels. With --graphs each GEMM's repetitions are
captured in one CUDA graph and replayed, so that a kernel shorter than its eager launch (a decoding
GEMM of a few rows: bench/shapes-decode.txt) is timed, not the host that launches it. Writes the same
JSON layout as tests/data/h100-kernels-2026-11.json, with the environment, so that
bench/convert_reference_kernels.py turns it into a profile. Needs only torch."""
import datetime
import json
import subprocess
import sys

import torch
import torch.nn.functional as F


def timed(fn, reps=None, budget_s=0.05):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    one = max(start.elapsed_time(end) / 1e3, 1e-6)
    n = reps or max(5, min(50, int(budget_s / one)))
    start.record()
    for _ in range(n):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / n


def timed_graph(fn, reps=20):
    """Mean time of `fn` replayed from a CUDA graph of `reps` calls (warm-up on a side stream, as
    capture requires): the kernels' time and the gaps between graph kernels, without host launches."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(reps):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(5):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / (5 * reps)


GRAPHS = "--graphs" in sys.argv


def gemm(dtype, m, n, k):
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    time = timed_graph if GRAPHS else timed
    if dtype == "bf16":
        return time(lambda: torch.matmul(a, b))
    a8 = a.to(torch.float8_e4m3fn)
    b8 = b.t().contiguous().to(torch.float8_e4m3fn).t()  # column-major B, as _scaled_mm requires
    one = torch.tensor(1.0, device="cuda")
    return time(lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))


def grouped(groups, m, n, k):
    a = torch.randn(groups * m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(groups, k, n, device="cuda", dtype=torch.bfloat16)
    offs = torch.arange(m, groups * m + 1, m, device="cuda", dtype=torch.int32)
    if hasattr(torch, "_grouped_mm"):
        return timed(lambda: torch._grouped_mm(a, b, offs=offs)), "torch._grouped_mm"
    return timed(lambda: [torch.matmul(a[i * m:(i + 1) * m], b[i]) for i in range(groups)]), "loop of matmul"


def attention(bsz, heads, kv_heads, seq, dqk, dv, cudnn=False):
    q = torch.randn(bsz, heads, seq, dqk, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(bsz, kv_heads, seq, dqk, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(bsz, kv_heads, seq, dv, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    gqa = kv_heads != heads
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backend = SDPBackend.FLASH_ATTENTION if dqk == dv else SDPBackend.EFFICIENT_ATTENTION
    if cudnn:  # cuDNN's fused SDPA, which PyTorch builds through cuDNN's graph API (cudnn-frontend)
        backend = SDPBackend.CUDNN_ATTENTION
    with sdpa_kernel(backend):
        fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        o = fwd()
        g = torch.randn_like(o)
        t_fwd = timed(fwd)
        t_all = timed(lambda: torch.autograd.grad(fwd(), (q, k, v), g))
    return t_fwd, t_all, backend.name


def elementwise(rows, cols):
    x = torch.randn(rows, cols, device="cuda", dtype=torch.bfloat16)
    y = torch.randn_like(x)
    w = torch.ones(cols, device="cuda", dtype=torch.bfloat16)
    nbytes = x.numel() * 2
    out = {}
    for name, fn, passes in [("rmsnorm_fwd", lambda: F.rms_norm(x, (cols,), w), 2),
                             ("silu_mul", lambda: F.silu(x) * y, 5),
                             ("add", lambda: x + y, 3),
                             ("copy", lambda: x.clone(), 2)]:
        t = timed(fn)
        out[name] = {"s": t, "GBps": passes * nbytes / t / 1e9, "shape": [rows, cols], "passes": passes}
    return out


def main(shapes_path, out_path):
    dev = torch.cuda.get_device_properties(0)
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e:  # noqa: BLE001
        smi = f"unavailable: {e}"
    res = {"about": "Kernel times measured by bench/torch_kernels.py (gpuhours) through PyTorch on one GPU: "
                    "mean of timed repetitions after 3 warm-up runs, CUDA events. GEMM C[MxN]=A[MxK]B[KxN], layout NN "
                    "(FP8: per-tensor scales, column-major B); attention causal SDPA; element-wise eager on BF16.",
           "env": {"torch": torch.__version__, "cuda": torch.version.cuda, "name": dev.name,
                   "gemm_timing": "CUDA graph replay" if GRAPHS else "eager launches",
                   "sms": dev.multi_processor_count, "mem_gib": dev.total_memory / 2**30, "smi": smi,
                   "date": datetime.datetime.utcnow().strftime("%Y-%m-%d")},
           "sections": {"gemm_bf16_shapes": [], "gemm_fp8_shapes": [], "grouped_mm_bf16": [], "attention_sdpa": [],
                        "attention_cudnn": []}}
    s = res["sections"]
    for line in open(shapes_path):
        if not line.strip() or line.startswith("#"):
            continue
        dtype, groups, m, n, k = line.split()[:5]
        groups, m, n, k = int(groups), int(m), int(n), int(k)
        try:
            if groups > 1 and dtype == "bf16":
                t, how = grouped(groups, m, n, k)
                s["grouped_mm_bf16"].append({"groups": groups, "tokens_per_group": m, "K": k, "N": n, "s": t,
                                             "tflops": 2 * groups * m * n * k / t / 1e12, "how": how})
            else:
                t = gemm(dtype, m, n, k)
                s[f"gemm_{dtype}_shapes"].append({"M": m, "K": k, "N": n, "layout": "NN", "tag": "shapes", "s": t,
                                                  "tflops": 2 * m * n * k / t / 1e12})
        except Exception as e:  # noqa: BLE001
            print(f"skip {line.strip()}: {e}", file=sys.stderr)
        torch.cuda.empty_cache()
    for bsz, heads, kv, seq, dqk, dv in [(4, 32, 8, 2048, 64, 64), (2, 32, 8, 4096, 64, 64), (2, 24, 8, 2048, 128, 128),
                                         (1, 24, 8, 4096, 128, 128), (1, 32, 8, 8192, 128, 128), (1, 16, 1, 8192, 128, 128),
                                         (1, 128, 128, 4096, 192, 128)]:
        try:
            t_fwd, t_all, backend = attention(bsz, heads, kv, seq, dqk, dv)
            fl = 2 * bsz * heads * seq * seq * (dqk + dv) * 0.5
            s["attention_sdpa"].append({"B": bsz, "H": heads, "KV": kv, "S": seq, "Dqk": dqk, "Dv": dv, "causal": True,
                                        "fwd_s": t_fwd, "fwd_bwd_s": t_all, "fwd_tflops": fl / t_fwd / 1e12,
                                        "fwd_bwd_tflops": 3.5 * fl / t_all / 1e12, "backend": backend})
        except Exception as e:  # noqa: BLE001
            print(f"skip attention {bsz},{heads},{seq}: {e}", file=sys.stderr)
        # The same case through cuDNN's SDPA (kept apart: the profile uses the flash rows).
        try:
            t_fwd, t_all, backend = attention(bsz, heads, kv, seq, dqk, dv, cudnn=True)
            fl = 2 * bsz * heads * seq * seq * (dqk + dv) * 0.5
            s["attention_cudnn"].append({"B": bsz, "H": heads, "KV": kv, "S": seq, "Dqk": dqk, "Dv": dv, "causal": True,
                                         "fwd_s": t_fwd, "fwd_bwd_s": t_all, "fwd_tflops": fl / t_fwd / 1e12,
                                         "fwd_bwd_tflops": 3.5 * fl / t_all / 1e12, "backend": backend,
                                         "cudnn": torch.backends.cudnn.version()})
        except Exception as e:  # noqa: BLE001
            print(f"skip cuDNN attention {bsz},{heads},{seq},{dqk}/{dv}: {e}", file=sys.stderr)
        torch.cuda.empty_cache()
    s["elementwise"] = elementwise(16384, 7168)
    s["hbm_copy"] = {"4GiB": {"s": s["elementwise"]["copy"]["s"], "GBps_rw": s["elementwise"]["copy"]["GBps"]}}
    json.dump(res, open(out_path, "w"), indent=1)
    print(f"{len(s['gemm_bf16_shapes'])} BF16 + {len(s['gemm_fp8_shapes'])} FP8 GEMMs, "
          f"{len(s['grouped_mm_bf16'])} grouped, {len(s['attention_sdpa'])} attention cases -> {out_path}")


if __name__ == "__main__":
    paths = [a for a in sys.argv[1:] if a != "--graphs"]
    main(paths[0], paths[1])
