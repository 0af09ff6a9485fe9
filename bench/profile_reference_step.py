#!/usr/bin/env python3
"""Profiles one training step of bench/reference_step.py's first config with torch.profiler and
prints the CUDA time per kernel class: where a real eager PyTorch step spends its time, to compare
with gpuhours' op-by-op model.   python3 bench/profile_reference_step.py [config index] > OUT.txt"""
import sys

import torch
from torch.profiler import ProfilerActivity, profile

import reference_step as rs

rs.USE_ENABLE_GQA = rs.probe_gqa()
cfg = rs.CONFIGS[int(sys.argv[1]) if len(sys.argv) > 1 else 0]
torch.manual_seed(0)
with torch.device("cuda"):
    model = rs.Llama(cfg)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
b, s = cfg["micro_batch"], cfg["seq_len"]
tokens = torch.randint(0, cfg["vocab"], (b, s), device="cuda")
targets = torch.randint(0, cfg["vocab"], (b, s), device="cuda")


def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        loss = model(tokens, targets)
    loss.backward()
    opt.step()


for _ in range(3):
    step()
torch.cuda.synchronize()
with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
    step()
    torch.cuda.synchronize()
print(cfg)
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=45, max_name_column_width=70))
events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
print("kernels:", len(events), "total kernel ms:", sum(e.device_time for e in events) / 1e3)
