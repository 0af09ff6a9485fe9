// Stragglers: a synchronous job waits at every step for its slowest GPU.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "gpuhours/error.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/step.hpp"
#include "test_util.hpp"

using namespace gpuhours;

namespace {
Scenario eight_gpus(const std::string& extra = "") {
  return load_scenario(YamlNode::load_string(test::variant("gpus_per_node: 1, network: nvswitch-node}",
                                                           "gpus_per_node: 8, network: nvswitch-node" + extra + "}"),
                                             "eight.yaml"),
                       Catalog(GPUHOURS_DATA_DIR));
}
}  // namespace

TEST_CASE("stragglers: Blom's expected maximum of n normal draws is near the exact expectation") {
  // Exact E[max of n standard normals] (Harter, Expected values of normal order statistics,
  // Biometrika 48, 1961): n = 2: 1/sqrt(pi) = 0.56419; 10: 1.53875; 100: 2.50759; 1000: 3.24144.
  CHECK(expected_max_standard_normal(1) == 0.0);
  CHECK(expected_max_standard_normal(2) == doctest::Approx(0.56419).epsilon(0.05));
  CHECK(std::abs(expected_max_standard_normal(10) - 1.53875) < 0.015);
  CHECK(std::abs(expected_max_standard_normal(100) - 2.50759) < 0.015);
  CHECK(std::abs(expected_max_standard_normal(1000) - 3.24144) < 0.015);
  // Blom: Phi^-1((2048 - 0.375) / 2048.25) = Phi^-1(0.999695) = 3.42701.
  CHECK(expected_max_standard_normal(2048) == doctest::Approx(3.42701).epsilon(1e-5));
}

TEST_CASE("stragglers: the slowdown grows with the job's GPUs, and an ideal cluster has none") {
  Scenario s = eight_gpus();
  REQUIRE(s.cluster.gpu.speed_variation == doctest::Approx(0.021));
  CHECK(s.cluster.stragglers);
  // 8 GPUs: 1 + 0.021 x 1.43420.
  CHECK(straggler_time_factor(s.cluster) == doctest::Approx(1.0301182).epsilon(1e-6));
  double previous = 1.0;
  for (int nodes : {1, 4, 64, 256, 2048}) {
    s.cluster.nodes = nodes;
    const double f = straggler_time_factor(s.cluster);
    CAPTURE(nodes);
    CHECK(f > previous);
    previous = f;
  }
  CHECK(previous == doctest::Approx(1.0 + 0.021 * expected_max_standard_normal(16384)));  // 1.0831
  s.cluster.stragglers = false;
  CHECK(straggler_time_factor(s.cluster) == 1.0);
  s.cluster.stragglers = true;
  s.cluster.nodes = 1;
  s.cluster.gpus_per_node = 1;
  CHECK(straggler_time_factor(s.cluster) == 1.0);  // one GPU waits for no one
}

TEST_CASE("stragglers: the step waits for the slowest GPU, by at most the compute slowdown, and says so") {
  const Scenario on = eight_gpus(), off = eight_gpus(", stragglers: false");
  CHECK_FALSE(off.cluster.stragglers);
  const StepResult slow = simulate_step(on), ideal = simulate_step(off);
  CHECK(slow.seconds > ideal.seconds);
  // Only compute stretches; communication keeps its speed.
  CHECK(slow.seconds <= ideal.seconds * straggler_time_factor(on.cluster) * (1 + 1e-9));
  const auto says = [](const StepResult& r, const std::string& what) {
    return std::any_of(r.assumptions.begin(), r.assumptions.end(),
                       [&](const std::string& a) { return a.find(what) != std::string::npos; });
  };
  CHECK(says(slow, "stragglers: each step waits for the slowest of 8 GPUs: compute +3.0%"));
  CHECK(says(ideal, "stragglers: off, an ideal cluster"));
  // --explain sets the step beside the ideal cluster's: no stragglers and no kernel jitter.
  const StepResult no_jitter = simulate_step(eight_gpus(", stragglers: false, jitter: false"));
  CHECK(no_jitter.seconds <= ideal.seconds);
  const std::string path = test::write_temp(
      "eight.yaml", test::variant("gpus_per_node: 1, network: nvswitch-node}", "gpus_per_node: 8, network: nvswitch-node}"));
  const test::CliResult r = test::cli({"run", path, "--explain"});
  REQUIRE(r.code == 0);
  CHECK(r.out.find(fmt::format("{:.3f} s waiting for the slowest of 8 GPUs, {:.3f} s on an ideal cluster", slow.seconds,
                               no_jitter.seconds)) != std::string::npos);
}

TEST_CASE("stragglers: a bad switch or spread is rejected naming the file and field") {
  try {
    eight_gpus(", stragglers: maybe");
    FAIL("stragglers: maybe was accepted");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("eight.yaml:") == 0);
  }
  std::string text = test::data_text("hardware/gpus/h100-sxm.yaml");
  const auto at = text.find("speed_variation");
  REQUIRE(at != std::string::npos);
  const auto value = text.find("0.021", at);
  REQUIRE(value != std::string::npos);
  text.replace(value, 5, "-0.1");
  try {
    load_gpu(YamlNode::load_string(text, "spread.yaml"));
    FAIL("a negative speed spread was accepted");
  } catch (const InputError& e) {
    const std::string what = e.what();
    CHECK(what.find("spread.yaml:") == 0);
    CHECK(what.find("speed_variation") != std::string::npos);
  }
}

TEST_CASE("slowdown beside communication and kernel jitter: a bad or unsourced value is rejected naming the field") {
  const std::string text = test::data_text("hardware/gpus/h100-sxm.yaml");
  struct Fact {
    const char *field, *value, *source;
  };
  for (const Fact& f : {Fact{"slowdown_beside_comm", "0.05", "deepseek_profile_beside_comm"},
                        Fact{"kernel_jitter", "0.024", "deepseek_profile_jitter"}}) {
    CAPTURE(f.field);
    const auto at = text.find(fmt::format("\n{}: {{value: {},", f.field, f.value));
    REQUIRE(at != std::string::npos);
    for (const char* bad : {"0.9", "-0.1", "nan"}) {
      CAPTURE(bad);
      std::string edited = text;
      edited.replace(edited.find(f.value, at), std::string(f.value).size(), bad);
      try {
        load_gpu(YamlNode::load_string(edited, "fact.yaml"));
        FAIL("accepted");
      } catch (const InputError& e) {
        const std::string what = e.what();
        CHECK(what.find("fact.yaml:") == 0);
        CHECK(what.find(f.field) != std::string::npos);
      }
    }
    std::string unsourced = text;
    unsourced.replace(unsourced.find(f.source, at), std::string(f.source).size(), "nowhere");
    CHECK_THROWS_AS(load_gpu(YamlNode::load_string(unsourced, "fact.yaml")), InputError);
    // Absent, the mechanism is not simulated (0).
    std::string absent = text;
    absent.erase(at, text.find('\n', at + 1) - at);
    const GpuSpec without = load_gpu(YamlNode::load_string(absent, "fact.yaml"));
    CHECK((std::string(f.field) == "kernel_jitter" ? without.kernel_jitter : without.slowdown_beside_comm) == 0.0);
  }
  const GpuSpec h100 = load_gpu(YamlNode::load_string(text, "fact.yaml"));
  CHECK(h100.slowdown_beside_comm == doctest::Approx(0.05));
  CHECK(h100.kernel_jitter == doctest::Approx(0.024));
}

TEST_CASE("jitter: a collective waits E[max of its ranks' normals] standard deviations of the compute since the last") {
  // Kernels of 100 and 200 us at 2.6% each: sqrt(2,600^2 + 5,200^2) = 5,813.8 ns of standard
  // deviation; the slowest of 64 ranks, Blom's Phi^-1((64 - 0.375) / 64.25) = 2.3367 of them late.
  const double variance = 2600.0 * 2600.0 + 5200.0 * 5200.0;
  CHECK(std::abs(collective_jitter_wait(variance, 64).count_ns() - 13585) <= 20);
  // Two ranks: 0.5895 (Blom) x 5,813.8.
  CHECK(std::abs(collective_jitter_wait(variance, 2).count_ns() - 3427) <= 10);
  CHECK(collective_jitter_wait(variance, 1).count_ns() == 0);
  CHECK(collective_jitter_wait(0.0, 64).count_ns() == 0);
}

TEST_CASE("jitter: expert-, tensor- and context-parallel collectives wait for it, a data-parallel-only step does not") {
  auto step = [](const std::string& model, const std::string& parallelism, bool jitter) {
    Scenario s = load_scenario(YamlNode::load_string(fmt::format(R"(name: jitter
title: jitter
model: {}
cluster: {{gpu: h800-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node, jitter: {}}}
parallelism: {}
training: {{precision: bf16, seq_len: 4096, global_batch: 64, tokens: 1e9}}
cost: {{gpu_hour_usd: 2}}
)",
                                                                 model, jitter ? "true" : "false", parallelism),
                                                     "jitter.yaml"),
                               Catalog(GPUHOURS_DATA_DIR));
    REQUIRE(s.cluster.gpu.kernel_jitter == doctest::Approx(0.024));
    return simulate_step(s).seconds;
  };
  const std::string ep = "{ep: 8, zero: 1, micro_batch: 1}", tp = "{tp: 2, zero: 1, micro_batch: 1}", dp = "{zero: 1, micro_batch: 1}";
  const double ep_on = step("deepseek-moe-16b", ep, true), ep_off = step("deepseek-moe-16b", ep, false);
  const double tp_on = step("llama-3-8b", tp, true), tp_off = step("llama-3-8b", tp, false);
  const double dp_on = step("llama-3-8b", dp, true), dp_off = step("llama-3-8b", dp, false);
  // Context parallelism's ring waits for its slowest rank too.
  const std::string cp = "{cp: 2, zero: 1, micro_batch: 1}";
  const double cp_on = step("llama-3-8b", cp, true), cp_off = step("llama-3-8b", cp, false);
  CHECK(cp_on > cp_off);
  CHECK(cp_on < cp_off * (1 + 0.024 * expected_max_standard_normal(2)));
  MESSAGE("EP 8 ", ep_off, " -> ", ep_on, " s; TP 2 ", tp_off, " -> ", tp_on, " s; DP only ", dp_off, " -> ", dp_on, " s");
  CHECK(ep_on > ep_off);
  CHECK(tp_on > tp_off);
  CHECK(dp_on == dp_off);
  // Each collective waits a few standard deviations of 2.4% of the compute before it, at most.
  CHECK(ep_on < ep_off * (1 + 0.024 * expected_max_standard_normal(8)));
  CHECK(tp_on < tp_off * (1 + 0.024 * expected_max_standard_normal(2)));
}
