// The validation suite (tests/validation/*.yaml) against published and measured runs.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "gpuhours/validation.hpp"

using namespace gpuhours;

TEST_CASE("validation: published runs across A100, H100 and H800 within the limits, each case within 3 points of its error of 2026-11-29") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const ValidationReport rep = run_validation(catalog, std::string(GPUHOURS_DATA_DIR) + "/tests/validation");
  std::set<std::string> hardware;
  int megatron = 0, megatron_within = 0;
  for (const auto& c : rep.cases) {
    hardware.insert(c.hardware);
    if (c.id.rfind("megatron2021-gpt", 0) == 0) {
      ++megatron;
      megatron_within += std::abs(c.error()) <= 0.15;
    }
  }
  MESSAGE("MAPE ", 100 * rep.all.mape, "% over ", rep.cases.size(), " cases, worst ", 100 * rep.all.worst, "%");
  CHECK(rep.cases.size() >= 40);
  CHECK(hardware.count("A100") == 1);
  CHECK(hardware.count("H100") == 1);
  CHECK(hardware.count("H800") == 1);
  // Narayanan et al. 2021, Table 1: iteration time within 15% for at least 8 of the 10 rows
  // (Calculon, run out of the box on the same rows: 3 of 10, mean error 17.3%).
  CHECK(megatron == 10);
  CHECK(megatron_within >= 8);
  CHECK(rep.gated.mape <= kValidationGate.mean);
  CHECK(rep.gated.worst <= kValidationGate.any_case);
  CHECK(rep.passed());
  // Issue 16's target over every training case, tracked ones included: 8% mean, 12% any group, 25% any case.
  CHECK(rep.all.mape <= 0.08);
  CHECK(rep.all.worst <= 0.25);
  for (const auto& group : rep.all.mape_by_group) {
    CAPTURE(group.first);
    CHECK(group.second <= 0.12);
  }
  CHECK(rep.all.within(kValidationTarget));
  // Issue 20's serving limits, per group: throughput 15%, latency 20% (gated since 2026-12-07).
  CHECK(rep.serving_gated.cases == rep.serving.cases);
  CHECK(rep.serving_passed());
  for (const auto& group : rep.serving.mape_by_group) {
    CAPTURE(group.first);
    CHECK(group.second <= (group.first.ends_with("latency") ? kServingLimits.latency : kServingLimits.throughput));
  }
  // No case drifts more than 3 points past its error of 2026-12-04. Per-case limits (percent): that day's absolute error rounded up, plus 3 points. A mechanism that
  // improves a case may tighten its limit; one that worsens a case past it must say why here.
  // 2026-12-04, stragglers (each step waits for the slowest GPU, +3.0% compute at 8 GPUs to +8.3% at 16,384): the cases
  // already slower than published moved further (dgxc Llama 3.1, NeMo 24.07 FP8, Megatron-Core weak scaling, Qwen3 and
  // Grok-1 BF16, Llama 3.1 405B GPU-hours); A100, H800 and most cases faster than published came closer.
  // 2026-12-05, prompt iterations timed by the training op graph and the calibration profile (norms, rotary
  // embedding, activation and quantization passes beside the GEMMs; cuBLASLt FP8 GEMMs at 400-1,100 TFLOP/s where
  // the roofline took 1,335; the sustained clock; DeepEP's SMs under two overlapped micro-batches): the prompt-heavy
  // TensorRT-LLM rows and DeepSeek-V2's ratio (its FP8 experts of ~560 rows per GEMM) moved slower; DeepSeek-V3's
  // prefill came closer (day average +112% -> +27%).
  // 2026-12-07, decoding iterations (serving): TensorRT-LLM's FP8 KV cache, a kernel's 2-us shortest run, the
  // sustained clock and DeepGEMM's FP8 throughput at the GEMM's rows, and MLPerf's scheduler without answer
  // reservation: the prompt-heavy TensorRT-LLM rows (-16.3/-22.4% that morning: -13.2/-11.5%) and MLPerf's H200
  // offline (-2.8 -> -9.7%) and Server rates (+9.8/+6.6 -> +21.1/+9.0%) moved past their limits, the other serving
  // cases closer.
  // 2026-12-05, DualPipe's F&B component order (weight gradients held behind the dispatch/combine they overlap, as in
  // the DeepSeek-V3 report's Figure 4): more of the all-to-all hides under compute, so DeepSeek-V3's step moved
  // further from ISCA '25 (-13.5% -> -15.7%, GPU-hours -11.6% -> -13.7%).
  // 2026-12-05, attention timed by the kernel library the framework runs (cuDNN's fused attention, which Transformer
  // Engine prefers on Hopper, 554-651 TFLOP/s forward; FlashAttention-2's rows, 208-322, only where a scenario names
  // it) and, under context parallelism, at the ring's block shape: most H100 cases came closer (dgxc Llama 3.1 8B
  // +23% -> +4%, Qwen3-235B at 128K -23% -> -5%, NeMo FP8 Llama rows -7..-15% -> +2..+5%). Faster than published now:
  // Megatron-Core weak scaling 1.7B (+2% -> +17%) and 7.1B (-1% -> +9%), whose 16 and 32 heads per kernel lie below the
  // smallest cuDNN rows (128 sequences x heads) so their rate comes from larger kernels; GPT-3 FP8 on 128 GPUs (-4% ->
  // -7%); Grok-1 FP8 (-1% -> -8%); Qwen3-30B-A3B (+31% -> +56%) and Qwen3-235B TP4 EP8 (-47% -> -54%), whose MoE
  // losses are tracked (issue 16/17).
  // 2026-12-06, the host launching each rank's kernels (51 us each; a MoE forward waits on the CPU for its token
  // counts): the small-expert layouts came closer and their limits tighten (Qwen3-235B TP4 EP8 -54% -> -25%,
  // Qwen3-30B-A3B +56% -> +47%, Qwen3-235B at 16K +7% -> +4%); the dense cases moved by under 0.05%. Added:
  // Megatron-Bridge 26.04.01's Qwen3-235B-A22B FP8 on 256 H100 (-4%).
  // 2026-12-06, the MoE token permutation as memory passes of its own (DeepEP: a permute after the dispatch; NCCL
  // all-to-all: a permute before it and a sort by local expert after it and back; HybridEP: inside its kernels):
  // DeepSeek-V3 came closer (ISCA step -15.6% -> -14.4%, GPU-hours -13.1% -> -11.9%, dgxc BF16 -20% -> -18% and
  // -18% -> -15%, SGLang prefill +33% -> +28%); the layouts already slower than published moved further
  // (Qwen3-235B EP32 +1.4% -> +4.6%, FSDP +6.9% -> +9.9%, FP8 -4.4% -> -9.0%, the last without its recipe's
  // all-to-all overlap); Qwen3-30B-A3B runs HybridEP as published (+46.6%).
  // 2026-12-06, Megatron-Core's expert all-to-all overlap (ep_comm_overlap: steady-state F and B as one F&B pair):
  // added the ModelZoo's Qwen3-235B EP32 row with it (17.6 s published, +1.1%); Megatron-Bridge's Qwen3-235B FP8
  // recipe runs it too and moved from -9.0% to +15.1% (its FP8 current scaling gains little over BF16 there: 253
  // against 245-276 TFLOP/s/GPU).
  // 2026-12-06, the dispatch precision: Megatron-Core's all-to-all and HybridEP dispatchers send BF16 tokens, which
  // the experts quantize on arrival (DeepSeek's FP8 dispatch stays with DeepEP): Qwen3-235B FP8 +15.1% -> -5.6%,
  // Qwen3-30B-A3B +46.6% -> +41.7%.
  // 2026-12-06, Qwen3's QK-Norm (an RMSNorm over each query and key head): the Qwen3 rows 0.3-1.9% slower (Qwen3-30B-A3B
  // +41.7% -> +39.0%, Qwen3-235B FSDP +9.9% -> +11.1%).
  // 2026-12-06, FP8 current scaling (an amax pass before each cast) for the Megatron-Bridge FP8 rows, whose recipes
  // set fp8_cs: Qwen3-30B-A3B +39.0% -> +32.2%, Qwen3-235B -6.2% -> -8.2%, Llama 3 70B -4.1% -> -5.0%, Llama 3.1 405B
  // +4.2% -> +0.5%.
  // 2026-12-06, sliding-window attention: added Megatron-Bridge's gpt-oss-120b BF16 row (64 H100, 5,824 tokens/s/GPU):
  // +40.7%, the largest error, not yet explained (docs/validation.md, the largest errors).
  // 2026-12-06, HybridEP permutes in a kernel after its dispatch unless fused (moe_permute_fusion_into_hybridep, which
  // the Qwen3-30B-A3B FP8 recipe leaves off): +32.2% -> +28.3%.
  // 2026-12-07, the experts' biases (models with bias: true): Megatron-Core's TEGroupedMLP adds the second
  // projection's bias in an eager loop over the local experts (2 kernels per expert forward, 5 backward, each launched
  // by the host): gpt-oss-120b +40.7% -> +21.3%.
  // 2026-12-07, FP8 current scaling costs three kernels per tensor (amax, scale, cast), and a grouped GEMM casts its
  // input split by split (Transformer Engine fuses the multi-tensor cast only under delayed scaling): Qwen3-30B-A3B
  // +28.3% -> -9.1%, Qwen3-235B FP8 -8.2% -> -9.6%, Llama 3.1 405B +0.5% -> -0.0%; Llama 3 70B -5.0% -> -4.4% with
  // its recipe's pipeline layout given (the automatic split had flipped to one 4% slower).
  // 2026-12-07, CUDA graphs in training (cuda_graph_scope): Qwen3-30B-A3B runs its recipe's attn, moe_router and
  // moe_preprocess graphs, -9.1% -> -3.6%. MoE on H100 is gated from now on.
  // 2026-12-07, FP8 GEMMs sized to the SMs DeepEP leaves (gemm_sms: partitioned; DeepSeek's profile launches its FP8
  // GEMMs on 112 of 132 SMs for the whole step; their quantization passes and the BF16 heads take the free SMs):
  // DeepSeek-V3's step -14.4% -> -10.4%, its GPU-hours -11.9% -> -8.0%; limits tightened to 14 and 11.
  // 2026-12-07, partitioned GEMMs lose 5% of their rate beside DeepEP's kernels (slowdown_beside_comm), and expert-,
  // tensor- and context-parallel collectives wait for the slowest rank's kernel jitter (kernel_jitter, 2.4% per
  // kernel; both measured in DeepSeek's H800 profile, carried to H100): DeepSeek-V3's step -10.4% -> -9.2%, its
  // GPU-hours -8.0% -> -6.7% (limits tightened to 12 and 10); cases already slow moved further: Nemotron-4 15B FP8
  // +6.0% -> +7.3%, Qwen3-235B FSDP +11.1% -> +12.3%, at 128K with CP 8 -6.3% -> -8.8% (limits 10, 15, 12).
  const std::map<std::string, int> limit_percent = {
      {"deepseek-v3-isca25-step", 12},
      {"dgxc-llama31-8b-bf16-8gpu", 8},
      {"dgxc-llama31-70b-bf16-64gpu", 6},
      {"dgxc-gpt3-175b-bf16-128gpu", 8},
      {"dgxc-gpt3-175b-bf16-512gpu", 9},
      {"dgxc-gpt3-175b-bf16-2048gpu", 8},
      {"dgxc-gpt3-175b-fp8-128gpu", 11},
      {"dgxc-llama31-8b-fp8-8gpu", 11},
      {"dgxc-llama31-70b-bf16-2048gpu", 6},
      {"dgxc-llama31-70b-fp8-64gpu", 8},
      {"dgxc-nemotron4-15b-bf16-16gpu", 5},
      {"dgxc-nemotron4-15b-bf16-2048gpu", 6},
      {"dgxc-nemotron4-15b-fp8-16gpu", 10},
      {"llama-3.1-405b-gpu-hours", 24},
      {"deepseek-v3-gpu-hours", 10},
      {"deepseek-v2-gpu-hours-per-trillion", 8},  // added 2026-12-07: DeepSeek-V2 report §3.2.3, V2 and 67B on H800
      {"deepseek-llm-67b-gpu-hours-per-trillion", 4},
      {"h100-ref-llama-1b-s2048", 6},
      {"h100-ref-llama-1b-s4096", 5},
      {"h100-ref-llama-3b-s2048", 3},
      {"h100-ref-llama-3b-s4096", 4},
      {"mcore-h100-weak-1.7b", 20},
      {"mcore-h100-weak-7.1b", 12},
      {"mcore-h100-weak-16b", 5},
      {"mcore-h100-weak-32b", 15},
      {"mcore-h100-weak-70b", 4},
      {"mcore-h100-weak-119b", 5},
      {"mcore-h100-weak-177b", 4},
      {"mcore-h100-weak-314b", 13},
      {"mcore-h100-weak-462b", 11},
      {"megascale-175b-megatron-lm-256gpu", 14},
      {"megascale-175b-megatron-lm-8192gpu", 25},
      {"megascale-175b-megatron-lm-12288gpu", 26},
      {"qwen3-235b-ep32-tp2-pp8-256gpu", 7},
      {"qwen3-235b-ep32-tp2-pp8-a2a-overlap-256gpu", 4},  // added 2026-12-06 with ep_comm_overlap
      {"qwen3-235b-ep8-tp2-fsdp-256gpu", 15},
      {"qwen3-235b-ep8-tp4-pp8-256gpu", 27},
      {"qwen3-235b-ep8-tp4-cp1-seq16k-256gpu", 7},
      {"qwen3-235b-ep8-tp4-cp8-seq128k-256gpu", 12},
      {"mbridge2604-qwen3-30b-a3b-fp8-16gpu", 7},
      {"mbridge2604-qwen3-235b-a22b-fp8-256gpu", 12},
      {"mbridge2604-gpt-oss-120b-bf16-64gpu", 24},  // added 2026-12-06 with sliding-window attention
      {"mixtral-8x22b-ep8-tp2-pp8-128gpu", 4},
      {"dgxc-deepseek-v3-bf16-1024gpu", 20},
      {"dgxc-deepseek-v3-bf16-512gpu", 18},
      {"dgxc-grok1-314b-bf16-512gpu", 13},
      {"dgxc-grok1-314b-fp8-512gpu", 11},
      {"megatron2021-gpt-1.7b", 11},
      {"megatron2021-gpt-3.6b", 7},
      {"megatron2021-gpt-7.5b", 5},
      {"megatron2021-gpt-18.4b", 8},
      {"megatron2021-gpt-39.1b", 5},
      {"megatron2021-gpt-76.1b", 7},
      {"megatron2021-gpt-145.6b", 5},
      {"megatron2021-gpt-310.1b", 4},
      {"megatron2021-gpt-529.6b", 7},
      {"megatron2021-gpt-1008.0b", 5},
      {"nemo2407-gpt3-175b-fp8-512gpu", 4},
      {"nemo2407-llama2-70b-fp8-64gpu", 5},
      {"nemo2407-llama3-8b-fp8-8gpu", 8},
      {"nemo2407-llama3-70b-fp8-64gpu", 5},
      {"mbridge2602-llama3-70b-fp8-64gpu", 8},
      {"mbridge2602-llama31-405b-fp8-1024gpu", 7},
      {"nemotron4-340b-dp16", 5},
      {"nemotron4-340b-dp32", 5},
      {"nemotron4-340b-dp64", 4},
      {"llama3-405b-tp8-pp16-16384gpu", 25},  // added 2026-12-05: Llama 3 Table 4 (tracked: interleaving depth assumed)
      {"trtllm-llama33-70b-fp8-h100tp2-1000-1000", 11},  // 2026-12-07: FP8 KV cache, kernel_min_duration, sustained clocks and DeepGEMM rows in decode
      {"trtllm-llama33-70b-fp8-h100tp2-128-2048", 11},
      {"trtllm-llama33-70b-fp8-h100tp2-2048-2048", 8},
      {"trtllm-llama33-70b-fp8-h100tp2-5000-500", 15},
      {"trtllm-llama33-70b-fp8-h100tp2-2048-128", 17},
      {"trtllm-qwen3-235b-fp8-h100x8-1000-1000", 7},  // added 2026-12-03 (tracked: decode-heavy H100 slow)
      {"trtllm-qwen3-235b-fp8-h100x8-128-2048", 7},  // 2026-12-07 tightened: NVLS all-reduces
      {"trtllm-qwen3-235b-fp8-h100x8-2048-2048", 5},
      {"trtllm-qwen3-235b-fp8-h100x8-5000-500", 11},
      {"nim-llama33-70b-fp8-h100tp2-5000-500-c1-ttft", 10},  // added 2026-12-05: NVIDIA NIM 1.8.0 latency at concurrency 1
      {"nim-llama33-70b-fp8-h100tp2-5000-500-c1-itl", 6},
      {"nim-llama33-70b-fp8-h100tp2-500-2000-c1-ttft", 17},
      {"nim-llama33-70b-fp8-h100tp2-500-2000-c1-itl", 8},
      {"mlperf41-llama2-70b-h100x8-offline", 5},  // added 2026-12-05: MLPerf Inference v4.1, NVIDIA; 2026-12-07 tightened
      {"mlperf41-llama2-70b-h200x8-offline", 13},  // 2026-12-07: the H200 profile derived from the H100's
      {"mlperf41-llama2-70b-h100x8-server-ttft", 58},  // tracked: the simulated queue stays short
      {"mlperf41-llama2-70b-h100x8-server-tpot", 50},
      {"mlperf41-llama2-70b-h200x8-server-ttft", 5},
      {"mlperf41-llama2-70b-h200x8-server-tpot", 7},
      {"mlperf41-llama2-70b-h100x8-server-rate", 25},  // added 2026-12-07: MLPerf's Server rate within its latency limits
      {"mlperf41-llama2-70b-h200x8-server-rate", 12},
      {"deepseek-v2-kv-reduction", 3},
      {"deepseek-v2-throughput-ratio", 35},  // 2026-12-07: -19.4% -> -30.9%, NVLS speeds up the 67B baseline (TP8, assumed)
      {"deepseek-v3-profile-prefill-per-node", 6},  // added 2026-12-05: DeepSeek's profile and SGLang on H100 (LMSYS 2025-05-05)
      {"sglang-deepseek-v3-prefill-1k-h100", 28},
      {"sglang-deepseek-v3-prefill-2k-h100", 29},
      {"sglang-deepseek-v3-prefill-4k-h100", 27},
      {"sglang-deepseek-v3-prefill-4k-balanced-h100", 8},
      {"sglang-deepseek-v3-decode-2k-h100", 46},
      {"sglang-deepseek-v3-decode-2k-itl-h100", 39},
      {"deepseek-v3-prefill-per-node", 28},
      {"deepseek-v3-decode-per-node", 6},
  };
  CHECK(rep.cases.size() == limit_percent.size());
  for (const auto& c : rep.cases) {
    CAPTURE(c.id);
    REQUIRE(limit_percent.count(c.id) == 1);
    CHECK(100 * std::abs(c.error()) <= limit_percent.at(c.id));
  }
}
