// Flows in the step (cluster: {flows: true}): data- and pipeline-parallel transfers across nodes
// run on the topology and share its links.
#include <doctest/doctest.h>

#include "gpuhours/run.hpp"
#include "gpuhours/sensitivity.hpp"
#include "gpuhours/step.hpp"
#include "test_util.hpp"

using namespace gpuhours;

namespace {

// Llama 3 8B on 4 nodes of 8 H100, TP 8 in each node and DP 4 across them: 8 data-parallel rings
// (one per tensor-parallel index), each over one GPU of every node.
Scenario four_nodes(bool flows) {
  Scenario s = load_scenario(YamlNode::load_string(R"(name: flows
title: flows
model: llama-3-8b
cluster: {gpu: h100-sxm, nodes: 4, gpus_per_node: 8, network: ib-ndr-rail-fat-tree}
parallelism: {tp: 8, zero: 1, micro_batch: 1}
training: {precision: bf16, seq_len: 4096, global_batch: 16, tokens: 1e9}
cost: {gpu_hour_usd: 2}
)",
                                                   "flows.yaml"),
                             Catalog(GPUHOURS_DATA_DIR));
  s.cluster.flows = flows;
  s.cluster.stragglers = false;
  return s;
}

// The same nodes one per leaf switch (not rail-optimised), the leaves' uplinks `oversubscription`:1.
Scenario one_node_per_leaf(bool flows, double oversubscription) {
  Scenario s = four_nodes(flows);
  s.cluster.network.rail_optimised = false;
  s.cluster.network.leaf_down_ports = 8;
  s.cluster.network.oversubscription = oversubscription;
  return s;
}

double dp_busy_seconds(const StepResult& r) {
  double busy = 0;
  for (const StreamUse& u : r.streams)
    if (u.name == "dp-comm") busy += u.busy_seconds;
  return busy;
}

}  // namespace

TEST_CASE("flows: where no link is shared, the step's flows reproduce the closed forms") {
  // Rail-optimised: ring k of every node leaves through NIC k to the leaf of rail k, so the 8 rings
  // never meet; the gradient reduce-scatters run one after another on the data-parallel stream.
  const StepResult closed = simulate_step(four_nodes(false));
  const StepResult flows = simulate_step(four_nodes(true));
  REQUIRE(dp_busy_seconds(closed) > 0);
  CHECK(dp_busy_seconds(flows) == doctest::Approx(dp_busy_seconds(closed)).epsilon(0.01));
  CHECK(flows.seconds == doctest::Approx(closed.seconds).epsilon(0.005));
  CHECK(closed.busiest_links.empty());
  REQUIRE(!flows.busiest_links.empty());
}

TEST_CASE("flows: data-parallel rings under one oversubscribed leaf share its uplink, the closed form does not see it") {
  // One node per leaf: each node's 8 rings leave it through its leaf's uplink, 8 x 400 Gb/s down.
  // At 1:1 the uplink carries them all at full rate; at 4:1 (100 GB/s up) they share it, 12.5 GB/s
  // each instead of the NIC's 47: the data-parallel transfers take about 3.8x as long.
  const double full = dp_busy_seconds(simulate_step(one_node_per_leaf(true, 1)));
  const double shared = dp_busy_seconds(simulate_step(one_node_per_leaf(true, 4)));
  CHECK(full == doctest::Approx(dp_busy_seconds(simulate_step(four_nodes(true)))).epsilon(0.01));
  CHECK(shared > 3 * full);
  CHECK(shared < 4 * full);
  // The closed forms price each transfer alone: the oversubscription changes nothing.
  CHECK(dp_busy_seconds(simulate_step(one_node_per_leaf(false, 4))) ==
        doctest::Approx(dp_busy_seconds(simulate_step(one_node_per_leaf(false, 1)))));
  // The report names the bottleneck: the leaves' uplinks, busier than any NIC.
  const StepResult r = simulate_step(one_node_per_leaf(true, 4));
  REQUIRE(!r.busiest_links.empty());
  CHECK(r.busiest_links.front().link.starts_with("leaf "));
  CHECK(r.busiest_links.front().link.find("-> spine") != std::string::npos);
  bool said = false;
  for (const std::string& a : r.assumptions) said = said || a.find("run as flows on ib-ndr-rail-fat-tree") != std::string::npos;
  CHECK(said);
}

TEST_CASE("flows: more bandwidth never slows a step") {
  const double base = simulate_step(one_node_per_leaf(true, 4)).seconds;
  CHECK(simulate_step(one_node_per_leaf(true, 2)).seconds <= base);
  Scenario faster_nics = one_node_per_leaf(true, 4);
  faster_nics.cluster.network.nic_bytes_per_s_per_gpu *= 2;
  CHECK(simulate_step(faster_nics).seconds <= base);
}

TEST_CASE("flows: pipeline sends across nodes run as flows from every GPU of the stage") {
  // Two stages of 16 GPUs on 4 nodes (TP 8, PP 2, DP 2): every send crosses nodes.
  Scenario closed = four_nodes(false);
  closed.parallel.pp = 2;
  Scenario flows = closed;
  flows.cluster.flows = true;
  const StepResult a = simulate_step(closed), b = simulate_step(flows);
  CHECK(b.seconds == doctest::Approx(a.seconds).epsilon(0.02));
  // 16 GPUs of stage 0 each send their activations to their peer in stage 1: the NICs carry them.
  bool nic = false;
  for (const auto& l : b.busiest_links) nic = nic || (l.link.starts_with("NIC ") && l.as_busy >= 16);
  CHECK(nic);
}

TEST_CASE("flows: a switch that is not true or false is refused naming the file and field") {
  auto r = test::cli({"run", test::write_temp("flows-bad.yaml", test::variant("network: nvswitch-node}", "network: nvswitch-node, flows: 3}"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("flows-bad.yaml:") != std::string::npos);
  CHECK(r.err.find("cluster.flows") != std::string::npos);
}

TEST_CASE("flows: the tornado's link-sharing row prices the contention the closed forms leave out") {
  const Scenario s = one_node_per_leaf(false, 4);
  const RunResult base = account_run(s, simulate_phases(s, simulate_step(s)));
  bool found = false;
  for (const SensitivityRow& r : sensitivity(s, base))
    if (r.input == "link sharing") {
      found = true;
      CHECK(r.switch_only);
      CHECK(r.gpu_hours_low == doctest::Approx(base.gpu_hours));  // the base runs closed forms
      CHECK(r.gpu_hours_high > r.gpu_hours_low);                  // the 4:1 uplinks slow the rings
    }
  CHECK(found);
  // One node: nothing crosses a switch, no row.
  const Scenario one = test::preset("llama-3-8b-8gpu-dp");
  const RunResult one_base = account_run(one, simulate_phases(one, simulate_step(one)));
  for (const SensitivityRow& r : sensitivity(one, one_base)) CHECK(r.input != "link sharing");
}

TEST_CASE("flows: ZeRO-3's weight all-gathers before each pass run as flows too") {
  auto zero3 = [](Scenario s) {
    s.parallel.zero = 3;
    return s;
  };
  const double closed = dp_busy_seconds(simulate_step(zero3(four_nodes(false))));
  REQUIRE(closed > 0);
  CHECK(dp_busy_seconds(simulate_step(zero3(four_nodes(true)))) == doctest::Approx(closed).epsilon(0.01));
  // Under 4:1 leaves the gathers share the uplinks with the gradient reduce-scatters.
  CHECK(dp_busy_seconds(simulate_step(zero3(one_node_per_leaf(true, 4)))) > 3 * closed);
}
