// The model zoo against published parameter counts, and activation memory against Korthikanti et
// al. (2022).
#include <doctest/doctest.h>

#include "gpuhours/opgraph.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/yaml.hpp"
#include "test_util.hpp"

using namespace gpuhours;

using test::zoo;

TEST_CASE("every zoo model's parameter count is within 1% of its published total") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const auto names = catalog.names("models");
  CHECK(names.size() >= 14);
  int published = 0;
  for (const auto& name : names) published += zoo(name).published_params.has_value();
  CHECK(published >= 14);
  for (const auto& name : names) {
    CAPTURE(name);
    const ModelSpec m = zoo(name);
    if (!m.published_params) {  // hypothetical models (e.g. dense-671b) have no published count
      CHECK(m.sources.size() >= 1);
      continue;
    }
    const ParamCount p = count_params(m);
    MESSAGE(name, ": ", p.total / 1e9, "B counted, ", *m.published_params / 1e9, "B published");
    CHECK(std::abs(p.total / *m.published_params - 1.0) < 0.01);
    if (m.published_active_params) CHECK(std::abs(p.active / *m.published_active_params - 1.0) < 0.03);
  }
}

TEST_CASE("DeepSeek-V3: 671B total and 37B activated, counted as the paper does (MTP excluded)") {
  const ParamCount p = count_params(zoo("deepseek-v3"));
  CHECK(std::abs(p.total / 671e9 - 1.0) < 0.01);
  CHECK(std::abs(p.active / 37e9 - 1.0) < 0.02);
  // The MTP module (one MoE layer + a 2h x h projection + norms) adds ~11.6B of its own
  // parameters; with the shared embedding and head it is the 14B of the released 685B checkpoint.
  CHECK(p.mtp > 11e9);
  CHECK(p.mtp < 12e9);
  // Hand count of one MLA block: q_down 7168*1536 + q_norm 1536 + q_up 1536*128*192
  // + kv_down 7168*576 + kv_norm 512 + kv_up 512*128*256 + o 128*128*7168 + 2 layer norms.
  const std::int64_t mla = 7168LL * 1536 + 1536 + 1536LL * 128 * 192 + 7168LL * 576 + 512 + 512LL * 128 * 256 +
                           128LL * 128 * 7168;
  CHECK(p.dense_layer == mla + 2 * 7168 + 3LL * 7168 * 18432);
  // MoE layer: router 7168*256, one shared and 256 routed experts of 3 * 7168 * 2048.
  CHECK(p.moe_layer == mla + 2 * 7168 + 7168LL * 256 + 257LL * 3 * 7168 * 2048);
  CHECK(p.moe_layer_active == mla + 2 * 7168 + 7168LL * 256 + 9LL * 3 * 7168 * 2048);
}

TEST_CASE("DeepSeek-V2 236B / 21B and Llama 3 405B") {
  const ParamCount v2 = count_params(zoo("deepseek-v2"));
  CHECK(std::abs(v2.total / 236e9 - 1.0) < 0.01);
  CHECK(std::abs(v2.active / 21e9 - 1.0) < 0.03);
  CHECK(std::abs(count_params(zoo("llama-3-405b")).total / 405e9 - 1.0) < 0.01);
}

TEST_CASE("activation memory per layer follows Korthikanti et al., with flash attention and no dropout") {
  // Korthikanti et al. 2022, §4.1: a GPT layer (MHA, GELU MLP of 4h, LayerNorm, dropout) keeps
  // s*b*h*(34 + 5*a*s/h) bytes; with tensor + sequence parallelism (§4.2.2), 1/t of it.
  // gpuhours models flash attention and no dropout, so relative to the formula it drops the
  // softmax, its dropout mask and the dropped-out probabilities (5*a*s^2*b), the attention-output
  // and MLP dropout masks (2*s*b*h), and adds the log-sum-exp (4*a*s*b, FP32) and the two
  // norms' FP32 statistics (2 * 4*s*b).
  ModelSpec m = zoo("gpt-3-175b");
  const double s = 2048, b = 1, h = 12288, a = 96;
  for (int t : {1, 8}) {
    CAPTURE(t);
    RankShape shape;
    shape.tp = t;
    shape.seq_len = 2048;
    shape.micro_batch = 1;
    const OpGraph g = build_op_graph(m, shape);
    double saved = 0;
    for (const Op& op : g.dense_layer) saved += op.saved_bytes;
    const double korthikanti = s * b * h * (34 + 5 * a * s / h) / t;
    const double expected = korthikanti - (5 * a * s * s * b + 2 * s * b * h) / t + 4 * a * s * b / t + 2 * 4 * s * b / t;
    CHECK(saved == doctest::Approx(expected).epsilon(1e-12));
  }
}
