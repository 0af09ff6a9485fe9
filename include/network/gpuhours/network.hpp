// Collectives on the cluster's topology, as phases of flows, and the network model that runs them
// inside the event engine.
//
// A collective is a list of phases; a phase waits its latency (NCCL's model: tuning.cc baseLat +
// per-step hwLat), then starts its flows together; it ends when its last flow ends. Flows share
// links by max-min fairness (flow.hpp), so contention between concurrent collectives, and between
// the flows of one, comes out of the simulation.
//
// Algorithms (S: bytes per rank, n ranks, C channels):
//  - ring (all-reduce, all-gather, reduce-scatter): each of C rings sends to its neighbour
//    2(n-1)/n*S/C (all-reduce) or (n-1)/n*S/C bytes, pipelined as one phase. Across nodes
//    C = GPUs per node and ring c visits each node's GPUs starting from local GPU c, so every NIC
//    carries one ring (NCCL's channels). Latency: baseLat + intra steps * NVLink hwLat + inter-node
//    steps * network hwLat, with 2(n-1) steps of which 2(nodes-1) cross nodes (all-reduce).
//  - nvls (all-reduce inside one NVSwitch node): each GPU sends S into the switch and receives S
//    (the reduction happens in the switch), at the measured NVLS fraction of line rate.
//  - tree (all-reduce): per channel a binary tree over nodes (leader = local GPU c) and a chain
//    inside each node; a reduce phase up and a broadcast phase down, S/C bytes per edge.
//  - all-to-all: every rank sends S/n to every other rank, one phase.
//  - point-to-point: rank 0 of the group sends S to rank 1.
//  - dispatch / combine (DeepEP normal kernels): S = dispatched token bytes per GPU. A token goes
//    to at most M nodes (node-limited routing); it crosses the network once per target node, by
//    RDMA to the GPU with the same local index, which forwards it over NVLink to the GPUs hosting
//    its experts. With uniform routing a GPU sends S*min(M, N)/N to each other node; a token
//    reaching a node for k = K/min(M, N) of its K experts hits G*(1-(1-1/G)^k) of the node's G GPUs.
//    RDMA and NVLink forwarding overlap (one phase). Combine is the reverse. NVLink flows move at
//    the NVLink fraction DeepEP's kernels reach (derived from its intranode table), below the
//    ring efficiency NCCL reaches.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gpuhours/engine.hpp"
#include "gpuhours/flow.hpp"
#include "gpuhours/hardware.hpp"
#include "gpuhours/topology.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

enum class CollectiveKind { all_reduce, reduce_scatter, all_gather, all_to_all, point_to_point, dispatch, combine };
enum class Algorithm { automatic, ring, tree, nvls, direct };
const char* to_string(CollectiveKind k);
const char* to_string(Algorithm a);
CollectiveKind parse_collective_kind(const std::string& s);  // throws InputError
Algorithm parse_algorithm(const std::string& s);              // throws InputError

/// nccl-tests bus-bandwidth factor: busbw = algbw * factor (doc/PERFORMANCE.md).
double bus_bandwidth_factor(CollectiveKind k, int ranks);

struct PhaseFlow {
  std::vector<LinkId> path;
  double bytes = 0;
};
struct Phase {
  double latency_seconds = 0;
  std::vector<PhaseFlow> flows;
};
struct CollectiveOp {
  CollectiveKind kind = CollectiveKind::all_reduce;
  Algorithm algorithm = Algorithm::ring;
  double bytes = 0;  // S
  int ranks = 0;
  std::vector<Phase> phases;
};

/// DeepEP routing parameters for dispatch / combine.
struct MoeRouting {
  int top_k = 8;      // experts per token (DeepSeek-V3: 8)
  int max_nodes = 4;  // node-limited routing (DeepSeek-V3: 4)
};

/// Builds a collective over `ranks` (GPU indices). `algorithm` automatic is not accepted here.
CollectiveOp make_collective(CollectiveKind kind, Algorithm algorithm, double bytes,
                             const std::vector<int>& ranks, const Topology& topo,
                             const ClusterSpec& cluster, const MoeRouting& moe = {});

/// Runs collectives as the engine's external tasks: flows on the topology, phases, latencies.
class NetworkModel : public ExternalModel {
 public:
  explicit NetworkModel(const Topology& topo);
  std::uint32_t add_op(CollectiveOp op);
  const CollectiveOp& op(std::uint32_t id) const { return ops_[id]; }
  /// Engine interface: a network task starts; the next network event time (-1: none); advance to
  /// `now` and append the tasks whose collective ended.
  void start(std::uint32_t op, TaskId task, std::int64_t now_ns) override;
  std::int64_t next_event_ns() override;
  void advance(std::int64_t now_ns, std::vector<TaskId>& finished) override;
  const FlowSolver& solver() const { return solver_; }

 private:
  struct Running {
    std::uint32_t op;
    TaskId task;
    std::size_t phase;
    std::size_t pending;
  };
  void begin_phase(std::uint32_t run);
  void end_phase(std::uint32_t run, std::vector<TaskId>& finished);
  FlowSolver solver_;
  std::vector<CollectiveOp> ops_;
  std::vector<Running> running_;
  std::vector<std::pair<std::int64_t, std::uint32_t>> timers_;  // (time, running), insertion order
  std::vector<std::uint32_t> flow_owner_;
  std::int64_t last_ns_ = 0;
};

/// Result of one collective simulated alone on an idle cluster.
struct CollectiveResult {
  Algorithm algorithm = Algorithm::ring;
  Time time;
  double algbw_bytes_per_s = 0;  // S / t
  double busbw_bytes_per_s = 0;  // algbw * nccl-tests factor
  /// dispatch/combine: DeepEP's bottleneck bandwidth: across nodes, token bytes sent to all target
  /// nodes (own node included) / t; inside one node, token bytes received (own included) / t.
  double deepep_bandwidth_bytes_per_s = 0;
};
/// Simulates `kind` over all GPUs of the cluster. Automatic picks the fastest algorithm available
/// (as NCCL's tuner picks the least predicted time).
CollectiveResult simulate_collective(CollectiveKind kind, Algorithm algorithm, double bytes,
                                     const Topology& topo, const ClusterSpec& cluster,
                                     const MoeRouting& moe = {});

/// Closed-form ring time (no contention) over `ranks` GPUs spread evenly on `nodes` nodes: used by
/// the step program, whose collectives do not yet run on the flow model. Equal to the flow
/// simulation of an uncontended ring (tested).
Time ring_collective_time(CollectiveKind kind, double bytes, int ranks, int nodes,
                          const ClusterSpec& cluster);
/// Per-GPU bandwidth of a ring's slowest link: NVLink inside a node; across nodes, each of the
/// node's ranks in the group drives one ring through its own NIC.
double ring_bandwidth_bytes_per_s(int ranks, int nodes, const ClusterSpec& cluster);
/// Closed-form DeepEP dispatch / combine time for `bytes` of tokens per GPU over `ranks` GPUs on
/// `nodes` nodes: the slower of the RDMA and the NVLink volume of the flow model above, plus
/// latency; `imbalance` scales the busiest rank's volume. Equal to the flow simulation (tested).
Time moe_exchange_time(double bytes, int ranks, int nodes, double imbalance, const ClusterSpec& cluster,
                       const MoeRouting& moe);
/// DeepEP's low-latency dispatch / combine (decode): each token goes to the GPU of each of its
/// `top_k` experts directly, over RDMA when the group spans nodes (no NVLink forwarding, no
/// node-limited dedup), so a GPU receives top_k x `bytes` (its tokens' bytes, balanced); inside
/// one node over NVLink. Latency as one network step.
Time moe_low_latency_time(double bytes, int top_k, int ranks, int nodes, const ClusterSpec& cluster);
/// Point-to-point transfer (pipeline send/recv) inside a node or across nodes.
Time p2p_time(double bytes, bool cross_node, const ClusterSpec& cluster);

}  // namespace gpuhours
