#include <algorithm>

#include "collective_algorithm.hpp"

namespace gpuhours {

int nodes_spanned(const std::vector<int>& ranks, const Topology& topo) {
  std::vector<int> nodes;
  for (int r : ranks) nodes.push_back(topo.node_of(r));
  std::sort(nodes.begin(), nodes.end());
  return static_cast<int>(std::unique(nodes.begin(), nodes.end()) - nodes.begin());
}

std::vector<std::vector<int>> by_node(std::vector<int> ranks, const Topology& topo) {
  std::sort(ranks.begin(), ranks.end());
  std::vector<std::vector<int>> groups;
  for (int r : ranks) {
    if (groups.empty() || topo.node_of(groups.back().front()) != topo.node_of(r)) groups.emplace_back();
    groups.back().push_back(r);
  }
  return groups;
}

std::vector<LinkId> hop(int a, int b, int exit, int entry, const Topology& topo) {
  if (topo.node_of(a) == topo.node_of(b)) return topo.route(a, b);
  return topo.route_via(a, exit, entry, b);
}

CollectiveOp one_phase(Phase phase) {
  CollectiveOp op;
  op.phases.push_back(std::move(phase));
  return op;
}

}  // namespace gpuhours
