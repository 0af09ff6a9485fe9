// The host that launches the step's kernels (TaskGraph::set_launch; hardware/host.yaml): hand-derived
// timelines in the engine, and its effect on whole steps.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "gpuhours/engine.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/task_kinds.hpp"
#include "test_util.hpp"

namespace gpuhours {
namespace {

TaskId task(TaskGraph& g, StreamId s, std::int64_t ns) { return add_task(g, s, Time::ns(ns), TaskKind::compute, g.intern("t")); }

// `n` kernels of `work_ns` on one stream, each launched by host 0 in `launch_ns`.
std::vector<TaskId> launched_chain(TaskGraph& g, StreamId s, int n, std::int64_t work_ns, std::int64_t launch_ns) {
  std::vector<TaskId> t;
  for (int k = 0; k < n; ++k) {
    t.push_back(task(g, s, work_ns));
    g.set_launch(t.back(), 0, Time::ns(launch_ns));
  }
  return t;
}

TEST_CASE("host: kernels shorter than their launches wait for the host, one launch after another") {
  // Launches of 10 ns, kernels of 1 ns: kernel k starts when launch k ends, at 10 k.
  TaskGraph g;
  const std::vector<TaskId> t = launched_chain(g, g.add_stream(0, "compute"), 3, 1, 10);
  Engine e(g);
  CHECK(e.run().count_ns() == 31);
  for (int k = 0; k < 3; ++k) {
    CHECK(e.launched(t[k]).count_ns() == 10 * (k + 1));
    CHECK(e.start(t[k]).count_ns() == 10 * (k + 1));
  }
  // The second kernel was ready when the first ended (11 ns) and waited 9 ns for its launch.
  CHECK(e.ready(t[1]).count_ns() == 11);
}

TEST_CASE("host: a host ahead of long kernels costs only its first launch") {
  TaskGraph g;
  const std::vector<TaskId> t = launched_chain(g, g.add_stream(0, "compute"), 4, 100, 10);
  Engine e(g);
  CHECK(e.run().count_ns() == 10 + 4 * 100);
  CHECK(e.launched(t[3]).count_ns() == 40);  // launched long before it may run
  CHECK(e.start(t[3]).count_ns() == 310);
}

TEST_CASE("host: a launch that waits for a result on the CPU empties the GPU's queue") {
  // A (100 ns) is launched at 0-10; B waits on the CPU for A's end (110) before its launch
  // (110-120); C, launched after B, starts at 130 although its stream is free from 0.
  TaskGraph g;
  const StreamId s = g.add_stream(0, "compute"), other = g.add_stream(0, "comm");
  const TaskId a = task(g, s, 100), b = task(g, s, 5), c = task(g, other, 5);
  g.set_launch(a, 0, Time::ns(10));
  g.set_launch(b, 0, Time::ns(10), a);
  g.set_launch(c, 0, Time::ns(10));
  Engine e(g);
  CHECK(e.run().count_ns() == 135);
  CHECK(e.start(b).count_ns() == 120);
  CHECK(e.start(c).count_ns() == 130);
  CHECK(e.ready(c).count_ns() == 0);
  // Two hosts launch independently: a task of host 1 does not wait for host 0's sync.
  TaskGraph h;
  const StreamId s0 = h.add_stream(0, "compute"), s1 = h.add_stream(1, "compute");
  const TaskId x = task(h, s0, 100), y = task(h, s0, 5), z = task(h, s1, 5);
  h.set_launch(x, 0, Time::ns(10));
  h.set_launch(y, 0, Time::ns(10), x);
  h.set_launch(z, 1, Time::ns(10));
  Engine f(h);
  f.run();
  CHECK(f.start(z).count_ns() == 10);
}

Scenario qwen3_30b(bool host) {
  // Qwen3-30B-A3B on 8 H100, EP 8: 48 small MoE layers, each with 16 local experts' GEMMs.
  return load_scenario(YamlNode::load_string(std::string(R"(name: host-bound
title: A small-expert MoE on one node
model: qwen3-30b-a3b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node, host: )") +
                                                 (host ? "true" : "false") + R"(}
parallelism: {tp: 1, pp: 1, ep: 8, zero: 1, micro_batch: 1, recompute: none}
training: {precision: bf16, seq_len: 2048, global_batch: 16, tokens: 1e9}
cost: {gpu_hour_usd: 2.0}
)", "host-bound.yaml"),
                       Catalog(GPUHOURS_DATA_DIR));
}

TEST_CASE("host: a small-expert MoE step waits for its host, and an ideal host removes the wait") {
  const StepResult eager = simulate_step(qwen3_30b(true)), ideal = simulate_step(qwen3_30b(false));
  const StepBreakdown& b = eager.breakdown;
  MESSAGE("step ", ideal.seconds, " s with an ideal host, ", eager.seconds, " s eager, of which waiting ",
          b.waiting_for_host, " s");
  CHECK(ideal.breakdown.waiting_for_host == 0);
  CHECK(b.waiting_for_host > 0);
  CHECK(eager.seconds > ideal.seconds);
  // The host only delays: the GPU's work is the same, and the parts add up to the step.
  CHECK(b.compute == doctest::Approx(ideal.breakdown.compute).epsilon(0.02));
  CHECK(b.compute + b.optimizer + b.exposed_communication + b.waiting_for_host + b.bubble ==
        doctest::Approx(eager.seconds).epsilon(1e-9));
  // A slower host never makes the step faster.
  Scenario slower = qwen3_30b(true);
  slower.cluster.host_launch_seconds *= 2;
  CHECK(simulate_step(slower).seconds >= eager.seconds);
}

// Seconds the host spends launching in the traced step of `text` (its events of category "host").
double host_seconds(const std::string& name, const std::string& text) {
  const std::string trace = test::write_temp(name + ".json", "");
  const auto r = test::cli({"run", test::write_temp(name, text), "--trace", trace});
  REQUIRE(r.code == 0);
  double us = 0;
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(trace));  // named: the loop would outlive a temporary
  for (const auto& e : j["traceEvents"])
    if (e.value("cat", "") == "host") us += e["dur"].get<double>();
  return us * 1e-6;
}

TEST_CASE("host: CUDA graphs of a layer's attention and FFN launch each layer's pass once") {
  // The inline 4-layer dense model, 8 micro-batches of 1 on one GPU. With every op of its layers in
  // the attn and mlp graphs, a layer's forward is one launch instead of one per kernel, and so is
  // its backward; the embedding, head and optimizer launch as before.
  const std::string eager = test::variant("network: nvswitch-node}", "network: nvswitch-node, host: true}");
  const std::string graphs = test::variant("network: nvswitch-node}", "network: nvswitch-node, host: true}\nparallelism: {cuda_graph_scope: [attn, mlp]}");
  const Scenario s = load_scenario(YamlNode::load_string(graphs, "graphs.yaml"), Catalog(GPUHOURS_DATA_DIR));
  CHECK(s.parallel.cuda_graph_scopes == (bit(GraphScope::attn) | bit(GraphScope::mlp)));
  const OpGraph g = scenario_op_graph(s);
  double forward = 0, backward = 0;
  for (const Op& op : g.dense_layer) {
    CHECK(op.graph_scopes != 0);
    forward += 1;
    backward += static_cast<double>(op.backward.size());
  }
  const double saved = 8 * 4 * ((forward - 1) + (backward - 1)) * s.cluster.host_launch_seconds;
  MESSAGE(forward, " forward and ", backward, " backward kernels per layer: ", saved, " s of launches saved");
  const double eager_s = host_seconds("eager.yaml", eager), graphs_s = host_seconds("graphs.yaml", graphs);
  CHECK(eager_s - graphs_s == doctest::Approx(saved).epsilon(1e-6));
}

TEST_CASE("host: a large dense model's kernels hide their launches") {
  Scenario s = test::preset("llama-3-8b-8gpu-dp");
  const double eager = simulate_step(s).seconds;
  s.cluster.host_launch_seconds = 0;
  const double ideal = simulate_step(s).seconds;
  // Only the first launch of the step shows: under 0.1%.
  CHECK(eager == doctest::Approx(ideal).epsilon(1e-3));
  CHECK(eager >= ideal);
}

TEST_CASE("host: the launch cost comes from hardware/host.yaml, and a bad switch names the file and field") {
  CHECK(qwen3_30b(true).cluster.host_launch_seconds == doctest::Approx(51e-6));
  CHECK(qwen3_30b(false).cluster.host_launch_seconds == 0);
  const auto r = test::cli({"run", test::write_temp("host-bad.yaml", test::variant("network: nvswitch-node}", "network: nvswitch-node, host: sometimes}"))});
  CHECK(r.code != 0);
  CHECK(r.err.find("host-bad.yaml") != std::string::npos);
  CHECK(r.err.find("host") != std::string::npos);
}

}  // namespace
}  // namespace gpuhours
