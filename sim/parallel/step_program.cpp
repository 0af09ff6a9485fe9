// The step program of one training step, and its simulation.
//
// Rank symmetry: the ranks of one pipeline stage do identical work on their own data (data,
// tensor, context and expert parallel peers), so one representative rank per pipeline stage is
// simulated; its collectives are timed for the whole group on the cluster (network.hpp, closed
// forms equal to the uncontended flow simulation). Pipeline send/recv are cross-rank
// dependencies between the simulated ranks.
//
// Each rank has five streams: compute, tp-comm, ep-comm, pp-comm and dp-comm. A pass (F, B, W)
// of a model part is a chain of ops: compute kernels in order on the compute stream, and each
// communication op a task on its stream that the chain waits for. DualPipe's F&B pairs
// interleave a forward and a backward chain at their communication points, so one chain's
// dispatch / combine runs while the other computes. On the last pass over a layer, its gradient
// bucket is reduced on the dp stream beside the remaining backward (PyTorch DDP, Megatron-LM);
// the optimizer waits for every bucket; with ZeRO-1/2 the updated weights are then all-gathered.
// Communication kernels take their SMs from concurrent compute (engine.hpp).
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include <fmt/format.h>

#include "gpuhours/engine.hpp"
#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/task_kinds.hpp"
#include "gpuhours/topology.hpp"
#include "placement.hpp"

namespace gpuhours {

namespace {

// PyTorch DDP's default gradient bucket (bucket_cap_mb = 25, torch.nn.parallel.DDP docs).
constexpr double kBucketBytes = 25.0 * 1024 * 1024;

enum Stream { kCompute, kTp, kEp, kPp, kDp, kStreams };
const char* kStreamNames[kStreams] = {"compute", "tp-comm", "ep-comm", "pp-comm", "dp-comm"};

struct Item {  // one step of a chain: a kernel, or a communication task
  std::string label;
  double grad_params = 0, grad_expert_params = 0;  // weight gradients complete after this item
  bool skip = false;  // a communication op with nothing to send in this direction
  bool prefetch = false;  // ZeRO-3 weight all-gather: issued at the start of the pass, on its own
  bool scale_out = false; // crosses nodes: shares the rank's NIC with other such transfers
  int waits_for = -1;     // chain index of the prefetch this item needs first
  // DualPipe's component order: a weight-gradient kernel that runs while the communication item
  // before it is in flight: it follows the compute before that item, not the item, and the item
  // after such kernels waits for that communication.
  bool beside_comm = false;
  double gather_dense_params = 0, gather_expert_params = 0;  // a ZeRO-3 prefetch: the weights it gathers
  bool is_comm = false;
  bool p2p = false;       // a send / recv between two ranks (NCCL point-to-point), not a collective
  // The host issues this item only once the GPU has finished the item before it: a MoE forward's
  // dispatch needs the token counts per expert on the CPU (a device-to-host copy and wait).
  bool host_sync = false;
  // Replayed from a CUDA graph (ParallelSpec::cuda_graph_scopes): the host launches the graph once,
  // at the first item of each run of graphed items of a layer (`graph_head`), and none of the rest.
  bool graphed = false, graph_head = false;
  Kernel kernel;
  Time kernel_time;  // the kernel's time alone (compute items)
  double sms_left = 0;  // compute items: the SMs' share left to communication for the whole kernel (gemm_sms)
  double slowdown_beside = 0;  // compute items on an SM partition: rate lost beside communication kernels
  const char* bytes_key = nullptr;  // communication: what it counts as in comm_bytes_per_step
  double bytes = 0;
  Stream stream = kCompute;
  Time comm_time;
  TaskKind kind = TaskKind::compute;
};
using Chain = std::vector<Item>;

// Kernel launches of an item: one per kernel of it (Kernel::kernels: an eager loop's several, an unfused
// attention's batched ones); a grouped GEMM one GEMM per local expert (Transformer Engine's GroupedLinear
// under Megatron-Core's --moe-grouped-gemm: "launch multiple local GEMM kernels in multiple streams",
// megatron/core/transformer/moe/README.md); an FP8 GEMM's quantization pass its own (Kernel::
// quantize_kernels). Items replayed from a CUDA graph: one launch for the graph, at its first item.
std::int64_t launches(const Item& it) {
  if (it.graphed) return it.graph_head ? 1 : 0;
  if (it.is_comm) return 1;
  const Kernel& k = it.kernel;
  return std::max({1, k.batched ? 1 : k.groups, k.kernels}) + (k.quantize_bytes > 0 ? k.quantize_kernels : 0);
}

// One graph launch per run of graphed items among those a block of ops (a layer's pass: its
// recomputation and backward together) appended from `from`.
void mark_graph_heads(Chain& c, std::size_t from) {
  for (std::size_t i = from; i < c.size(); ++i) c[i].graph_head = c[i].graphed && (i == from || !c[i - 1].graphed);
}

// Expert-data-parallel peers are this many GPUs apart. MoE parallel folding (expert TP 1): a
// stage's tp x cp x dp GPUs form expert-parallel groups of ep consecutive ranks, and the edp =
// tp x cp x dp / ep groups' peers are ep apart (Megatron-Core's expert rank order: expert TP,
// expert parallel, expert data parallel).
int edp_stride(const Scenario& s) { return std::max(1, s.parallel.ep); }

// Nodes a group of `ranks` GPUs spaced `stride` apart spans.
int group_nodes(int ranks, int stride, int gpus_per_node) {
  const long long gpus = static_cast<long long>(ranks) * stride;
  return static_cast<int>(std::clamp<long long>((gpus + gpus_per_node - 1) / gpus_per_node, 1, ranks));
}

// Where the communication groups sit on a fat-tree: a group of `ranks` GPUs `stride` apart spans
// ceil(ranks * stride / G) consecutive nodes; a leaf switch serves leaf_down_ports nodes of one
// rail on a rail-optimised network (each node's NIC k on the leaf of rail k), leaf_down_ports / G
// nodes otherwise. Groups start at multiples of their span, so every group sits under one leaf
// (its traffic never reaches the spine) when its span divides the nodes a leaf serves.
std::string group_placement_assumption(const Scenario& s, const Layout& l) {
  const NetworkSpec& net = s.cluster.network;
  const int G = s.cluster.gpus_per_node;
  if (net.kind != "fat-tree" || s.cluster.nodes < 2) return "";
  const int per_leaf = std::max(1, net.rail_optimised ? net.leaf_down_ports : net.leaf_down_ports / G);
  struct Group {
    const char* name;
    int ranks, stride;
  };
  const ParallelSpec& p = s.parallel;
  const Group groups[] = {{"tensor-parallel", p.tp, 1},
                          {"expert-parallel", p.ep, 1},
                          {"data-parallel", l.dense_dp(), p.tp}};
  std::string out;
  for (const Group& g : groups) {
    const long long gpus = static_cast<long long>(g.ranks) * g.stride;
    if (g.ranks < 2 || gpus <= G) continue;
    const long long span = (gpus + G - 1) / G;
    const char* where = span <= per_leaf && per_leaf % span == 0 ? "under one leaf"
                        : span <= per_leaf                      ? "under one leaf or across two (not aligned)"
                                                                : "across the spine";
    out += fmt::format("{}{} group ({} GPUs over {} nodes) {}", out.empty() ? "" : "; ", g.name, g.ranks, span, where);
  }
  if (out.empty()) return "";
  return fmt::format("placement on {} (a leaf serves {} nodes{}): {}", net.name, per_leaf,
                     net.planes > 1 ? " per plane" : net.rail_optimised ? " per rail" : "", out);
}

// The SMs each kind of communication kernel occupies (ProgramBuilder's shares), for the report.
std::string sm_use(const ClusterSpec& c) {
  const int in_node = c.gpu.nccl_channels_in_node;
  std::string out = fmt::format("expert dispatch / combine {}, NCCL collectives {} in a node", c.network.comm_sms, in_node);
  if (c.nodes > 1) out += fmt::format(" and {} across nodes", c.network.nccl_channels_across_nodes);
  out += fmt::format(", send / recv {} in a node", std::bit_ceil(static_cast<unsigned>(in_node)));
  if (c.nodes > 1) out += fmt::format(" and {} across nodes", c.network.nccl_p2p_channels_per_net_peer);
  return out + " (one SM per NCCL channel)";
}

// The end of a step on one rank: the AdamW step over the rank's share of the parameters (reads and
// writes weights, master weights, moments and gradients once), then with ZeRO-1/2 the all-gather
// of the updated BF16 weights (dense over dense_dp ranks, experts over edp).
struct OptimizerTimes {
  Time step, gather_dense, gather_experts;
};
OptimizerTimes optimizer_times(const Scenario& s, const StagePlan& st, int dense_dp, int edp, int dp_nodes, int edp_nodes) {
  const bool zero_shard = s.parallel.zero >= 1;
  const double moment_bytes = optimizer_bytes(s.training).step_traffic();
  const double dense = st.params - st.expert_params;
  const double local = zero_shard ? dense / dense_dp + st.expert_params / edp : st.params;
  OptimizerTimes t;
  t.step = Time::from_seconds_ceil(s.cluster.gpu.kernel_launch_seconds +
                                   moment_bytes * local / (s.cluster.gpu.hbm_bytes_per_s * s.cluster.gpu.achievable.copy));
  if (zero_shard && s.parallel.zero < 3) {
    if (dense > 0 && dense_dp > 1)
      t.gather_dense = ring_collective_time(CollectiveKind::all_gather, 2.0 * dense, dense_dp, dp_nodes, s.cluster);
    if (st.expert_params > 0 && edp > 1)
      t.gather_experts = ring_collective_time(CollectiveKind::all_gather, 2.0 * st.expert_params, edp, edp_nodes, s.cluster);
  }
  return t;
}

// Flows in the step (ClusterSpec::flows): data- and pipeline-parallel transfers that cross nodes
// run as the network model's flows on the cluster's topology, sharing links by max-min fairness
// with every other transfer in flight. Placement (Megatron-LM's rank order, tensor-parallel
// fastest, then context, data and pipeline): pipeline stage r holds GPUs [r S, (r + 1) S) with
// S = GPUs / pp, and a group of n ranks `stride` apart is one of S / n groups of the stage. One
// rank per stage is simulated, but its transfer stands for its whole stage's: the collective of
// every group of the stage at once (the mirrored peers do identical work at the same time), and a
// pipeline send from every GPU of the stage to its peer of the next stage.
class StepFlows {
 public:
  explicit StepFlows(const Scenario& s)
      : s_(s), topo_(Topology::build(s.cluster)), net_(topo_), stage_gpus_(s.cluster.gpus() / s.parallel.pp) {}
  NetworkModel& model() { return net_; }
  const Topology& topology() const { return topo_; }
  // The collective `kind` of `bytes` of every group of `ranks` GPUs `stride` apart in stage `stage`.
  std::uint32_t collective(CollectiveKind kind, double bytes, int stage, int ranks, int stride) {
    const auto key = std::make_tuple(static_cast<int>(kind), bytes, stage, ranks, stride);
    if (auto it = ops_.find(key); it != ops_.end()) return it->second;
    const int block = ranks * stride;
    GPUHOURS_ASSERT(block > 0 && stage_gpus_ % block == 0, "groups tile the stage");
    CollectiveOp all;
    std::vector<int> group(static_cast<std::size_t>(ranks));
    for (int first = stage * stage_gpus_; first < (stage + 1) * stage_gpus_; first += block)
      for (int j = 0; j < stride; ++j) {
        for (int k = 0; k < ranks; ++k) group[static_cast<std::size_t>(k)] = first + j + k * stride;
        merge(all, make_collective(kind, Algorithm::ring, bytes, group, topo_, s_.cluster));
      }
    return ops_[key] = net_.add_op(std::move(all));
  }
  // A pipeline send of `bytes` from every GPU of stage `from` to its peer in stage `to`.
  std::uint32_t send(double bytes, int from, int to) {
    const auto key = std::make_tuple(-1, bytes, from, to, 0);
    if (auto it = ops_.find(key); it != ops_.end()) return it->second;
    CollectiveOp all;
    for (int g = 0; g < stage_gpus_; ++g)
      merge(all, make_collective(CollectiveKind::point_to_point, Algorithm::p2p, bytes,
                                 {from * stage_gpus_ + g, to * stage_gpus_ + g}, topo_, s_.cluster));
    return ops_[key] = net_.add_op(std::move(all));
  }
  // Per class of link, the one that carried the most bytes for its capacity; busiest class first.
  std::vector<StepResult::LinkLoad> busiest(double step_seconds) const {
    const std::vector<double>& bytes = net_.solver().link_bytes();
    auto busy = [&](LinkId l) { return bytes[l] / (topo_.capacity(l) * step_seconds); };
    std::map<std::string, std::vector<LinkId>> classes;
    for (LinkId l = 0; l < bytes.size(); ++l)
      if (bytes[l] > 0) classes[topo_.link_class(l)].push_back(l);
    std::vector<StepResult::LinkLoad> out;
    for (const auto& [name, links] : classes) {
      const LinkId top = *std::max_element(links.begin(), links.end(), [&](LinkId a, LinkId b) { return busy(a) < busy(b); });
      const auto close = std::count_if(links.begin(), links.end(), [&](LinkId l) { return busy(l) >= 0.99 * busy(top); });
      out.push_back({topo_.link_name(top), bytes[top], busy(top), static_cast<int>(close)});
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.busy > b.busy; });
    return out;
  }

 private:
  // The phases of `op` run at the same time as those of `into`: flows side by side, the longer latency.
  static void merge(CollectiveOp& into, CollectiveOp op) {
    if (into.phases.size() < op.phases.size()) into.phases.resize(op.phases.size());
    for (std::size_t i = 0; i < op.phases.size(); ++i) {
      Phase& ph = into.phases[i];
      ph.latency_seconds = std::max(ph.latency_seconds, op.phases[i].latency_seconds);
      for (PhaseFlow& f : op.phases[i].flows) ph.flows.push_back(std::move(f));
    }
  }
  const Scenario& s_;
  Topology topo_;
  NetworkModel net_;
  int stage_gpus_;
  std::map<std::tuple<int, double, int, int, int>, std::uint32_t> ops_;
};

class ProgramBuilder {
 public:
  // `labels`: name every task (for a trace); without, tasks share one empty label.
  ProgramBuilder(const Scenario& s, const Layout& l, const KernelModel& k, bool labels = false)
      : s_(s), l_(l), kernels_(k), labels_(labels) {
    unlabelled_ = g_.intern("");
    const int pp = s.parallel.pp;
    streams_.resize(pp);
    for (int r = 0; r < pp; ++r)
      for (int st = 0; st < kStreams; ++st) streams_[r][st] = g_.add_stream(r, kStreamNames[st]);
    const ClusterSpec& c = s.cluster;
    const int G = c.gpus_per_node;
    // The SMs a communication kernel occupies while it runs, one per CTA (an NCCL channel is one
    // CTA that no compute kernel shares; NVIDIA/nccl issue #689): DeepEP's dispatch / combine
    // kernels their num_sms; NCCL collectives their channels in a node or across nodes; NCCL
    // send / recv, in a node the collective channels rounded up to a power of two (NCCL
    // src/graph/paths.cc, p2pnChannels), across nodes its channels per network peer (comm_sm_share).
    auto share = [&](int sms) { return comm_sm_share(sms, c.gpu); };
    const int in_node = c.gpu.nccl_channels_in_node;
    ep_share_ = share(c.network.comm_sms);
    gemms_partitioned_ = gemms_partitioned(s);
    gemm_slowdown_beside_ = gemms_partitioned_ ? gemm_slowdown_beside_comm(c) : 0.0;
    jitter_cv_ = kernel_jitter(c);
    collective_share_ = {share(in_node), share(c.network.nccl_channels_across_nodes)};
    p2p_share_ = {share(static_cast<int>(std::bit_ceil(static_cast<unsigned>(in_node)))),
                  share(c.network.nccl_p2p_channels_per_net_peer)};
    tp_nodes_ = group_nodes(s.parallel.tp, 1, G);
    ep_nodes_ = group_nodes(s.parallel.ep, 1, G);
    dp_nodes_ = group_nodes(l.dense_dp(), s.parallel.tp, G);
    edp_nodes_ = group_nodes(l.edp, edp_stride(s), G);
    pp_cross_node_ = c.nodes > 1 && std::int64_t{s.parallel.tp} * s.parallel.cp * l.dp >= G;
    moe_.top_k = s.model.ffn.experts_per_token;
    moe_.max_nodes = s.model.ffn.max_nodes_per_token;
    host_launch_ = Time::from_seconds_ceil(c.host_launch_seconds);
  }

  TaskGraph& graph() { return g_; }
  std::map<std::string, double>& comm_bytes() { return comm_bytes_; }

  // Collective time of a communication op, forward or backward (the dual).
  Item comm_item(const Op& op, bool backward, Time overlapped_gemm = Time()) {
    Item it;
    it.is_comm = true;
    if (labels_) it.label = op.name + (backward ? " (bwd)" : "");
    const ClusterSpec& c = s_.cluster;
    const ParallelSpec& p = s_.parallel;
    switch (op.comm) {
      case OpComm::tp_all_gather:
      case OpComm::tp_reduce_scatter: {
        const bool gather = (op.comm == OpComm::tp_all_gather) != backward;
        it.stream = kTp;
        it.kind = TaskKind::comm_tp;
        it.comm_time = ring_collective_time(gather ? CollectiveKind::all_gather : CollectiveKind::reduce_scatter,
                                            op.comm_bytes, p.tp, tp_nodes_, c);
        it.bytes_key = gather ? "tp all-gather" : "tp reduce-scatter";
        it.bytes = op.comm_bytes * (p.tp - 1) / p.tp;
        if (overlapped_gemm > Time()) {
          // Pipelined in tp chunks: g/tp + (tp-1) * max(g/tp, c/(tp-1)) for the pair, so what the
          // chain waits for beyond the GEMM is (tp-1) * max(0, c/(tp-1) - g/tp).
          const std::int64_t c_step = it.comm_time.count_ns() / (p.tp - 1), g_step = overlapped_gemm.count_ns() / p.tp;
          it.comm_time = Time::ns((p.tp - 1) * std::max<std::int64_t>(0, c_step - g_step));
        }
        break;
      }
      case OpComm::tp_all_reduce: {
        // The exit all-reduce runs in forward; the entry one (no forward bytes) in backward.
        const double block_bytes = static_cast<double>(l_.graph.tokens) * s_.model.hidden * 2.0;
        const double bytes = backward ? (op.comm_bytes > 0 ? 0.0 : block_bytes) : op.comm_bytes;
        it.stream = kTp;
        it.kind = TaskKind::comm_tp;
        it.comm_time = ring_collective_time(CollectiveKind::all_reduce, bytes, p.tp, tp_nodes_, c);
        it.skip = bytes <= 0;
        it.bytes_key = "tp all-reduce";
        it.bytes = bytes * 2 * (p.tp - 1) / p.tp;
        break;
      }
      case OpComm::ep_dispatch:
      case OpComm::ep_combine: {
        const bool dispatch = (op.comm == OpComm::ep_dispatch) != backward;
        // The backward of a dispatch is a combine of gradients, and vice versa.
        const double bytes = backward ? op.backward_comm_bytes : op.comm_bytes;
        it.stream = kEp;
        it.kind = TaskKind::comm_ep;
        it.comm_time = p.dispatcher == Dispatcher::alltoall
                           ? moe_alltoall_time(bytes, moe_.top_k, p.ep, ep_nodes_, l_.shape.expert_imbalance, c)
                           : moe_exchange_time(bytes, p.ep, ep_nodes_, l_.shape.expert_imbalance, c, moe_);
        it.scale_out = ep_nodes_ > 1;
        it.host_sync = op.comm == OpComm::ep_dispatch && !backward;
        it.bytes_key = dispatch ? "ep dispatch" : "ep combine";
        it.bytes = bytes;
        break;
      }
      case OpComm::cp_ring: {
        it.stream = kTp;
        it.kind = TaskKind::comm_tp;
        const double bytes = op.comm_bytes * (backward ? 2.0 : 1.0);  // dK, dV travel back too
        it.scale_out = std::int64_t{p.tp} * p.cp > c.gpus_per_node;
        // Ring attention pipelines its cp-1 block transfers with the cp blockwise attention
        // kernels (Liu et al. 2023): block i+1 arrives while block i is computed, so what the
        // pass waits for is sum over the cp-1 transfers of max(0, transfer - block compute).
        const int steps = p.cp - 1;
        const Time transfer = p2p_time(bytes / steps, it.scale_out, c);
        const bool carries_attention = backward ? !op.backward.empty() : op.forward.flops > 0;
        const Time block = carries_attention
                               ? Time::ns(kernels_.time(backward ? op.backward.front() : op.forward).count_ns() / p.cp)
                               : Time();
        it.comm_time = Time::ns(steps * std::max<std::int64_t>(0, (transfer - block).count_ns()));
        it.bytes_key = "cp ring";
        it.p2p = true;
        it.bytes = bytes;
        break;
      }
      case OpComm::none: GPUHOURS_ASSERT(false, "comm_item needs a communication op");
    }
    return it;
  }

  Item kernel_item(const std::string& label, const Kernel& k, bool in_graph = false) {
    Item it;
    if (labels_) it.label = label;
    it.kernel = k;
    it.kernel.graphed = it.graphed = in_graph;
    it.kernel_time = kernels_.time(it.kernel);
    it.sms_left = sms_left(it.kernel, it.kernel_time);
    if (it.sms_left > 0) it.slowdown_beside = slowdown_beside(it.kernel, it.kernel_time);
    return it;
  }

  // Forward chain of a list of ops.
  void forward(const std::vector<Op>& ops, const std::string& prefix, Chain& out) {
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      if (op.comm == OpComm::none) out.push_back(kernel_item(prefix + op.name, op.forward, graphed(op)));
      else if (Item it = comm_item(op, false, overlap_partner(ops, i, false)); !it.skip) out.push_back(graph_item(it, op));
    }
  }

  // Whether the layout's CUDA graphs capture `op`.
  bool graphed(const Op& op) const { return op.graphed_by(s_.parallel.cuda_graph_scopes); }
  Item graph_item(Item it, const Op& op) const {
    it.graphed = graphed(op);
    return it;
  }

  // TP communication overlap (Transformer Engine userbuffers; Wang et al., ASPLOS '23): an
  // all-gather is pipelined in tp chunks with the GEMM that consumes it (the next op), a
  // reduce-scatter with the GEMM that produces it (the previous op); in backward the duals pair
  // with the same ops' input-gradient GEMMs. Returns that GEMM's time, or zero.
  Time overlap_partner(const std::vector<Op>& ops, std::size_t i, bool backward) const {
    if (!s_.parallel.tp_comm_overlap || s_.parallel.tp <= 1) return Time();
    const OpComm c = ops[i].comm;
    std::size_t j;
    if (c == OpComm::tp_all_gather && i + 1 < ops.size()) j = i + 1;
    else if (c == OpComm::tp_reduce_scatter && i > 0) j = i - 1;
    else return Time();
    const Op& g = ops[j];
    const Kernel& k = backward ? (g.backward.empty() ? g.forward : g.backward.front()) : g.forward;
    if (g.comm != OpComm::none || k.kind != OpKind::gemm) return Time();
    // The GEMM runs as tp chunks of m/tp rows, each timed at its own shape by the profile.
    // Its FP8 operand is quantized before the chunks, outside the overlap.
    Kernel chunk = k;
    chunk.m = std::max<std::int64_t>(1, k.m / s_.parallel.tp);
    chunk.flops /= s_.parallel.tp;
    chunk.bytes /= s_.parallel.tp;
    chunk.quantize_bytes = 0;
    chunk.graphed = graphed(g);
    return Time::ns(kernels_.time(chunk).count_ns() * s_.parallel.tp);
  }

  // Backward chain (reverse op order); `with_weights` false leaves weight gradients to W. The item
  // after which an op's weight gradients are complete carries its parameter count.
  // The backward of `ops`; with `with_weights` each op's weight gradients follow its input
  // gradients. `weights_beside_comm` (DualPipe's F&B order, DeepSeek-V3 §3.2.1 Figure 4) instead
  // holds the weight gradients of the ops between two communication ops until the later one is
  // issued, and runs them while it is in flight: MLP(B), DISPATCH(B) beside MLP(W), then ATTN(B).
  void backward(const std::vector<Op>& ops, const std::string& prefix, bool with_weights, Chain& out,
                bool weights_beside_comm = false) {
    Chain held;  // weight gradients waiting for the next communication op (weights_beside_comm)
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
      const Op& op = *it;
      if (op.comm != OpComm::none) {
        const auto index = static_cast<std::size_t>(std::distance(ops.begin(), it.base()) - 1);
        if (Item it = comm_item(op, true, overlap_partner(ops, index, true)); !it.skip) {
          out.push_back(graph_item(it, op));
          for (Item& w : held) w.beside_comm = true;
          out.insert(out.end(), held.begin(), held.end());
          held.clear();
        }
        continue;
      }
      const std::size_t n = op.backward.size();
      const std::size_t input = n - static_cast<std::size_t>(op.weight_grad_kernels);
      const bool weights_here = with_weights || op.weight_grad_inline;
      Chain& weights_to = with_weights && weights_beside_comm && !op.weight_grad_inline ? held : out;
      for (std::size_t i = 0; i < (weights_here ? n : input); ++i)
        (i < input ? out : weights_to).push_back(kernel_item(prefix + op.name + (i < input ? " dgrad" : " wgrad"), op.backward[i], graphed(op)));
      if (with_weights && n > 0) mark((n > input ? weights_to : out).back(), op);
    }
    out.insert(out.end(), held.begin(), held.end());  // no communication op left in these ops
  }

  void weights(const std::vector<Op>& ops, const std::string& prefix, Chain& out) {
    Op carry;  // parameters whose gradients the B pass computed (norms, embedding, inline W): reduced with W's
    for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
      const std::size_t n = it->backward.size();
      if (it->weight_grad_kernels == 0 || it->weight_grad_inline) {
        carry.params += it->params;
        continue;
      }
      for (std::size_t i = n - static_cast<std::size_t>(it->weight_grad_kernels); i < n; ++i)
        out.push_back(kernel_item(prefix + it->name + " wgrad", it->backward[i], graphed(*it)));
      mark(out.back(), *it);
      mark(out.back(), carry);
      carry.params = 0;
    }
    if (!out.empty()) mark(out.back(), carry);
  }

  static void mark(Item& it, const Op& op) {
    it.grad_params += static_cast<double>(op.params);
    if (op.expert_params) it.grad_expert_params += static_cast<double>(op.params);
  }

  // Where a chain's emission stands: the last task, the one before its last communication item,
  // that communication's task, and whether the last item ran beside it.
  struct Cursor {
    std::optional<TaskId> prev, before_comm, last_comm;
    bool beside = false;
  };

  // Emits item i of a chain after the cursor's last task (an item beside a communication after
  // the compute before it; the item after those waits for the communication too).
  void emit_next(int rank, const Chain& chain, std::size_t i, std::vector<TaskId>& tasks, Cursor& cur) {
    const Item& it = chain[i];
    if (it.is_comm) cur.before_comm = cur.prev;
    const TaskId t = emit_item(rank, it, it.beside_comm ? cur.before_comm : cur.prev);
    tasks[i] = t;
    wait_prefetch(chain, tasks, i);
    if (!it.beside_comm && cur.beside && cur.last_comm) g_.add_dependency(*cur.last_comm, t);
    if (it.is_comm) cur.last_comm = t;
    cur.beside = it.beside_comm;
    cur.prev = t;
  }

  // Emits a chain on `rank`; the first item waits for `after` (if any). Returns every item's task.
  std::vector<TaskId> emit(int rank, const Chain& chain, std::optional<TaskId> after) {
    std::vector<TaskId> tasks(chain.size());
    prefetch(rank, chain, after, tasks);
    Cursor cur{after, after, std::nullopt, false};
    for (std::size_t i = 0; i < chain.size(); ++i)
      if (!chain[i].prefetch) emit_next(rank, chain, i, tasks, cur);
    GPUHOURS_ASSERT(!tasks.empty(), "a chain emits a task");
    return tasks;
  }

  // ZeRO-3: the pass's weight all-gathers go first, back to back on the dp stream, so that they
  // run ahead of the compute that needs them (prefetching).
  void prefetch(int rank, const Chain& chain, std::optional<TaskId> after, std::vector<TaskId>& tasks) {
    for (std::size_t i = 0; i < chain.size(); ++i) {
      if (!chain[i].prefetch) continue;
      if (flows_ && chain[i].scale_out) {
        // As flows: the dense weights' all-gather over the data-parallel groups, then the experts'
        // over the expert-data-parallel groups, one after the other on the stream.
        std::optional<TaskId> first;
        for (const auto& [params, ranks, stride, nodes] :
             {std::tuple{chain[i].gather_dense_params, l_.dense_dp(), s_.parallel.tp, dp_nodes_},
              std::tuple{chain[i].gather_expert_params, l_.edp, edp_stride(s_), edp_nodes_}}) {
          if (params <= 0 || ranks <= 1) continue;
          tasks[i] = dp_transfer(rank, CollectiveKind::all_gather, 2.0 * params, ranks, stride, nodes,
                                 ring_collective_time(CollectiveKind::all_gather, 2.0 * params, ranks, nodes, s_.cluster),
                                 chain[i].label);
          if (!first) first = tasks[i];
        }
        if (!first) tasks[i] = gpuhours::add_task(g_, streams_[rank][kDp], Time(), TaskKind::comm_dp, label(chain[i].label));
        count_bytes(chain[i]);
        if (after) g_.add_dependency(*after, first ? *first : tasks[i]);
        continue;
      }
      tasks[i] = gpuhours::add_task(g_, streams_[rank][kDp], chain[i].comm_time, TaskKind::comm_dp, label(chain[i].label),
                                    sm_share(TaskKind::comm_dp, chain[i].scale_out, false));
      count_bytes(chain[i]);
      if (chain[i].scale_out) g_.share_rank_link(tasks[i]);
      if (after) g_.add_dependency(*after, tasks[i]);
    }
  }
  void wait_prefetch(const Chain& chain, const std::vector<TaskId>& tasks, std::size_t i) {
    if (chain[i].waits_for >= 0) g_.add_dependency(tasks[static_cast<std::size_t>(chain[i].waits_for)], tasks[i]);
  }

  TaskId emit_item(int rank, const Item& it, std::optional<TaskId> prev) {
    TaskId t;
    if (it.is_comm) {
      t = gpuhours::add_task(g_, streams_[rank][it.stream], it.comm_time, it.kind, label(it.label),
                             sm_share(it.kind, it.scale_out, it.p2p));
      count_bytes(it);
      if (it.scale_out) g_.share_rank_link(t);
    } else {
      t = gpuhours::add_task(g_, streams_[rank][kCompute], it.kernel_time, TaskKind::compute, label(it.label),
                             it.sms_left);
      if (it.slowdown_beside > 0) g_.set_slowdown_beside_transfers(t, it.slowdown_beside);
    }
    if (prev && g_.task_stream(*prev) != g_.task_stream(t)) g_.add_dependency(*prev, t);
    issue(rank, it, prev, t);
    return t;
  }

  // The rank's host launches a chain's items one after another, in program order (the engine's
  // host model); a synchronising item only once the GPU task before it has ended.
  void issue(int rank, const Item& it, std::optional<TaskId> prev, TaskId t) {
    if (host_launch_ == Time()) return;
    g_.set_launch(t, rank, launch_time(it), it.host_sync ? prev : std::nullopt);
  }
  // The host's time launching an item's kernels.
  Time launch_time(const Item& it) const { return Time::ns(host_launch_.count_ns() * launches(it)); }

  // Interleaves two chains at their communication points (DualPipe's F&B overlap). Returns
  // every item's task of each chain.
  std::pair<std::vector<TaskId>, std::vector<TaskId>> emit_pair(int rank, const Chain& a, std::optional<TaskId> after_a,
                                                                const Chain& b, std::optional<TaskId> after_b) {
    std::vector<TaskId> ta(a.size()), tb(b.size());
    prefetch(rank, a, after_a, ta);
    prefetch(rank, b, after_b, tb);
    Cursor ca{after_a, after_a, std::nullopt, false}, cb{after_b, after_b, std::nullopt, false};
    std::size_t ia = 0, ib = 0;
    auto segment = [&](const Chain& c, std::vector<TaskId>& out, std::size_t& i, Cursor& cur) {
      // Compute items up to and including the next communication item, and the kernels beside it.
      for (; i < c.size(); ++i) {
        if (c[i].prefetch) continue;
        emit_next(rank, c, i, out, cur);
        if (c[i].is_comm) {
          for (++i; i < c.size() && c[i].beside_comm; ++i) emit_next(rank, c, i, out, cur);
          break;
        }
      }
    };
    while (ia < a.size() || ib < b.size()) {
      segment(a, ta, ia, ca);
      segment(b, tb, ib, cb);
    }
    return {ta, tb};
  }

  std::uint32_t label(const std::string& text) { return labels_ ? g_.intern(text) : unlabelled_; }
  void count_bytes(const Item& it) {
    if (it.bytes_key) comm_bytes_[it.bytes_key] += it.bytes;
  }
  bool labels() const { return labels_; }

  // Data-parallel transfers across nodes as flows from here on (ZeRO-3's prefetches).
  void use_flows(StepFlows* flows) { flows_ = flows; }
  // A data-parallel collective of stage `rank` over groups of `ranks` GPUs `stride` apart spanning
  // `nodes` nodes: as flows when they cross nodes and flows are on, else its closed form.
  TaskId dp_transfer(int rank, CollectiveKind kind, double bytes, int ranks, int stride, int nodes, Time closed_form,
                     const std::string& label) {
    return flows_ && nodes > 1
               ? add_flow_task(rank, kDp, flows_->collective(kind, bytes, rank, ranks, stride), TaskKind::comm_dp, label)
               : add_task(rank, kDp, closed_form, TaskKind::comm_dp, label, nodes > 1);
  }
  // A transfer the network model runs as flows (StepFlows' op `op`).
  TaskId add_flow_task(int rank, Stream st, std::uint32_t op, TaskKind kind, const std::string& label) {
    return g_.add_external_task(streams_[rank][st], op, static_cast<TaskCategory>(kind), this->label(label),
                                sm_share(kind, true, kind == TaskKind::comm_pp));
  }

  TaskId add_task(int rank, Stream st, Time t, TaskKind kind, const std::string& label, bool scale_out = false) {
    const TaskId id = gpuhours::add_task(g_, streams_[rank][st], t, kind, this->label(label),
                                         sm_share(kind, scale_out, kind == TaskKind::comm_pp));
    if (scale_out) g_.share_rank_link(id);
    return id;
  }

  // The share of the SMs a compute kernel leaves to communication for its whole run (gemm_sms:
  // partitioned): an FP8 GEMM (DeepGEMM, FP8 only: BF16 GEMMs run through cuBLAS) on the SMs the
  // expert dispatch / combine kernels leave, share s of them. Its quantization pass, a memory-bound
  // kernel timed with it, takes whatever SMs are free: the one task runs at the share that gives both
  // parts their time alone, G / (1 - s) + Q for G + Q, i.e. 1 - (G + Q) / (G / (1 - s) + Q).
  double sms_left(const Kernel& k, Time time) const {
    if (!gemms_partitioned_ || k.kind != OpKind::gemm || !k.fp8) return 0.0;
    const double all = time.seconds(), quantize = kernels_.quantize_time(k).seconds();
    if (all <= 0) return 0.0;
    return 1.0 - all / ((all - quantize) / (1.0 - ep_share_) + quantize);
  }
  // The rate an FP8 GEMM on its SM partition loses while communication kernels hold the SMs it
  // leaves (GpuSpec::slowdown_beside_comm, x): its GEMM part G slows to G / (1 - x), its quantization
  // pass Q (on the free SMs) does not: the task runs at (G + Q) / (G / (1 - x) + Q) of its rate.
  double slowdown_beside(const Kernel& k, Time time) const {
    if (gemm_slowdown_beside_ <= 0) return 0.0;
    const double all = time.seconds(), gemm = all - kernels_.quantize_time(k).seconds();
    return 1.0 - all / (gemm / (1.0 - gemm_slowdown_beside_) + all - gemm);
  }
  // Per-kernel jitter (GpuSpec::kernel_jitter, cv): each compute item's time varies by cv of itself,
  // independently on every rank and kernel. An expert-, tensor- or context-parallel collective of P
  // ranks waits for the last to arrive: the compute each ran since the collective before it, of
  // standard deviation sqrt(sum (cv d)^2), ends on the slowest of P about E[max of P standard
  // normals] of those deviations late (the stragglers' formula, per kernel instead of per GPU).
  void add_jitter_waits(Chain& c) const {
    if (jitter_cv_ <= 0) return;
    double variance = 0;  // ns^2 of the compute since the last collective
    for (Item& it : c) {
      if (!it.is_comm) {
        const double sd = jitter_cv_ * static_cast<double>(it.kernel_time.count_ns());
        variance += sd * sd;
        continue;
      }
      const int ranks = it.kind == TaskKind::comm_ep ? s_.parallel.ep
                        : it.kind == TaskKind::comm_tp ? (it.p2p ? s_.parallel.cp : s_.parallel.tp)
                                                       : 1;
      if (it.prefetch || ranks <= 1) continue;
      it.comm_time = it.comm_time + collective_jitter_wait(variance, ranks);
      variance = 0;
    }
  }
  // The share of the SMs a communication task of `kind` takes from concurrent compute.
  double sm_share(TaskKind kind, bool scale_out, bool p2p) const {
    if (kind == TaskKind::compute || kind == TaskKind::optimizer) return 0.0;
    if (kind == TaskKind::comm_ep) return ep_share_;
    return (p2p ? p2p_share_ : collective_share_)[scale_out ? 1 : 0];
  }
  int dp_nodes() const { return dp_nodes_; }
  int edp_nodes() const { return edp_nodes_; }
  bool pp_cross_node() const { return pp_cross_node_; }

 private:
  const Scenario& s_;
  const Layout& l_;
  const KernelModel& kernels_;
  TaskGraph g_;
  std::vector<std::array<StreamId, kStreams>> streams_;
  Time host_launch_;  // host time per kernel launch (0: not simulated)
  double ep_share_ = 0;
  bool gemms_partitioned_ = false;  // gemm_sms: partitioned, with expert-parallel dispatch / combine kernels to leave SMs for
  double gemm_slowdown_beside_ = 0;  // GpuSpec::slowdown_beside_comm where it applies (partitioned GEMMs, switched on)
  double jitter_cv_ = 0;             // GpuSpec::kernel_jitter, switched on (cluster: {jitter: true})
  std::array<double, 2> collective_share_{}, p2p_share_{};  // in a node, across nodes
  bool labels_ = false;
  std::uint32_t unlabelled_ = 0;
  int tp_nodes_ = 1, ep_nodes_ = 1, dp_nodes_ = 1, edp_nodes_ = 1;
  StepFlows* flows_ = nullptr;
  bool pp_cross_node_ = false;
  MoeRouting moe_;
  std::map<std::string, double> comm_bytes_;
};

// Splits [0, makespan) of each rank into compute / optimizer / exposed comm / waiting for the host /
// idle and averages over ranks: each rank's five parts add up to the step time, so their means do
// too. The GPU waits for the host where nothing runs on it while the host launches.
void fill_breakdown(const Engine& e, int ranks, StepResult& r) {
  const TaskGraph& g = e.graph();
  struct Edge {
    std::int64_t at;
    std::int8_t delta;
    std::uint8_t cls;  // 0 compute, 1 optimizer, 2 communication, 3 the host launching
    TaskKind kind;
  };
  std::vector<std::vector<Edge>> edges(ranks);
  std::vector<double> busy(g.stream_count(), 0.0);
  for (TaskId t = 0; t < g.task_count(); ++t) {
    const std::int64_t a = e.start(t).count_ns(), b = e.end(t).count_ns();
    const StreamId s = g.task_stream(t);
    busy[s] += static_cast<double>(b - a) * 1e-9;
    const TaskKind k = task_kind(g, t);
    std::vector<Edge>& ed = edges[g.stream_rank(s)];
    // Ready before its host had launched it: the stream waited for the host.
    if (const std::int64_t ready = e.ready(t).count_ns(); ready < a) {
      ed.push_back({ready, +1, 3, k});
      ed.push_back({a, -1, 3, k});
    }
    if (b == a) continue;
    const std::uint8_t cls = k == TaskKind::compute ? 0 : k == TaskKind::optimizer ? 1 : 2;
    ed.push_back({a, +1, cls, k});
    ed.push_back({b, -1, cls, k});
  }
  // Exposed communication per kind, summed over ranks in time order (a kind's entry exists once
  // it has been exposed: each interval added is longer than zero).
  constexpr std::size_t kinds = EnumTable<TaskKind>::names.size();
  std::array<double, kinds> exposed_by_kind{};
  const std::int64_t end = static_cast<std::int64_t>(std::llround(r.seconds * 1e9));
  for (int rank = 0; rank < ranks; ++rank) {
    std::vector<Edge>& ed = edges[rank];
    // By time only: edges at one instant bound no interval between them, so their order does not
    // change any sum.
    std::sort(ed.begin(), ed.end(), [](const Edge& x, const Edge& y) { return x.at < y.at; });
    int active[4] = {0, 0, 0, 0};
    std::array<int, kinds> comm_active{};
    std::int64_t prev = 0;
    auto account = [&](std::int64_t until) {
      const double dt = static_cast<double>(until - prev) * 1e-9 / ranks;
      if (dt <= 0) return;
      if (active[0] > 0) r.breakdown.compute += dt;
      else if (active[1] > 0) r.breakdown.optimizer += dt;
      else if (active[2] > 0) {
        r.breakdown.exposed_communication += dt;
        for (std::size_t kind = 0; kind < kinds; ++kind)
          if (comm_active[kind] > 0) {  // attribute to the first kind running (deterministic order)
            exposed_by_kind[kind] += dt;
            break;
          }
      } else if (active[3] > 0) {
        r.breakdown.waiting_for_host += dt;
      } else {
        r.breakdown.bubble += dt;
      }
    };
    for (const Edge& x : ed) {
      account(x.at);
      prev = x.at;
      active[x.cls] += x.delta;
      if (x.cls == 2) comm_active[static_cast<std::size_t>(x.kind)] += x.delta;
    }
    account(end);
  }
  for (std::size_t kind = 0; kind < kinds; ++kind)
    if (exposed_by_kind[kind] > 0) r.exposed_communication_by_kind[to_string(static_cast<TaskKind>(kind))] = exposed_by_kind[kind];
  for (StreamId s = 0; s < g.stream_count(); ++s)
    r.streams.push_back({g.stream_rank(s), g.stream_name(s), busy[s], r.seconds > 0 ? busy[s] / r.seconds : 0.0});
}

// The chains of one part's passes (F, B, W) for one micro-batch.
// ZeRO-3: each layer's weights are all-gathered (BF16) before its forward and its backward.
class ChainFactory {
 public:
  ChainFactory(const Scenario& s, const Layout& l, ProgramBuilder& b)
      : s_(s), l_(l), b_(b), parts_(static_cast<int>(l.part_layers.size())), zero3_(s.parallel.zero == 3) {}

  // Without labels a pass's chain is the same for every micro-batch: built once, then reused. With
  // labels (a trace) each micro-batch's is built and kept (`labelled_`), so every chain is returned
  // by reference and no pass copies one.
  const Chain& forward(int part, int mb) {
    if (!b_.labels()) return cached(0, part, [&] { return build_forward(part, 0); });
    return labelled_.emplace_back(build_forward(part, mb));
  }
  const Chain& backward(int part, int mb, bool with_weights) {
    if (!b_.labels()) return cached(with_weights ? 1 : 2, part, [&] { return build_backward(part, 0, with_weights, false); });
    return labelled_.emplace_back(build_backward(part, mb, with_weights, false));
  }
  // The backward half of a DualPipe F&B pair. With a split backward its weight gradients run
  // beside the communication after them (DeepSeek-V3 Figure 4: MLP(B), then MLP(W) while
  // DISPATCH(B) is in flight); without, each op's weight gradient follows its input gradient.
  const Chain& pair_backward(int part, int mb) {
    const bool beside = l_.schedule.split_backward;
    if (!b_.labels()) return cached(beside ? 4 : 1, part, [&] { return build_backward(part, 0, true, beside); });
    return labelled_.emplace_back(build_backward(part, mb, true, beside));
  }
  const Chain& weights(int part, int mb) {
    if (!b_.labels()) return cached(3, part, [&] { return build_weights(part, 0); });
    return labelled_.emplace_back(build_weights(part, mb));
  }

 private:
  template <class F>
  const Chain& cached(int pass, int part, F build) {
    auto [it, fresh] = cache_.try_emplace({pass, part});
    if (fresh) it->second = build();
    return it->second;
  }

  // "mb3 L12 " for a layer's ops, "mb3 " for the others (labels only when the program has them).
  static std::string block_label(const std::string& mb, const PartBlock& b) {
    return b.kind == PartBlock::layer ? mb + "L" + std::to_string(b.index) + " " : mb;
  }

  Chain build_forward(int part, int mb) {
    Chain c;
    const std::string p = "mb" + std::to_string(mb) + " ";
    for (const PartBlock& b : part_blocks(s_, l_, part)) fwd_ops(c, *b.ops, block_label(p, b));
    b_.add_jitter_waits(c);
    return c;
  }

  Chain build_backward(int part, int mb, bool with_weights, bool weights_beside_comm) {
    Chain c;
    const std::string p = "mb" + std::to_string(mb) + " ";
    const auto blocks = part_blocks(s_, l_, part);
    for (auto b = blocks.rbegin(); b != blocks.rend(); ++b)
      bwd_ops(c, *b->ops, block_label(p, *b), with_weights, b->kind == PartBlock::layer, weights_beside_comm);
    b_.add_jitter_waits(c);
    return c;
  }

  Chain build_weights(int part, int mb) {
    Chain c;
    const std::string p = "mb" + std::to_string(mb) + " ";
    const auto blocks = part_blocks(s_, l_, part);
    for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) {
      const std::size_t from = c.size();
      b_.weights(*b->ops, block_label(p, *b), c);
      mark_graph_heads(c, from);
    }
    b_.add_jitter_waits(c);
    return c;
  }

  void gather(Chain& c, const std::vector<Op>& ops, const std::string& label) {
    if (!zero3_) return;
    double dense = 0, experts = 0;
    for (const Op& op : ops) (op.expert_params ? experts : dense) += static_cast<double>(op.params);
    if (dense + experts <= 0) return;
    Item it;
    if (b_.labels()) it.label = label + " weights all-gather (ZeRO-3)";
    it.is_comm = it.prefetch = true;
    it.scale_out = b_.dp_nodes() > 1 || b_.edp_nodes() > 1;
    it.stream = kDp;
    it.kind = TaskKind::comm_dp;
    // Each all-gather that moves no bytes (a dense model's experts) costs nothing, not a ring's latency.
    for (const auto& [params, ranks, nodes] : {std::tuple{dense, l_.dense_dp(), b_.dp_nodes()}, std::tuple{experts, l_.edp, b_.edp_nodes()}})
      if (params > 0) it.comm_time = it.comm_time + ring_collective_time(CollectiveKind::all_gather, 2.0 * params, ranks, nodes, s_.cluster);
    it.gather_dense_params = dense;
    it.gather_expert_params = experts;
    it.bytes_key = "dp all-gather (ZeRO-3)";
    it.bytes = 2.0 * dense * (l_.dense_dp() - 1) / l_.dense_dp() + 2.0 * experts * (l_.edp - 1) / std::max(1, l_.edp);
    c.push_back(it);
  }
  // Marks the first item appended after `from` as waiting for the prefetch at `from - 1`.
  void wait(Chain& c, std::size_t from) const {
    if (zero3_ && from > 0 && from < c.size() && c[from - 1].prefetch) c[from].waits_for = static_cast<int>(from - 1);
  }
  // A list of ops in a pass, after its ZeRO-3 weight gather.
  void fwd_ops(Chain& c, const std::vector<Op>& ops, const std::string& prefix) {
    gather(c, ops, prefix);
    const std::size_t from = c.size();
    b_.forward(ops, prefix, c);
    mark_graph_heads(c, from);
    wait(c, from);
  }
  void bwd_ops(Chain& c, const std::vector<Op>& ops, const std::string& prefix, bool with_weights, bool layer,
               bool weights_beside_comm) {
    gather(c, ops, prefix);
    const std::size_t from = c.size();
    if (layer && s_.parallel.recompute == Recompute::full) b_.forward(ops, prefix + "recompute ", c);
    if (layer && s_.parallel.recompute == Recompute::selective) {
      std::vector<Op> cheap;
      const std::uint32_t modules = s_.parallel.recompute_modules;
      for (const Op& op : ops)
        if (modules != 0 ? (op.modules & modules) != 0 : op.rerun_selective) cheap.push_back(op);
      b_.forward(cheap, prefix + "recompute ", c);
    }
    b_.backward(ops, prefix, with_weights, c, weights_beside_comm);
    mark_graph_heads(c, from);
    wait(c, from);
  }

  const Scenario& s_;
  const Layout& l_;
  ProgramBuilder& b_;
  int parts_;
  bool zero3_;
  std::map<std::pair<int, int>, Chain> cache_;  // (pass, part) -> chain, without labels
  std::deque<Chain> labelled_;                  // with labels: every chain built (stable references)
};

}  // namespace

std::optional<Infeasible> layout_infeasibility(const Scenario& s) {
  const ParallelSpec& p = s.parallel;
  const ModelSpec& m = s.model;
  const int gpus = s.cluster.gpus();
  using I = Infeasibility;
  auto fail = [](Infeasibility code, const std::string& msg, std::map<std::string, double> numbers) {
    return std::optional<Infeasible>(Infeasible{code, msg, std::move(numbers)});
  };
  if (gpus % (p.tp * p.pp * p.cp) != 0)
    return fail(I::parallel_divides_gpus, "tp*pp*cp = " + std::to_string(p.tp * p.pp * p.cp) + " does not divide the " + std::to_string(gpus) + " GPUs",
                {{"tp*pp*cp", p.tp * p.pp * p.cp}, {"gpus", gpus}});
  const int dp = s.dp();
  if (p.tp > s.cluster.gpus_per_node)
    return fail(I::tp_within_node, "tp " + std::to_string(p.tp) + " exceeds the GPUs of a node (" + std::to_string(s.cluster.gpus_per_node) +
                                       "): tensor parallelism stays on NVLink",
                {{"tp", p.tp}, {"gpus_per_node", s.cluster.gpus_per_node}});
  if (m.attention.heads % p.tp != 0)
    return fail(I::tp_divides_heads, "tp " + std::to_string(p.tp) + " does not divide the " + std::to_string(m.attention.heads) + " attention heads",
                {{"tp", p.tp}, {"heads", m.attention.heads}});
  const ScheduleKind kind = parse_schedule(p.schedule);
  const int chunks = chunks_per_rank(kind, p.virtual_stages);
  if (p.pp * chunks > m.layers)
    return fail(I::pp_within_layers, "pp " + std::to_string(p.pp) + (chunks > 1 ? " x " + std::to_string(chunks) + " chunks" : "") +
                                         " exceeds the " + std::to_string(m.layers) + " layers",
                {{"parts", p.pp * chunks}, {"layers", m.layers}});
  if (p.ep > 1) {
    if (!m.ffn.moe) return fail(I::ep_needs_moe, "ep " + std::to_string(p.ep) + " needs a mixture-of-experts model", {{"ep", p.ep}});
    if (m.ffn.experts % p.ep != 0)
      return fail(I::ep_divides_experts, "ep " + std::to_string(p.ep) + " does not divide the " + std::to_string(m.ffn.experts) + " experts",
                  {{"ep", p.ep}, {"experts", m.ffn.experts}});
    if ((dp * p.tp * p.cp) % p.ep != 0)
      return fail(I::ep_divides_ranks, "ep " + std::to_string(p.ep) + " does not divide dp*tp*cp = " + std::to_string(dp * p.tp * p.cp),
                  {{"ep", p.ep}, {"dp*tp*cp", dp * p.tp * p.cp}});
  }
  if (s.training.seq_len % p.cp != 0)
    return fail(I::cp_divides_sequence, "cp " + std::to_string(p.cp) + " does not divide seq_len",
                {{"cp", p.cp}, {"seq_len", static_cast<double>(s.training.seq_len)}});
  const std::int64_t per_step = std::int64_t{dp} * p.micro_batch;
  if (s.training.global_batch % per_step != 0)
    return fail(I::batch_divides, "global_batch " + std::to_string(s.training.global_batch) + " is not a multiple of dp (" + std::to_string(dp) +
                                      ") x micro_batch (" + std::to_string(p.micro_batch) + ")",
                {{"global_batch", static_cast<double>(s.training.global_batch)}, {"dp", dp}, {"micro_batch", p.micro_batch}});
  const int micro_batches = static_cast<int>(s.training.global_batch / per_step);
  if (auto problem = schedule_problem({kind, p.pp, micro_batches, p.virtual_stages}))
    return fail(I::schedule, *problem, {{"stages", p.pp}, {"micro_batches", micro_batches}, {"virtual_stages", p.virtual_stages}});
  if (p.cuda_graph_scopes) {
    std::optional<std::string> problem = graph_scope_problem(p, m);
    if (!problem && !s.cluster.gpu.graph_kernel_gap_seconds)
      problem = "the GPU file of " + s.cluster.gpu.name + " gives no graph_kernel_gap (time per kernel replayed from a graph)";
    if (!problem && p.split_backward && splits_backward(kind))
      problem = "CUDA graphs with weight gradients deferred to W passes (" + p.schedule + ") are not simulated; split_backward: false runs each backward whole";
    if (problem) return fail(I::cuda_graphs, "cuda_graph_scope: " + *problem, {});
  }
  const int parts = schedule_positions(kind, p.pp, p.virtual_stages);
  if (!p.layers_per_part.empty() && static_cast<int>(p.layers_per_part.size()) != parts)
    return fail(I::layers_per_part, "layers_per_part has " + std::to_string(p.layers_per_part.size()) +
                                        " entries; the schedule cuts the model into " + std::to_string(parts) + " parts",
                {{"entries", static_cast<double>(p.layers_per_part.size())}, {"parts", parts}});
  return std::nullopt;
}

void check_layout(const Scenario& s) {
  if (auto why = layout_infeasibility(s)) throw InfeasibleLayout(*why);
}

Scenario with_network_uncertainty(const Scenario& input) {
  Scenario s = input;
  if (s.uncertainty.network_bandwidth_scale != 1.0) {
    NetworkSpec& n = s.cluster.network;
    for (double* e : {&n.nvlink_efficiency, &n.nvls_efficiency, &n.nic_efficiency, &n.ep_nvlink_efficiency})
      *e *= s.uncertainty.network_bandwidth_scale;
  }
  return s;
}

// What the step assumed of per-kernel jitter (ProgramBuilder::add_jitter_waits); empty without
// expert-, tensor- or context-parallel collectives.
std::string jitter_assumption(const Scenario& s) {
  const ParallelSpec& p = s.parallel;
  const int widest = std::max({p.ep, p.tp, p.cp});
  if (widest <= 1) return "";
  if (!s.cluster.jitter) return "kernel jitter: off, every kernel at its mean time on every rank (jitter: false)";
  if (s.cluster.gpu.kernel_jitter <= 0) return "kernel jitter: not measured for this GPU (not simulated)";
  return fmt::format(
      "kernel jitter: each kernel's time varies by {:.1f}% (the GPU's kernel_jitter), independently on every rank; an "
      "expert-, tensor- or context-parallel collective of P ranks waits for the slowest, E[max of P normals] standard "
      "deviations of the compute each ran since the collective before it ({:.2f} for the widest group, {}; switch: "
      "jitter: false)",
      100 * s.cluster.gpu.kernel_jitter, expected_max_standard_normal(widest), widest);
}

// How the FP8 recipe prices each cast (opgraph_builder.cpp, apply_current_scaling).
std::string fp8_recipe_assumption(Fp8Recipe recipe) {
  switch (recipe) {
    case Fp8Recipe::current:
      return "FP8 recipe: current scaling: each cast of an activation or gradient to FP8 first reads the tensor for its "
             "amax: amax, scale and cast, three kernels per tensor and per local expert of a grouped GEMM (Transformer "
             "Engine's Float8CurrentScaling)";
    case Fp8Recipe::blockwise:
      return "FP8 recipe: blockwise: each 1x128 tile scaled in the one casting pass (DeepSeek-V3 §3.3)";
    case Fp8Recipe::delayed:
      break;
  }
  return "FP8 recipe: delayed scaling: the cast uses earlier steps' amax and records this one's in the same pass "
         "(Transformer Engine's DelayedScaling; training.fp8_recipe to change)";
}

// What the step assumed of the host that launches its kernels, and what waiting for it cost.
std::string host_assumption(const Scenario& s, const StepBreakdown& b) {
  if (s.cluster.host_launch_seconds <= 0)
    return "host: off, an ideal host (every kernel launched the moment it may run; cluster: {host: true} simulates it)";
  std::string graphs;
  if (const std::uint32_t scopes = s.parallel.cuda_graph_scopes) {
    for (const auto& [scope, name] : EnumTable<GraphScope>::names)
      if (scopes & bit(scope)) graphs += (graphs.empty() ? "" : ", ") + std::string(name);
    graphs = fmt::format("; each layer's {} replayed from CUDA graphs, one launch per graph and pass, {:.1f} us between "
                         "their kernels",
                         graphs, s.cluster.gpu.graph_kernel_gap_seconds.value_or(0) * 1e6);
  }
  return fmt::format(
      "host: each rank's kernels are launched one after another by an eager framework, {:.0f} us of CPU each "
      "(hardware/host.yaml: DeepSeek's training profile), a grouped GEMM one launch per local expert, an FP8 GEMM's "
      "quantization another{}; a MoE layer's forward dispatch waits on the CPU for its token counts per expert. The GPU "
      "waits for the host {:.3f} s per step",
      s.cluster.host_launch_seconds * 1e6, graphs, b.waiting_for_host);
}

StepResult simulate_step(const Scenario& input, const TraceSink& trace) { return simulate_step(input, make_layout(input), trace); }

StepResult simulate_step(const Scenario& input, const Layout& l, const TraceSink& trace) {
  const Scenario s = with_network_uncertainty(input);
  StepResult r;
  r.stages = memory_plan(s, l);
  if (auto why = memory_infeasibility(s, r.stages)) throw InfeasibleLayout(*why);
  r.peak = *std::max_element(r.stages.begin(), r.stages.end(),
                             [](const StagePlan& a, const StagePlan& b) { return a.total() < b.total(); });
  r.dp = l.dp;
  r.micro_batches = l.micro_batches;
  const KernelModel kernels(s.cluster, s.uncertainty.kernel_time_scale);
  ProgramBuilder b(s, l, kernels, trace != nullptr);
  const int pp = s.parallel.pp;
  const int parts = static_cast<int>(l.part_layers.size());
  const bool zero3 = s.parallel.zero == 3;
  const Schedule& sched = l.schedule;

  ChainFactory chains(s, l, b);
  auto forward_chain = [&](int part, int mb) -> const Chain& { return chains.forward(part, mb); };
  auto backward_chain = [&](int part, int mb, bool with_weights) -> const Chain& { return chains.backward(part, mb, with_weights); };
  auto weight_chain = [&](int part, int mb) -> const Chain& { return chains.weights(part, mb); };
  if (!b.labels()) {  // the passes' items, plus a quarter for transfers and reductions: room reserved once
    std::size_t items = 0;
    for (int rank = 0; rank < pp; ++rank)
      for (const StageOp& op : sched.ops[rank]) {
        const int part = sched.position(rank, op.chunk, op.microbatch);
        if (op.pass == Pass::F || op.pass == Pass::FB) items += forward_chain(part, 0).size();
        if (op.pass == Pass::B) items += backward_chain(part, 0, op.full_backward).size();
        if (op.pass == Pass::W) items += weight_chain(part, 0).size();
        if (op.pass == Pass::FB) items += chains.pair_backward(sched.position(rank, op.chunk2, op.microbatch2), 0).size();
      }
    b.graph().reserve(items + items / 4, 2 * items);
  }

  // Pipeline transfers: activations (forward) and their gradients (backward) of one micro-batch.
  // With sequence parallelism each TP rank sends its T/tp slice (Megatron's scatter-gather
  // optimisation sends 1/tp of the replicated activations too, Narayanan et al. 2021 §4.1).
  const double boundary_bytes = static_cast<double>(l.graph.tokens / s.parallel.tp) * s.model.hidden * 2.0;
  const Time boundary_time = p2p_time(boundary_bytes, b.pp_cross_node(), s.cluster);
  std::optional<StepFlows> flows;
  if (s.cluster.flows && s.cluster.nodes > 1) b.use_flows(&flows.emplace(s));
  std::vector<int> part_rank(static_cast<std::size_t>(parts));
  for (int rank = 0; rank < pp; ++rank)
    for (int part : detail::parts_of_rank(l, rank)) part_rank[static_cast<std::size_t>(part)] = rank;
  std::map<std::pair<int, int>, TaskId> sent_f, sent_b, done_f;  // (micro-batch, part)
  // Part `part` on `rank` sends its boundary to part `to`.
  auto send = [&](int rank, int to, TaskId after, const std::string& what) {
    const int receiver = part_rank[static_cast<std::size_t>(to)];
    const TaskId t = flows && b.pp_cross_node() && receiver != rank
                         ? b.add_flow_task(rank, kPp, flows->send(boundary_bytes, rank, receiver), TaskKind::comm_pp, what)
                         : b.add_task(rank, kPp, boundary_time, TaskKind::comm_pp, what, b.pp_cross_node());
    b.graph().add_dependency(after, t);
    b.comm_bytes()["pp send/recv"] += boundary_bytes;
    return t;
  };
  auto f_entry = [&](int part, int mb) -> std::optional<TaskId> {
    if (part == 0) return std::nullopt;
    return sent_f.at({mb, part - 1});
  };
  auto b_entry = [&](int part, int mb) -> std::optional<TaskId> {
    if (part + 1 == parts) return done_f.at({mb, part});
    return sent_b.at({mb, part + 1});
  };
  auto finish_f = [&](int rank, int part, int mb, TaskId last) {
    done_f[{mb, part}] = last;
    if (part + 1 < parts) sent_f[{mb, part}] = send(rank, part + 1, last, "send activations mb" + std::to_string(mb));
  };
  auto finish_b = [&](int rank, int part, int mb, TaskId last) {
    if (part > 0) sent_b[{mb, part}] = send(rank, part - 1, last, "send gradients mb" + std::to_string(mb));
  };

  // Gradient buckets: a part's gradients are final after the last pass that computes weight
  // gradients for it (a full B, a W, or the backward half of an F&B).
  std::map<std::pair<int, int>, int> passes_left;  // (rank, part) -> passes still to run
  for (int rank = 0; rank < pp; ++rank)
    for (const StageOp& op : sched.ops[rank]) {
      auto count = [&](int mb, int chunk) { ++passes_left[{rank, sched.position(rank, chunk, mb)}]; };
      if (op.pass == Pass::W || (op.pass == Pass::B && op.full_backward)) count(op.microbatch, op.chunk);
      if (op.pass == Pass::FB) count(op.microbatch2, op.chunk2);
    }
  std::vector<std::vector<TaskId>> buckets(pp);
  const bool zero_shard = s.parallel.zero >= 1;
  const auto grad_kind = zero_shard ? CollectiveKind::reduce_scatter : CollectiveKind::all_reduce;
  auto flush = [&](int rank, double dense, double experts, TaskId after) {
    for (const auto& [params, ranks, nodes, stride, what] :
         {std::tuple{dense, l.dense_dp(), b.dp_nodes(), s.parallel.tp, "grads"},
          std::tuple{experts, l.edp, b.edp_nodes(), edp_stride(s), "expert grads"}}) {
      if (params <= 0 || ranks <= 1) continue;
      const double bytes = 2.0 * params;  // BF16 gradients
      const TaskId task = b.dp_transfer(rank, grad_kind, bytes, ranks, stride, nodes,
                                  ring_collective_time(grad_kind, bytes, ranks, nodes, s.cluster),
                                  std::string(what) + (zero_shard ? " reduce-scatter" : " all-reduce"));
      b.graph().add_dependency(after, task);
      buckets[rank].push_back(task);
      b.comm_bytes()[zero_shard ? "dp reduce-scatter" : "dp all-reduce"] += bytes * (ranks - 1) / ranks;
    }
  };
  // On the last pass that computes a part's weight gradients, reduce them in buckets as soon as
  // each bucket is full.
  auto reduce_grads = [&](int rank, int part, const Chain& chain, const std::vector<TaskId>& tasks) {
    // ZeRO-3 (partitioned gradients) reduce-scatters after every pass; the others accumulate.
    if (--passes_left[{rank, part}] > 0 && !zero3) return;
    double dense = 0, experts = 0;
    for (std::size_t i = 0; i < chain.size(); ++i) {
      dense += chain[i].grad_params - chain[i].grad_expert_params;
      experts += chain[i].grad_expert_params;
      if (2.0 * (dense + experts) >= kBucketBytes) {
        flush(rank, dense, experts, tasks[i]);
        dense = experts = 0;
      }
    }
    flush(rank, dense, experts, tasks.back());
  };

  // Walk the schedules in a global order that respects every cross-rank dependency: repeatedly
  // emit each rank's next op whose inputs have been emitted.
  std::vector<std::size_t> next(pp, 0);
  std::size_t remaining = 0;
  for (int rank = 0; rank < pp; ++rank) remaining += sched.ops[rank].size();
  auto ready = [&](int rank, const StageOp& op) {
    auto f_ok = [&](int mb, int chunk) {
      const int part = sched.position(rank, chunk, mb);
      return part == 0 || sent_f.count({mb, part - 1});
    };
    auto b_ok = [&](int mb, int chunk) {
      const int part = sched.position(rank, chunk, mb);
      return part + 1 == parts ? done_f.count({mb, part}) > 0 : sent_b.count({mb, part + 1}) > 0;
    };
    switch (op.pass) {
      case Pass::F: return f_ok(op.microbatch, op.chunk);
      case Pass::B: return b_ok(op.microbatch, op.chunk);
      case Pass::W: return true;
      case Pass::FB: return f_ok(op.microbatch, op.chunk) && b_ok(op.microbatch2, op.chunk2);
    }
    return false;
  };
  while (remaining > 0) {
    bool progressed = false;
    for (int rank = 0; rank < pp; ++rank) {
      while (next[rank] < sched.ops[rank].size() && ready(rank, sched.ops[rank][next[rank]])) {
        const StageOp& op = sched.ops[rank][next[rank]++];
        --remaining;
        progressed = true;
        const int part = sched.position(rank, op.chunk, op.microbatch);
        switch (op.pass) {
          case Pass::F:
            finish_f(rank, part, op.microbatch, b.emit(rank, forward_chain(part, op.microbatch), f_entry(part, op.microbatch)).back());
            break;
          case Pass::B: {
            const Chain& chain = backward_chain(part, op.microbatch, op.full_backward);
            const auto tasks = b.emit(rank, chain, b_entry(part, op.microbatch));
            finish_b(rank, part, op.microbatch, tasks.back());
            if (op.full_backward) reduce_grads(rank, part, chain, tasks);
            break;
          }
          case Pass::W: {
            const Chain& chain = weight_chain(part, op.microbatch);
            if (chain.empty()) {
              --passes_left[{rank, part}];
              break;
            }
            reduce_grads(rank, part, chain, b.emit(rank, chain, std::nullopt));
            break;
          }
          case Pass::FB: {
            const int bpart = sched.position(rank, op.chunk2, op.microbatch2);
            const Chain& bchain = chains.pair_backward(bpart, op.microbatch2);
            const auto [tf, tb] = b.emit_pair(rank, forward_chain(part, op.microbatch), f_entry(part, op.microbatch),
                                              bchain, b_entry(bpart, op.microbatch2));
            finish_f(rank, part, op.microbatch, tf.back());
            finish_b(rank, bpart, op.microbatch2, tb.back());
            reduce_grads(rank, bpart, bchain, tb);
            break;
          }
        }
      }
    }
    GPUHOURS_ASSERT(progressed, "the schedules' dependencies form no cycle");
  }

  // Gradient clipping: every rank's gradients are final, reduced over its data-parallel group,
  // before any rank updates its weights, for the global norm they are clipped by (Megatron-Core's
  // --clip-grad, default 1.0; DeepSeek-V3 §4.2 clips at 1.0). One zero-work task per rank marks its
  // gradients final: after its last backward kernel (on the compute stream) and its last bucket.
  std::vector<TaskId> grads_final(pp);
  for (int rank = 0; rank < pp; ++rank) {
    grads_final[rank] = b.add_task(rank, kCompute, Time(), TaskKind::optimizer, "gradients final (global norm)");
    for (TaskId bt : buckets[rank]) b.graph().add_dependency(bt, grads_final[rank]);
  }
  // Optimizer: after every rank's gradients are final; ZeRO-1/2 all-gathers the updated weights.
  for (int rank = 0; rank < pp; ++rank) {
    const StagePlan& st = r.stages[rank];
    const OptimizerTimes t = optimizer_times(s, st, l.dense_dp(), l.edp, b.dp_nodes(), b.edp_nodes());
    const TaskId opt = b.add_task(rank, kCompute, t.step, TaskKind::optimizer, "optimizer step (AdamW)");
    for (int other = 0; other < pp; ++other)
      if (other != rank) b.graph().add_dependency(grads_final[other], opt);
    const double dense = st.params - st.expert_params;
    for (const auto& [params, ranks, nodes, stride, what, time] :
         {std::tuple{dense, l.dense_dp(), b.dp_nodes(), s.parallel.tp, "weights all-gather", t.gather_dense},
          std::tuple{st.expert_params, l.edp, b.edp_nodes(), edp_stride(s), "expert weights all-gather", t.gather_experts}}) {
      if (time == Time()) continue;
      const TaskId t2 = b.dp_transfer(rank, CollectiveKind::all_gather, 2.0 * params, ranks, stride, nodes, time, what);
      b.graph().add_dependency(opt, t2);
      b.comm_bytes()["dp all-gather"] += 2.0 * params * (ranks - 1) / ranks;
    }
  }

  Engine engine(b.graph(), flows ? &flows->model() : nullptr);
  const Time makespan = engine.run();
  r.seconds = makespan.seconds();
  if (flows) r.busiest_links = flows->busiest(r.seconds);
  r.tasks = b.graph().task_count();
  r.tokens = s.training.global_batch * s.training.seq_len;
  r.tokens_per_gpu_second = static_cast<double>(r.tokens) / (r.seconds * s.cluster.gpus());
  r.model_flops_per_token = model_flops_per_token(s.model, s.training.seq_len);
  const char* dtype = to_string(s.training.precision);
  r.mfu = r.model_flops_per_token * r.tokens_per_gpu_second / peak_flops_per_s(s.cluster.gpu, s.training.precision);
  fill_breakdown(engine, pp, r);
  for (const auto& [k, v] : b.comm_bytes()) r.comm_bytes_per_step[k] = v / pp;  // mean over pipeline ranks
  r.assumptions = kernels.assumptions();
  r.assumptions.push_back("rank symmetry: one rank per pipeline stage is simulated (" + std::to_string(pp) +
                          " of " + std::to_string(s.cluster.gpus()) + " GPUs); its data-, tensor-, context- and "
                          "expert-parallel peers do identical work");
  if (flows)
    r.assumptions.push_back(fmt::format(
        "collectives: data- and pipeline-parallel transfers across nodes run as flows on {} ({} links), sharing links "
        "by max-min fairness with every transfer in flight; each stands for its whole pipeline stage (stage r on GPUs "
        "[r x {}, (r + 1) x {}), every group of the stage at once); expert dispatch / combine and transfers inside a "
        "node: NCCL ring / DeepEP closed forms, sharing the rank's NIC with each other equally; communication kernels "
        "take the SMs they occupy from concurrent compute: {}",
        s.cluster.network.name, flows->topology().link_count(), s.cluster.gpus() / pp, s.cluster.gpus() / pp, sm_use(s.cluster)));
  else
    r.assumptions.push_back("collectives: NCCL ring / DeepEP closed forms for each transfer alone; concurrent scale-out "
                            "transfers of a rank share its NIC equally (contention between ranks through the switches is "
                            "not simulated in the step; cluster: {flows: true} runs them as flows); communication kernels "
                            "take the SMs they occupy from concurrent compute: " + sm_use(s.cluster));
  if (pp > 1)
    r.assumptions.push_back("optimizer: no stage steps before every stage's gradients are reduced, for the global "
                            "gradient norm they are clipped by (its all-reduce of a few bytes is not timed)");
  if (gemms_partitioned(s))
    r.assumptions.push_back(fmt::format(
        "FP8 GEMMs: persistent kernels on the {} of {} SMs the expert dispatch / combine kernels leave, for the whole "
        "step (gemm_sms: partitioned, DeepGEMM's num_sms); they lose SMs only when more communication kernels run than that; "
        "their quantization passes and the BF16 GEMMs take the free SMs; {}",
        std::lround(s.cluster.gpu.sms * (1.0 - comm_sm_share(s.cluster.network.comm_sms, s.cluster.gpu))),
        s.cluster.gpu.sms, slowdown_beside_comm_assumption(s.cluster)));
  if (auto a = group_placement_assumption(s, l); !a.empty()) r.assumptions.push_back(a);
  if (auto a = expert_imbalance_assumption(s); !a.empty()) r.assumptions.push_back(a);
  if (auto a = jitter_assumption(s); !a.empty()) r.assumptions.push_back(a);
  if (s.training.precision == Precision::fp8) r.assumptions.push_back(fp8_recipe_assumption(s.training.fp8_recipe));
  if (s.model.ffn.moe && s.training.precision == Precision::fp8)
    r.assumptions.push_back(
        std::string("expert dispatch (") + to_string(s.parallel.dispatcher) + "): " +
        (l.shape.dispatch_fp8 ? "tokens travel to the experts in FP8, and so do their gradients back to them (DeepSeek-V3 "
                                "§3.3.2)"
                              : "tokens travel to the experts in BF16 and are quantized there, as Megatron-Core's "
                                "dispatchers send them (dispatch_precision: fp8 to send FP8)") +
        (s.parallel.dispatch_precision ? " (given)" : ""));
  if (s.model.ffn.moe && s.model.bias)
    r.assumptions.push_back(
        s.parallel.expert_bias_fused
            ? "expert biases: fused into the grouped GEMMs (expert_bias_fused: true, Transformer Engine's op fuser)"
            : "expert biases: the second projection's bias added after its grouped GEMM by Megatron-Core's eager loop "
              "over the local experts, 2 kernels per expert forward and 5 backward (expert_bias_fused: true to fuse it)");
  r.assumptions.push_back(host_assumption(s, r.breakdown));
  r.assumptions.push_back("schedule " + std::string(to_string(sched.spec.kind)) + ", " + std::to_string(l.micro_batches) +
                          " micro-batches of " + std::to_string(s.parallel.micro_batch) + " per data-parallel rank" +
                          (sched.spec.overlap_pairs ? "; expert all-to-all overlap: one more warm-up forward, then each "
                                                      "steady-state forward and backward run as one F&B pair, the "
                                                      "all-to-alls of one beside the compute of the other (Megatron-Core "
                                                      "--overlap-moe-expert-parallel-comm)"
                                                    : ""));
  r.assumptions.push_back("memory: " + std::to_string(s.memory.comm_buffer_bytes / (1 << 30)).substr(0, 4) +
                          " GiB of communication buffers and a " + std::to_string(s.memory.fragmentation * 100).substr(0, 4) +
                          "% fragmentation allowance per GPU (assumed)");
  r.assumptions.push_back("MFU convention: 6 x active matmul weights (LM head included) + causal attention "
                          "3*L*a*s*(d_qk+d_v) FLOPs per token, against the dense " + std::string(dtype) + " peak");
  if (trace) {
    std::vector<std::string> names;
    for (int rank = 0; rank < pp; ++rank) names.push_back("pipeline rank " + std::to_string(rank));
    trace(engine, names, r.assumptions);
  }
  return r;
}

namespace {

PartTimes part_compute_times(const Scenario& s, const Layout& l) {
  const KernelModel kernels(s.cluster, s.uncertainty.kernel_time_scale);
  ProgramBuilder b(s, l, kernels);
  ChainFactory chains(s, l, b);
  auto times = [&](const Chain& c) {
    PartTimes::Pass p;
    std::size_t first = c.size(), last = 0;
    for (std::size_t i = 0; i < c.size(); ++i)
      if (!c[i].is_comm) {
        p.compute_ns += kernels.time(c[i].kernel).count_ns();
        first = std::min(first, i);
        last = i;
      }
    for (std::size_t i = first; i < last; ++i)
      if (c[i].is_comm && !c[i].prefetch) p.blocking_comm_ns += c[i].comm_time.count_ns();
    for (const Item& it : c)
      if (!it.prefetch) p.host_ns += b.launch_time(it).count_ns();
    return p;
  };
  PartTimes t;
  for (int part = 0; part < static_cast<int>(l.part_layers.size()); ++part) {
    t.forward.push_back(times(chains.forward(part, 0)));
    t.backward_full.push_back(times(chains.backward(part, 0, true)));
    t.backward_input.push_back(times(chains.backward(part, 0, false)));
    t.weights.push_back(times(chains.weights(part, 0)));
  }
  return t;
}

}  // namespace

PartTimes part_compute_times(const Scenario& s) { return part_compute_times(s, make_layout(s)); }

std::shared_ptr<const ShapeData> build_shape_data(const Scenario& s) {
  auto d = std::make_shared<ShapeData>();
  d->layout = make_layout(s);
  d->times = part_compute_times(s, d->layout);
  return d;
}

const PartTimes& part_times(const ShapeData& shape) { return shape.times; }

Layout make_layout(const Scenario& s, const ShapeData& shape) { return make_layout(s, &shape.layout); }

bool gemms_partitioned(const Scenario& s) {
  return s.parallel.gemm_sms == GemmSms::partitioned && s.model.ffn.moe && s.parallel.ep > 1;
}

std::string part_times_key(const Scenario& s) {
  const ParallelSpec& p = s.parallel;
  std::string layers;
  for (int k : p.layers_per_part) layers += std::to_string(k) + ",";
  return s.model.name + "|" + s.cluster.gpu.name + "|" + (s.cluster.calibration ? s.cluster.calibration->name : "") + "|" +
         name_of(s.cluster.clocks) + "|" +
         to_string(s.training.precision) + to_string(s.training.fp8_recipe) + "|" + std::to_string(s.training.seq_len) + "|" + std::to_string(p.tp) + "|" +
         std::to_string(p.cp) + "|" + std::to_string(p.ep) + "|" + std::to_string(p.pp) + "|" +
         std::to_string(p.virtual_stages) + "|" + std::to_string(p.micro_batch) + "|" + to_string(p.recompute) + std::to_string(p.recompute_modules) + "|" +
         p.schedule + "|" + layers + "|" + (p.expert_imbalance ? std::to_string(*p.expert_imbalance) : p.routing.name) + "|" + std::to_string(p.sequence_parallel) +
         std::to_string(p.tp_comm_overlap) + std::to_string(p.ep_comm_overlap) + to_string(p.dispatcher) +
         std::to_string(p.hybridep_fused_permute) + std::to_string(p.expert_bias_fused) + std::to_string(p.cuda_graph_scopes) + std::to_string(dispatch_fp8(p, s.training.precision)) +
         "|" + name_of(s.training.attention_kernel) + std::to_string(s.training.dropout) +
         std::to_string(s.training.autocast) + "|" + std::to_string(s.uncertainty.kernel_time_scale) + "|" +
         std::to_string(straggler_time_factor(s.cluster)) + "|" +
         std::to_string(kernel_jitter(s.cluster)) + "|" +
         std::to_string(Time::from_seconds_ceil(s.cluster.host_launch_seconds).count_ns()) + "|" +
         std::to_string(s.model.layers);
}

double step_lower_bound(const Scenario& s, const Layout& l, const PartTimes& t, const std::vector<StagePlan>& stages) {
  const ParallelSpec& p = s.parallel;
  const int G = s.cluster.gpus_per_node;
  const int dense_dp = s.dp() * p.cp, edp = std::max(1, s.dp() * p.tp * p.cp / p.ep);
  const int dp_nodes = group_nodes(dense_dp, p.tp, G), edp_nodes = group_nodes(edp, edp_stride(s), G);
  const Schedule& sched = l.schedule;
  auto sum_below = [](const std::vector<PartTimes::Pass>& v, int part) {
    std::int64_t ns = 0;
    for (int q = 0; q < part; ++q) ns += v[static_cast<std::size_t>(q)].serial_ns();
    return ns;
  };
  std::int64_t bound = 0;
  for (int rank = 0; rank < p.pp; ++rank) {
    const auto& ops = sched.ops[static_cast<std::size_t>(rank)];
    if (ops.empty()) continue;
    std::int64_t busy = 0, host = 0;
    for (const StageOp& op : ops) {
      const auto part = static_cast<std::size_t>(sched.position(rank, op.chunk, op.microbatch));
      switch (op.pass) {
        case Pass::F:
          busy += t.forward[part].serial_ns();
          host += t.forward[part].host_ns;
          break;
        case Pass::B: {
          const PartTimes::Pass& b = op.full_backward ? t.backward_full[part] : t.backward_input[part];
          busy += b.serial_ns();
          host += b.host_ns;
          break;
        }
        case Pass::W:
          busy += t.weights[part].serial_ns();
          host += t.weights[part].host_ns;
          break;
        case Pass::FB: {
          const PartTimes::Pass& b = t.backward_full[static_cast<std::size_t>(sched.position(rank, op.chunk2, op.microbatch2))];
          busy += t.forward[part].compute_ns + b.compute_ns;
          host += t.forward[part].host_ns + b.host_ns;
          break;
        }
      }
    }
    const StageOp& first = ops.front();
    const std::int64_t head = (first.pass == Pass::F || first.pass == Pass::FB)
                                  ? sum_below(t.forward, sched.position(rank, first.chunk, first.microbatch))
                                  : 0;
    const StageOp& last = ops.back();
    const std::int64_t tail =
        last.pass == Pass::B ? sum_below(t.backward_input, sched.position(rank, last.chunk, last.microbatch)) : 0;
    // After the rank's last kernel: its optimizer step, then (ZeRO-1/2) the weight all-gathers,
    // one after the other on the dp stream.
    const OptimizerTimes opt = optimizer_times(s, stages[static_cast<std::size_t>(rank)], dense_dp, edp, dp_nodes, edp_nodes);
    const std::int64_t after = opt.step.count_ns() + opt.gather_dense.count_ns() + opt.gather_experts.count_ns();
    // Its host launches every kernel of the rank one after another.
    bound = std::max({bound, head + busy + tail, head + busy + after, host});
  }
  return static_cast<double>(bound) * 1e-9;
}

}  // namespace gpuhours
