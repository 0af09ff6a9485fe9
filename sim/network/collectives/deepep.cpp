// DeepEP's dispatch and combine (deepseek-ai/DeepEP). Normal kernels: S = dispatched token bytes
// per GPU. A token goes to at most M nodes (node-limited routing); it crosses the network once per
// target node, by RDMA to the GPU with the same local index, which forwards it over NVLink to the
// GPUs hosting its experts. With uniform routing a GPU sends S*min(M, N)/N to each other node; a
// token reaching a node for k = K/min(M, N) of its K experts hits G*(1-(1-1/G)^k) of the node's G
// GPUs. RDMA and NVLink forwarding overlap (one phase). Combine is the reverse. NVLink flows move at
// the NVLink fraction DeepEP's kernels reach (derived from its intranode table), below the ring
// efficiency NCCL reaches. Low-latency kernels (decode): closed form below.
// The flow plan and the closed forms the step program uses, side by side; they agree on an idle
// network (tests/unit/network_test.cpp).
#include <algorithm>
#include <cmath>

#include "collective_algorithm.hpp"
#include "gpuhours/error.hpp"

namespace gpuhours {

int deepep_nodes_per_token(const MoeRouting& moe, int nodes) {
  return moe.max_nodes > 0 ? std::min(moe.max_nodes, nodes) : nodes;
}

double deepep_gpus_hit(int G, double experts) { return G * (1.0 - std::pow(1.0 - 1.0 / G, experts)); }

double deepep_counted_bytes(double bytes, int N, int G, const MoeRouting& moe) {
  const int m = deepep_nodes_per_token(moe, N);
  return N > 1 ? bytes * m : bytes * deepep_gpus_hit(G, static_cast<double>(moe.top_k) / m);
}

namespace {

// One exchange step's latency: NCCL's base latency plus a network or an NVLink hop.
double exchange_latency_seconds(const NetworkSpec& net, bool cross_node) {
  return net.base_latency_seconds + (cross_node ? net.net_step_latency_seconds : net.nvlink_step_latency_seconds);
}

CollectiveOp deepep_plan(const CollectiveRequest& r) {
  const CollectiveKind kind = r.kind;
  const double S = r.bytes;
  const Topology& topo = r.topo;
  const ClusterSpec& c = r.cluster;
  const MoeRouting& moe = r.moe;
  const std::vector<int>& ranks = r.ranks;
  const auto groups = by_node(ranks, topo);
  const int N = static_cast<int>(groups.size());
  const int G = static_cast<int>(groups.front().size());
  for (const auto& g : groups)
    if (static_cast<int>(g.size()) != G) throw InputError("dispatch/combine needs the same number of GPUs on every node");
  const int m = deepep_nodes_per_token(moe, N);
  const double gpus_hit = deepep_gpus_hit(G, static_cast<double>(moe.top_k) / m);
  const bool forward_dir = kind == CollectiveKind::dispatch;
  // Links carry NVLink at NCCL's ring efficiency; DeepEP's kernels reach a lower fraction.
  const double nvlink_inflation = c.network.nvlink_efficiency / c.network.ep_nvlink_efficiency;
  Phase ph;
  ph.latency_seconds = exchange_latency_seconds(c.network, N > 1);
  auto add = [&](std::vector<LinkId> path, double bytes) {
    if (bytes > 0) ph.flows.push_back({std::move(path), bytes});
  };
  const double to_node = S * m / N;  // bytes a GPU sends to each node, its own included
  for (int i = 0; i < N; ++i) {
    for (int k = 0; k < G; ++k) {
      const int src = groups[i][k];
      for (int j = 0; j < N; ++j) {
        const int relay = groups[j][k];  // same local index on the target node
        if (j != i) {
          // RDMA to the relay, which forwards to the other GPUs hit on its node.
          add(forward_dir ? topo.route(src, relay) : topo.route(relay, src), to_node);
        }
        for (int t = 0; t < G; ++t) {
          const int dst = groups[j][t];
          const int from = j == i ? src : relay;
          if (from == dst) continue;
          const double share = to_node * gpus_hit / G;  // tokens of this source that reach `dst`
          add(forward_dir ? topo.route(from, dst) : topo.route(dst, from), share * nvlink_inflation);
        }
      }
    }
  }
  CollectiveOp op;
  op.phases.push_back(std::move(ph));
  return op;
}

}  // namespace

CollectiveAlgorithm algorithm_deepep() {
  auto exchange = [](CollectiveKind k) { return k == CollectiveKind::dispatch || k == CollectiveKind::combine; };
  return {.implements = exchange, .automatic = [](CollectiveKind k, const ClusterSpec&, int) { return k == CollectiveKind::dispatch || k == CollectiveKind::combine; },
          .plan = deepep_plan};
}

Time moe_exchange_time(double bytes, int ranks, int nodes, double imbalance, const ClusterSpec& c,
                       const MoeRouting& moe) {
  if (ranks <= 1) return Time::ns(0);
  const NetworkSpec& net = c.network;
  const int N = std::max(1, nodes), G = ranks / N;
  const int m = deepep_nodes_per_token(moe, N);
  const double gpus_hit = deepep_gpus_hit(G, static_cast<double>(moe.top_k) / m);
  const double to_node = bytes * m / N * imbalance;
  const double rdma = to_node * (N - 1) / (net.nic_bytes_per_s_per_gpu * net.nic_efficiency);
  // NVLink egress of a GPU: for each of the N nodes' tokens it sends or relays, (G-1) shares.
  const double nvl = N * (G - 1) * to_node * gpus_hit / G / (c.gpu.nvlink_bytes_per_s * net.ep_nvlink_efficiency);
  const double latency = exchange_latency_seconds(net, N > 1);
  return Time::from_seconds_ceil(latency) + Time::from_seconds_ceil(std::max(N > 1 ? rdma : 0.0, nvl));
}

Time moe_low_latency_time(double bytes, int top_k, int ranks, int nodes, const ClusterSpec& c) {
  if (ranks <= 1) return Time::ns(0);
  const NetworkSpec& net = c.network;
  const double remote = bytes * top_k * (ranks - 1) / ranks;
  const bool rdma = nodes > 1;
  const double seconds = remote / (rdma ? net.nic_bytes_per_s_per_gpu * net.nic_efficiency
                                        : c.gpu.nvlink_bytes_per_s * net.ep_nvlink_efficiency);
  const double latency = exchange_latency_seconds(net, rdma);
  return Time::from_seconds_ceil(latency) + Time::from_seconds_ceil(seconds);
}

Time moe_alltoall_time(double bytes, int top_k, int ranks, int nodes, double imbalance, const ClusterSpec& c) {
  if (ranks <= 1) return Time::ns(0);
  const NetworkSpec& net = c.network;
  const int N = std::max(1, nodes), G = ranks / N;
  const double copies = bytes * top_k * imbalance;
  const double rdma = copies * (N - 1) / N / (net.nic_bytes_per_s_per_gpu * net.nic_efficiency);
  const double nvl = copies * (G - 1) / (static_cast<double>(G) * N) / (c.gpu.nvlink_bytes_per_s * net.ep_nvlink_efficiency);
  const double latency = exchange_latency_seconds(net, N > 1);
  return Time::from_seconds_ceil(latency) + Time::from_seconds_ceil(std::max(rdma, nvl));
}

}  // namespace gpuhours
