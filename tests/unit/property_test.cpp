// Property tests (issue 19 item 6): metamorphic rules that hold for any scenario, checked over
// several presets, and determinism of the sweep across thread counts and caches. The rules are
// physics, not figures: more tokens scale GPU-hours linearly, a faster network never slows a step,
// more data-parallel replicas never beat perfect scaling, and the same input gives the same bytes.
// (MPI ranks: tests/mpi/sweep_mpi.sh.)
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gpuhours/simulated_run.hpp"
#include "gpuhours/step.hpp"
#include "test_util.hpp"

using namespace gpuhours;
using test::cli;
using test::preset;

namespace {

// Presets with a main training phase and no batch ramp or later phase of their own tokens that
// would not scale: one GPU, one node, a dense 16K-GPU run, a dense and a MoE H800 run.
const char* const kLinearPresets[] = {"h100-1gpu-llama-1b", "llama-3-8b-8gpu-dp", "llama-3-405b",
                                      "deepseek-llm-67b-per-trillion", "deepseek-v2-vs-67b"};

}  // namespace

TEST_CASE("property: k times the tokens is exactly k times the GPU-hours, cost and days") {
  for (const std::string name : kLinearPresets) {
    CAPTURE(name);
    Scenario s = preset(name);
    REQUIRE_FALSE(s.training.batch_ramp);
    REQUIRE(s.training.phases.empty());
    const SimulatedRun base = simulate_run(s);
    REQUIRE(base.run.gpu_hours > 0);
    for (const double k : {2.0, 3.0, 0.25, 1000.0}) {
      CAPTURE(k);
      Scenario more = s;
      more.training.tokens = s.training.tokens * k;
      const SimulatedRun r = simulate_run(more);
      // The step itself does not change with the run's length.
      CHECK(r.step.seconds == base.step.seconds);
      // Steps are fractional (tokens / tokens per step) and the Young/Daly goodput does not
      // depend on the run's length: every total is linear in the tokens, to rounding.
      CHECK(r.run.steps == doctest::Approx(base.run.steps * k).epsilon(1e-12));
      CHECK(r.run.useful_gpu_hours == doctest::Approx(base.run.useful_gpu_hours * k).epsilon(1e-12));
      CHECK(r.run.gpu_hours == doctest::Approx(base.run.gpu_hours * k).epsilon(1e-12));
      CHECK(r.run.wall_clock_days == doctest::Approx(base.run.wall_clock_days * k).epsilon(1e-12));
      CHECK(r.run.cost_usd == doctest::Approx(base.run.cost_usd * k).epsilon(1e-12));
      CHECK(r.run.energy_mwh == doctest::Approx(base.run.energy_mwh * k).epsilon(1e-12));
      CHECK(r.run.mfu == doctest::Approx(base.run.mfu).epsilon(1e-12));
    }
    // Doubling is exact in binary floating point: the same bits, times two.
    Scenario twice = s;
    twice.training.tokens = s.training.tokens * 2;
    const SimulatedRun r2 = simulate_run(twice);
    CHECK(r2.run.steps == base.run.steps * 2);
    CHECK(r2.run.useful_gpu_hours == base.run.useful_gpu_hours * 2);
  }
}

TEST_CASE("property: a faster network never slows a step") {
  // Multi-node presets, where the network carries data-parallel, pipeline or expert traffic.
  for (const std::string name : {"llama-3-405b", "deepseek-llm-67b-per-trillion", "deepseek-v2-vs-67b", "deepseek-v3-claim"}) {
    CAPTURE(name);
    const Scenario s = preset(name);
    double previous = 0;
    bool first = true, moved = false;
    // From a network at a quarter of its bandwidth to one four times faster.
    for (const double scale : {0.25, 0.5, 1.0, 1.5, 2.0, 4.0}) {
      CAPTURE(scale);
      Scenario faster = s;
      faster.uncertainty.network_bandwidth_scale = scale;
      const double seconds = simulate_step(faster).seconds;
      CHECK(seconds > 0);
      if (!first) {
        CHECK(seconds <= previous);
        if (seconds < previous) moved = true;
      }
      previous = seconds;
      first = false;
    }
    // Not vacuous: the network matters to every one of these steps somewhere in the range.
    CHECK(moved);
  }
}

TEST_CASE("property: more data-parallel replicas never beat perfect scaling") {
  // At a fixed global batch, GPUs x step seconds (GPU-seconds per step) never falls as the
  // replicas multiply: each replica does a smaller share of the same work, and the gradient
  // reduction, the pipeline bubble and the optimizer step can only cost more per token.
  struct Case {
    std::string name;
    std::vector<int> nodes;
    bool full_recompute = false;  // to fit fewer replicas, each holding more micro-batches in flight
  };
  const Case cases[] = {
      {"llama-3-405b", {256, 512, 1024, 2048}, true},  // 2,048 to 16,384 GPUs
      {"deepseek-llm-67b-per-trillion", {32, 64, 128, 256}},
      {"deepseek-v2-vs-67b", {64, 128, 256}},  // MoE: EP 8 inside the replicas
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Scenario s = preset(c.name);
    if (c.full_recompute) s.parallel.recompute = Recompute::full;
    double previous_gpu_seconds = 0, previous_step = 0;
    int previous_dp = 0;
    for (const int nodes : c.nodes) {
      CAPTURE(nodes);
      Scenario more = s;
      more.cluster.nodes = nodes;
      REQUIRE_MESSAGE(!layout_infeasibility(more), "layout infeasible at this node count");
      const StepResult r = simulate_step(more);
      const double gpu_seconds = r.seconds * more.cluster.gpus();
      if (previous_dp > 0) {
        CHECK(r.dp == 2 * previous_dp);
        CHECK(gpu_seconds >= previous_gpu_seconds * (1 - 1e-12));
        // ... and the replicas still help: the step is faster (not a vacuous comparison).
        CHECK(r.seconds < previous_step);
      }
      previous_gpu_seconds = gpu_seconds;
      previous_step = r.seconds;
      previous_dp = r.dp;
    }
  }
}

namespace {

// One node, every layout key that changes the step program: 486 layouts, a few hundred bounded.
const std::vector<std::string> kSmallGrid = {"sweep", "llama-3-8b-8gpu-dp", "--json", "--top", "8",
                                             "--vary", "tp=1,2,4", "--vary", "pp=1,2,4", "--vary", "micro_batch=1,2",
                                             "--vary", "zero=0,1,2", "--vary", "recompute=none,selective,full",
                                             "--vary", "schedule=1f1b,zb-h1,dualpipev"};

std::string sweep_bytes(std::vector<std::string> extra) {
  std::vector<std::string> args = kSmallGrid;
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = cli(args);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  REQUIRE(r.out.find("\"simulated\"") != std::string::npos);
  return r.out;
}

/// The JSON with the two lines that count the cache's work ("simulated" and "programs_reused")
/// replaced by their sum: the only figures the cache may change.
std::string without_cache_counts(const std::string& json) {
  const auto value = [&](const std::string& key) {
    const auto at = json.find("\"" + key + "\": ");
    REQUIRE(at != std::string::npos);
    return std::stoll(json.substr(at + key.size() + 4));
  };
  const long long total = value("simulated") + value("programs_reused");
  std::string out;
  std::size_t from = 0;
  while (from < json.size()) {
    std::size_t end = json.find('\n', from);
    if (end == std::string::npos) end = json.size();
    const std::string line = json.substr(from, end - from);
    if (line.find("\"simulated\": ") != std::string::npos)
      out += "simulated or reused: " + std::to_string(total) + "\n";
    else if (line.find("\"programs_reused\": ") == std::string::npos)
      out += line + "\n";
    from = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("property: the sweep prints the same bytes for 1, 2 and 8 threads, with the caches on and off") {
  const std::string one = sweep_bytes({"--threads", "1"});
  CHECK(sweep_bytes({"--threads", "2"}) == one);
  CHECK(sweep_bytes({"--threads", "8"}) == one);
  const std::string uncached = sweep_bytes({"--threads", "1", "--no-cache"});
  CHECK(sweep_bytes({"--threads", "2", "--no-cache"}) == uncached);
  CHECK(sweep_bytes({"--threads", "8", "--no-cache"}) == uncached);
  // Without the caches every bounded layout that is not pruned is simulated afresh: the counts of
  // the cache's work move, and nothing else (every figure, the top and the front, to the byte).
  CHECK(uncached.find("\"programs_reused\": 0") != std::string::npos);
  CHECK(one.find("\"programs_reused\": 0") == std::string::npos);  // the cache did serve some layouts
  CHECK(without_cache_counts(uncached) == without_cache_counts(one));
}

TEST_CASE("property: run prints the same bytes twice and after another scenario") {
  // Caches inside the process (op graphs, part times) must not leak one scenario into another.
  const auto a = cli({"run", "deepseek-v2-vs-67b", "--json"});
  REQUIRE_MESSAGE(a.code == 0, a.err);
  const auto other = cli({"run", "deepseek-llm-67b-per-trillion", "--json"});
  REQUIRE(other.code == 0);
  const auto b = cli({"run", "deepseek-v2-vs-67b", "--json"});
  CHECK(a.out == b.out);
}
