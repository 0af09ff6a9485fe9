// Collectives on the cluster's topology, as phases of flows, and the network model that runs them
// inside the event engine.
//
// A collective is a list of phases; a phase waits its latency (NCCL's model: tuning.cc baseLat +
// per-step hwLat), then starts its flows together; it ends when its last flow ends. Flows share
// links by max-min fairness (flow.hpp), so contention between concurrent collectives, and between
// the flows of one, comes out of the simulation.
//
// Algorithms (S: bytes per rank, n ranks): one file each in sim/network/collectives/, listed in
// algorithms.def: ring, tree and nvls (all-reduce; ring also all-gather and reduce-scatter),
// direct (all-to-all), deepep (MoE dispatch and combine), p2p (pipeline send/recv). Each file
// holds the algorithm's flow plan and, where the step program uses one, its closed form.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gpuhours/engine.hpp"
#include "gpuhours/enums.hpp"
#include "gpuhours/flow.hpp"
#include "gpuhours/hardware.hpp"
#include "gpuhours/topology.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

enum class CollectiveKind { all_reduce, reduce_scatter, all_gather, all_to_all, point_to_point, dispatch, combine };
template <>
struct EnumTable<CollectiveKind> {
  static constexpr std::array<EnumName<CollectiveKind>, 7> names{{{CollectiveKind::all_reduce, "allreduce"},
                                                                  {CollectiveKind::reduce_scatter, "reducescatter"},
                                                                  {CollectiveKind::all_gather, "allgather"},
                                                                  {CollectiveKind::all_to_all, "alltoall"},
                                                                  {CollectiveKind::point_to_point, "sendrecv"},
                                                                  {CollectiveKind::dispatch, "dispatch"},
                                                                  {CollectiveKind::combine, "combine"}}};
};
/// automatic (NCCL's tuner: the fastest of the algorithms it would try), or one of algorithms.def.
enum class Algorithm {
  automatic,
#define GPUHOURS_ALGORITHM(id, name) id,
#include "gpuhours/algorithms.def"
#undef GPUHOURS_ALGORITHM
};
template <>
struct EnumTable<Algorithm> {
  static constexpr std::array names{
      EnumName<Algorithm>{Algorithm::automatic, "auto"},
#define GPUHOURS_ALGORITHM(id, name) EnumName<Algorithm>{Algorithm::id, name},
#include "gpuhours/algorithms.def"
#undef GPUHOURS_ALGORITHM
  };
};
inline const char* to_string(CollectiveKind k) { return name_of(k); }
inline const char* to_string(Algorithm a) { return name_of(a); }
inline CollectiveKind parse_collective_kind(const std::string& s) { return parse_enum<CollectiveKind>(s, "collective"); }
inline Algorithm parse_algorithm(const std::string& s) { return parse_enum<Algorithm>(s, "algorithm"); }

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
  std::string protocol;  // NCCL's protocol (ring: "ll", "ll128" or "simple"; empty where not modelled)
};

/// DeepEP routing parameters for dispatch / combine.
struct MoeRouting {
  int top_k = 8;      // experts per token (DeepSeek-V3: 8)
  int max_nodes = 4;  // node-limited routing (DeepSeek-V3: 4)
};

/// Builds a collective over `ranks` (GPU indices). `algorithm` automatic is not accepted here; one
/// that does not implement `kind` is an InputError naming those that do.
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
  std::string protocol;          // NCCL's protocol the algorithm ran (ring), or empty
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
/// Closed-form NVLink SHARP all-reduce of `bytes` inside one NVSwitch node (GPU with
/// nvlink_sharp): NCCL's NVLS latency plus S at the measured NVLS fraction of NVLink's rate. Equal
/// to the flow simulation of Algorithm::nvls (tested).
Time nvls_all_reduce_time(double bytes, const ClusterSpec& cluster);
/// An all-reduce over `ranks` GPUs of one node as NCCL's tuner runs it: the faster of the ring (at
/// its fastest protocol) and, where the GPU has NVLink SHARP, NVLS.
Time node_all_reduce_time(double bytes, int ranks, const ClusterSpec& cluster);
/// Per-GPU bandwidth of a ring's slowest link: NVLink inside a node; across nodes, each of the
/// node's ranks in the group drives one ring through its own NIC.
double ring_bandwidth_bytes_per_s(int ranks, int nodes, const ClusterSpec& cluster);
/// Closed-form DeepEP dispatch / combine time for `bytes` of tokens per GPU over `ranks` GPUs on
/// `nodes` nodes: the slower of the RDMA and the NVLink volume of the flow model above, plus
/// latency; `imbalance` scales the busiest rank's volume. Equal to the flow simulation (tested).
Time moe_exchange_time(double bytes, int ranks, int nodes, double imbalance, const ClusterSpec& cluster,
                       const MoeRouting& moe);
/// DeepEP's low-latency dispatch / combine (decode): each token goes to the GPU of each of its
/// `top_k` experts directly, one message per (token, expert), over RDMA when the group spans nodes
/// (no NVLink forwarding, no node-limited dedup); inside one node over NVLink. The copies for the
/// GPU's own experts stay local (deepseek-ai/DeepEP internode_ll.cu, `dst_rank != rank`), so a GPU
/// receives top_k x `bytes` x (ranks-1)/ranks; `bytes` carries the busiest rank's load (routing
/// imbalance). Latency as one network step.
Time moe_low_latency_time(double bytes, int top_k, int ranks, int nodes, const ClusterSpec& cluster);

/// Closed-form NCCL all-to-all of MoE tokens (Megatron-Core's alltoall dispatcher): a GPU sends
/// each of its tokens' `top_k` copies to the expert's rank, spread evenly over `ranks` GPUs on
/// `nodes` nodes, with no per-node dedup: the remote share crosses the NIC, the rest NVLink, in
/// parallel; `imbalance` scales the busiest rank's volume. Latency as one network step.
Time moe_alltoall_time(double bytes, int top_k, int ranks, int nodes, double imbalance, const ClusterSpec& cluster);
/// Point-to-point transfer (pipeline send/recv) inside a node or across nodes.
Time p2p_time(double bytes, bool cross_node, const ClusterSpec& cluster);

}  // namespace gpuhours
