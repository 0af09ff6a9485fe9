// All-to-all, direct: every rank sends S/n to every other rank, one phase.
#include "collective_algorithm.hpp"

namespace gpuhours {

namespace {

CollectiveOp direct_plan(const CollectiveRequest& r) {
  const auto& [kind, S, ranks, topo, c, moe] = r;
  const int n = static_cast<int>(ranks.size());
  const int nodes = nodes_spanned(ranks, topo);
  Phase ph;
  ph.latency_seconds = c.network.base_latency_seconds +
                       (nodes > 1 ? c.network.net_step_latency_seconds : c.network.nvlink_step_latency_seconds);
  for (int a : ranks)
    for (int b : ranks)
      if (a != b) ph.flows.push_back({topo.route(a, b), S / n});
  CollectiveOp op;
  op.phases.push_back(std::move(ph));
  return op;
}

}  // namespace

CollectiveAlgorithm algorithm_direct() {
  return {.implements = [](CollectiveKind k) { return k == CollectiveKind::all_to_all; },
          .automatic = [](CollectiveKind k, const ClusterSpec&, int) { return k == CollectiveKind::all_to_all; },
          .plan = direct_plan};
}

}  // namespace gpuhours
