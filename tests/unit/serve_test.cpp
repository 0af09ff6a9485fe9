// gpuhours serve: the scheduler against hand-derived timelines, the KV-cache and cost arithmetic
// against published figures, and bad serving input.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include <set>
#include "gpuhours/decode.hpp"
#include "gpuhours/hardware.hpp"
#include "gpuhours/inference.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/serve.hpp"
#include "test_util.hpp"

using namespace gpuhours;
using test::cli;

namespace {

const Catalog& catalog() {
  static const Catalog c(GPUHOURS_DATA_DIR);
  return c;
}

// One Llama 3 8B instance on one H100, BF16, and `requests` as YAML.
std::string one_gpu(const std::string& requests, const std::string& pool_extra = "") {
  return "name: tiny-serve\ntitle: one H100\nrequests: " + requests +
         "\ndeployments:\n  - {name: one, model: llama-3-8b, cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 1, "
         "network: nvswitch-node}, pools: [{role: both, weights: bf16" + pool_extra + "}]}\ncost: {gpu_hour_usd: 3.6}\n";
}

ServingScenario load_text(const std::string& name, const std::string& text) {
  return load_serving(test::write_temp(name, text), catalog());
}

double ceil_ns(double seconds) { return Time::from_seconds_ceil(seconds).seconds(); }

}  // namespace

TEST_CASE("serve: one request on an idle GPU: the prompt in one iteration, then one iteration per answer token") {
  const ServingScenario sc =
      load_text("one.yaml", one_gpu("{arrival: saturate, count: 1, input_tokens: {mean: 100}, output_tokens: {mean: 3}}"));
  const DeploymentResult r = simulate_deployment(sc, sc.deployments.front());
  const Scenario& s = sc.deployments.front().platform;
  const InferenceSpec& layout = sc.deployments.front().pools.front().layout;
  // Prefill of 100 tokens attending 100 * 101 / 2 pairs, yielding the first answer token.
  const double prefill = ceil_ns(batch_iteration_cost(s, layout, {100, 100 * 101 / 2.0, 0}, {}).seconds);
  // Two decode iterations at contexts 100 and 101 (attending 101 and 102 keys).
  const double d1 = ceil_ns(batch_iteration_cost(s, layout, {}, {1, 101, 100}).seconds);
  const double d2 = ceil_ns(batch_iteration_cost(s, layout, {}, {1, 102, 101}).seconds);
  CHECK(r.ttft.p50 == doctest::Approx(prefill).epsilon(1e-12));
  CHECK(r.latency.p50 == doctest::Approx(prefill + d1 + d2).epsilon(1e-12));
  CHECK(r.tpot.p50 == doctest::Approx((d1 + d2) / 2).epsilon(1e-12));
  CHECK(r.pools.front().iterations == 3);
  CHECK(r.output_tokens == 3);
  // At $3.60 per GPU-hour a busy GPU-second costs $0.001.
  CHECK(r.usd_per_request == doctest::Approx(0.001 * (prefill + d1 + d2)).epsilon(1e-9));
}

TEST_CASE("serve: chunked prefill splits a 1,000-token prompt into 256-token iterations") {
  const ServingScenario sc = load_text(
      "chunks.yaml", one_gpu("{arrival: saturate, count: 1, input_tokens: {mean: 1000}, output_tokens: {mean: 1}}",
                             ", max_batch_tokens: 256"));
  const DeploymentResult r = simulate_deployment(sc, sc.deployments.front());
  const Scenario& s = sc.deployments.front().platform;
  const InferenceSpec& layout = sc.deployments.front().pools.front().layout;
  double t = 0, before = 0;
  for (double chunk : {256.0, 256.0, 256.0, 232.0}) {
    t += ceil_ns(batch_iteration_cost(s, layout, {chunk, chunk * (before + (chunk + 1) / 2), before}, {}).seconds);
    before += chunk;
  }
  CHECK(r.pools.front().iterations == 4);
  CHECK(r.ttft.p50 == doctest::Approx(t).epsilon(1e-12));
  CHECK(r.latency.p50 == doctest::Approx(t).epsilon(1e-12));  // a one-token answer ends with its prompt
}

TEST_CASE("serve: a batch limit of B runs B sequences at once, and the rest wait their turn") {
  const ServingScenario sc = load_text(
      "batch.yaml", one_gpu("{arrival: saturate, count: 8, input_tokens: {mean: 64}, output_tokens: {mean: 10}}",
                            ", max_sequences: 4"));
  const DeploymentResult r = simulate_deployment(sc, sc.deployments.front());
  const PoolResult& p = r.pools.front();
  CHECK(p.peak_running == 4);
  CHECK(p.preemptions == 0);
  // Two waves of 4: each wave one prefill iteration of 4 x 64 tokens, then 9 decode iterations;
  // the second wave's prefill shares an iteration with nothing (the first wave has finished).
  CHECK(p.iterations == 2 * (1 + 9));
  CHECK(r.output_tokens == 80);
  CHECK(p.prompt_tokens == 8 * 64);
}

TEST_CASE("serve: a full KV cache evicts the last admitted sequence, which is recomputed and still finishes") {
  // Two prompts of half the KV cache less 5 tokens fit side by side. The first decodes while the
  // second's prompt is still being prefilled in chunks; its 11th answer token overflows the cache,
  // and the second (the last admitted) is evicted, then recomputed once the first has finished.
  ServingScenario sc = load_text(
      "evict.yaml", one_gpu("{arrival: saturate, count: 2, input_tokens: {mean: 1000}, output_tokens: {mean: 20}}",
                            ", admission: evict"));
  const std::int64_t capacity = kv_capacity_tokens_per_gpu(sc.deployments.front().platform, sc.deployments.front().pools.front().layout);
  const std::int64_t prompt = capacity / 2 - 5;
  sc.requests.input = {static_cast<double>(prompt), prompt, true};
  const DeploymentResult r = simulate_deployment(sc, sc.deployments.front());
  CHECK(r.pools.front().preemptions == 1);
  CHECK(r.output_tokens == 40);
  CHECK(r.pools.front().peak_running == 1);
  // The evicted one prefills its prompt again and finishes after the other; its prompt counts once.
  CHECK(r.latency.p99 > r.latency.p50);
  CHECK(r.pools.front().prompt_tokens == 2.0 * static_cast<double>(prompt));
  // Its answers were decoded while the other waited: the prompt rate comes from the whole run.
  CHECK(r.pools.front().prefill_gpu_seconds_per_prompt_token > 0);
  CHECK(r.usd_per_million_input > 0);
}

TEST_CASE("serve: Poisson arrivals have the mean gap 1/rate, exponential lengths the mean asked for") {
  RequestSpec q;
  q.count = 20000;
  q.arrival = Arrival::poisson;
  q.rate_per_s = 4;
  q.seed = 7;
  q.input = {1000, 8000, false};
  q.output = {300, 2400, true};
  q.prefix_cache_hit = 0.5;
  const auto r = serving_requests(q);
  REQUIRE(r.size() == 20000);
  // The mean of 20,000 exponential gaps is within 3 standard errors (1/sqrt(20000) = 0.7%) of 1/4 s.
  CHECK(r.back().arrival_s / 20000 == doctest::Approx(0.25).epsilon(0.025));
  const double in = std::accumulate(r.begin(), r.end(), 0.0, [](double a, const ServedRequest& x) { return a + x.input_tokens; });
  CHECK(in / 20000 == doctest::Approx(1000).epsilon(0.005));  // quantiles of the truncated exponential: its mean
  for (const ServedRequest& x : r) {
    CHECK(x.output_tokens == 300);
    CHECK(x.cached_tokens == std::llround(0.5 * x.input_tokens) - (std::llround(0.5 * x.input_tokens) >= x.input_tokens ? 1 : 0));
  }
  // The same seed gives the same requests.
  const auto again = serving_requests(q);
  CHECK(again.back().arrival_s == r.back().arrival_s);
}

TEST_CASE("serve: KV cache per token of DeepSeek-V2 (MLA, 6 bits) against DeepSeek 67B (GQA, BF16): 93.3% less") {
  const ServingScenario sc = load_serving("deepseek-v2-vs-67b", catalog());
  // 67B: K and V of 8 heads x 128 x 95 layers x 2 bytes = 389,120 B. V2: (512 + 64) x 60 layers x 6 bits = 25,920 B.
  const InferenceSpec& l67 = sc.deployments[0].pools[0].layout;
  InferenceSpec l67_one = l67;
  l67_one.tp = 1;
  CHECK(kv_bytes_per_token(sc.deployments[0].platform.model, l67_one) == 389120);
  CHECK(kv_bytes_per_token(sc.deployments[1].platform.model, sc.deployments[1].pools[0].layout) == 25920);
  CHECK(1 - 25920.0 / 389120 == doctest::Approx(0.933).epsilon(0.001));
}

TEST_CASE("serve: a day of DeepSeek's traffic at R1's prices earns what DeepSeek published") {
  const ServingScenario sc = load_serving("deepseek-v3-service", catalog());
  REQUIRE(sc.traffic);
  REQUIRE(sc.prices);
  // 608B prompt tokens (56.3% cached) at $0.14 / $0.55 and 168B answer tokens at $2.19 per million:
  // 608e3 x (0.563 x 0.14 + 0.437 x 0.55) + 168e3 x 2.19 = $561,975; DeepSeek published $562,027.
  ServingScenario small = sc;
  small.requests.count = 64;
  small.deployments.front().pools[1].layout.max_sequences = 144;
  const DeploymentResult r = simulate_deployment(small, small.deployments.front());
  CHECK(*r.daily_revenue_usd == doctest::Approx(561975.2).epsilon(1e-6));
  CHECK(*r.daily_revenue_usd / 562027 - 1 == doctest::Approx(0).epsilon(0.001));
  // Cost: nodes x 8 GPUs x 24 h x $2; margin = revenue / cost - 1.
  CHECK(*r.daily_cost_usd == doctest::Approx(*r.daily_nodes * 8 * 24 * 2).epsilon(1e-9));
  CHECK(*r.daily_margin == doctest::Approx(*r.daily_revenue_usd / *r.daily_cost_usd - 1).epsilon(1e-12));
}

TEST_CASE("serve: separate prefill and decode pools: the first token comes from the prefill, the rest after the KV transfer") {
  const std::string text =
      "name: split\ntitle: split\nrequests: {arrival: saturate, count: 1, input_tokens: {mean: 1000}, output_tokens: {mean: 2}}\n"
      "deployments:\n  - {name: d, model: llama-3-8b, cluster: {gpu: h100-sxm, nodes: 2, gpus_per_node: 8, network: "
      "ib-ndr-rail-fat-tree}, pools: [{role: prefill, weights: bf16}, {role: decode, weights: bf16}]}\ncost: {gpu_hour_usd: 2}\n";
  const ServingScenario sc = load_text("split.yaml", text);
  const DeploymentResult r = simulate_deployment(sc, sc.deployments.front());
  const Scenario& s = sc.deployments.front().platform;
  const InferenceSpec& layout = sc.deployments.front().pools.front().layout;
  const double prefill = ceil_ns(batch_iteration_cost(s, layout, {1000, 1000 * 1001 / 2.0, 0}, {}).seconds);
  const double transfer = p2p_time(1000 * kv_bytes_per_token(s.model, layout), true, s.cluster).seconds();
  const double decode = ceil_ns(batch_iteration_cost(s, layout, {}, {1, 1001, 1000}).seconds);
  REQUIRE(r.pools.size() == 2);
  CHECK(r.ttft.p50 == doctest::Approx(prefill).epsilon(1e-12));
  CHECK(r.latency.p50 == doctest::Approx(prefill + transfer + decode).epsilon(1e-9));
  CHECK(transfer > 0);
}

TEST_CASE("serve: a trace with a negative length, a bad header or a cached prefix longer than its prompt names file and line") {
  auto run = [](const std::string& name, const std::string& csv) {
    const std::string trace = test::write_temp(name, csv);
    const std::string scen = test::write_temp(
        name + ".yaml", one_gpu("{arrival: trace, trace: " + trace + "}"));
    return cli({"serve", scen});
  };
  auto r = run("neg.csv", "arrival_s,input_tokens,output_tokens,cached_tokens\n0,100,10,0\n0.5,-3,10,0\n");
  CHECK(r.code == 1);
  CHECK(r.err.find("neg.csv:3: field 'input_tokens': must not be negative, got -3") != std::string::npos);
  r = run("head.csv", "arrival,input,output\n0,1,1\n");
  CHECK(r.code == 1);
  CHECK(r.err.find("head.csv:1: expected the header arrival_s,input_tokens,output_tokens,cached_tokens") != std::string::npos);
  r = run("cached.csv", "arrival_s,input_tokens,output_tokens,cached_tokens\n0,100,10,101\n");
  CHECK(r.err.find("cached.csv:2: field 'cached_tokens': 101 exceeds the prompt's 100") != std::string::npos);
  r = run("back.csv", "arrival_s,input_tokens,output_tokens,cached_tokens\n1,100,10,0\n0.5,100,10,0\n");
  CHECK(r.err.find("back.csv:3: field 'arrival_s': arrivals must not go back in time") != std::string::npos);
  r = run("good.csv", "arrival_s,input_tokens,output_tokens,cached_tokens\n0,100,10,0\n0.5,200,20,100\n");
  CHECK(r.code == 0);
  CHECK(r.out.find("2 requests from") != std::string::npos);
}

TEST_CASE("serve: an SLO no layout and batch limit meets is refused with the latencies reached") {
  const std::string scen = test::write_temp(
      "slo.yaml", one_gpu("{arrival: saturate, count: 16, input_tokens: {mean: 2000}, output_tokens: {mean: 50}}") +
                      "slo: {tpot_p99_seconds: 0.000001}\n");
  const auto r = cli({"serve", scen, "--slo"});
  CHECK(r.code == 1);
  CHECK(r.err.find("no layout and batch limit of deployment 'one' meets the SLO (P99 TPOT 1e-06 s); 1 instance(s) of tp 1, "
                   "ep 1 at 1 running sequences give P99 TTFT") != std::string::npos);
  const auto ok = cli({"serve", test::write_temp("slo2.yaml", one_gpu("{arrival: saturate, count: 16, input_tokens: {mean: 2000}, "
                                                                       "output_tokens: {mean: 50}}") + "slo: {tpot_p99_seconds: 1}\n"),
                       "--slo"});
  CHECK(ok.code == 0);
  CHECK(ok.out.find("<- best") != std::string::npos);
}

TEST_CASE("serve: --max-rate finds the highest Poisson rate within the SLO: the rate found meets it, one at most 0.5% above does not") {
  const std::string slo = "slo: {ttft_p99_seconds: 0.5, tpot_p99_seconds: 0.05}\n";
  const ServingScenario sc = load_text(
      "rate.yaml", one_gpu("{arrival: poisson, rate_per_s: 2, count: 400, seed: 3, input_tokens: {mean: 500, max: 2000, distribution: "
                           "exponential}, output_tokens: {mean: 100, max: 400, distribution: exponential}}") + slo);
  const MaxRate m = max_rate_within_slo(sc, sc.deployments.front());
  CHECK(m.deployment == "one");
  CHECK(*m.result.meets_slo);
  CHECK(m.result.ttft.p99 <= 0.5);
  CHECK(m.result.tpot.p99 <= 0.05);
  CHECK(m.failing_rate_per_s > m.rate_per_s);
  CHECK(m.failing_rate_per_s <= 1.005 * m.rate_per_s);
  ServingScenario faster = sc;
  faster.requests.rate_per_s = m.failing_rate_per_s;
  CHECK_FALSE(*simulate_deployment(faster, faster.deployments.front()).meets_slo);
  faster.requests.rate_per_s = 1.5 * m.rate_per_s;
  CHECK_FALSE(*simulate_deployment(faster, faster.deployments.front()).meets_slo);
  // The rate found is the one the result ran at: the same scenario at that rate gives the same latencies.
  ServingScenario at = sc;
  at.requests.rate_per_s = m.rate_per_s;
  CHECK(simulate_deployment(at, at.deployments.front()).ttft.p99 == m.result.ttft.p99);
  // A saturating load has no rate to vary, and a scenario without an slo: has no target.
  const auto saturate = cli({"serve", test::write_temp("rate-sat.yaml", one_gpu("{arrival: saturate, count: 8, input_tokens: {mean: 100}, "
                                                                                "output_tokens: {mean: 10}}") + slo),
                             "--max-rate"});
  CHECK(saturate.code == 1);
  CHECK(saturate.err.find("field 'requests.arrival'") != std::string::npos);
  const auto no_slo = cli({"serve", test::write_temp("rate-noslo.yaml", one_gpu("{arrival: poisson, rate_per_s: 2, count: 8, input_tokens: "
                                                                                "{mean: 100}, output_tokens: {mean: 10}}")),
                           "--max-rate"});
  CHECK(no_slo.code == 1);
  CHECK(no_slo.err.find("field 'slo'") != std::string::npos);
  // Four short requests meet a loose SLO at any rate: no limit to find, and it says so.
  const auto loose = cli({"serve", test::write_temp("rate-loose.yaml", one_gpu("{arrival: poisson, rate_per_s: 2, count: 4, input_tokens: "
                                                                               "{mean: 100}, output_tokens: {mean: 10}}") +
                                                                           "slo: {ttft_p99_seconds: 100}\n"),
                          "--max-rate"});
  CHECK(loose.code == 1);
  CHECK(loose.err.find("too few for a rate to reach its limit") != std::string::npos);
}

TEST_CASE("serve: bad serving input names file, line and field") {
  auto r = cli({"serve", test::write_temp("ep.yaml", "name: x\ntitle: x\nrequests: {arrival: saturate, count: 1, input_tokens: "
                                                     "{mean: 10}, output_tokens: {mean: 10}}\ndeployments:\n  - {name: a, model: "
                                                     "deepseek-v3, cluster: {gpu: h800-sxm, nodes: 2, gpus_per_node: 8, network: "
                                                     "ib-ndr-rail-fat-tree}, pools: [{role: both, ep: 12}]}\ncost: {gpu_hour_usd: 2}\n")});
  CHECK(r.code == 1);
  CHECK(r.err.find("ep.yaml:5:") != std::string::npos);
  CHECK(r.err.find("the 256 expert slots (256 experts + 0 redundant) do not divide over ep 12") != std::string::npos);
  r = cli({"serve", test::write_temp("rate.yaml", one_gpu("{arrival: saturate, rate_per_s: 3, count: 1, input_tokens: {mean: 10}, "
                                                          "output_tokens: {mean: 10}}"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("field 'requests.rate_per_s': a rate needs arrival: poisson") != std::string::npos);
  r = cli({"serve", "deepseek-v3-servise"});
  CHECK(r.code == 1);
  CHECK(r.err.find("did you mean 'deepseek-v3-service'") != std::string::npos);
  r = cli({"serve", test::write_temp("hit.yaml", one_gpu("{arrival: saturate, count: 1, prefix_cache_hit: 1, input_tokens: {mean: 10}, "
                                                         "output_tokens: {mean: 10}}"))});
  CHECK(r.err.find("field 'requests.prefix_cache_hit': a fraction in [0, 1)") != std::string::npos);
  const std::string deployment = "name: x\ntitle: x\nrequests: {arrival: saturate, count: 1, input_tokens: {mean: 10}, "
                                 "output_tokens: {mean: 10}}\ndeployments:\n  - {name: a, model: MODEL, routing: ROUTING, "
                                 "cluster: {gpu: h800-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node}, pools: "
                                 "[{role: both, ep: 8}]}\ncost: {gpu_hour_usd: 2}\n";
  auto with = [&](const std::string& model, const std::string& routing) {
    std::string text = deployment;
    text.replace(text.find("MODEL"), 5, model);
    text.replace(text.find("ROUTING"), 7, routing);
    return text;
  };
  r = cli({"serve", test::write_temp("routing.yaml", with("deepseek-v2", "balanced"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("routing.yaml:5:") != std::string::npos);
  CHECK(r.err.find("field 'deployments[0].routing': unknown balancing regime 'balanced'") != std::string::npos);
  r = cli({"serve", test::write_temp("dense-routing.yaml", with("llama-3-8b", "forced"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("field 'deployments[0].routing': only used by mixture-of-experts models") != std::string::npos);
  std::string partitioned = with("deepseek-v2", "forced");
  partitioned.replace(partitioned.find("ep: 8}"), 6, "ep: 8, gemm_sms: partitioned}");
  r = cli({"serve", test::write_temp("gemm-sms.yaml", partitioned)});
  CHECK(r.code == 1);
  CHECK(r.err.find("gemm-sms.yaml:5:") != std::string::npos);
  CHECK(r.err.find("gemm_sms': partitioned GEMMs need dual_batch_overlap") != std::string::npos);
}

TEST_CASE("serve: decode iterations replayed from CUDA graphs pay per kernel the 0.5 us gap and the 2 us shortest run instead of a 4 us launch") {
  ServingScenario sc = load_text(
      "graphs.yaml", one_gpu("{arrival: saturate, count: 1, input_tokens: {mean: 100}, output_tokens: {mean: 3}}", ", cuda_graphs: true"));
  const Scenario& s = sc.deployments.front().platform;
  InferenceSpec layout = sc.deployments.front().pools.front().layout;
  const IterationCost graph = batch_iteration_cost(s, layout, {}, {1, 101, 100});
  layout.cuda_graphs = false;
  const IterationCost eager = batch_iteration_cost(s, layout, {}, {1, 101, 100});
  // 10 kernels per layer x 32 layers of Llama 3 8B: 320 x 4 us eager, 320 x (0.5 + 2) us from a graph
  // (the H100's graph_kernel_gap and kernel_min_duration).
  CHECK(eager.launch_seconds == doctest::Approx(320 * 4e-6).epsilon(1e-9));
  CHECK(graph.launch_seconds == doctest::Approx(320 * 2.5e-6).epsilon(1e-9));
  CHECK(eager.seconds - graph.seconds == doctest::Approx(320 * 1.5e-6).epsilon(1e-9));
  // A prompt is launched kernel by kernel even with graphs (only decode batches are captured).
  layout.cuda_graphs = true;
  CHECK(batch_iteration_cost(s, layout, {100, 5050, 0}, {1, 101, 100}).launch_seconds == doctest::Approx(320 * 4e-6).epsilon(1e-9));
}

TEST_CASE("serve: decoding GEMMs run at the sustained clock, as prompt kernels do, and at the burst clock with clocks: burst") {
  ServingScenario sc = load_text(
      "clock.yaml", one_gpu("{arrival: saturate, count: 1, input_tokens: {mean: 100}, output_tokens: {mean: 3}}", ", cuda_graphs: true"));
  Scenario s = sc.deployments.front().platform;
  const InferenceSpec layout = sc.deployments.front().pools.front().layout;
  REQUIRE(s.cluster.calibration);
  const double ratio = s.cluster.calibration->sustained_clock_ratio;
  REQUIRE(ratio < 1.0);
  // 512 decode tokens attending nothing: the compute is the GEMMs' FLOPs at the achievable rate.
  const IterationCost sustained = batch_iteration_cost(s, layout, {}, {512, 0, 0});
  s.cluster.clocks = Clocks::burst;
  const IterationCost burst = batch_iteration_cost(s, layout, {}, {512, 0, 0});
  const GpuSpec& gpu = s.cluster.gpu;
  CHECK(burst.compute_seconds == doctest::Approx(burst.flops / (peak_flops_per_s(gpu, Precision::bf16) * gpu.achievable.gemm_bf16)).epsilon(1e-9));
  CHECK(sustained.compute_seconds == doctest::Approx(burst.compute_seconds / ratio).epsilon(1e-9));
  CHECK(sustained.memory_seconds == burst.memory_seconds);  // HBM is clocked apart from the SMs
}

TEST_CASE("serve: decoding FP8 GEMMs run at DeepGEMM's throughput for their rows: dense rows, picked experts, two micro-batches, mixed batches, graph kernels") {
  auto fp8 = [](const std::string& model, const std::string& requests) {
    std::string text = one_gpu(requests, ", cuda_graphs: true");
    text.replace(text.find("weights: bf16"), 13, "weights: fp8");
    text.replace(text.find("model: llama-3-8b"), 17, "model: " + model);
    return text;
  };
  const std::string one = "{arrival: saturate, count: 1, input_tokens: {mean: 100}, output_tokens: {mean: 3}}";
  ServingScenario sc = load_text("fp8rows.yaml", fp8("llama-3-8b", one));
  const Scenario& s = sc.deployments.front().platform;
  InferenceSpec layout = sc.deployments.front().pools.front().layout;
  const double W = decode_weights(s.model).dense_matmul;  // parameters one token multiplies
  // Decode tokens attending nothing: the compute is the GEMMs alone. DeepGEMM's rows (H800): 291 TFLOP/s
  // at 64 rows, 873.5 at 256; below 64 rows the weights stream at 291e12 / 128 bytes/s.
  CHECK(batch_iteration_cost(s, layout, {}, {1, 0, 0}).compute_seconds == doctest::Approx(W / (291e12 / 128)).epsilon(1e-9));
  CHECK(batch_iteration_cost(s, layout, {}, {64, 0, 0}).compute_seconds == doctest::Approx(2 * W * 64 / 291e12).epsilon(1e-9));
  CHECK(batch_iteration_cost(s, layout, {}, {256, 0, 0}).compute_seconds == doctest::Approx(2 * W * 256 / 873.5e12).epsilon(1e-9));
  // Replayed from a graph, its 4 GEMMs per layer have their shortest run in the measured time: 32 layers x
  // (10 x 0.5 us + 6 x 2 us).
  CHECK(batch_iteration_cost(s, layout, {}, {64, 0, 0}).launch_seconds == doctest::Approx(32 * 17e-6).epsilon(1e-9));
  // Two overlapped micro-batches: each GEMM runs twice on 32 rows, streaming its weights twice.
  layout.dual_batch_overlap = true;
  CHECK(batch_iteration_cost(s, layout, {}, {64, 0, 0}).compute_seconds == doctest::Approx(2 * 2 * W * 64 / 291e12).epsilon(1e-9));
  layout.dual_batch_overlap = false;
  // A mixed batch: one decode token joins the 4,096 prompt tokens' GEMMs (4,097 rows: 1,289 TFLOP/s).
  const IterationCost prompt = batch_iteration_cost(s, layout, {4096, 4096.0 * 4097 / 2, 0}, {});
  const IterationCost mixed = batch_iteration_cost(s, layout, {4096, 4096.0 * 4097 / 2, 0}, {1, 0, 0});
  CHECK(mixed.compute_seconds - prompt.compute_seconds == doctest::Approx(2 * W / 1289e12).epsilon(1e-6));
  // A MoE model, one token, balanced routing: its 8 experts of 128 are the ones it picked, one row each,
  // streamed with the dense weights: (dense + 8 experts x layers) parameters at 291e12 / 128 bytes/s.
  ServingScenario moe = load_text("fp8moe.yaml", fp8("qwen3-30b-a3b", one));
  Scenario& ms = moe.deployments.front().platform;
  ms.parallel.expert_imbalance = 1.0;
  const DecodeWeights mw = decode_weights(ms.model);
  const double picked = mw.dense_matmul + 8 * mw.expert * ms.model.layers;
  CHECK(batch_iteration_cost(ms, moe.deployments.front().pools.front().layout, {}, {1, 0, 0}).compute_seconds ==
        doctest::Approx(picked / (291e12 / 128)).epsilon(1e-9));
}

TEST_CASE("serve: a GPU file without kernel_min_duration, or with one outside 0-100 us, is rejected naming the field") {
  const std::string text = test::data_text("hardware/gpus/h100-sxm.yaml");
  const auto line = text.find("\nkernel_min_duration:");
  REQUIRE(line != std::string::npos);
  const auto value = text.find("2 us", line);
  REQUIRE(value != std::string::npos);
  for (const char* bad : {"-1 us", "1 ms"}) {
    std::string edited = text;
    edited.replace(value, 4, bad);
    CAPTURE(bad);
    try {
      load_gpu(YamlNode::load_string(edited, "min.yaml"));
      FAIL("accepted");
    } catch (const InputError& e) {
      const std::string what = e.what();
      CHECK(what.find("min.yaml:") == 0);
      CHECK(what.find("kernel_min_duration") != std::string::npos);
    }
  }
  std::string missing = text;
  missing.erase(line + 1, text.find('\n', line + 1) - line);
  try {
    load_gpu(YamlNode::load_string(missing, "missing.yaml"));
    FAIL("accepted without kernel_min_duration");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("kernel_min_duration") != std::string::npos);
  }
}

TEST_CASE("serve: a simulation of more than 2e9 tokens is refused before it starts") {
  const auto r = cli({"serve", test::write_temp("big.yaml", one_gpu("{arrival: saturate, count: 2000000, input_tokens: {mean: 1000}, "
                                                                   "output_tokens: {mean: 1000}}"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("field 'requests': the requests hold 4e+09 prompt and answer tokens, more than the 2e+09 one simulation serves") !=
        std::string::npos);
}

TEST_CASE("serve: an instance idle between arrivals wakes for the next one (arrivals off the nanosecond grid)") {
  // Two requests 33.2695... s apart: the clock rounds up to whole nanoseconds, and the second is
  // admitted when it arrives (this hung before).
  const std::string trace = test::write_temp("gap.csv", "arrival_s,input_tokens,output_tokens,cached_tokens\n0,100,3,0\n33.26953125123,100,3,0\n");
  const ServingScenario sc = load_text("gap.yaml", one_gpu("{arrival: trace, trace: " + trace + "}"));
  const DeploymentResult r = simulate_deployment(sc, sc.deployments.front());
  CHECK(r.requests == 2);
  CHECK(r.makespan_seconds > 33.2695);
  CHECK(r.makespan_seconds < 34);
  CHECK(r.ttft.p99 == doctest::Approx(r.ttft.p50).epsilon(1e-6));  // both wait for nothing
}

TEST_CASE("serve: --slo searches the decoding pool even when it is listed first") {
  const std::string text =
      "name: split\ntitle: split\nrequests: {arrival: saturate, count: 64, input_tokens: {mean: 200}, output_tokens: {mean: 20}}\n"
      "deployments:\n  - {name: d, model: llama-3-8b, cluster: {gpu: h100-sxm, nodes: 2, gpus_per_node: 8, network: "
      "ib-ndr-rail-fat-tree}, pools: [{role: decode, weights: bf16}, {role: prefill, weights: bf16}]}\ncost: {gpu_hour_usd: 2}\n"
      "slo: {itl_p99_seconds: 1}\n";
  const auto choices = search_slo(load_text("decode-first.yaml", text));
  REQUIRE(choices.size() == 1);
  CHECK(choices.front().tried.size() >= 4);  // 1, 2, 4, 8 ... until the batch stops filling
  CHECK(choices.front().tried[1].layout.max_sequences == 2);
  CHECK(choices.front().tried[1].instances == 1);
}

TEST_CASE("serve: arrivals spread past 1e8 s, a cache under 1 bit, a zero published figure and a hexadecimal trace are refused") {
  auto r = cli({"serve", test::write_temp("slow.yaml", one_gpu("{arrival: poisson, rate_per_s: 1e-9, count: 10, input_tokens: {mean: 10}, "
                                                              "output_tokens: {mean: 10}}"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("field 'requests.rate_per_s': 10 requests at 1e-09/s arrive over 1e+10 s; at most 1e8 s") != std::string::npos);
  r = cli({"serve", test::write_temp("bits.yaml", one_gpu("{arrival: saturate, count: 1, input_tokens: {mean: 10}, output_tokens: {mean: 10}}",
                                                          ", kv_cache_bits: 1e-300"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("kv_cache_bits': between 1 and 32 bits per cached element") != std::string::npos);
  r = cli({"serve", test::write_temp("zero.yaml", one_gpu("{arrival: saturate, count: 1, input_tokens: {mean: 10}, output_tokens: {mean: 10}}") +
                                                      "published: {ttft_p50_seconds: {value: 0, source: x}}\n")});
  CHECK(r.code == 1);
  CHECK(r.err.find("a published figure greater than zero") != std::string::npos);
  const std::string hex = test::write_temp("hex.csv", "arrival_s,input_tokens,output_tokens,cached_tokens\n0x1p-1,0x10, 5,0\n");
  r = cli({"serve", test::write_temp("hex.yaml", one_gpu("{arrival: trace, trace: " + hex + "}"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("hex.csv:2: field 'arrival_s': expected a number, got \"0x1p-1\"") != std::string::npos);
  // A byte-order mark before the header is what spreadsheets write: accepted.
  const std::string bom = test::write_temp("bom.csv", "\xEF\xBB\xBF" "arrival_s,input_tokens,output_tokens,cached_tokens\n0,10,2,0\n");
  r = cli({"serve", test::write_temp("bom.yaml", one_gpu("{arrival: trace, trace: " + bom + "}"))});
  CHECK(r.code == 0);
}

TEST_CASE("serve: one-token answers have no TPOT: n/a, not 0 ms") {
  const auto r = cli({"serve", test::write_temp("one-token.yaml", one_gpu("{arrival: saturate, count: 4, input_tokens: {mean: 100}, "
                                                                          "output_tokens: {mean: 1}}")), "--json"});
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["deployments"][0]["tpot_seconds"].is_null());
  CHECK(j["deployments"][0]["ttft_seconds"]["p50"].get<double>() > 0);
  const auto text = cli({"serve", test::write_temp("one-token2.yaml", one_gpu("{arrival: saturate, count: 4, input_tokens: {mean: 100}, "
                                                                              "output_tokens: {mean: 1}}"))});
  CHECK(text.out.find("n/a") != std::string::npos);
}

TEST_CASE("serve: --slo tries the layouts of the decoding pool's GPUs and keeps one that meets a TPOT no other meets") {
  // Llama 3 8B in BF16 on one node of 8 H100, as 8 one-GPU replicas. Decoding one sequence reads
  // 16 GB of weights a token: ~5.3 ms on one GPU (3.35 TB/s x 0.9), ~1.6 ms on eight with tp 8
  // (2 GB each, plus 64 all-reduces of a few microseconds). A 3 ms TPOT is met only by splitting
  // the model: the search must leave the scenario's layout for tp 4 or 8.
  const std::string text =
      "name: tp\ntitle: tp\nrequests: {arrival: saturate, count: 16, input_tokens: {mean: 200}, output_tokens: {mean: 20}}\n"
      "deployments:\n  - {name: d, model: llama-3-8b, cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: "
      "nvswitch-node}, pools: [{role: both, instances: 8, tp: 1, weights: bf16, cuda_graphs: true}]}\ncost: {gpu_hour_usd: 2}\n"
      "slo: {tpot_p99_seconds: 0.003}\n";
  const ServingScenario sc = load_text("tp.yaml", text);
  // Without --layouts only the scenario's layout is tried, and no batch of it meets the SLO.
  CHECK_THROWS_AS(search_slo(sc), InputError);
  const auto r = cli({"serve", test::write_temp("tp.yaml", text), "--slo", "--layouts"});
  CHECK(r.code == 0);
  CHECK(r.out.find("best: ") != std::string::npos);
  CHECK(cli({"serve", test::write_temp("tp2.yaml", text), "--layouts"}).code != 0);  // --layouts needs --slo
  const auto choices = search_slo(sc, true);
  REQUIRE(choices.size() == 1);
  const SloChoice& c = choices.front();
  CHECK(c.tried.front().layout.tp == 1);  // the scenario's own layout first
  CHECK(c.tried.front().instances == 8);
  CHECK_FALSE(*c.tried.front().result.meets_slo);
  std::set<int> tps;
  for (const SloTry& t : c.tried) {
    tps.insert(t.layout.tp);
    CHECK(t.instances * t.layout.gpus() == 8);  // the pool's GPUs kept
  }
  CHECK(tps == std::set<int>{1, 2, 4, 8});
  REQUIRE(c.best);
  const SloTry& best = c.tried[static_cast<std::size_t>(*c.best)];
  CHECK(best.layout.tp >= 4);
  CHECK(best.result.tpot.p99 <= 0.003);
  // The choice is the cheapest of those that meet it.
  for (const SloTry& t : c.tried)
    if (*t.result.meets_slo) CHECK(t.result.usd_per_request >= best.result.usd_per_request);
}

TEST_CASE("serve: a model with sliding-window attention is refused at its model field (windows are simulated in training only)") {
  std::string text = one_gpu("{arrival: saturate, count: 1, input_tokens: {mean: 10}, output_tokens: {mean: 10}}");
  text.replace(text.find("model: llama-3-8b"), 17, "model: gpt-oss-120b");
  const auto r = cli({"serve", test::write_temp("window.yaml", text)});
  CHECK(r.code == 1);
  CHECK(r.err.find("field 'deployments[0].model': model 'gpt-oss-120b' has sliding-window attention") != std::string::npos);
}
