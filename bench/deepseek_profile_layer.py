#!/usr/bin/env python3
"""Splits DeepSeek's published training profile into per-layer kernel time by class, for
tests/data/deepseek-profile-layer.yaml, and prints the host's time per kernel launch, for
hardware/host.yaml.

The profile (deepseek-ai/profile-data, train.json, PyTorch profiler) is one DualPipe pair of a
forward and a backward chunk of 4 MoE layers each, overlapped, on DeepSeek's H800 cluster: EP64,
TP1, 4K sequence, balanced routing, no pipeline transfers. Every class below is summed over the
kernels of the pair and divided by 4: a layer's forward, input backward and weight backward.

  python3 bench/deepseek_profile_layer.py train.json
  python3 bench/deepseek_profile_layer.py --beside-comm train.json
  python3 bench/deepseek_profile_layer.py --jitter train.json

With --beside-comm it prints, for hardware/gpus/*.yaml slowdown_beside_comm, how much longer the
GEMMs (launched on a fixed 112 of the 132 SMs) take while DeepEP's dispatch / combine kernels run on
the SMs they leave: each GEMM is matched with the kernels launched at the same place of the other
3 layers (same kernel, grid and launching op).

With --jitter it prints, for hardware/gpus/*.yaml kernel_jitter, how much the same kernel's time
varies from layer to layer when nothing runs beside it: the coefficient of variation of each place
(same kernel, grid and launching op, at least 3 of its 4 runs alone, 10 us or longer), and their
root mean square.
"""
import collections
import json
import random
import statistics
import sys

LAYERS = 4  # "Each chunk contains 4 MoE layers" (profile-data README)


def kernel_class(name):
    if "ep::" in name:  # DeepEP
        if "notify" in name or "get_dispatch_layout" in name:
            return "deepep_notify"  # per-call metadata exchange and barrier
        return "deepep_data"  # dispatch / combine kernels that move tokens
    if "flash" in name.lower():
        return "attention"  # forward, backward and its pre- / post-processing kernels
    if "gemm" in name.lower() and "transpose" not in name:
        return "gemm"  # FP8 (fine-grained scaling) GEMMs and grouped GEMMs, BF16 cuBLAS GEMMs
    if "cast" in name or "transpose" in name:
        return "fp8_cast"  # quantize, dequantize and transpose passes of the FP8 operands
    return "memory"  # everything else: norms, RoPE, SwiGLU, permutation, reductions, copies


def main(path):
    events = json.load(open(path))["traceEvents"]
    kernels = [e for e in events if e.get("cat") == "kernel"]
    by_class = collections.Counter()
    for e in kernels:
        by_class[kernel_class(e["name"])] += e["dur"]
    start = min(e["ts"] for e in kernels)
    end = max(e["ts"] + e["dur"] for e in kernels)
    launches = len(kernels)
    print(f"# per MoE layer (forward + input backward + weight backward), milliseconds; {launches} kernels in all")
    for cls in ("gemm", "fp8_cast", "attention", "memory", "deepep_data", "deepep_notify"):
        print(f"{cls}_ms: {by_class[cls] / 1000 / LAYERS:.3f}")
    print(f"span_ms: {(end - start) / 1000 / LAYERS:.3f}")
    print(f"kernels: {launches / LAYERS:.0f}")
    # The host: the 1F1B annotation spans the pair on the CPU; inside the forward dispatches the CPU
    # waits for DeepEP's token counts. Busy time: the span less those waits, counting the shortest
    # dispatch either as all work (upper bound) or as all waiting (lower bound).
    marks = [e for e in events if e.get("cat") == "user_annotation"]
    span = next(e["dur"] for e in marks if e["name"] == "1F1B")
    dispatches = sorted(e["dur"] for e in marks if e["name"] == "dispatch(F)")
    high = span - sum(d - dispatches[0] for d in dispatches)
    low = span - sum(dispatches)
    calls = [e["dur"] for e in events if e.get("cat") == "cuda_runtime" and e["name"].startswith("cudaLaunchKernel")]
    print(f"# host: 1F1B span {span / 1000:.1f} ms, busy {low / 1000:.1f}-{high / 1000:.1f} ms; "
          f"{low / launches:.0f}-{high / launches:.0f} us per kernel launched "
          f"(the CUDA launch call itself {sum(calls) / len(calls):.1f} us on average over {len(calls)} calls)")


def load_kernels(path):
    """The profile's kernels in start order, and for each the innermost framework op around its launch."""
    events = json.load(open(path))["traceEvents"]
    kernels = sorted((e for e in events if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    runtime = {e["args"]["correlation"]: e for e in events
               if e.get("cat") == "cuda_runtime" and "correlation" in e.get("args", {})}
    ops = [e for e in events if e.get("cat") in ("cpu_op", "user_annotation")]

    def launching_op(kernel):
        call = runtime.get(kernel["args"]["correlation"])
        if call is None:
            return ""
        around = [o for o in ops if o["tid"] == call["tid"] and o["ts"] <= call["ts"]
                  and o["ts"] + o["dur"] >= call["ts"] + call["dur"] and not o["name"].startswith("aten::")
                  and "ProfilerStep" not in o["name"]]
        return min(around, key=lambda o: o["dur"])["name"] if around else ""

    for k in kernels:
        k["op"] = launching_op(k)
    return kernels


def overlap(kernel, others):
    """The fraction of the kernel's time another stream runs one of `others` (overlapping ones merged)."""
    start, end = kernel["ts"], kernel["ts"] + kernel["dur"]
    spans = sorted((max(start, o["ts"]), min(end, o["ts"] + o["dur"])) for o in others
                   if o is not kernel and o["args"]["stream"] != kernel["args"]["stream"])
    covered, reach = 0, start
    for a, b in spans:
        a = max(a, reach)
        if b > a:
            covered += b - a
            reach = b
    return covered / kernel["dur"]


def places(kernels, keep):
    """The runs of each kernel at the same place of the LAYERS layers: same kernel, grid and launching op."""
    same = collections.defaultdict(list)
    for e in kernels:
        if keep(e):
            same[(e["name"], str(e["args"]["grid"]), e["op"])].append(e)
    for runs in same.values():
        n = len(runs) // LAYERS
        if n * LAYERS == len(runs):
            for i in range(n):
                yield [runs[i + j * n] for j in range(LAYERS)]


def jitter(path):
    kernels = load_kernels(path)
    compute = [e for e in kernels if "ep::" not in e["name"]]
    transfers = [e for e in kernels if "ep::" in e["name"]]
    cvs = []
    for runs in places(kernels, lambda e: "ep::" not in e["name"]):
        alone = [r["dur"] for r in runs if overlap(r, compute) < 0.01 and overlap(r, transfers) < 0.01]
        if len(alone) >= 3 and min(alone) >= 10:
            # The trace's whole-microsecond stamps add 1/6 us^2 of rounding variance to a duration.
            variance = max(0.0, statistics.variance(alone) - 1 / 6)
            cvs.append(variance ** 0.5 / statistics.mean(alone))
    rms = (sum(c * c for c in cvs) / len(cvs)) ** 0.5
    print(f"# the same kernel alone at the same place of the {LAYERS} layers: {len(cvs)} places, "
          f"coefficients of variation {min(cvs):.3f}-{max(cvs):.3f} (less the stamps' rounding), "
          f"median {statistics.median(cvs):.3f}")
    print(f"kernel_jitter: {rms:.3f}")


def beside_comm(path):
    kernels = load_kernels(path)
    deepep = [e for e in kernels if "ep::" in e["name"]]  # data kernels, and notify kernels that hold SMs too
    transfers = [e for e in deepep if kernel_class(e["name"]) == "deepep_data"]
    compute = [e for e in kernels if "ep::" not in e["name"]]
    pairs = []  # (median time with no DeepEP kernel beside it, [times entirely beside a dispatch / combine])

    def fp8_gemm(e):  # DeepGEMM's, on 112 SMs (the BF16 ones are cuBLAS's, on every free SM)
        return kernel_class(e["name"]) == "gemm" and "dpsk::grouped_gemm" in e["name"] and "fill_tensormaps" not in e["name"]

    for runs in places(kernels, fp8_gemm):
        alone = [r["dur"] for r in runs if overlap(r, deepep) < 0.05 and overlap(r, compute) < 0.05]
        beside = [r["dur"] for r in runs if overlap(r, transfers) > 0.95 and overlap(r, compute) < 0.05]
        if alone and beside:
            pairs.append((statistics.median(alone), beside))
            print(f"#   {runs[0]['op'][:40]:40s} alone {statistics.median(alone):6.0f} us, beside "
                  f"{', '.join(str(b) for b in beside)} us")

    def ratio(ps):  # time beside transfers over the same kernels' time alone
        return sum(sum(b) for _, b in ps) / sum(a * len(b) for a, b in ps)

    rng = random.Random(1)
    boot = sorted(ratio([rng.choice(pairs) for _ in pairs]) for _ in range(2000))
    med = statistics.median(b / a for a, bs in pairs for b in bs)
    print(f"# FP8 GEMMs beside DeepEP's dispatch / combine: {len(pairs)} places, "
          f"{sum(len(b) for _, b in pairs)} kernels beside them")
    print(f"time_ratio: {ratio(pairs):.3f}  # bootstrap 90%: {boot[100]:.3f}-{boot[1900]:.3f}; median pair {med:.3f}")
    print(f"slowdown_beside_comm: {1 - 1 / ratio(pairs):.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--beside-comm":
        beside_comm(sys.argv[2])
    elif sys.argv[1] == "--jitter":
        jitter(sys.argv[2])
    else:
        main(sys.argv[1])
