// Point-to-point (pipeline send/recv): rank 0 of the group sends S to rank 1, over NVLink inside a
// node or through the NICs across nodes. The flow plan and the closed form side by side.
#include "collective_algorithm.hpp"

namespace gpuhours {

namespace {

CollectiveOp p2p_plan(const CollectiveRequest& r) {
  const NetworkSpec& net = r.cluster.network;
  Phase ph;
  const bool cross = r.topo.node_of(r.ranks[0]) != r.topo.node_of(r.ranks[1]);
  ph.latency_seconds = net.base_latency_seconds + (cross ? net.net_step_latency_seconds : net.nvlink_step_latency_seconds);
  ph.flows.push_back({r.topo.route(r.ranks[0], r.ranks[1]), r.bytes});
  return one_phase(std::move(ph));
}

}  // namespace

CollectiveAlgorithm algorithm_p2p() {
  return {.implements = [](CollectiveKind k) { return k == CollectiveKind::point_to_point; },
          .automatic = [](CollectiveKind k, const ClusterSpec&, int) { return k == CollectiveKind::point_to_point; },
          .plan = p2p_plan};
}

Time p2p_time(double bytes, bool cross_node, const ClusterSpec& c) {
  const NetworkSpec& net = c.network;
  const double bw = cross_node ? net.nic_bytes_per_s_per_gpu * net.nic_efficiency
                               : c.gpu.nvlink_bytes_per_s * net.nvlink_efficiency;
  const double latency = net.base_latency_seconds + (cross_node ? net.net_step_latency_seconds : net.nvlink_step_latency_seconds);
  return Time::from_seconds_ceil(latency) + Time::from_seconds_ceil(bytes / bw);
}

}  // namespace gpuhours
