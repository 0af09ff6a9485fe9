#!/usr/bin/env python3
"""Writes a calibration profile derived from the H100 SXM one for a GPU of the same GH100 die, SMs,
tensor clocks, L2 and power limit, which no one has measured here:

  - H800 SXM: the same HBM3 too; only NVLink and FP64 differ, which no profiled kernel uses, so
    every row carries over;
  - H200 SXM: 141 GB of HBM3e at 4.8 TB/s instead of 3.35: the GEMM and attention rows carry over
    (their time is the tensor cores' at the profiled shapes, or the H100's where a row is bound by
    memory: an upper bound there), and the copy and element-wise bandwidths scale with the HBM
    bandwidth (the H100's measured fraction of its peak, assumed at the H200's).

  python3 bench/derive_profile.py h800 hardware/calibration/h100-sxm-2026-11.yaml \\
      > hardware/calibration/h800-sxm-2026-11-derived.yaml
  python3 bench/derive_profile.py h200 hardware/calibration/h100-sxm-2026-11.yaml \\
      > hardware/calibration/h200-sxm-2026-11-derived.yaml"""
import re
import sys

H100_HBM_BYTES_PER_S = 3.35e12  # hardware/gpus/h100-sxm.yaml hbm_bandwidth

TARGETS = {
    "h800": ("""# Calibration profile for the H800 SXM, DERIVED from the H100 SXM measurement (not measured on an
# H800): the H800 is the same GH100 die with the same 132 SMs, tensor clocks, 80 GB HBM3 at
# 3.35 TB/s and 50 MiB L2 (DeepGEMM README: 132 SMs; FlashMLA deep dive: 3.35 TB/s; ISCA '25,
# arXiv:2505.09343: 80 GB; a public H800 measurement: 50 MiB L2), so single-GPU kernel
# times carry over. What differs is NVLink (400 vs 900 GB/s bidirectional) and FP64, which no
# kernel here uses; communication is modelled by the network, not by this profile.
name: h800-sxm-2026-11-derived
gpu: h800-sxm
derived_from: h100-sxm-2026-11
differences: "NVLink 200 GB/s per direction instead of 450 (network model, not kernels); reduced FP64 (unused); DeepSeek observes ~1600 MHz under load (FlashMLA deep dive), as the H100 measurement's sustained loop shows the same power-capped throttling"
""", H100_HBM_BYTES_PER_S),
    "h200": ("""# Calibration profile for the H200 SXM, DERIVED from the H100 SXM measurement (not measured on an
# H200): the H200 is the same GH100 die with the same 132 SMs, tensor clocks, 50 MiB L2 and 700 W
# limit (hardware/gpus/h200-sxm.yaml), with 141 GB of HBM3e at 4.8 TB/s instead of 80 GB of HBM3 at
# 3.35 TB/s. The GEMM and attention rows carry over: at the profiled shapes their time is the
# tensor cores' (where a row is bound by memory the H200 is faster, so the H100's time is an upper
# bound). The copy and element-wise bandwidths are the H100's measured ones times 4.8 / 3.35: the
# same fraction of the HBM peak, assumed. The sustained loop (power-capped clock) carries over.
name: h200-sxm-2026-11-derived
gpu: h200-sxm
derived_from: h100-sxm-2026-11
differences: "HBM3e 4.8 TB/s instead of 3.35: copy and element-wise bandwidth scaled by 4.8 / 3.35 (the measured fraction of the peak assumed); GEMM and attention rows unchanged (upper bounds where a row is bound by memory); 141 GB of memory (the GPU preset, not this profile)"
""", 4.8e12),
}

target, source = sys.argv[1], sys.argv[2]
header, hbm = TARGETS[target]
scale = hbm / H100_HBM_BYTES_PER_S
lines = open(source).read().splitlines()
body = []
in_memory = False
for line in lines:
    if line.startswith(("#", "name:", "gpu:", "derived_from:")):
        continue
    if re.match(r"^\S", line):
        in_memory = line.startswith("memory:")
    m = re.match(r"^(  (?:copy|elementwise): )([0-9.e+]+)(.*)$", line)
    if in_memory and m and scale != 1.0:
        line = f"{m.group(1)}{float(m.group(2)) * scale:.6g}{m.group(3)} x {hbm / 1e12:g} / {H100_HBM_BYTES_PER_S / 1e12:g}"
    body.append(line)
print(header + "\n".join(body))
