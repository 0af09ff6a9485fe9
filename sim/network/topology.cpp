#include "gpuhours/topology.hpp"

#include <boost/graph/breadth_first_search.hpp>
#include <limits>
#include <map>
#include <tuple>

#include "gpuhours/error.hpp"

namespace gpuhours {

namespace {
constexpr std::uint16_t kFar = std::numeric_limits<std::uint16_t>::max();

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser: a fixed, portable hash
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

VertexId Topology::add_vertex(VertexKind kind, int index, int plane) {
  return boost::add_vertex(VertexProps{kind, index, plane}, g_);
}

void Topology::add_link(VertexId a, VertexId b, double bytes_per_s) {
  GPUHOURS_ASSERT(bytes_per_s > 0, "links have positive capacity");
  for (auto [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
    const auto id = static_cast<LinkId>(capacity_.size());
    boost::add_edge(from, to, LinkProps{bytes_per_s, id}, g_);
    capacity_.push_back(bytes_per_s);
    link_ends_.emplace_back(from, to);
    link_index_[(static_cast<std::uint64_t>(from) << 32) | to] = id;
  }
}

namespace {
constexpr const char* kVertexKind[] = {"GPU", "NVSwitch", "NIC", "leaf", "spine", "aggregation", "core"};
}

std::string Topology::link_class(LinkId l) const {
  return std::string(kVertexKind[static_cast<int>(g_[link_ends_[l].first].kind)]) + " -> " +
         kVertexKind[static_cast<int>(g_[link_ends_[l].second].kind)];
}

std::string Topology::link_name(LinkId l) const {
  auto name = [&](VertexId v) {
    const VertexProps& p = g_[v];
    // NVSwitches are numbered by node; NICs by the GPU they serve; switches within their layer.
    std::string out = std::string(kVertexKind[static_cast<int>(p.kind)]) + " " + std::to_string(p.index);
    if (p.kind != VertexKind::gpu && p.kind != VertexKind::nvswitch && planes_ > 1) out += " (plane " + std::to_string(p.plane) + ")";
    return out;
  };
  return name(link_ends_[l].first) + " -> " + name(link_ends_[l].second);
}

LinkId Topology::link(VertexId a, VertexId b) const {
  const auto it = link_index_.find((static_cast<std::uint64_t>(a) << 32) | b);
  GPUHOURS_ASSERT(it != link_index_.end(), "a route follows existing links");
  return it->second;
}

LinkId Topology::gpu_to_switch(int gpu) const { return link(gpu_[gpu], nvswitch_[node_of(gpu)]); }
LinkId Topology::switch_to_gpu(int gpu) const { return link(nvswitch_[node_of(gpu)], gpu_[gpu]); }

Topology Topology::build(const ClusterSpec& c) {
  Topology t;
  const NetworkSpec& net = c.network;
  const int G = c.gpus_per_node, N = c.nodes;
  t.gpus_per_node_ = G;
  t.planes_ = std::max(1, net.planes);
  const double nvlink = c.gpu.nvlink_bytes_per_s * net.nvlink_efficiency;
  for (int node = 0; node < N; ++node) {
    t.nvswitch_.push_back(t.add_vertex(VertexKind::nvswitch, node, 0));
    for (int k = 0; k < G; ++k) {
      t.gpu_.push_back(t.add_vertex(VertexKind::gpu, node * G + k, 0));
      t.add_link(t.gpu_.back(), t.nvswitch_.back(), nvlink);
    }
  }
  if (net.kind == "nvswitch") {
    if (N > 1)
      throw InputError("network '" + net.name + "' is a single NVSwitch domain and cannot connect " +
                       std::to_string(N) + " nodes; use a fat-tree network");
    return t;
  }
  if (net.planes != 1 && net.planes != G)
    throw InputError("network '" + net.name + "': planes must be 1 or gpus_per_node (" + std::to_string(G) + ")");
  const double nic = net.nic_bytes_per_s_per_gpu * net.nic_efficiency;
  const int pod_nodes = net.tiers == 3 ? std::max(1, net.pod_gpus / G) : N;
  // Switches, keyed by (layer, plane, pod, rail, block) so that numbering is deterministic.
  std::map<std::tuple<int, int, int, int, int>, int> switches;
  auto switch_of = [&](VertexKind kind, int plane, int pod, int rail, int block) {
    const auto key = std::make_tuple(static_cast<int>(kind), plane, pod, rail, block);
    auto it = switches.find(key);
    if (it != switches.end()) return it->second;
    const int idx = static_cast<int>(t.switch_vertex_.size());
    t.switch_vertex_.push_back(t.add_vertex(kind, idx, plane));
    switches.emplace(key, idx);
    return idx;
  };
  std::vector<std::pair<int, int>> switch_edges;
  std::map<std::pair<int, int>, bool> joined;
  auto join = [&](int a, int b, double cap) {
    if (joined[{a, b}]) return;
    joined[{a, b}] = joined[{b, a}] = true;
    t.add_link(t.switch_vertex_[a], t.switch_vertex_[b], cap);
    switch_edges.emplace_back(a, b);
  };
  const double leaf_up = net.leaf_down_ports * nic / net.oversubscription;
  for (int node = 0; node < N; ++node) {
    const int pod = node / pod_nodes, in_pod = node % pod_nodes;
    for (int k = 0; k < G; ++k) {
      const int plane = net.planes > 1 ? k : 0;
      const VertexId v = t.add_vertex(VertexKind::nic, node * G + k, plane);
      t.nic_.push_back(v);
      t.add_link(t.gpu_[node * G + k], v, net.pcie_bytes_per_s);
      const int rail = net.rail_optimised ? k : 0;
      const int slot = net.rail_optimised ? in_pod : in_pod * G + k;
      const int leaf = switch_of(VertexKind::leaf, plane, pod, rail, slot / net.leaf_down_ports);
      t.add_link(v, t.switch_vertex_[leaf], nic);
      t.nic_leaf_.push_back(leaf);
      if (net.tiers == 2) {
        join(leaf, switch_of(VertexKind::spine, plane, 0, 0, 0), leaf_up);
      } else if (net.tiers == 3) {
        const int agg = switch_of(VertexKind::aggregation, plane, pod, 0, 0);
        join(leaf, agg, leaf_up);
        const double pod_up = (static_cast<double>(net.pod_gpus) / net.planes) * nic / net.pod_oversubscription;
        join(agg, switch_of(VertexKind::core, plane, 0, 0, 0), pod_up);
      }
    }
  }
  // All-pairs hop counts between switches by breadth-first search on the switch graph.
  const int S = static_cast<int>(t.switch_vertex_.size());
  t.switch_graph_ = decltype(t.switch_graph_)(S);
  for (auto [a, b] : switch_edges) boost::add_edge(a, b, t.switch_graph_);
  t.switch_dist_.assign(S, std::vector<std::uint16_t>(S, kFar));
  for (int s = 0; s < S; ++s) {
    auto& d = t.switch_dist_[s];
    d[s] = 0;
    boost::breadth_first_search(
        t.switch_graph_, boost::vertex(s, t.switch_graph_),
        boost::visitor(boost::make_bfs_visitor(boost::record_distances(d.data(), boost::on_tree_edge()))));
  }
  // Every node must reach every other through at least one rail.
  for (int node = 1; node < N; ++node) {
    bool ok = false;
    for (int k = 0; k < G && !ok; ++k) ok = t.switch_dist_[t.nic_leaf_[k]][t.nic_leaf_[node * G + k]] != kFar;
    if (!ok)
      throw InputError("network '" + net.name + "' cannot connect node 0 to node " + std::to_string(node) +
                       ": their leaf switches share no path (" + std::to_string(net.tiers) +
                       " tier(s), " + std::to_string(net.leaf_down_ports) + " NICs per leaf)");
  }
  return t;
}

int Topology::switch_distance(int from, int to) const { return switch_dist_[from][to]; }

void Topology::switch_path(int from, int to, std::uint64_t hash, std::vector<LinkId>& out) const {
  int cur = from;
  while (cur != to) {
    const int d = switch_dist_[cur][to];
    std::vector<int> next;
    for (auto [it, end] = boost::adjacent_vertices(cur, switch_graph_); it != end; ++it)
      if (switch_dist_[*it][to] == d - 1) next.push_back(static_cast<int>(*it));
    GPUHOURS_ASSERT(!next.empty(), "a finite distance has a next hop");
    const int n = next[mix(hash ^ static_cast<std::uint64_t>(cur)) % next.size()];
    out.push_back(link(switch_vertex_[cur], switch_vertex_[n]));
    cur = n;
  }
}

std::vector<LinkId> Topology::route(int src, int dst) const {
  std::vector<LinkId> path;
  if (src == dst) return path;
  const int ns = node_of(src), nd = node_of(dst);
  if (ns == nd) {
    path = {gpu_to_switch(src), switch_to_gpu(dst)};
    return path;
  }
  // NCCL's point-to-point path (src/graph/search.cc, ncclTopoGetNetDev, P2P_PXN_LEVEL 2 by default:
  // "use PXN as much as possible"; paths.cc enables the relay "in the GPU->NIC direction ... to
  // favor receiving locally and sending remotely"): the sender hands the data over NVLink to the
  // GPU of its node with the receiver's local index, whose NIC sends it; the receiver takes it on
  // its own NIC. The sender's own NIC is used where that relay's NIC cannot reach the receiver's
  // or is no closer to it.
  const int G = gpus_per_node_;
  const int relay = ns * G + dst % G;
  const int via_relay = switch_distance(nic_leaf_[relay], nic_leaf_[dst]);
  const int direct = switch_distance(nic_leaf_[src], nic_leaf_[dst]);
  const int exit = via_relay != kFar && (direct == kFar || via_relay < direct) ? relay : src;
  GPUHOURS_ASSERT(switch_distance(nic_leaf_[exit], nic_leaf_[dst]) != kFar, "the topology builder checked that nodes connect");
  return route_via(src, exit, dst, dst);
}

std::vector<LinkId> Topology::route_via(int src, int exit, int entry, int dst) const {
  GPUHOURS_ASSERT(node_of(src) == node_of(exit) && node_of(dst) == node_of(entry), "PXN stays in the node");
  GPUHOURS_ASSERT(!nic_.empty(), "routing across nodes needs NICs");
  const int from = nic_leaf_[exit], to = nic_leaf_[entry];
  GPUHOURS_ASSERT(switch_distance(from, to) != kFar, "the exit and entry NICs connect");
  std::vector<LinkId> path;
  if (exit != src) path.insert(path.end(), {gpu_to_switch(src), switch_to_gpu(exit)});
  path.push_back(link(gpu_[exit], nic_[exit]));
  path.push_back(link(nic_[exit], switch_vertex_[from]));
  switch_path(from, to, mix((static_cast<std::uint64_t>(src) << 32) | static_cast<std::uint64_t>(dst)), path);
  path.push_back(link(switch_vertex_[to], nic_[entry]));
  path.push_back(link(nic_[entry], gpu_[entry]));
  if (entry != dst) path.insert(path.end(), {gpu_to_switch(entry), switch_to_gpu(dst)});
  return path;
}

}  // namespace gpuhours
