// The router model (expert_load.hpp): its calibration to a published statistic, the busiest
// expert-parallel rank it gives, redundant experts, and what it does to a step.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "gpuhours/error.hpp"
#include "gpuhours/expert_load.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/yaml.hpp"
#include "test_util.hpp"

using namespace gpuhours;

namespace {
ExpertLoadQuery v3_query(double sigma) {
  ExpertLoadQuery q;  // DeepSeek-V3's layout: 256 experts, top-8, EP64, 4096 tokens per rank
  q.sigma = sigma;
  q.experts = 256;
  q.top_k = 8;
  q.ep = 64;
  q.tokens = 64.0 * 4096;
  return q;
}
}  // namespace

TEST_CASE("expert load: a uniform router leaves only the multinomial noise of the micro-batch") {
  // sigma 0: each rank's 4 experts get Binomial(N, 4/256) copies of N = 262,144 x 8; the relative
  // standard deviation is sqrt((1 - 1/64) / (N / 64)) = 0.00552, and the largest of 64 such
  // normal deviates is about 2.4 standard deviations above the mean (E[max of 64] = 2.41).
  const double imbalance = mean_rank_imbalance(v3_query(0.0));
  CHECK(imbalance == doctest::Approx(1.0 + 2.41 * std::sqrt((1 - 1.0 / 64) / (262144.0 * 8 / 64))).epsilon(0.002));
  // Deterministic: the same seed draws the same loads.
  CHECK(mean_rank_imbalance(v3_query(0.0)) == imbalance);
}

TEST_CASE("expert load: a more popular expert, fewer experts per rank or fewer tokens mean a busier rank") {
  const double base = mean_rank_imbalance(v3_query(0.2));
  CHECK(mean_rank_imbalance(v3_query(0.3)) > base);
  ExpertLoadQuery fewer_ranks = v3_query(0.2);
  fewer_ranks.ep = 8;  // 32 experts per rank average out
  fewer_ranks.tokens = 8.0 * 4096;
  CHECK(mean_rank_imbalance(fewer_ranks) < base);
  ExpertLoadQuery small_batch = v3_query(0.0);
  small_batch.tokens = 64.0 * 128;
  CHECK(mean_rank_imbalance(small_batch) > mean_rank_imbalance(v3_query(0.0)));
  // One expert per rank: the busiest rank is the busiest expert (same seed, same draws).
  ExpertLoadQuery per_expert = v3_query(0.2);
  per_expert.ep = 256;
  CHECK(mean_rank_imbalance(per_expert) == doctest::Approx(mean_max_expert_load(per_expert)).epsilon(1e-12));
}

TEST_CASE("expert load: the popularity spread reproduces the published MaxVio it is calibrated to") {
  // Wang et al. 2024, Table 2: 64 experts, top-6, MaxVio_global 0.52 (auxiliary loss) and 0.04
  // (loss-free) over 71M tokens.
  for (double published : {0.52, 0.04}) {
    RoutingRegime r;
    r.max_violation = published;
    r.experts = 64;
    r.top_k = 6;
    r.tokens = 71e6;
    const double sigma = calibrate_sigma(r);
    CAPTURE(published);
    CHECK(sigma > 0);
    ExpertLoadQuery q;
    q.sigma = sigma;
    q.experts = q.ep = 64;
    q.top_k = 6;
    q.tokens = 71e6;
    CHECK(mean_max_expert_load(q) - 1 == doctest::Approx(published).epsilon(0.01));
  }
  // Below the sampling noise no spread is needed.
  RoutingRegime tiny;
  tiny.max_violation = 1e-9;
  tiny.experts = 64;
  tiny.top_k = 6;
  tiny.tokens = 1e3;
  CHECK(calibrate_sigma(tiny) == 0.0);
}

TEST_CASE("expert load: redundant experts placed as EPLB does flatten the busiest rank") {
  ExpertLoadQuery q = v3_query(0.3);
  const double plain = mean_rank_imbalance(q);
  q.redundant_experts = 64;  // one replica slot per rank
  const double replicated = mean_rank_imbalance(q);
  CHECK(plain > 1.3);
  CHECK(replicated < 1.05);
}

TEST_CASE("a hot expert slows the step, and forced balance and the given factor override the router model") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  std::ifstream in(std::string(GPUHOURS_DATA_DIR) + "/scenarios/deepseek-v3-claim.yaml");
  std::string base((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // BF16 gradients: with the preset's FP32 ones the hot rank's activations at 1.2 do not fit.
  const auto fp32 = base.find("  gradients: fp32");
  REQUIRE(fp32 != std::string::npos);
  base.erase(fp32, base.find('\n', fp32) + 1 - fp32);
  auto with = [&](const std::string& extra) {
    std::string text = base;
    const auto at = text.find("  recompute: selective");
    REQUIRE(at != std::string::npos);
    text.insert(at, extra);
    return load_scenario(YamlNode::load_string(text, "v3.yaml"), catalog);
  };
  const Scenario drawn = with(""), forced = with("  routing: forced\n"), hot = with("  expert_imbalance: 1.2\n");
  CHECK(drawn.parallel.routing.name == "aux-loss-free");
  CHECK(expert_imbalance(forced) == 1.0);
  CHECK(expert_imbalance(hot) == 1.2);
  const double d = expert_imbalance(drawn);
  CHECK(d > 1.0);
  CHECK(d < 1.05);  // MaxVio 0.04: nearly balanced, mostly sampling noise over 4 experts a rank
  const double forced_s = simulate_step(forced).seconds, drawn_s = simulate_step(drawn).seconds,
               hot_s = simulate_step(hot).seconds;
  CHECK(drawn_s > forced_s);
  CHECK(hot_s > drawn_s * 1.03);
  MESSAGE("V3 step: forced " << forced_s << " s, drawn " << drawn_s << " s, imbalance 1.2: " << hot_s << " s");
  // The report says where the imbalance came from.
  const StepResult r = simulate_step(drawn);
  CHECK(std::any_of(r.assumptions.begin(), r.assumptions.end(),
                    [](const std::string& a) { return a.find("expert load: aux-loss-free routing") == 0; }));
  // An unknown regime names the field and lists the regimes; a dense model has none.
  try {
    with("  routing: balanced\n");
    FAIL("accepted routing: balanced");
  } catch (const InputError& e) {
    const std::string what = e.what();
    CHECK(what.find("v3.yaml:") == 0);
    CHECK(what.find("routing") != std::string::npos);
    CHECK(what.find("aux-loss-free") != std::string::npos);
  }
  const std::string dense = test::variant("network: nvswitch-node}", "network: nvswitch-node}\nparallelism: {routing: forced}");
  CHECK_THROWS_AS(load_scenario(YamlNode::load_string(dense, "dense.yaml"), catalog), InputError);
}
