// Ring all-reduce, all-gather and reduce-scatter (NCCL's ring): each of C rings sends to its
// neighbour 2(n-1)/n*S/C (all-reduce) or (n-1)/n*S/C bytes, pipelined as one phase. Across nodes
// C = GPUs per node and ring c visits each node's GPUs starting from local GPU c, so every NIC
// carries one ring (NCCL's channels). Latency: baseLat + intra steps * NVLink hwLat + inter-node
// steps * network hwLat, with 2(n-1) steps of which 2(nodes-1) cross nodes (all-reduce), for the
// protocol (LL, LL128 or Simple) NCCL's model finds fastest for the size.
// The flow plan and the closed form the step program uses, side by side; they agree on an idle
// network (tests/unit/network_test.cpp).
#include <algorithm>

#include "collective_algorithm.hpp"
#include "gpuhours/error.hpp"

namespace gpuhours {

namespace {

double ring_factor(CollectiveKind kind, int n) {
  return kind == CollectiveKind::all_reduce ? 2.0 * (n - 1) / n : static_cast<double>(n - 1) / n;
}

// NCCL's ring latency (tuning.cc) for one protocol: baseLat + intra steps * hwLat[NVLink] + inter
// steps * hwLat[NET]; when the ring crosses nodes an in-node step takes at least the host's network
// overhead (x3 for Simple).
double ring_latency(CollectiveKind kind, int n, int nodes, const NetworkSpec& net, const NetworkSpec::Protocol& p, bool simple) {
  const bool ar = kind == CollectiveKind::all_reduce;
  const int steps = ar ? 2 * (n - 1) : n - 1;
  const int inter = nodes > 1 ? (ar ? 2 * (nodes - 1) : nodes - 1) : 0;
  const double intra = nodes > 1 ? std::max(p.nvlink_step_latency_seconds, net.net_overhead_seconds * (simple ? 3 : 1))
                                 : p.nvlink_step_latency_seconds;
  return p.base_latency_seconds + (steps - inter) * intra + inter * p.net_step_latency_seconds;
}

// NCCL's three protocols for a ring (tuning.cc): Simple at the full bus bandwidth; LL (8-byte
// flagged lines) at half of it, capped by llMaxBw; LL128 at 120/128 of it (0.92). NCCL runs the
// one its model says is fastest for the size: LL for small messages, then LL128, then Simple.
struct RingProtocol {
  const char* name;
  double latency_seconds, bus_bytes_per_s;
  double of_simple;  // bus_bytes_per_s / the Simple protocol's
};

RingProtocol fastest_protocol(CollectiveKind kind, double bytes, int n, int nodes, const ClusterSpec& c) {
  const NetworkSpec& net = c.network;
  const double B = ring_bandwidth_bytes_per_s(n, nodes, c);
  const NetworkSpec::Protocol simple{net.base_latency_seconds, net.nvlink_step_latency_seconds, net.net_step_latency_seconds, 1.0};
  const double ll_cap = nodes <= 1 ? c.gpu.nccl_ll_max_bus_bytes_per_s
                        : nodes == 2 ? net.ll_max_bus_bytes_per_s_2_nodes
                                     : net.ll_max_bus_bytes_per_s_more_nodes;
  const double ll = std::min(ll_cap, B * net.ll.bandwidth_fraction), ll128 = B * net.ll128.bandwidth_fraction;
  const RingProtocol candidates[3] = {{"simple", ring_latency(kind, n, nodes, net, simple, true), B, 1.0},
                                      {"ll", ring_latency(kind, n, nodes, net, net.ll, false), ll, ll / B},
                                      {"ll128", ring_latency(kind, n, nodes, net, net.ll128, false), ll128, ll128 / B}};
  const double factor = ring_factor(kind, n);
  const RingProtocol* best = &candidates[0];
  for (const RingProtocol& p : candidates)
    if (p.bus_bytes_per_s > 0 &&
        p.latency_seconds + factor * bytes / p.bus_bytes_per_s < best->latency_seconds + factor * bytes / best->bus_bytes_per_s)
      best = &p;
  return *best;
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
  // The protocol NCCL picks for this size (on an idle network): its latency, and its bytes scaled
  // so that the links' Simple bandwidth delivers the protocol's bus bandwidth.
  const RingProtocol protocol = fastest_protocol(kind, S, n, nodes, c);
  ph.latency_seconds = protocol.latency_seconds;
  op.protocol = protocol.name;
  const double bytes = ring_factor(kind, n) * S / channels / protocol.of_simple;
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
  const RingProtocol p = fastest_protocol(kind, bytes, ranks, nodes, c);
  return Time::from_seconds_ceil(p.latency_seconds) + Time::from_seconds_ceil(ring_factor(kind, ranks) * bytes / p.bus_bytes_per_s);
}

}  // namespace gpuhours
