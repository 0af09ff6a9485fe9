// Ring all-reduce, all-gather and reduce-scatter (NCCL's ring): each of C rings sends to its
// neighbour 2(n-1)/n*S/C (all-reduce) or (n-1)/n*S/C bytes, pipelined as one phase. Across nodes
// C = GPUs per node and ring c visits each node's GPUs starting from local GPU c, so every NIC
// carries one ring (NCCL's channels). Latency: baseLat + intra steps * NVLink hwLat + inter-node
// steps * network hwLat, with 2(n-1) steps of which 2(nodes-1) cross nodes (all-reduce).
// The flow plan and the closed form the step program uses, side by side; they agree on an idle
// network (tests/unit/network_test.cpp).
#include <algorithm>

#include "collective_algorithm.hpp"
#include "gpuhours/error.hpp"

namespace gpuhours {

namespace {

// NCCL's ring latency (tuning.cc): baseLat + intra steps * hwLat[NVLink] + inter steps * hwLat[NET].
double ring_latency(CollectiveKind kind, int n, int nodes, const NetworkSpec& net) {
  const bool ar = kind == CollectiveKind::all_reduce;
  const int steps = ar ? 2 * (n - 1) : n - 1;
  const int inter = nodes > 1 ? (ar ? 2 * (nodes - 1) : nodes - 1) : 0;
  return net.base_latency_seconds + (steps - inter) * net.nvlink_step_latency_seconds +
         inter * net.net_step_latency_seconds;
}

double ring_factor(CollectiveKind kind, int n) {
  return kind == CollectiveKind::all_reduce ? 2.0 * (n - 1) / n : static_cast<double>(n - 1) / n;
}

CollectiveOp ring_plan(const CollectiveRequest& r) {
  const CollectiveKind kind = r.kind;
  const double S = r.bytes;
  const std::vector<int>& ranks = r.ranks;
  const Topology& topo = r.topo;
  const ClusterSpec& c = r.cluster;
  CollectiveOp op;
  const int n = static_cast<int>(ranks.size());
  const auto groups = by_node(ranks, topo);
  const int nodes = static_cast<int>(groups.size());
  const int channels = nodes > 1 ? static_cast<int>(groups.front().size()) : 1;
  Phase ph;
  ph.latency_seconds = ring_latency(kind, n, nodes, c.network);
  const double bytes = ring_factor(kind, n) * S / channels;
  for (int ch = 0; ch < channels; ++ch) {
    // Ring `ch` enters and leaves every node through the NIC of the node's ch-th rank: it visits
    // that rank first, then the node's other ranks, and the last one sends to the next node's
    // ch-th rank through it (PXN), so each NIC carries one ring.
    std::vector<int> order, pin;
    for (const auto& g : groups) {
      const int k = static_cast<int>(g.size());
      for (int i = 0; i < k; ++i) {
        order.push_back(g[(ch + i) % k]);
        pin.push_back(g[ch % k]);
      }
    }
    for (int i = 0; i < n; ++i) {
      const int j = (i + 1) % n;
      ph.flows.push_back({hop(order[i], order[j], pin[i], pin[j], topo), bytes});
    }
  }
  op.phases.push_back(std::move(ph));
  return op;
}

bool ring_implements(CollectiveKind k) {
  return k == CollectiveKind::all_reduce || k == CollectiveKind::all_gather || k == CollectiveKind::reduce_scatter;
}

}  // namespace

CollectiveAlgorithm algorithm_ring() {
  return {.implements = ring_implements,
          .automatic = [](CollectiveKind k, const ClusterSpec&, int) { return ring_implements(k); },
          .plan = ring_plan};
}

double ring_bandwidth_bytes_per_s(int ranks, int nodes, const ClusterSpec& c) {
  const double nvlink = c.gpu.nvlink_bytes_per_s * c.network.nvlink_efficiency;
  if (nodes <= 1) return nvlink;
  const int per_node = std::max(1, ranks / nodes);
  return std::min(nvlink, per_node * c.network.nic_bytes_per_s_per_gpu * c.network.nic_efficiency);
}

Time ring_collective_time(CollectiveKind kind, double bytes, int ranks, int nodes, const ClusterSpec& c) {
  GPUHOURS_ASSERT(ranks >= 1 && bytes >= 0, "a collective has ranks and bytes");
  if (ranks == 1) return Time::ns(0);
  return Time::from_seconds_ceil(ring_latency(kind, ranks, nodes, c.network)) +
         Time::from_seconds_ceil(ring_factor(kind, ranks) * bytes / ring_bandwidth_bytes_per_s(ranks, nodes, c));
}

}  // namespace gpuhours
