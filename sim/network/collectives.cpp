// Collectives: the registry of algorithms.def, building a collective's flow plan, and simulating
// one collective alone on an idle cluster. Each algorithm is in sim/network/collectives/.
#include <algorithm>

#include "collectives/collective_algorithm.hpp"
#include "gpuhours/error.hpp"
#include "gpuhours/network.hpp"

namespace gpuhours {

namespace {

const CollectiveAlgorithm& registered(Algorithm a) {
  GPUHOURS_ASSERT(a != Algorithm::automatic, "the caller resolves automatic");
  static const CollectiveAlgorithm table[] = {
#define GPUHOURS_ALGORITHM(id, name) algorithm_##id(),
#include "gpuhours/algorithms.def"
#undef GPUHOURS_ALGORITHM
  };
  return table[static_cast<int>(a) - 1];
}

}  // namespace

double bus_bandwidth_factor(CollectiveKind k, int n) {
  switch (k) {
    case CollectiveKind::all_reduce: return 2.0 * (n - 1) / n;
    case CollectiveKind::reduce_scatter:
    case CollectiveKind::all_gather:
    case CollectiveKind::all_to_all: return static_cast<double>(n - 1) / n;
    default: return 1.0;
  }
}

CollectiveOp make_collective(CollectiveKind kind, Algorithm algorithm, double bytes, const std::vector<int>& ranks,
                             const Topology& topo, const ClusterSpec& cluster, const MoeRouting& moe) {
  GPUHOURS_ASSERT(!ranks.empty() && bytes >= 0, "a collective has ranks and bytes");
  const CollectiveAlgorithm& a = registered(algorithm);
  if (!a.implements(kind)) {
    std::string msg = std::string("the ") + to_string(algorithm) + " algorithm does not implement " + to_string(kind) +
                      " (algorithms for " + to_string(kind) + ":";
    for (const auto& [other, name] : EnumTable<Algorithm>::names)
      if (other != Algorithm::automatic && registered(other).implements(kind)) msg += std::string(" ") + name;
    throw InputError(msg + ")");
  }
  CollectiveOp op;
  if (ranks.size() > 1) op = a.plan({kind, bytes, ranks, topo, cluster, moe});
  op.kind = kind;
  op.algorithm = algorithm;
  op.bytes = bytes;
  op.ranks = static_cast<int>(ranks.size());
  return op;
}

CollectiveResult simulate_collective(CollectiveKind kind, Algorithm algorithm, double bytes, const Topology& topo,
                                     const ClusterSpec& cluster, const MoeRouting& moe) {
  std::vector<int> ranks(topo.gpus());
  for (int i = 0; i < topo.gpus(); ++i) ranks[i] = i;
  std::vector<Algorithm> candidates = {algorithm};
  if (algorithm == Algorithm::automatic) {
    candidates.clear();
    for (const auto& [a, name] : EnumTable<Algorithm>::names)
      if (a != Algorithm::automatic && registered(a).automatic(kind, cluster, topo.gpus())) candidates.push_back(a);
  }
  CollectiveResult best;
  for (Algorithm a : candidates) {
    NetworkModel net(topo);
    TaskGraph g;
    const StreamId s = g.add_stream(0, "comm");
    const std::uint32_t id = net.add_op(make_collective(kind, a, bytes, ranks, topo, cluster, moe));
    g.add_external_task(s, id, 0, g.intern(to_string(kind)));
    Engine e(g, &net);
    const Time t = e.run();
    if (best.time.count_ns() == 0 || t < best.time) {
      best.algorithm = a;
      best.time = t;
      best.protocol = net.op(id).protocol;
    }
  }
  const double seconds = best.time.seconds();
  best.algbw_bytes_per_s = seconds > 0 ? bytes / seconds : 0.0;
  best.busbw_bytes_per_s = best.algbw_bytes_per_s * bus_bandwidth_factor(kind, topo.gpus());
  if ((kind == CollectiveKind::dispatch || kind == CollectiveKind::combine) && seconds > 0) {
    best.deepep_bandwidth_bytes_per_s = deepep_counted_bytes(bytes, cluster.nodes, cluster.gpus_per_node, moe) / seconds;
  }
  return best;
}

}  // namespace gpuhours
