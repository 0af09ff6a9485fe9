#!/usr/bin/env python3
"""Time real single-GPU training steps of small dense Llama-style models.

Reference measurements for the gpuhours simulator.  Needs only PyTorch (no
transformers, no downloads); data are random token ids.

Usage: python3 bench/reference_step.py OUT.json

Recipe: FP32 master parameters, forward under torch.autocast(bfloat16),
backward outside autocast, fused torch.optim.AdamW, no activation
checkpointing, eager mode (no torch.compile), flash SDPA backend.
One step = zero_grad(set_to_none=True) + forward + backward + optimizer.step().
"""

import datetime
import gc
import json
import math
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

WARMUP_STEPS = 3
TIMED_STEPS = 10
PART_RUNS = 5
SEED = 1234


def make_config(name, layers, hidden, heads, kv_heads, ffn, vocab, seq_len, micro_batch):
    return {
        "name": name,
        "layers": layers,
        "hidden": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim": hidden // heads,
        "ffn_intermediate": ffn,
        "vocab": vocab,
        "seq_len": seq_len,
        "micro_batch": micro_batch,
    }


CONFIGS = [
    make_config("llama-1b-s2048", 16, 2048, 32, 8, 8192, 32000, 2048, 4),
    make_config("llama-1b-s4096", 16, 2048, 32, 8, 8192, 32000, 4096, 2),
    make_config("llama-3b-s2048", 28, 3072, 24, 8, 8192, 32000, 2048, 2),
    make_config("llama-3b-s4096", 28, 3072, 24, 8, 8192, 32000, 4096, 1),
]

# Decided once at start-up by probe_gqa(): whether SDPA's flash backend takes
# enable_gqa=True (forward and backward); otherwise k/v heads are repeated.
USE_ENABLE_GQA = False
HAVE_FUSED_RMS_NORM = hasattr(F, "rms_norm")


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        if HAVE_FUSED_RMS_NORM:
            return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.to(x.dtype) * self.weight


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin):
    # x: (b, h, s, d); cos/sin: (s, d)
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg["heads"]
        self.kv_heads = cfg["kv_heads"]
        self.head_dim = cfg["head_dim"]
        h = cfg["hidden"]
        self.q_proj = nn.Linear(h, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(h, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, h, bias=False)

    def forward(self, x, cos, sin):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            if USE_ENABLE_GQA:
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            else:
                rep = self.heads // self.kv_heads
                k = k.repeat_interleave(rep, dim=1)
                v = v.repeat_interleave(rep, dim=1)
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        o = o.transpose(1, 2).reshape(b, s, self.heads * self.head_dim)
        return self.o_proj(o)


class SwiGLU(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, f = cfg["hidden"], cfg["ffn_intermediate"]
        self.gate_proj = nn.Linear(h, f, bias=False)
        self.up_proj = nn.Linear(h, f, bias=False)
        self.down_proj = nn.Linear(f, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn_norm = RMSNorm(cfg["hidden"])
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg["hidden"])
        self.ffn = SwiGLU(cfg)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        x = x + self.ffn(self.ffn_norm(x))
        return x


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg["vocab"], cfg["hidden"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["layers"])])
        self.norm = RMSNorm(cfg["hidden"])
        self.lm_head = nn.Linear(cfg["hidden"], cfg["vocab"], bias=False)  # untied
        d = cfg["head_dim"]
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        t = torch.arange(cfg["seq_len"], dtype=torch.float32)
        freqs = torch.outer(t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos().to(torch.bfloat16), persistent=False)
        self.register_buffer("sin", emb.sin().to(torch.bfloat16), persistent=False)

    def forward(self, tokens, targets):
        s = tokens.shape[1]
        cos, sin = self.cos[:s], self.sin[:s]
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = self.lm_head(self.norm(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), targets.view(-1))


def probe_gqa():
    """Check whether the flash backend accepts enable_gqa (fwd+bwd)."""
    global USE_ENABLE_GQA
    try:
        q = torch.randn(1, 8, 128, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(1, 2, 128, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(1, 2, 128, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        o.sum().backward()
        torch.cuda.synchronize()
        USE_ENABLE_GQA = True
    except Exception as e:  # noqa: BLE001
        print(f"flash SDPA enable_gqa unavailable ({type(e).__name__}: {e}); "
              "repeating k/v heads instead", file=sys.stderr)
        USE_ENABLE_GQA = False


def timed(fn):
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000.0


def flop_estimates(cfg, n_params):
    b, s = cfg["micro_batch"], cfg["seq_len"]
    tokens = b * s
    h, L = cfg["hidden"], cfg["layers"]
    kvd = cfg["kv_heads"] * cfg["head_dim"]
    qd = cfg["heads"] * cfg["head_dim"]
    linear_params = L * (h * qd + 2 * h * kvd + qd * h + 3 * h * cfg["ffn_intermediate"]) \
        + h * cfg["vocab"]
    dense = 6 * tokens * linear_params
    # QK^T and PV, 2 FLOPs per MAC, causal -> half, fwd + 2x bwd -> 3x
    attn_causal = 3 * (2 * 2 * b * s * s * qd * L) // 2
    return {
        "linear_params_incl_lm_head": linear_params,
        "dense_matmul_flops_per_step": dense,
        "attention_flops_per_step_causal": attn_causal,
        "total_flops_per_step": dense + attn_causal,
        "note": "6*tokens*linear params (LM head included, embedding excluded) "
                "+ causal attention QK^T/PV (fwd+bwd = 3x fwd, half of full s^2)",
    }


def run_config(cfg):
    torch.manual_seed(SEED)
    torch.cuda.reset_peak_memory_stats()
    with torch.device("cuda"):
        model = Llama(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    static_bytes = torch.cuda.memory_allocated()

    g = torch.Generator(device="cuda")
    g.manual_seed(SEED)
    b, s = cfg["micro_batch"], cfg["seq_len"]
    tokens = torch.randint(0, cfg["vocab"], (b, s), device="cuda", generator=g)
    targets = torch.randint(0, cfg["vocab"], (b, s), device="cuda", generator=g)

    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            loss = model(tokens, targets)
        loss.backward()
        opt.step()
        losses.append(loss.detach())

    for _ in range(WARMUP_STEPS):
        step()
    torch.cuda.synchronize()

    step_s = [timed(step) for _ in range(TIMED_STEPS)]
    peak_bytes = torch.cuda.max_memory_allocated()
    reserved_peak = torch.cuda.max_memory_reserved()

    def fwd_only():
        with torch.no_grad(), torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            model(tokens, targets)

    fwd_only()
    fwd_s = [timed(fwd_only) for _ in range(PART_RUNS)]

    # grads from a fresh forward/backward, then the optimizer step alone
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        loss = model(tokens, targets)
    loss.backward()
    del loss
    opt_s = [timed(opt.step) for _ in range(PART_RUNS)]

    loss_vals = [float(x) for x in losses]
    med = statistics.median(step_s)
    tps = b * s
    fl = flop_estimates(cfg, n_params)
    result = {
        "config": cfg,
        "param_count": n_params,
        "step_seconds": step_s,
        "step_mean_s": statistics.mean(step_s),
        "step_median_s": med,
        "step_min_s": min(step_s),
        "tokens_per_step": tps,
        "tokens_per_second": tps / med,
        "max_memory_allocated_bytes": peak_bytes,
        "max_memory_reserved_bytes": reserved_peak,
        "static_memory_allocated_bytes": static_bytes,
        "forward_only_seconds": fwd_s,
        "forward_only_median_s": statistics.median(fwd_s),
        "optimizer_step_seconds": opt_s,
        "optimizer_step_median_s": statistics.median(opt_s),
        "flops": fl,
        "achieved_tflops_per_s_median": fl["total_flops_per_step"] / med / 1e12,
        "loss_first": loss_vals[0],
        "loss_last": loss_vals[-1],
        "loss_finite": all(math.isfinite(x) for x in loss_vals),
    }
    del model, opt, tokens, targets, losses
    return result


def environment():
    env = {
        "torch_version": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version(),
        "utc_date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    p = torch.cuda.get_device_properties(0)
    env["gpu_name"] = p.name
    env["sm_count"] = p.multi_processor_count
    env["total_memory_bytes"] = p.total_memory
    env["compute_capability"] = f"{p.major}.{p.minor}"
    try:
        out = subprocess.run(
            ["nvidia-smi",
             "--query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,power.limit",
             "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30)
        env["nvidia_smi"] = out.stdout.strip() or out.stderr.strip()
    except Exception as e:  # noqa: BLE001
        env["nvidia_smi"] = f"unavailable: {type(e).__name__}: {e}"
    return env


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out_path = sys.argv[1]
    assert torch.cuda.is_available(), "CUDA GPU required"
    t0 = time.time()
    probe_gqa()
    env = environment()
    recipe = {
        "master_params": "fp32",
        "compute": "torch.autocast(device_type='cuda', dtype=torch.bfloat16) for forward; "
                   "backward outside autocast",
        "optimizer": "torch.optim.AdamW(lr=1e-4, fused=True), default betas/eps/weight_decay",
        "activation_checkpointing": False,
        "torch_compile": False,
        "attention": "F.scaled_dot_product_attention(is_causal=True) under "
                     "sdpa_kernel(SDPBackend.FLASH_ATTENTION); GQA via "
                     + ("enable_gqa=True" if USE_ENABLE_GQA else "repeat_interleave of k/v"),
        "rope": "rotate-half RoPE on q and k (bf16 cos/sin tables, theta 10000)",
        "rmsnorm": "F.rms_norm" if HAVE_FUSED_RMS_NORM else "manual fp32 RMSNorm",
        "ffn": "SwiGLU: down(silu(gate(x)) * up(x)), no bias",
        "embedding": "untied token embedding and LM head",
        "loss": "cross-entropy over all positions (logits upcast to fp32)",
        "data": f"random token ids, torch.randint, seed {SEED}",
        "step": "zero_grad(set_to_none=True) + forward + backward + optimizer.step()",
        "warmup_steps": WARMUP_STEPS,
        "timed_steps": TIMED_STEPS,
        "part_runs": PART_RUNS,
        "timer": "torch.cuda.Event per step, synchronize before and after",
        "forward_only": "no_grad + autocast forward incl. loss, median of part_runs",
        "optimizer_step_only": "fused AdamW step after a backward, median of part_runs",
        "peak_memory": "torch.cuda.max_memory_allocated after reset before model build, "
                       "measured over warm-up + timed steps",
    }
    results = []
    for cfg in CONFIGS:
        res = None
        phase_t0 = time.time()
        try:
            res = run_config(cfg)
        except torch.cuda.OutOfMemoryError:
            res = {"config": cfg, "error": "oom"}
        except Exception as e:  # noqa: BLE001
            res = {"config": cfg, "error": f"{type(e).__name__}: {e}"}
        gc.collect()
        torch.cuda.empty_cache()
        res["wall_seconds"] = time.time() - phase_t0
        results.append(res)
        print(f"done {cfg['name']} in {res['wall_seconds']:.1f}s"
              + (f" ({res['error']})" if "error" in res else ""), flush=True)

    doc = {
        "schema": "gpuhours-reference-steps/1",
        "recipe": recipe,
        "environment": env,
        "results": results,
        "total_wall_seconds": time.time() - t0,
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)

    print()
    print(f"{env['gpu_name']}  torch {env['torch_version']}  cuda {env['torch_cuda']}")
    print(f"{'config':<16} {'params':>8} {'step_med':>9} {'tok/s':>9} {'TFLOP/s':>8} "
          f"{'peakGiB':>8} {'fwd_med':>8} {'opt_med':>8}")
    for r in results:
        name = r["config"]["name"]
        if "error" in r:
            print(f"{name:<16} ERROR {r['error']}")
            continue
        print(f"{name:<16} {r['param_count']/1e9:>7.3f}B {r['step_median_s']:>9.4f} "
              f"{r['tokens_per_second']:>9.0f} {r['achieved_tflops_per_s_median']:>8.1f} "
              f"{r['max_memory_allocated_bytes']/2**30:>8.2f} "
              f"{r['forward_only_median_s']:>8.4f} {r['optimizer_step_median_s']:>8.4f}")
    print(f"total {doc['total_wall_seconds']:.1f}s -> {out_path}")


if __name__ == "__main__":
    main()
