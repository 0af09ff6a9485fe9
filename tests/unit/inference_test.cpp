// Generation as inference (prefill, decode, KV cache, continuous batching) and the RL, generation
// and SFT phases built on it.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <fstream>
#include <iterator>
#include <numeric>

#include "gpuhours/check.hpp"
#include "gpuhours/inference.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/run.hpp"
#include "test_util.hpp"

using namespace gpuhours;
using test::cli;
using test::preset;

namespace {

Scenario one_h100_8b() {
  Scenario s = preset("llama-3-8b-8gpu-dp");
  s.cluster.gpus_per_node = 1;
  return s;
}

}  // namespace

TEST_CASE("inference: KV-cache bytes per token, GQA and MLA, by hand") {
  // Llama 3 8B: K and V, 8 KV heads x 128 x 32 layers, BF16.
  CHECK(kv_cache_bytes_per_token(test::zoo("llama-3-8b"), 1) == 2.0 * 8 * 128 * 32 * 2);
  const int tp8 = 8;
  CHECK(kv_cache_bytes_per_token(test::zoo("llama-3-8b"), tp8) == 2.0 * 8 * 128 * 32 * 2 / 8);
  // DeepSeek-V3: latent 512 + RoPE key 64 per layer, 61 layers, BF16, not split by tp.
  CHECK(kv_cache_bytes_per_token(test::zoo("deepseek-v3"), tp8) == (512.0 + 64) * 61 * 2);
}

TEST_CASE("inference: decoding one sequence is bound by reading the weights and the KV cache from HBM") {
  const Scenario s = one_h100_8b();
  const ParamCount p = count_params(s.model);
  const GpuSpec& g = s.cluster.gpu;
  const double context = 4096;
  const IterationCost c = iteration_cost(s, {}, 1, context, context, true);
  // Every weight but the embedding table (one row read) in BF16, plus 4,096 cached tokens.
  const double bytes = static_cast<double>(p.total - p.embedding) * 2 + context * 131072;
  CHECK(c.weight_bytes == doctest::Approx(static_cast<double>(p.total - p.embedding) * 2));
  CHECK(c.memory_seconds == doctest::Approx(bytes / (g.hbm_bytes_per_s * g.achievable.copy)));
  CHECK(c.memory_seconds > 20 * c.compute_seconds);
  CHECK(c.seconds == doctest::Approx(c.memory_seconds + c.launch_seconds));
  // ~16 GB at ~3 TB/s: about 5-6 ms per token.
  CHECK(c.seconds > 4e-3);
  CHECK(c.seconds < 8e-3);
}

TEST_CASE("inference: a decode batch reads its KV cache in attention kernels after the GEMMs: each cached token adds its bytes over HBM bandwidth") {
  // 512 sequences of Llama 3 8B in BF16 on one H100: the GEMMs are compute-bound (7 TFLOP against
  // 15 GB of weights), the attention kernels bound by the cache they read (4 FLOP per byte). The
  // cache's read cannot hide behind the GEMMs' arithmetic: kernels of one stream run one after
  // another, so 1,024 more cached tokens per sequence add 512 x 1,024 x 131,072 bytes at the HBM's
  // achievable rate (22.8 ms), not nothing.
  const Scenario s = one_h100_8b();
  const GpuSpec& g = s.cluster.gpu;
  const double batch = 512, kv_bytes = 2.0 * 8 * 128 * 32 * 2;
  const IterationCost shorter = iteration_cost(s, {}, batch, batch * 1024, batch * 1024, true);
  const IterationCost longer = iteration_cost(s, {}, batch, batch * 2048, batch * 2048, true);
  CHECK(shorter.compute_seconds > shorter.memory_seconds);
  CHECK(longer.seconds - shorter.seconds == doctest::Approx(batch * 1024 * kv_bytes / (g.hbm_bytes_per_s * g.achievable.copy)).epsilon(1e-9));
}

TEST_CASE("inference: a tensor-parallel decode's all-reduces inside a node run as NCCL's tuner picks them: NVLS for MiBs, the ring for KiBs") {
  // Llama 3 8B at TP 8 on one H100 node: two all-reduces per layer of the batch's hidden states in
  // BF16. 256 sequences: 4 MiB each, NVLS (38 us) beats the ring's LL128; one sequence: 8 KiB,
  // the ring's LL protocol beats NVLS's 25 us of latency.
  Scenario s = preset("llama-3-8b-8gpu-dp");
  InferenceSpec tp8;
  tp8.tp = 8;
  const int layers = s.model.layers;
  for (const double batch : {256.0, 1.0}) {
    CAPTURE(batch);
    const double bytes = batch * s.model.hidden * 2.0;
    const Time nvls = nvls_all_reduce_time(bytes, s.cluster);
    const Time ring = ring_collective_time(CollectiveKind::all_reduce, bytes, 8, 1, s.cluster);
    CHECK((batch > 1 ? nvls < ring : ring < nvls));
    const IterationCost c = iteration_cost(s, tp8, batch, batch * 1000, batch * 1000, true);
    CHECK(c.comm_seconds == doctest::Approx(2.0 * layers * std::min(nvls, ring).seconds()).epsilon(1e-12));
  }
}

TEST_CASE("inference: prefilling a long prompt is compute-bound, above the roofline of its FLOPs") {
  const Scenario s = one_h100_8b();
  REQUIRE(s.cluster.calibration);  // the GPU's measured profile times the prompt's kernels
  const ParamCount p = count_params(s.model);
  const GpuSpec& g = s.cluster.gpu;
  const double n = 8192;
  const IterationCost c = iteration_cost(s, {}, n, n * (n + 1) / 2, 0, false);
  const double gemm = 2.0 * static_cast<double>(p.matmul_active) * n;
  const double attn = n * (n + 1) / 2 * 2.0 * (128 + 128) * 32 * 32;  // 2*(d_qk + d_v) per head, 32 heads, 32 layers
  CHECK(c.flops == doctest::Approx(gemm + attn));
  // The GEMMs and attention at the catalogue's best measured rates are a floor: the profile's
  // kernels at these shapes, the sustained clock and the norms, rotary embedding, residuals and
  // activation between them only add to it.
  const double roofline = gemm / (g.peak_flops_per_s.at("bf16") * g.achievable.gemm_bf16) +
                          attn / (g.peak_flops_per_s.at("bf16") * g.achievable.attention_fwd);
  CHECK(c.compute_seconds > roofline);
  CHECK(c.compute_seconds < 1.5 * roofline);
  CHECK(c.compute_seconds > 10 * c.memory_seconds);
}

TEST_CASE("inference: a prompt's attention is the profile's measured kernel, linear in the pairs attended") {
  const Scenario s = one_h100_8b();
  const double n = 16384, pairs = n * (n + 1) / 2;
  // The same 16,384 new tokens behind a cached prefix that doubles the (query, key) pairs they attend.
  const IterationCost own = iteration_cost(s, {}, n, pairs, 0, false);
  const IterationCost behind = iteration_cost(s, {}, n, 2 * pairs, n, false);
  // Llama 3 8B: 32 heads of 128, one sequence of 16,384, is a measured row of the H100 profile's
  // fused (cuDNN) attention (attention [1, 32, 16384, 128, 128]: 3.59459209 ms forward), run at its
  // sustained clock, 32 layers.
  const double measured = 3.59459209e-3 / s.cluster.calibration->sustained_clock_ratio * 32;
  CHECK(behind.compute_seconds - own.compute_seconds == doctest::Approx(measured).epsilon(1e-6));
}

TEST_CASE("inference: overlapped micro-batches run each prompt kernel twice on half the tokens, on the SMs DeepEP leaves") {
  Scenario s = preset("deepseek-r1-rl");
  s.parallel.expert_imbalance = 1.0;  // the same expert load at either batch size
  InferenceSpec split;
  split.ep = 32;
  split.redundant_experts = 32;
  split.weights = Precision::fp8;
  InferenceSpec overlapped = split;
  overlapped.dual_batch_overlap = true;
  const double n = 32 * 16384.0, pairs = n / 4096 * 4096 * 4097 / 2;  // 16,384 tokens per GPU in prompts of 4,096
  const IterationCost half = iteration_cost(s, split, n / 2, pairs / 2, 0, false);
  const IterationCost both = iteration_cost(s, overlapped, n, pairs, 0, false);
  // Compute C beside transfers of M seconds that hold 20 of the 132 SMs: min(C / (1 - share), C + M x share).
  const double share = 20.0 / 132, C = 2 * half.compute_seconds, M = both.comm_seconds;
  REQUIRE(M > 0);
  CHECK(both.compute_seconds == doctest::Approx(std::min(C / (1 - share), C + M * share)));
  CHECK(both.compute_seconds > C);
}

TEST_CASE("inference: prompt GEMMs sized to the SMs DeepEP leaves run slower than GEMMs that share them, by at most their ratio") {
  // SGLang's two-batch overlap sizes DeepGEMM to the GPU's SMs less DeepEP's (gemm_sms: partitioned):
  // its GEMMs run at 112 / 132 throughout, where shared ones lose those SMs only beside a transfer.
  Scenario s = preset("deepseek-r1-rl");
  s.parallel.expert_imbalance = 1.0;
  InferenceSpec shared;
  shared.ep = 32;
  shared.redundant_experts = 32;
  shared.weights = Precision::fp8;
  shared.dual_batch_overlap = true;
  InferenceSpec partitioned = shared;
  partitioned.gemm_sms = GemmSms::partitioned;
  InferenceSpec split = shared;
  split.dual_batch_overlap = false;
  const double n = 32 * 16384.0, pairs = n / 4096 * 4096 * 4097 / 2;
  const double C = 2 * iteration_cost(s, split, n / 2, pairs / 2, 0, false).compute_seconds;  // kernels alone
  const IterationCost a = iteration_cost(s, shared, n, pairs, 0, false);
  const IterationCost b = iteration_cost(s, partitioned, n, pairs, 0, false);
  const double share = 20.0 / 132, M = a.comm_seconds;
  MESSAGE("prompt kernels alone ", C, " s (FP8 GEMMs ", b.gemm_seconds, " s); beside DeepEP, shared ", a.compute_seconds,
          " s, partitioned ", b.compute_seconds, " s");
  REQUIRE(M > 0);
  CHECK(b.comm_seconds == M);
  // The FP8 GEMMs (G) at 112 / 132 throughout, their share of the transfers' time (M G / C) at 0.95 of
  // that (the GPU's slowdown_beside_comm); the rest (R = C - G) beside its share of the transfers.
  const double G = b.gemm_seconds, R = C - G, x = 0.05;
  REQUIRE(s.cluster.gpu.slowdown_beside_comm == x);
  REQUIRE(G > 0.3 * C);
  REQUIRE(G < C);
  const double beside = std::min(G, M * G / C);
  CHECK(b.compute_seconds ==
        doctest::Approx((G + beside * x / (1 - x)) / (1 - share) + std::min(R / (1 - share), R + M * R / C * share)));
  CHECK(b.compute_seconds > a.compute_seconds);
  CHECK(b.compute_seconds < C / (1 - share) / (1 - x));
  // Switched off, the GEMMs keep their partition's rate.
  s.cluster.slowdown_beside_comm = false;
  const IterationCost off = iteration_cost(s, partitioned, n, pairs, 0, false);
  CHECK(off.compute_seconds == doctest::Approx(G / (1 - share) + std::min(R / (1 - share), R + M * R / C * share)));
}

TEST_CASE("inference: a batch of decoding sequences touches more experts, up to all of them") {
  Scenario s = preset("deepseek-r1-rl");
  InferenceSpec layout;
  layout.ep = 32;
  const double one = iteration_cost(s, layout, 1, 1000, 1000, true).weight_bytes;
  const double many = iteration_cost(s, layout, 4096, 4096e3, 4096e3, true).weight_bytes;
  const ParamCount p = count_params(s.model);
  // 1 token picks 8 of 256 experts per layer: 1/32 of them, as read by 32 GPUs.
  const double expert = static_cast<double>(p.routed_experts_per_layer) / 256 * 58;  // one expert, all MoE layers
  CHECK(many - one == doctest::Approx(expert * (256 - 8) / 32).epsilon(0.01));
}

TEST_CASE("inference: response lengths have the requested truncated mean and respect the limit") {
  LengthSpec spec;
  spec.max_tokens = 32768;
  for (double mean : {1000.0, 8000.0, 20000.0}) {
    const auto l = response_lengths(spec, mean, 20000);
    const double got = std::accumulate(l.begin(), l.end(), 0.0) / static_cast<double>(l.size());
    CAPTURE(mean);
    CHECK(got == doctest::Approx(mean).epsilon(0.01));
    CHECK(*std::max_element(l.begin(), l.end()) <= 32768);
    CHECK(std::is_sorted(l.begin(), l.end()));
  }
  spec.fixed = true;
  const auto f = response_lengths(spec, 5000, 10);
  CHECK(std::all_of(f.begin(), f.end(), [](std::int64_t x) { return x == 5000; }));
}

TEST_CASE("inference: equal sequences decoded together take the sum of their iterations") {
  const Scenario s = one_h100_8b();
  GenerationSpec g;
  g.outputs = 64;
  g.prompt_tokens = 100;
  g.response.max_tokens = 4096;
  g.response.fixed = true;
  const GenerationResult r = simulate_generation(s, g, 1000);
  // By hand: one prefill of 64 x 100 tokens, then 1,000 iterations of 64 sequences whose context
  // grows by one token each iteration.
  double expected = iteration_cost(s, {}, 6400, 6400 * 101 / 2.0, 0, false).seconds;
  for (int j = 0; j < 1000; ++j) {
    const double ctx = 64.0 * (100 + j);
    expected += iteration_cost(s, {}, 64, ctx, ctx, true).seconds;
  }
  CHECK(r.wall.seconds() == doctest::Approx(expected).epsilon(0.002));
  CHECK(r.peak_concurrent == 64);
  CHECK(r.output_tokens == 64000);
  CHECK(r.output_tokens_per_gpu_second == doctest::Approx(64000 / r.wall.seconds()));
}

TEST_CASE("inference: continuous batching beats one sequence at a time, and the KV cache caps the batch") {
  const Scenario s = one_h100_8b();
  GenerationSpec g;
  g.outputs = 256;
  g.prompt_tokens = 200;
  g.response.max_tokens = 16384;
  g.response.mean_from = g.response.mean_to = 4000;
  const GenerationResult batched = simulate_generation(s, g, 4000);
  g.inference.max_sequences = 1;
  const GenerationResult serial = simulate_generation(s, g, 4000);
  CHECK(serial.peak_concurrent == 1);
  CHECK(serial.wall.seconds() > 10 * batched.wall.seconds());
  // The KV cache of one H100 holds (81,559 MiB as the driver reports it x 0.95 - 16.06 GB of BF16
  // weights - 1 GiB of buffers) / 128 KiB per token = 489,124 tokens. (This case had not run since
  // its name held a ';', which CTest splits; the capacity then was 74.5 GiB.)
  const double expected = (81559.0 * 1024 * 1024 * 0.95 - 16060522496.0 - 1073741824.0) / 131072.0;
  CHECK(batched.kv_capacity_tokens == doctest::Approx(expected).epsilon(1e-5));
  CHECK(batched.mean_concurrent <= batched.peak_concurrent);
  // A sequence longer than the cache is infeasible, with the reason.
  g.prompt_tokens = 600000;
  CHECK_THROWS_WITH_AS(simulate_generation(s, g, 4000), doctest::Contains("does not fit the KV cache"), InfeasibleLayout);
}

TEST_CASE("rl: a GRPO step is its share of the rollout plus the forward passes and the update") {
  Scenario s = preset("llama-3-8b-8gpu-dp");
  PhaseSpec ph;
  ph.name = "grpo";
  ph.kind = PhaseKind::rl;
  ph.steps = 100;
  ph.seq_len = 8192;
  ph.global_batch = 64;
  ph.parallel = s.parallel;
  ph.rl.prompts_per_step = 16;
  ph.rl.samples_per_prompt = 8;
  ph.rl.updates_per_rollout = 4;
  ph.generation.prompt_tokens = 200;
  ph.generation.response.max_tokens = 8192;
  ph.generation.response.fixed = true;
  ph.generation.response.mean_from = ph.generation.response.mean_to = 3896;
  ph.generation.outputs = 16 * 8 * 4;
  s.training.tokens = 0;
  s.training.phases = {ph};
  s.reliability.enabled = false;
  const RunResult run = account_run(s, simulate_phases(s, simulate_step(s)));
  REQUIRE(run.phases.size() == 1);
  const PhaseResult& p = run.phases[0];
  // By hand: 512 outputs per rollout generated on 8 instances of one GPU, a quarter per step; the
  // update packs 128 x 4,096 tokens into 64 sequences of 8,192 (the batch of 64 splits over 8 GPUs);
  // forward-only passes: old policy (4 updates per rollout) and reference, a third of a step each.
  const GenerationResult gen = simulate_generation(s, ph.generation, 3896);
  Scenario upd = s;
  upd.training.global_batch = 64;
  const StepResult step = simulate_step(upd);
  const double per_step = gen.wall.seconds() / 4 + step.seconds * (1 + 2.0 / 3);
  CHECK(p.step_seconds == doctest::Approx(per_step));
  CHECK(p.gpu_hours == doctest::Approx(100 * per_step * 8 / 3600));
  CHECK(p.generation_gpu_hours == doctest::Approx(100 * gen.wall.seconds() / 4 * 8 / 3600));
  CHECK(p.tokens == doctest::Approx(100.0 * 128 * 4096));
  CHECK(p.global_batch == 64);
  // PPO adds a critic update and its value pass.
  s.training.phases[0].rl.algorithm = "ppo";
  const RunResult ppo = account_run(s, simulate_phases(s, simulate_step(s)));
  CHECK(ppo.phases[0].step_seconds == doctest::Approx(gen.wall.seconds() / 4 + step.seconds * (2 + 3.0 / 3)));
}

TEST_CASE("distillation: the API alternative is prompt and output tokens at their prices, exactly") {
  const Scenario s = preset("distillation");
  const RunResult run = account_run(s, simulate_phases(s, simulate_step(s)));
  const PhaseResult& gen = run.phases.at(0);
  REQUIRE(gen.kind == "generate");
  REQUIRE(gen.api_usd);
  CHECK(*gen.api_usd == doctest::Approx((800000.0 * 300 * 0.27 + gen.output_tokens * 1.10) / 1e6));
  CHECK(gen.output_tokens == doctest::Approx(800000.0 * 4000).epsilon(0.001));
  CHECK(*run.costs.api_route_usd ==
        doctest::Approx(run.cost_usd - gen.gpu_hours / run.reliability.goodput * 2.0 + *gen.api_usd));
  CHECK(run.phases.at(1).name == "student-sft");
  CHECK(run.phases.at(1).tokens == doctest::Approx(800000.0 * 4300 * 2));
}

TEST_CASE("check deepseek-r1-rl: claimed and simulated GPU-hours by phase, side by side, with the dominant phase") {
  const auto html = test::write_temp("r1.html", "");
  const auto r = cli({"check", "deepseek-r1-rl", "--json", "--samples", "200", "--html", html});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["claim"]["gpu_hours"].get<double>() == 147336);
  const auto& phases = j["claim"]["phases"];
  REQUIRE(phases.size() == 3);
  CHECK(phases[0]["name"] == "r1-zero");
  CHECK(phases[0]["claimed_gpu_hours"].get<double>() == 101376);
  CHECK(phases[1]["name"] == "sft-data");
  CHECK(phases[2]["name"] == "r1");
  double simulated = 0;
  for (const auto& p : phases) simulated += p["simulated_gpu_hours"].get<double>();
  CHECK(simulated == doctest::Approx(j["run"]["gpu_hours"].get<double>()));
  CHECK(j["claim"]["dominant_phase"]["name"].get<std::string>().rfind("r1-zero/", 0) == 0);
  // R1-Zero is simulated within 30% of the reported 101K GPU-hours; generation is a large share.
  const double r1_zero = phases[0]["simulated_gpu_hours"].get<double>();
  CHECK(r1_zero == doctest::Approx(101376).epsilon(0.3));
  for (const auto& p : j["run"]["phases"])
    if (p["kind"] == "rl") CHECK(p["generation_gpu_hours"].get<double>() > 0.3 * p["gpu_hours"].get<double>());
  // The HTML report has the table of claimed and simulated GPU-hours by phase.
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(page.find("<th>claimed / simulated</th>") != std::string::npos);
  CHECK(page.find("<td>r1-zero</td>") != std::string::npos);
}

TEST_CASE("rl and generation phases: bad values are named with file, line and field") {
  auto scenario = [](const std::string& phase) {
    return test::write_temp("bad-rl.yaml", R"(name: bad
title: bad
model: llama-3-8b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node}
training:
  precision: bf16
  seq_len: 8192
  global_batch: 64
  phases:
)" + phase + "\ncost: {gpu_hour_usd: 2}\nparallelism: {zero: 2}\n");
  };
  const std::string rl = R"(    - name: rl
      kind: rl
      steps: 10
      prompts_per_step: 8
      samples_per_prompt: 4
      prompt_tokens: 100
)";
  auto run = [](const std::string& path) { return cli({"run", path}); };
  auto r = run(scenario(rl + "      response_tokens: {mean: 9000, max: 8192}"));
  CHECK(r.code == 1);
  CHECK(r.err.find("bad-rl.yaml:16") != std::string::npos);
  CHECK(r.err.find("mean must be below max") != std::string::npos);
  r = run(scenario(rl + "      response_tokens: {mean: 1000, max: 8192}\n      algorithm: dpo"));
  CHECK(r.code == 1);
  CHECK(r.err.find("grpo") != std::string::npos);
  r = run(scenario("    - {name: g, kind: generate, prompt_tokens: 10, response_tokens: {mean: 10, max: 100}}"));
  CHECK(r.code == 1);
  CHECK(r.err.find("outputs") != std::string::npos);
  r = run(scenario("    - {name: g, kind: sample}"));
  CHECK(r.code == 1);
  CHECK(r.err.find("generate") != std::string::npos);
  r = run(scenario("    - {name: s, samples: 1000, epochs: 2}"));
  CHECK(r.code == 1);
  CHECK(r.err.find("tokens_per_sample") != std::string::npos);
  r = run(scenario(rl + "      response_tokens: {mean: 1000, max: 8192}\n      inference: {ep: 3}"));
  CHECK(r.code == 2);
  CHECK(r.err.find("does not divide") != std::string::npos);
  // A claim by phase must name a phase.
  const auto bad_claim = test::write_temp("bad-claim.yaml", R"(name: bad
title: bad
model: llama-3-8b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node}
training: {precision: bf16, seq_len: 8192, global_batch: 64, tokens: 1e9}
cost: {gpu_hour_usd: 2}
claim: {gpu_hours: 10, source: x, phases: {sft: 5}}
)");
  r = run(bad_claim);
  CHECK(r.code == 1);
  CHECK(r.err.find("no phase is named 'sft'") != std::string::npos);
  // No main tokens and no phases.
  const auto empty = test::write_temp("no-work.yaml", R"(name: bad
title: bad
model: llama-3-8b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node}
training: {precision: bf16, seq_len: 8192, global_batch: 64}
cost: {gpu_hour_usd: 2}
)");
  r = run(empty);
  CHECK(r.code == 1);
  CHECK(r.err.find("'tokens'") != std::string::npos);
}

TEST_CASE("inference: DeepSeek-V3 decode on H800 at DeepSeek's serving point, within 20% of its published throughput") {
  // DeepSeek-V3/R1 Inference System Overview (Feb 2025): each H800 node decodes about 14.8K output
  // tokens/s on average, at 20-22 tokens/s per user, with 4,989 cached tokens per sequence on
  // average; decode runs EP144 over 18 nodes (here EP128 over 16: 256 experts must divide), DP
  // attention, FP8 weights, DeepEP low-latency kernels. The batch per GPU is not published: it is
  // the one at which a user sees 21 tokens/s.
  Scenario s = preset("deepseek-r1-rl");
  s.cluster.nodes = 16;
  InferenceSpec layout;
  layout.ep = 128;
  double best_gap = 1e9, per_node = 0;
  for (int b = 1; b <= 256; ++b) {
    const double tokens = 128.0 * b, ctx = tokens * 4989;
    const double seconds = iteration_cost(s, layout, tokens, ctx, ctx, true).seconds;
    if (std::abs(1 / seconds - 21) < best_gap) {
      best_gap = std::abs(1 / seconds - 21);
      per_node = 8 * b / seconds;
    }
  }
  MESSAGE("simulated ", per_node, " output tokens/s per node at 21 tokens/s per user (published 14,800)");
  CHECK(best_gap < 1);
  CHECK(per_node == doctest::Approx(14800).epsilon(0.2));
}
