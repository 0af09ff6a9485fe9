// Internal: the layout of a scenario on ranks, shared by the memory plan and the step program.
#pragma once
#include <vector>

#include "gpuhours/opgraph.hpp"
#include "gpuhours/schedule.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours::detail {

/// Everything derived from the scenario's layout: the per-rank op graph, the schedule, and which
/// model parts (layer ranges) each pipeline rank holds.
struct Layout {
  RankShape shape;
  OpGraph graph;
  Schedule schedule;
  int dp = 1, micro_batches = 1;
  std::vector<std::pair<int, int>> part_layers;  // [first, last) layers of each part
  int edp = 1;  // ranks sharing one routed expert's weights (expert data parallelism)
  // Ranks sharing the dense weights: data x context parallel (Megatron-LM reduces gradients and
  // shards the distributed optimizer over this group).
  int dense_dp() const { return dp * shape.cp; }
};

/// `same_shape`: a layout of the same rank shape and split into parts (part_times_key), whose op
/// graph and parts are reused; the rest is derived from `s`.
Layout make_layout(const Scenario& s, const Layout* same_shape = nullptr);
/// The parts pipeline rank `rank` holds (a DualPipe rank holds both directions' parts).
std::vector<int> parts_of_rank(const Layout& l, int rank);
/// Parameters of a part on one GPU: (all, routed-expert only).
std::pair<double, double> part_params(const Scenario& s, const Layout& l, int part);
/// Forward FLOPs of one micro-batch through a part on one GPU.
double part_forward_flops(const Scenario& s, const Layout& l, int part);
/// Activation bytes one micro-batch leaves saved in a part.
double part_activations(const Scenario& s, const Layout& l, int part);

}  // namespace gpuhours::detail

namespace gpuhours {

/// What layouts of one rank shape share (step.hpp).
struct ShapeData {
  detail::Layout layout;
  PartTimes times;
};

/// The memory plan of `s` on a layout already made.
std::vector<StagePlan> plan_memory(const Scenario& s, const detail::Layout& l);

}  // namespace gpuhours
