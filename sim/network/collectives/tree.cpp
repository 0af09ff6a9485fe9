// Tree all-reduce (NCCL's tree): per channel a binary tree over nodes (leader = local GPU c) and a
// chain inside each node; a reduce phase up and a broadcast phase down, S/C bytes per edge.
#include <cmath>

#include "collective_algorithm.hpp"

namespace gpuhours {

namespace {

CollectiveOp tree_plan(const CollectiveRequest& r) {
  const auto& [kind, S, ranks, topo, c, moe] = r;
  const auto groups = by_node(ranks, topo);
  const int nodes = static_cast<int>(groups.size());
  const int channels = static_cast<int>(groups.front().size());
  const double bytes = S / channels;
  Phase up, down;
  const double depth = std::ceil(std::log2(static_cast<double>(nodes) + 1));
  // NCCL's tree latency (src/graph/tuning.cc): baseLat + 2 * ((ranks per node - 1) * intraLat +
  // depth * interLat), depth = ceil(log2(nodes + 1)), the levels of a binary tree over the nodes.
  up.latency_seconds = c.network.base_latency_seconds +
                       (channels - 1) * c.network.nvlink_step_latency_seconds +
                       depth * c.network.net_step_latency_seconds;
  down.latency_seconds = (channels - 1) * c.network.nvlink_step_latency_seconds +
                         depth * c.network.net_step_latency_seconds;
  for (int ch = 0; ch < channels; ++ch) {
    for (int i = 0; i < nodes; ++i) {
      const auto& g = groups[i];
      const int k = static_cast<int>(g.size());
      for (int j = k - 1; j > 0; --j) {  // chain toward the node's leader g[ch]
        const int from = g[(ch + j) % k], to = g[(ch + j - 1) % k];
        up.flows.push_back({topo.route(from, to), bytes});
        down.flows.push_back({topo.route(to, from), bytes});
      }
      if (i > 0) {  // leader to the parent node's leader (binary tree over nodes)
        const int leader = g[ch % k];
        const auto& pg = groups[(i - 1) / 2];
        const int parent = pg[ch % pg.size()];
        up.flows.push_back({hop(leader, parent, leader, parent, topo), bytes});
        down.flows.push_back({hop(parent, leader, parent, leader, topo), bytes});
      }
    }
  }
  CollectiveOp op;
  op.phases = {std::move(up), std::move(down)};
  return op;
}

}  // namespace

CollectiveAlgorithm algorithm_tree() {
  return {.implements = [](CollectiveKind k) { return k == CollectiveKind::all_reduce; },
          .automatic = [](CollectiveKind k, const ClusterSpec& c, int gpus) { return k == CollectiveKind::all_reduce && c.nodes > 1 && gpus > 1; },
          .plan = tree_plan};
}

}  // namespace gpuhours
