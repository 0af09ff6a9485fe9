#!/usr/bin/env python3
"""Splits DeepSeek's published training profile into per-layer kernel time by class, for
tests/data/deepseek-profile-layer.yaml, and prints the host's time per kernel launch, for
hardware/host.yaml.

The profile (deepseek-ai/profile-data, train.json, PyTorch profiler) is one DualPipe pair of a
forward and a backward chunk of 4 MoE layers each, overlapped, on DeepSeek's H800 cluster: EP64,
TP1, 4K sequence, balanced routing, no pipeline transfers. Every class below is summed over the
kernels of the pair and divided by 4: a layer's forward, input backward and weight backward.

  python3 bench/deepseek_profile_layer.py train.json"""
import collections
import json
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


if __name__ == "__main__":
    main(sys.argv[1])
