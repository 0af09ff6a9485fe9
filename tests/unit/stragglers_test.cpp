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
  // --explain sets the step beside the ideal cluster's.
  const std::string path = test::write_temp(
      "eight.yaml", test::variant("gpus_per_node: 1, network: nvswitch-node}", "gpus_per_node: 8, network: nvswitch-node}"));
  const test::CliResult r = test::cli({"run", path, "--explain"});
  REQUIRE(r.code == 0);
  CHECK(r.out.find(fmt::format("{:.3f} s waiting for the slowest of 8 GPUs, {:.3f} s on an ideal cluster", slow.seconds,
                               ideal.seconds)) != std::string::npos);
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

TEST_CASE("slowdown beside communication: a fraction outside 0-0.5 or an unsourced one is rejected naming the field") {
  const std::string text = test::data_text("hardware/gpus/h100-sxm.yaml");
  const auto at = text.find("\nslowdown_beside_comm: {value: 0.10,");
  REQUIRE(at != std::string::npos);
  for (const char* bad : {"1.2", "-0.1", "nan"}) {
    CAPTURE(bad);
    std::string edited = text;
    edited.replace(edited.find("0.10", at), 4, bad);
    try {
      load_gpu(YamlNode::load_string(edited, "beside.yaml"));
      FAIL("accepted");
    } catch (const InputError& e) {
      const std::string what = e.what();
      CHECK(what.find("beside.yaml:") == 0);
      CHECK(what.find("slowdown_beside_comm") != std::string::npos);
    }
  }
  std::string unsourced = text;
  unsourced.replace(unsourced.find("source: deepseek_profile_beside_comm", at), 36, "source: nowhere");
  CHECK_THROWS_AS(load_gpu(YamlNode::load_string(unsourced, "beside.yaml")), InputError);
  // Absent, it is not simulated (0), and the cluster's switch turns it off where it is measured.
  std::string absent = text;
  absent.erase(at, text.find('\n', at + 1) - at);
  CHECK(load_gpu(YamlNode::load_string(absent, "beside.yaml")).slowdown_beside_comm == 0.0);
  CHECK(load_gpu(YamlNode::load_string(text, "beside.yaml")).slowdown_beside_comm == doctest::Approx(0.10));
}
