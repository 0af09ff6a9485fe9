// Cluster topology: a Boost.Graph of GPUs, NVSwitches, NICs and switches joined by directed links
// (one edge per direction, each with its capacity in bytes/s), and shortest-path routing.
//
// Builders (NetworkSpec.kind):
//  - nvswitch: one node; every GPU has one NVLink port (its per-direction NVLink bandwidth) to the
//    node's NVSwitch crossbar (the 4 NVSwitch chips of an HGX board act as one non-blocking switch).
//  - fat-tree: nodes of G GPUs with an NVSwitch each; GPU k of a node reaches its own NIC k over
//    PCIe; NICs attach to leaf switches. rail_optimised groups NIC k of consecutive nodes on the
//    leaves of rail k; `planes` > 1 gives every rail its own separate switch fabric (DeepSeek's
//    multi-plane network: traffic between planes crosses NVLink inside a node). Leaves connect to
//    the spine (2 tiers) or to their pod's aggregation layer and then a core (3 tiers), with the
//    stated oversubscription. Parallel links between two switch layers are aggregated into one
//    link of their total capacity: this models adaptive routing / flow spraying (InfiniBand AR;
//    Meta's 16 flows per GPU pair with enhanced ECMP, Llama 3 §3.3.1), not hash collisions.
//
// Routing: hop-count shortest paths. Distances between switches come from breadth-first searches
// on the switch graph (Boost.Graph); a GPU leaves its node through its own NIC or, when that NIC's
// plane cannot reach the destination, through a peer GPU over NVLink (NCCL's PXN). Among equal-cost
// choices one is picked by a hash of (source, destination): deterministic ECMP.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "gpuhours/hardware.hpp"

namespace gpuhours {

enum class VertexKind : std::uint8_t { gpu, nvswitch, nic, leaf, spine, aggregation, core };

struct VertexProps {
  VertexKind kind = VertexKind::gpu;
  int index = 0;  // GPU rank, node number, or switch number within its layer
  int plane = 0;
};
struct LinkProps {
  double capacity_bytes_per_s = 0;
  std::uint32_t id = 0;  // dense link index for the flow solver
};
using TopologyGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, VertexProps, LinkProps>;
using VertexId = TopologyGraph::vertex_descriptor;
using LinkId = std::uint32_t;

class Topology {
 public:
  /// Builds the cluster's topology; throws InputError when it cannot connect every GPU.
  static Topology build(const ClusterSpec& cluster);

  int gpus() const { return static_cast<int>(gpu_.size()); }
  int gpus_per_node() const { return gpus_per_node_; }
  int node_of(int gpu) const { return gpu / gpus_per_node_; }
  VertexId gpu_vertex(int gpu) const { return gpu_[gpu]; }
  VertexId nvswitch_vertex(int node) const { return nvswitch_[node]; }
  const TopologyGraph& graph() const { return g_; }
  std::size_t link_count() const { return capacity_.size(); }
  double capacity(LinkId l) const { return capacity_[l]; }
  const std::vector<double>& capacities() const { return capacity_; }
  /// "leaf 3 -> spine 0": the link's two ends, for reports.
  std::string link_name(LinkId l) const;
  /// "leaf -> spine": the kinds of the link's two ends.
  std::string link_class(LinkId l) const;

  /// Links from GPU `src` to GPU `dst` (empty when src == dst): NVLink inside a node; across nodes
  /// NCCL's point-to-point path, relayed over NVLink to the NIC on `dst`'s rail (PXN) where that NIC
  /// is closer to `dst`'s, received on `dst`'s own NIC.
  std::vector<LinkId> route(int src, int dst) const;
  /// Links from `src` to `dst` (on another node) leaving through `exit`'s NIC and arriving
  /// through `entry`'s NIC; `exit` shares `src`'s node and `entry` `dst`'s (NVLink hops are added
  /// when they differ: NCCL's PXN). Asserts that the two NICs' leaves connect.
  std::vector<LinkId> route_via(int src, int exit, int entry, int dst) const;
  /// Links from GPU `gpu` up to its NVSwitch, and from the NVSwitch down to it.
  LinkId gpu_to_switch(int gpu) const;
  LinkId switch_to_gpu(int gpu) const;

 private:
  VertexId add_vertex(VertexKind kind, int index, int plane);
  void add_link(VertexId a, VertexId b, double bytes_per_s);  // both directions
  LinkId link(VertexId a, VertexId b) const;
  // Appends the path between two switches (hop by hop, ECMP by hash).
  void switch_path(int from, int to, std::uint64_t hash, std::vector<LinkId>& out) const;
  int switch_distance(int from, int to) const;

  TopologyGraph g_;
  int gpus_per_node_ = 1;
  std::vector<VertexId> gpu_, nvswitch_, nic_;
  std::vector<int> nic_leaf_;            // switch-graph index of each NIC's leaf (-1: none)
  std::vector<double> capacity_;         // by LinkId
  std::vector<std::pair<VertexId, VertexId>> link_ends_;  // by LinkId: (from, to)
  int planes_ = 1;
  std::unordered_map<std::uint64_t, LinkId> link_index_;  // (from, to) -> link
  std::vector<VertexId> switch_vertex_;                    // switch-graph index -> vertex
  boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS> switch_graph_;
  std::vector<std::vector<std::uint16_t>> switch_dist_;  // all pairs, by BFS
};

}  // namespace gpuhours
