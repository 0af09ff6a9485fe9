#include <algorithm>

#include "gpuhours/error.hpp"
#include "gpuhours/network.hpp"

namespace gpuhours {

const char* to_string(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::all_reduce: return "all-reduce";
    case CollectiveKind::reduce_scatter: return "reduce-scatter";
    case CollectiveKind::all_gather: return "all-gather";
  }
  return "?";
}

double ring_bandwidth_bytes_per_s(const CollectiveGroup& group, const ClusterSpec& cluster) {
  const NetworkSpec& net = cluster.network;
  const double nvlink = cluster.gpu.nvlink_bytes_per_s * net.nvlink_efficiency;
  if (!group.spans_nodes) return nvlink;
  return std::min(nvlink, net.nic_bytes_per_s_per_gpu * net.nic_efficiency);
}

Time ring_collective_time(CollectiveKind kind, double bytes, const CollectiveGroup& group,
                          const ClusterSpec& cluster) {
  GPUHOURS_ASSERT(group.ranks >= 1 && bytes >= 0, "a collective has ranks and bytes");
  if (group.ranks == 1) return Time::ns(0);
  const double n = group.ranks;
  const double steps = kind == CollectiveKind::all_reduce ? 2.0 * (n - 1) : n - 1;
  const NetworkSpec& net = cluster.network;
  const double step = group.spans_nodes ? std::max(net.net_step_latency_seconds, net.nvlink_step_latency_seconds)
                                        : net.nvlink_step_latency_seconds;
  const double beta = bytes / ring_bandwidth_bytes_per_s(group, cluster);
  return Time::from_seconds_ceil(net.base_latency_seconds + steps * step + steps / n * beta);
}

}  // namespace gpuhours
