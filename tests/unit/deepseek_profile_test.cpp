// The kernels of one DeepSeek-V3 MoE layer against DeepSeek's own profile of its training
// (deepseek-ai/profile-data train.json; tests/data/deepseek-profile-layer.yaml): per class of
// kernel, one layer's forward, input backward and weight backward on the H800.
#include <doctest/doctest.h>

#include "gpuhours/kernels.hpp"
#include "gpuhours/opgraph.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/yaml.hpp"
#include "test_util.hpp"

namespace gpuhours {
namespace {

struct LayerKernels {
  double gemm_ms = 0, fp8_cast_ms = 0, attention_ms = 0, memory_ms = 0;
};

// One MoE layer of the scenario's rank: every op's forward, its selective recomputation, and its
// backward kernels, timed as the step times them (its profile and clocks, without stragglers).
LayerKernels simulated_layer(const Scenario& s) {
  const OpGraph g = scenario_op_graph(s);
  const KernelModel km(s.cluster.gpu, s.cluster.calibration.get(), 1.0, s.cluster.clocks);
  LayerKernels out;
  auto add = [&](const Kernel& k) {
    const double ms = km.time(k).seconds() * 1e3;
    if (k.kind == OpKind::attention) out.attention_ms += ms;
    else if (k.kind == OpKind::memory) out.memory_ms += ms;
    else {
      Kernel bare = k;
      bare.quantize_bytes = 0;
      const double gemm = km.time(bare).seconds() * 1e3;
      out.gemm_ms += gemm;
      out.fp8_cast_ms += ms - gemm;
    }
  };
  const std::uint32_t modules = s.parallel.recompute_modules;
  for (const Op& op : g.moe_layer) {
    if (op.comm != OpComm::none) continue;
    add(op.forward);
    const bool rerun = modules != 0 ? (op.modules & modules) != 0 : op.rerun_selective;
    if (s.parallel.recompute == Recompute::selective && rerun) add(op.forward);
    for (const Kernel& k : op.backward) add(k);
  }
  return out;
}

TEST_CASE("deepseek-v3: a MoE layer's kernels take about the time DeepSeek's own profile shows") {
  const YamlNode ref = YamlNode::load_file(std::string(GPUHOURS_DATA_DIR) + "/tests/data/deepseek-profile-layer.yaml");
  // In the profile the compute kernels run beside DeepEP's, which hold 20 of the 132 SMs through
  // most of the chunk pair (its GEMMs launch 112 CTAs); alone on the GPU they take 112/132 of it.
  const double alone = 112.0 / 132.0;
  auto profile = [&](const char* key) { return ref.child(key).as_double() * alone; };
  const LayerKernels sim = simulated_layer(test::preset("deepseek-v3-claim"));
  const double sim_total = sim.gemm_ms + sim.fp8_cast_ms + sim.attention_ms + sim.memory_ms;
  const double ref_total = profile("gemm_ms") + profile("fp8_cast_ms") + profile("attention_ms") + profile("memory_ms");
  MESSAGE("per MoE layer alone on the GPU, ms (simulated / profile x 112/132): GEMM ", sim.gemm_ms, " / ", profile("gemm_ms"),
          ", FP8 casts ", sim.fp8_cast_ms, " / ", profile("fp8_cast_ms"), ", attention ", sim.attention_ms, " / ",
          profile("attention_ms"), ", memory-bound ", sim.memory_ms, " / ", profile("memory_ms"));
  // 2026-12-06: total -5%, GEMM -14%, casts 0%, attention +30%, memory-bound -12% (-36% before the
  // token permutation after DeepEP's dispatch was a kernel of its own; still missing: copies, routing
  // maps, top-k, small elementwise ops).
  CHECK(sim_total == doctest::Approx(ref_total).epsilon(0.15));
  CHECK(sim.gemm_ms == doctest::Approx(profile("gemm_ms")).epsilon(0.20));
  CHECK(sim.fp8_cast_ms == doctest::Approx(profile("fp8_cast_ms")).epsilon(0.20));
  CHECK(sim.attention_ms == doctest::Approx(profile("attention_ms")).epsilon(0.35));
  CHECK(sim.memory_ms == doctest::Approx(profile("memory_ms")).epsilon(0.20));
}

}  // namespace
}  // namespace gpuhours
