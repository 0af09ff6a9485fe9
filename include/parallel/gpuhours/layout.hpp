// The layout of a scenario on ranks: the per-rank op graph, the pipeline schedule and the model
// parts each pipeline rank holds. Built once per layout and shared by the memory plan, the step
// program and the step's lower bound.
#pragma once
#include <utility>
#include <vector>

#include "gpuhours/opgraph.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/schedule.hpp"

namespace gpuhours {

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

/// `s`'s layout, which must be feasible (layout_infeasibility, step.hpp). `same_shape`: a layout of the same rank shape and split into parts (part_times_key), whose op
/// graph and parts are reused; the rest is derived from `s`.
Layout make_layout(const Scenario& s, const Layout* same_shape = nullptr);

/// A block of ops of a pipeline part, in forward order: the embedding (first part), each layer,
/// the head and each multi-token-prediction module (last part). The one walk over a part.
struct PartBlock {
  enum Kind { embedding, layer, head, mtp } kind;
  int index;  // the layer's index, -1 for the other blocks
  const std::vector<Op>* ops;
};
/// The blocks of part `part` in forward order (the backward runs them in reverse).
std::vector<PartBlock> part_blocks(const Scenario& s, const Layout& l, int part);

}  // namespace gpuhours
