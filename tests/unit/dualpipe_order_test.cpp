// DualPipe's F&B component order (DeepSeek-V3 §3.2.1, Figure 4): inside an overlapped pair the
// backward chunk runs MLP(B), issues DISPATCH(B), and computes MLP(W) while it is in flight.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gpuhours/engine.hpp"
#include "gpuhours/step.hpp"
#include "test_util.hpp"

using namespace gpuhours;

namespace {

// Qwen3-30B-A3B over 32 H800 (4 nodes): 4 DualPipe stages, EP 8 across nodes, so each dispatch
// and combine crosses the scale-out network.
Scenario moe_dualpipe(bool split_backward) {
  Scenario s = load_scenario(YamlNode::load_string(R"(name: order
title: order
model: qwen3-30b-a3b
cluster: {gpu: h800-sxm, nodes: 4, gpus_per_node: 8, network: deepseek-multi-plane}
parallelism: {pp: 4, ep: 8, zero: 1, schedule: dualpipe, micro_batch: 1}
training: {precision: fp8, seq_len: 4096, global_batch: 64, tokens: 1e9}
cost: {gpu_hour_usd: 2}
)",
                                                   "order.yaml"),
                             Catalog(GPUHOURS_DATA_DIR));
  s.parallel.split_backward = split_backward;
  s.cluster.stragglers = false;  // an ideal cluster: no GPU waits for a slower one, nor for kernel jitter
  s.cluster.jitter = false;
  return s;
}

struct Span {
  std::int64_t start = 0, end = 0;
};

// The tasks of rank 0 whose label contains every one of `parts`, in start order.
std::vector<Span> spans(const Engine& e, const std::vector<std::string>& parts) {
  std::vector<Span> out;
  const TaskGraph& g = e.graph();
  for (TaskId t = 0; t < g.task_count(); ++t) {
    if (g.stream_rank(g.task_stream(t)) != 0) continue;
    const std::string& label = g.task_label(t);
    bool all = true;
    for (const std::string& p : parts) all = all && label.find(p) != std::string::npos;
    if (all) out.push_back({e.start(t).count_ns(), e.end(t).count_ns()});
  }
  return out;
}

}  // namespace

TEST_CASE("dualpipe: in an F&B pair the MLP's weight gradients run while its backward dispatch is in flight") {
  for (const bool split : {true, false}) {
    CAPTURE(split);
    int beside = 0, dispatches = 0;
    const StepResult r = simulate_step(moe_dualpipe(split), [&](const Engine& e, const std::vector<std::string>&,
                                                               const std::vector<std::string>&) {
      const std::vector<Span> dispatch_bwd = spans(e, {"dispatch (ep) (bwd)"});
      const std::vector<Span> down_wgrad = spans(e, {"experts_down wgrad"});
      dispatches = static_cast<int>(dispatch_bwd.size());
      for (const Span& d : dispatch_bwd)
        for (const Span& w : down_wgrad) beside += w.start >= d.start && w.start < d.end;
    });
    MESSAGE("split backward ", split, ": step ", r.seconds, " s, ", beside, " of ", dispatches,
            " backward dispatches on rank 0 with an expert weight gradient started while in flight");
    REQUIRE(dispatches > 0);
    if (split) {
      // MLP(W) starts once DISPATCH(B) is issued, in the backward half of each F&B pair (the
      // plain B passes of the warm-up and cool-down defer W to its own pass).
      CHECK(beside >= 6);
    } else {
      // Each op's weight gradient follows its input gradient, before the dispatch is issued, and
      // what follows the dispatch waits for it.
      CHECK(beside == 0);
    }
  }
}

TEST_CASE("dualpipe: GEMMs sized to the SMs DeepEP leaves run at that share throughout, and slow the step") {
  // gemm_sms: partitioned (DeepGEMM's num_sms, DeepSeek-V3 §3.2.2): every forward expert GEMM (FP8,
  // its tokens dispatched in FP8: no quantization pass of its own) takes sms / (sms - comm_sms) =
  // 132 / 112 of its time alone, whether a dispatch runs beside it or not; shared, it runs at full
  // speed when no communication kernel runs beside it.
  auto run = [](GemmSms placement, std::int64_t& shortest_ns) {
    Scenario s = moe_dualpipe(true);
    s.parallel.gemm_sms = placement;
    shortest_ns = INT64_MAX;
    const StepResult r = simulate_step(s, [&](const Engine& e, const std::vector<std::string>&, const std::vector<std::string>&) {
      const TaskGraph& g = e.graph();
      for (TaskId t = 0; t < g.task_count(); ++t) {
        const std::string& label = g.task_label(t);
        if (label.find("experts_gate_up") == std::string::npos || label.find("grad") != std::string::npos) continue;
        shortest_ns = std::min(shortest_ns, (e.end(t) - e.start(t)).count_ns());
      }
    });
    return r.seconds;
  };
  std::int64_t shared_ns = 0, partitioned_ns = 0;
  const double shared = run(GemmSms::shared, shared_ns);
  const double partitioned = run(GemmSms::partitioned, partitioned_ns);
  MESSAGE("step ", shared, " s with shared SMs, ", partitioned, " s partitioned; shortest expert wgrad GEMM ", shared_ns,
          " and ", partitioned_ns, " ns");
  REQUIRE(shared_ns > 0);
  CHECK(static_cast<double>(partitioned_ns) / static_cast<double>(shared_ns) == doctest::Approx(132.0 / 112.0).epsilon(0.002));
  CHECK(partitioned > shared * 1.02);
  CHECK(partitioned < shared * 132.0 / 112.0);
}

TEST_CASE("dualpipe: partitioned GEMMs lose the GPU's slowdown beside DeepEP's kernels, and only there") {
  // The H800's slowdown_beside_comm, 0.05: an expert GEMM on DeepGEMM's 112 SMs runs at 0.95 of its
  // partition's rate while a dispatch or combine holds the other 20, so one entirely beside a
  // transfer takes 1 / 0.95 of its time with the slowdown switched off, and none takes longer.
  struct Run {
    double seconds = 0;
    std::int64_t longest_ns = 0;
  };
  auto run = [](bool slowdown) {
    Scenario s = moe_dualpipe(true);
    s.parallel.gemm_sms = GemmSms::partitioned;
    s.cluster.slowdown_beside_comm = slowdown;
    REQUIRE(s.cluster.gpu.slowdown_beside_comm == 0.05);
    Run out;
    out.seconds = simulate_step(s, [&](const Engine& e, const std::vector<std::string>&, const std::vector<std::string>&) {
                    const TaskGraph& g = e.graph();
                    for (TaskId t = 0; t < g.task_count(); ++t)
                      if (g.task_label(t).find("experts_gate_up") != std::string::npos)
                        out.longest_ns = std::max(out.longest_ns, (e.end(t) - e.start(t)).count_ns());
                  }).seconds;
    return out;
  };
  const Run on = run(true), off = run(false);
  MESSAGE("step ", off.seconds, " s alone, ", on.seconds, " s slowed beside transfers; longest expert GEMM ",
          off.longest_ns, " and ", on.longest_ns, " ns");
  REQUIRE(off.longest_ns > 0);
  CHECK(on.seconds > off.seconds);
  CHECK(static_cast<double>(on.longest_ns) / static_cast<double>(off.longest_ns) > 1.0);
  CHECK(static_cast<double>(on.longest_ns) / static_cast<double>(off.longest_ns) <= 1 / 0.95 + 1e-3);
}

TEST_CASE("gradient clipping: no stage updates its weights before every stage's gradients are final") {
  // The global gradient norm (Megatron-Core's --clip-grad, DeepSeek-V3 §4.2) needs every stage's
  // reduced gradients: each optimizer step starts after the last stage's gradients are final.
  std::int64_t latest_final = -1, earliest_step = INT64_MAX;
  int finals = 0, steps = 0;
  simulate_step(moe_dualpipe(true), [&](const Engine& e, const std::vector<std::string>&, const std::vector<std::string>&) {
    const TaskGraph& g = e.graph();
    for (TaskId t = 0; t < g.task_count(); ++t) {
      const std::string& label = g.task_label(t);
      if (label.find("gradients final") != std::string::npos) {
        ++finals;
        latest_final = std::max(latest_final, e.end(t).count_ns());
      } else if (label.find("optimizer step") != std::string::npos) {
        ++steps;
        earliest_step = std::min(earliest_step, e.start(t).count_ns());
      }
    }
  });
  CHECK(finals == 4);
  CHECK(steps == 4);
  CHECK(earliest_step >= latest_final);
}
