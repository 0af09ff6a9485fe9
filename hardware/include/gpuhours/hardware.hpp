// The hardware a run uses (hardware/*.yaml): a GPU, a server (node), a network, and the cluster
// they make with an optional kernel calibration profile. Every number in those files carries its
// source; the loaders enforce it.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gpuhours/calibration.hpp"
#include "gpuhours/catalog.hpp"
#include "gpuhours/dtype.hpp"

namespace gpuhours {

struct GpuSpec {
  std::string name, title;
  std::string architecture;  // generation (hopper, ...): published MFU figures are per architecture
  std::string calibration;   // the profile measured for it (hardware/calibration/), the clusters' default; empty: none
  std::map<std::string, std::string> sources;
  std::map<std::string, double> peak_flops_per_s;  // dense, by dtype: fp64, tf32, bf16, fp8
  double hbm_bytes = 0;
  double hbm_bytes_per_s = 0;
  double l2_bytes = 0;
  int sms = 0;
  double clock_hz = 0;
  double nvlink_bytes_per_s = 0;  // per direction
  double nccl_ll_max_bus_bytes_per_s = 0;  // NCCL's cap on the LL protocol's bus bandwidth in one node
  bool nvlink_sharp = false;       // the NVSwitch reduces in the switch (NVLS all-reduce)
  int nccl_channels_in_node = 0;   // channels (one CTA, one SM each) of an NCCL ring collective in one node
  double tdp_watts = 0;
  double price_usd = 0;
  /// Measured ceilings: the fraction of the datasheet peak a real kernel of each class reached.
  struct Achievable {
    double gemm_bf16 = 1, gemm_fp8 = 1;           // of the BF16 / FP8 tensor peak
    double attention_fwd = 1, attention_bwd = 1;  // of the BF16 tensor peak
    double elementwise = 1, copy = 1;             // of HBM bandwidth
  } achievable;
  double kernel_launch_seconds = 0;  // fixed cost per kernel on the GPU
  /// Per-GPU speed spread: the coefficient of variation of the same kernel work's time across GPUs
  /// of this model (manufacturing, cooling, power delivery). A synchronous job paces at its slowest.
  double speed_variation = 0;
  std::optional<double> graph_kernel_gap_seconds;  // per kernel replayed from a CUDA graph
  /// The shortest run of a kernel that moves almost nothing: its CTAs' launch and first memory round
  /// trips, paid by every kernel on top of its bytes and FLOPs.
  double kernel_min_seconds = 0;
  /// The fraction of its rate a kernel on a fixed share of the SMs (a persistent GEMM sized to the
  /// SMs communication leaves) loses while communication kernels run on the SMs it leaves: they
  /// draw power under the same cap and use the same HBM and L2. 0: not measured for this GPU.
  double slowdown_beside_comm = 0;
  /// Per-kernel jitter: the coefficient of variation of one kernel's time from run to run on one
  /// GPU (clock and memory state). 0: not measured for this GPU.
  double kernel_jitter = 0;
};

struct NetworkSpec {
  std::string name, title, kind;  // kind: nvswitch | fat-tree
  std::map<std::string, std::string> sources;
  // fat-tree shape (topology.hpp)
  int tiers = 0;                    // 1 (leaves only), 2 (leaf-spine) or 3 (leaf-aggregation-core)
  int planes = 1;                   // 1, or gpus_per_node separate planes (one per NIC index)
  bool rail_optimised = false;      // NIC k of consecutive nodes share the leaves of rail k
  int leaf_down_ports = 0;          // NICs per leaf switch
  double oversubscription = 1;      // leaf down : up bandwidth
  int pod_gpus = 0;                 // tier 3: GPUs per pod
  double pod_oversubscription = 1;  // tier 3: aggregation down : up bandwidth
  double nic_bytes_per_s_per_gpu = 0;  // scale-out bandwidth per GPU, per direction
  double pcie_bytes_per_s = 0;         // GPU <-> NIC, per direction
  // achievable fractions of line rate (NCCL protocol overheads), measured
  double nvlink_efficiency = 1.0;   // ring over NVLink
  double nvls_efficiency = 1.0;     // NVLink SHARP all-reduce algorithm bandwidth / line rate
  double nic_efficiency = 1.0;
  double ep_nvlink_efficiency = 1.0;  // NVLink fraction DeepEP's dispatch/combine kernels reach
  // NCCL latency model (tuning.cc): per collective, per ring step in a node, per inter-node step
  double base_latency_seconds = 0;
  double nvlink_step_latency_seconds = 0;
  double net_step_latency_seconds = 0;
  // NCCL's low-latency protocols (tuning.cc): the Simple figures above are the third protocol.
  struct Protocol {
    double base_latency_seconds = 0, nvlink_step_latency_seconds = 0, net_step_latency_seconds = 0;
    double bandwidth_fraction = 0;  // of the Simple protocol's bus bandwidth (0: not used)
  };
  Protocol ll, ll128;
  double nvls_latency_seconds = 0;  // NVLink SHARP all-reduce
  double ll_max_bus_bytes_per_s_2_nodes = 0, ll_max_bus_bytes_per_s_more_nodes = 0;  // across nodes
  double net_overhead_seconds = 0;  // floor of an in-node ring step when the ring crosses nodes
  int comm_sms = 0;  // SMs an expert-parallel dispatch / combine kernel occupies (DeepEP's num_sms)
  int nccl_channels_across_nodes = 0;      // fat-tree: channels of an NCCL ring collective across nodes
  int nccl_p2p_channels_per_net_peer = 0;  // fat-tree: channels of an NCCL send / recv to a peer across nodes
};

/// A server: its GPUs, NVSwitch chips and NICs (hardware/nodes/*.yaml).
struct NodeSpec {
  std::string name, title, gpu;  // gpu: preset name
  int gpus = 0, nvswitch_chips = 0, nics = 0;
  double nic_bytes_per_s = 0, pcie_bytes_per_s = 0, system_power_watts = 0, price_usd = 0;
};

/// The clock tensor-core kernels run at: `sustained` under the power cap for the seconds a step
/// lasts (the profile's looped GEMM), or `burst`, as the profile's short timed repetitions ran.
enum class Clocks { sustained, burst };
template <>
struct EnumTable<Clocks> {
  static constexpr std::array<EnumName<Clocks>, 2> names{{{Clocks::sustained, "sustained"}, {Clocks::burst, "burst"}}};
};

struct ClusterSpec {
  GpuSpec gpu;
  std::shared_ptr<const CalibrationProfile> calibration;  // measured kernel times, or none (roofline)
  Clocks clocks = Clocks::sustained;
  /// Whether the job paces at its slowest GPU (GpuSpec::speed_variation); false: an ideal cluster.
  bool stragglers = true;
  /// Whether a GEMM on a fixed SM partition slows beside communication kernels (GpuSpec::
  /// slowdown_beside_comm); false: its rate is the partition's alone.
  bool slowdown_beside_comm = true;
  /// Whether collectives wait for the slowest participant's kernel jitter (GpuSpec::kernel_jitter).
  bool jitter = true;
  /// Whether the step runs its data- and pipeline-parallel transfers across nodes as flows that
  /// share the topology's links (max-min fairness); false: each transfer's closed form alone.
  bool flows = false;
  /// Host (CPU) time to launch one GPU kernel from an eager framework (hardware/host.yaml): the
  /// step's kernels start no earlier than the host has launched them. `host: false` in the cluster
  /// sets it to 0 (an ideal host).
  double host_launch_seconds = 0;
  int nodes = 1;
  int gpus_per_node = 1;
  NetworkSpec network;
  int gpus() const { return nodes * gpus_per_node; }
};

/// The GPU's dense peak for GEMMs in `p` (the MFU denominator); a GPU without an FP8 peak runs
/// FP8 GEMMs at its BF16 peak.
double peak_flops_per_s(const GpuSpec& gpu, Precision p);
/// The measured ceiling of a GEMM in `p`, a fraction of peak_flops_per_s(gpu, p).
double achievable_gemm_fraction(const GpuSpec& gpu, Precision p);

GpuSpec load_gpu(const YamlNode& node);
NetworkSpec load_network(const YamlNode& node);
NodeSpec load_node(const YamlNode& node);
/// A cluster mapping {gpu, nodes, gpus_per_node, network, calibration, clocks, stragglers,
/// slowdown_beside_comm, jitter, flows, host}. Without `calibration`, the
/// GPU's own profile (GpuSpec::calibration) times the kernels; `calibration: none` asks for the
/// roofline.
ClusterSpec load_cluster(const YamlNode& node, const Catalog& catalog);
/// Loads a preset by name, or throws an InputError that suggests the closest name.
GpuSpec load_gpu_preset(const std::string& name, const Catalog& catalog);
NetworkSpec load_network_preset(const std::string& name, const Catalog& catalog);
/// The GPU's own calibration profile (GpuSpec::calibration), or none.
std::shared_ptr<const CalibrationProfile> default_calibration(const GpuSpec& gpu, const Catalog& catalog);

}  // namespace gpuhours
