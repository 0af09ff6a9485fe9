// What one collective algorithm file defines (algorithms.def lists them): the collectives it
// implements, whether NCCL's tuner would consider it, and its plan as phases of flows on the
// topology. Shared path helpers for the plans.
#pragma once
#include <vector>

#include "gpuhours/network.hpp"

namespace gpuhours {

/// One collective to plan: `bytes` is S, the per-rank size of network.hpp's conventions.
struct CollectiveRequest {
  CollectiveKind kind;
  double bytes;
  const std::vector<int>& ranks;  // two or more GPUs
  const Topology& topo;
  const ClusterSpec& cluster;
  const MoeRouting& moe;
};

struct CollectiveAlgorithm {
  /// The collectives it implements (--algo).
  bool (*implements)(CollectiveKind kind) = nullptr;
  /// Whether the automatic choice tries it for `kind` over `gpus` GPUs of `cluster` (it picks
  /// the fastest of those tried, as NCCL's tuner picks the least predicted time).
  bool (*automatic)(CollectiveKind kind, const ClusterSpec& cluster, int gpus) = nullptr;
  /// Its phases of flows; throws InputError where the algorithm cannot run on these ranks.
  CollectiveOp (*plan)(const CollectiveRequest& r) = nullptr;
};

#define GPUHOURS_ALGORITHM(id, name) CollectiveAlgorithm algorithm_##id();
#include "gpuhours/algorithms.def"
#undef GPUHOURS_ALGORITHM

/// Nodes the ranks span.
int nodes_spanned(const std::vector<int>& ranks, const Topology& topo);
/// Ranks grouped by node (ascending), each node's ranks ascending.
std::vector<std::vector<int>> by_node(std::vector<int> ranks, const Topology& topo);
/// A path between two ranks: NVLink inside a node; across nodes leaving and entering through the
/// NICs of the given local indices (NCCL channels pin a ring or tree to one NIC per node).
std::vector<LinkId> hop(int a, int b, int exit, int entry, const Topology& topo);
/// One phase: a latency, then its flows.
CollectiveOp one_phase(Phase phase);

/// DeepEP: nodes a token reaches (node-limited routing: at most moe.max_nodes of `nodes`).
int deepep_nodes_per_token(const MoeRouting& moe, int nodes);
/// DeepEP: distinct GPUs of a node of G a token reaches when it uses `experts` of the node's
/// experts, spread evenly over its GPUs: G (1 - (1 - 1/G)^experts).
double deepep_gpus_hit(int gpus_per_node, double experts);
/// DeepEP's bottleneck bytes for its bandwidth figure: across nodes, token bytes sent to all target
/// nodes (own node included); inside one node, token bytes received (own included).
double deepep_counted_bytes(double bytes, int nodes, int gpus_per_node, const MoeRouting& moe);

}  // namespace gpuhours
