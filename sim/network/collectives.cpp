#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "gpuhours/error.hpp"
#include "gpuhours/network.hpp"

namespace gpuhours {

namespace {

struct KindName {
  CollectiveKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {{CollectiveKind::all_reduce, "allreduce"},
                               {CollectiveKind::reduce_scatter, "reducescatter"},
                               {CollectiveKind::all_gather, "allgather"},
                               {CollectiveKind::all_to_all, "alltoall"},
                               {CollectiveKind::point_to_point, "sendrecv"},
                               {CollectiveKind::dispatch, "dispatch"},
                               {CollectiveKind::combine, "combine"}};

int nodes_spanned(const std::vector<int>& ranks, const Topology& topo) {
  std::vector<int> nodes;
  for (int r : ranks) nodes.push_back(topo.node_of(r));
  std::sort(nodes.begin(), nodes.end());
  return static_cast<int>(std::unique(nodes.begin(), nodes.end()) - nodes.begin());
}

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

// Ranks grouped by node (ascending), each node's ranks ascending.
std::vector<std::vector<int>> by_node(std::vector<int> ranks, const Topology& topo) {
  std::sort(ranks.begin(), ranks.end());
  std::vector<std::vector<int>> groups;
  for (int r : ranks) {
    if (groups.empty() || topo.node_of(groups.back().front()) != topo.node_of(r)) groups.emplace_back();
    groups.back().push_back(r);
  }
  return groups;
}

// A path between two ranks: NVLink inside a node; across nodes leaving and entering through the
// NICs of the given local indices (NCCL channels pin a ring or tree to one NIC per node).
std::vector<LinkId> hop(int a, int b, int exit, int entry, const Topology& topo) {
  if (topo.node_of(a) == topo.node_of(b)) return topo.route(a, b);
  return topo.route_via(a, exit, entry, b);
}

CollectiveOp ring(CollectiveKind kind, double S, const std::vector<int>& ranks, const Topology& topo,
                  const ClusterSpec& c) {
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

CollectiveOp nvls(double S, const std::vector<int>& ranks, const Topology& topo, const ClusterSpec& c) {
  if (nodes_spanned(ranks, topo) > 1)
    throw InputError("the nvls algorithm runs inside one NVSwitch node; use ring or tree across nodes");
  CollectiveOp op;
  Phase ph;
  ph.latency_seconds = c.network.base_latency_seconds + 2 * c.network.nvlink_step_latency_seconds;
  // Links carry NVLink at the ring efficiency; NVLS moves S each way at its own measured fraction.
  const double wire = S * c.network.nvlink_efficiency / c.network.nvls_efficiency;
  for (int r : ranks) {
    ph.flows.push_back({{topo.gpu_to_switch(r)}, wire});
    ph.flows.push_back({{topo.switch_to_gpu(r)}, wire});
  }
  op.phases.push_back(std::move(ph));
  return op;
}

CollectiveOp tree(double S, const std::vector<int>& ranks, const Topology& topo, const ClusterSpec& c) {
  const auto groups = by_node(ranks, topo);
  const int nodes = static_cast<int>(groups.size());
  const int channels = static_cast<int>(groups.front().size());
  const double bytes = S / channels;
  Phase up, down;
  const double depth = std::ceil(std::log2(static_cast<double>(nodes) + 1));
  // NCCL tree latency: baseLat + 2 * ((ranks per node - 1) * intraLat + log2(nodes) * interLat).
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

CollectiveOp all_to_all(double S, const std::vector<int>& ranks, const Topology& topo, const ClusterSpec& c) {
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

CollectiveOp moe_exchange(CollectiveKind kind, double S, const std::vector<int>& ranks, const Topology& topo,
                          const ClusterSpec& c, const MoeRouting& moe) {
  const auto groups = by_node(ranks, topo);
  const int N = static_cast<int>(groups.size());
  const int G = static_cast<int>(groups.front().size());
  for (const auto& g : groups)
    if (static_cast<int>(g.size()) != G) throw InputError("dispatch/combine needs the same number of GPUs on every node");
  const int m = moe.max_nodes > 0 ? std::min(moe.max_nodes, N) : N;
  const double experts_per_node = static_cast<double>(moe.top_k) / m;
  // Distinct GPUs of a node a token reaches when it uses k of the node's experts spread over G GPUs.
  const double gpus_hit = G * (1.0 - std::pow(1.0 - 1.0 / G, experts_per_node));
  const bool forward_dir = kind == CollectiveKind::dispatch;
  // Links carry NVLink at NCCL's ring efficiency; DeepEP's kernels reach a lower fraction.
  const double nvlink_inflation = c.network.nvlink_efficiency / c.network.ep_nvlink_efficiency;
  Phase ph;
  ph.latency_seconds = c.network.base_latency_seconds +
                       (N > 1 ? c.network.net_step_latency_seconds : c.network.nvlink_step_latency_seconds);
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

const char* to_string(CollectiveKind k) {
  for (const auto& kn : kKinds)
    if (kn.kind == k) return kn.name;
  return "?";
}

const char* to_string(Algorithm a) {
  switch (a) {
    case Algorithm::automatic: return "auto";
    case Algorithm::ring: return "ring";
    case Algorithm::tree: return "tree";
    case Algorithm::nvls: return "nvls";
    case Algorithm::direct: return "direct";
  }
  return "?";
}

CollectiveKind parse_collective_kind(const std::string& s) {
  std::vector<std::string> names;
  for (const auto& kn : kKinds) {
    if (s == kn.name) return kn.kind;
    names.emplace_back(kn.name);
  }
  std::string msg = "unknown collective '" + s + "' (one of:";
  for (const auto& n : names) msg += " " + n;
  throw InputError(msg + ")");
}

Algorithm parse_algorithm(const std::string& s) {
  for (Algorithm a : {Algorithm::automatic, Algorithm::ring, Algorithm::tree, Algorithm::nvls})
    if (s == to_string(a)) return a;
  throw InputError("unknown algorithm '" + s + "' (one of: auto ring tree nvls)");
}

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
  GPUHOURS_ASSERT(algorithm != Algorithm::automatic, "the caller resolves automatic");
  CollectiveOp op;
  if (ranks.size() == 1) {
    op.phases.clear();
  } else if (kind == CollectiveKind::all_to_all) {
    op = all_to_all(bytes, ranks, topo, cluster);
  } else if (kind == CollectiveKind::dispatch || kind == CollectiveKind::combine) {
    op = moe_exchange(kind, bytes, ranks, topo, cluster, moe);
  } else if (kind == CollectiveKind::point_to_point) {
    Phase ph;
    const bool cross = topo.node_of(ranks[0]) != topo.node_of(ranks[1]);
    ph.latency_seconds = cluster.network.base_latency_seconds +
                         (cross ? cluster.network.net_step_latency_seconds : cluster.network.nvlink_step_latency_seconds);
    ph.flows.push_back({topo.route(ranks[0], ranks[1]), bytes});
    op.phases.push_back(std::move(ph));
  } else if (algorithm == Algorithm::nvls) {
    if (kind != CollectiveKind::all_reduce) throw InputError("nvls is modelled for all-reduce only");
    op = nvls(bytes, ranks, topo, cluster);
  } else if (algorithm == Algorithm::tree) {
    if (kind != CollectiveKind::all_reduce) throw InputError("tree is modelled for all-reduce only");
    op = tree(bytes, ranks, topo, cluster);
  } else {
    op = ring(kind, bytes, ranks, topo, cluster);
  }
  op.kind = kind;
  op.algorithm = algorithm;
  op.bytes = bytes;
  op.ranks = static_cast<int>(ranks.size());
  return op;
}

NetworkModel::NetworkModel(const Topology& topo) : solver_(topo.capacities()) {}

std::uint32_t NetworkModel::add_op(CollectiveOp op) {
  ops_.push_back(std::move(op));
  return static_cast<std::uint32_t>(ops_.size() - 1);
}

void NetworkModel::start(std::uint32_t op, TaskId task, std::int64_t now_ns) {
  GPUHOURS_ASSERT(now_ns >= last_ns_, "the network moves forward in time");
  solver_.advance(static_cast<double>(now_ns - last_ns_) * 1e-9);
  last_ns_ = now_ns;
  running_.push_back(Running{op, task, 0, 0});
  const auto run = static_cast<std::uint32_t>(running_.size() - 1);
  if (ops_[op].phases.empty()) {
    timers_.emplace_back(now_ns, run);  // an empty collective ends at once
    running_[run].phase = 0;
    return;
  }
  const auto lat = Time::from_seconds_ceil(ops_[op].phases[0].latency_seconds).count_ns();
  timers_.emplace_back(now_ns + lat, run);
}

void NetworkModel::begin_phase(std::uint32_t run) {
  Running& r = running_[run];
  const Phase& ph = ops_[r.op].phases[r.phase];
  r.pending = ph.flows.size();
  for (const PhaseFlow& f : ph.flows) {
    const FlowId id = solver_.add_flow(f.path, f.bytes);
    if (flow_owner_.size() <= id) flow_owner_.resize(id + 1);
    flow_owner_[id] = run;
  }
}

void NetworkModel::end_phase(std::uint32_t run, std::vector<TaskId>& finished) {
  Running& r = running_[run];
  ++r.phase;
  if (r.phase >= ops_[r.op].phases.size()) {
    finished.push_back(r.task);
    return;
  }
  const auto lat = Time::from_seconds_ceil(ops_[r.op].phases[r.phase].latency_seconds).count_ns();
  timers_.emplace_back(last_ns_ + lat, run);
}

std::int64_t NetworkModel::next_event_ns() {
  std::int64_t next = -1;
  for (const auto& [at, run] : timers_)
    if (next < 0 || at < next) next = at;
  const double t = solver_.time_to_next_completion();
  if (std::isfinite(t)) {
    const std::int64_t at = last_ns_ + static_cast<std::int64_t>(std::ceil(t * 1e9 - 1e-6));
    if (next < 0 || at < next) next = at;
  }
  return next;
}

void NetworkModel::advance(std::int64_t now_ns, std::vector<TaskId>& finished) {
  GPUHOURS_ASSERT(now_ns >= last_ns_, "the network moves forward in time");
  solver_.advance(static_cast<double>(now_ns - last_ns_) * 1e-9);
  last_ns_ = now_ns;
  for (FlowId f : solver_.take_finished()) {
    const std::uint32_t run = flow_owner_[f];
    if (--running_[run].pending == 0) end_phase(run, finished);
  }
  // Timers due now, in insertion order; starting a phase with no flows ends it at once.
  bool fired = true;
  while (fired) {
    fired = false;
    for (std::size_t i = 0; i < timers_.size(); ++i) {
      if (timers_[i].first > now_ns) continue;
      const std::uint32_t run = timers_[i].second;
      timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(i));
      fired = true;
      Running& r = running_[run];
      if (ops_[r.op].phases.empty()) {
        finished.push_back(r.task);
        break;
      }
      begin_phase(run);
      if (running_[run].pending == 0) end_phase(run, finished);
      break;
    }
  }
}

CollectiveResult simulate_collective(CollectiveKind kind, Algorithm algorithm, double bytes, const Topology& topo,
                                     const ClusterSpec& cluster, const MoeRouting& moe) {
  std::vector<int> ranks(topo.gpus());
  for (int i = 0; i < topo.gpus(); ++i) ranks[i] = i;
  std::vector<Algorithm> candidates = {algorithm};
  if (algorithm == Algorithm::automatic) {
    candidates = {Algorithm::ring};
    if (kind == CollectiveKind::all_reduce && topo.gpus() > 1) {
      if (cluster.nodes == 1) candidates.push_back(Algorithm::nvls);
      else candidates.push_back(Algorithm::tree);
    }
  }
  CollectiveResult best;
  for (Algorithm a : candidates) {
    NetworkModel net(topo);
    TaskGraph g;
    const StreamId s = g.add_stream(0, "comm");
    g.add_external_task(s, net.add_op(make_collective(kind, a, bytes, ranks, topo, cluster, moe)), 0,
                        g.intern(to_string(kind)));
    Engine e(g, &net);
    const Time t = e.run();
    if (best.time.count_ns() == 0 || t < best.time) {
      best.algorithm = a;
      best.time = t;
    }
  }
  const double seconds = best.time.seconds();
  best.algbw_bytes_per_s = seconds > 0 ? bytes / seconds : 0.0;
  best.busbw_bytes_per_s = best.algbw_bytes_per_s * bus_bandwidth_factor(kind, topo.gpus());
  if ((kind == CollectiveKind::dispatch || kind == CollectiveKind::combine) && seconds > 0) {
    const int N = cluster.nodes, G = cluster.gpus_per_node;
    const int m = moe.max_nodes > 0 ? std::min(moe.max_nodes, N) : N;
    const double gpus_hit = G * (1.0 - std::pow(1.0 - 1.0 / G, static_cast<double>(moe.top_k) / m));
    const double counted = N > 1 ? bytes * m : bytes * gpus_hit;
    best.deepep_bandwidth_bytes_per_s = counted / seconds;
  }
  return best;
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

Time moe_exchange_time(double bytes, int ranks, int nodes, double imbalance, const ClusterSpec& c,
                       const MoeRouting& moe) {
  if (ranks <= 1) return Time::ns(0);
  const NetworkSpec& net = c.network;
  const int N = std::max(1, nodes), G = ranks / N;
  const int m = moe.max_nodes > 0 ? std::min(moe.max_nodes, N) : N;
  const double gpus_hit = G * (1.0 - std::pow(1.0 - 1.0 / G, static_cast<double>(moe.top_k) / m));
  const double to_node = bytes * m / N * imbalance;
  const double rdma = to_node * (N - 1) / (net.nic_bytes_per_s_per_gpu * net.nic_efficiency);
  // NVLink egress of a GPU: for each of the N nodes' tokens it sends or relays, (G-1) shares.
  const double nvl = N * (G - 1) * to_node * gpus_hit / G / (c.gpu.nvlink_bytes_per_s * net.ep_nvlink_efficiency);
  const double latency = net.base_latency_seconds + (N > 1 ? net.net_step_latency_seconds : net.nvlink_step_latency_seconds);
  return Time::from_seconds_ceil(latency) + Time::from_seconds_ceil(std::max(N > 1 ? rdma : 0.0, nvl));
}

Time moe_low_latency_time(double bytes, int top_k, int ranks, int nodes, const ClusterSpec& c) {
  if (ranks <= 1) return Time::ns(0);
  const NetworkSpec& net = c.network;
  const double received = bytes * top_k;
  const bool rdma = nodes > 1;
  const double seconds = rdma ? received / (net.nic_bytes_per_s_per_gpu * net.nic_efficiency)
                              : received * (ranks - 1) / ranks / (c.gpu.nvlink_bytes_per_s * net.ep_nvlink_efficiency);
  const double latency = net.base_latency_seconds + (rdma ? net.net_step_latency_seconds : net.nvlink_step_latency_seconds);
  return Time::from_seconds_ceil(latency) + Time::from_seconds_ceil(seconds);
}

Time p2p_time(double bytes, bool cross_node, const ClusterSpec& c) {
  const NetworkSpec& net = c.network;
  const double bw = cross_node ? net.nic_bytes_per_s_per_gpu * net.nic_efficiency
                               : c.gpu.nvlink_bytes_per_s * net.nvlink_efficiency;
  const double latency = net.base_latency_seconds + (cross_node ? net.net_step_latency_seconds : net.nvlink_step_latency_seconds);
  return Time::from_seconds_ceil(latency) + Time::from_seconds_ceil(bytes / bw);
}

}  // namespace gpuhours
