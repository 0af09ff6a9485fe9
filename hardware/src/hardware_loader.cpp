// Loads GPU, node, network and cluster files; every number carries its source.
#include <cmath>

#include "gpuhours/error.hpp"
#include "gpuhours/hardware.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace {
// A sourced whole number (SMs, channels, ports, GPUs), checked before the cast so that no value
// overflows an int.
int sourced_count(const YamlNode& parent, const char* key, const std::map<std::string, std::string>& sources) {
  const double v = sourced(parent, key, Dimension::ratio, sources);
  if (v != std::floor(v) || v > 1e6) throw parent.child(key).error("expected a whole number up to 1,000,000");
  return static_cast<int>(v);
}
}  // namespace

GpuSpec load_gpu(const YamlNode& n) {
  n.check_keys({{"name", true, "GPU id"},
                {"title", true, "product name"},
                {"architecture", true, "GPU generation (ampere, hopper, blackwell...): published MFU is compared per architecture"},
                {"calibration", false, "the calibration profile measured for this GPU (hardware/calibration/): clusters' default"},
                {"sources", true, "key -> citation"},
                {"peak_flops", true, "dense tensor-core peaks by dtype"},
                {"hbm_capacity", true, "device memory"},
                {"hbm_bandwidth", true, "device memory bandwidth"},
                {"l2_cache", true, "L2 size"},
                {"sms", true, "streaming multiprocessors"},
                {"clock", true, "tensor clock implied by the peak"},
                {"nvlink_bandwidth", true, "NVLink per direction"},
                {"nccl_ll_max_bus_bandwidth", true, "NCCL's cap on the LL protocol's bus bandwidth in one node (tuning.cc llMaxBws)"},
                {"nvlink_sharp", true, "whether its NVSwitch reduces in the switch (NVLink SHARP, NCCL's NVLS): {value: true|false, source}"},
                {"tdp", true, "board power"},
                {"price", true, "price per GPU"},
                {"achievable", true, "measured ceilings as fractions of peak"},
                {"kernel_launch", true, "fixed time per kernel"},
                {"graph_kernel_gap", false, "time per kernel replayed from a CUDA graph"},
                {"kernel_min_duration", true, "shortest run of a kernel that moves almost nothing (its CTAs' launch and first memory round trips)"},
                {"speed_variation", true, "coefficient of variation of one GPU's kernel time across GPUs of this model"},
                {"kernel_jitter", false, "coefficient of variation of one kernel's time from run to run on one GPU (absent: not measured, not simulated)"},
                {"slowdown_beside_comm", false, "fraction of its rate a GEMM on a fixed SM partition loses while communication kernels run on the other SMs (absent: not measured, not simulated)"},
                {"nccl_channels_in_node", true, "channels (one SM each) of an NCCL ring collective inside one node"}});
  GpuSpec g;
  g.name = n.child("name").as_string();
  g.title = n.child("title").as_string();
  g.architecture = n.child("architecture").as_string();
  g.calibration = n.optional_string("calibration");
  g.sources = load_sources(n);
  const YamlNode peaks = n.child("peak_flops");
  for (const auto& [dtype, node] : peaks.entries()) {
    static const std::vector<std::string> dtypes = {"fp64", "tf32", "bf16", "fp16", "fp8"};
    if (std::find(dtypes.begin(), dtypes.end(), dtype) == dtypes.end())
      throw node.error("unknown dtype '" + dtype + "' (one of: fp64 tf32 bf16 fp16 fp8)");
    g.peak_flops_per_s[dtype] = sourced(peaks, dtype, Dimension::flops_per_second, g.sources);
  }
  if (!g.peak_flops_per_s.count(to_string(Precision::bf16))) throw peaks.error("missing required key 'bf16'");
  g.hbm_bytes = sourced(n, "hbm_capacity", Dimension::bytes, g.sources);
  g.hbm_bytes_per_s = sourced(n, "hbm_bandwidth", Dimension::bytes_per_second, g.sources);
  g.l2_bytes = sourced(n, "l2_cache", Dimension::bytes, g.sources);
  g.sms = sourced_count(n, "sms", g.sources);
  g.clock_hz = sourced(n, "clock", Dimension::hertz, g.sources);
  g.nvlink_bytes_per_s = sourced(n, "nvlink_bandwidth", Dimension::bytes_per_second, g.sources);
  g.nccl_ll_max_bus_bytes_per_s = sourced(n, "nccl_ll_max_bus_bandwidth", Dimension::bytes_per_second, g.sources);
  {
    const YamlNode sharp = n.child("nvlink_sharp");
    if (!sharp.is_map()) throw sharp.error("expected {value: true|false, source: ...}: every hardware fact carries its source");
    sharp.check_keys({{"value", true, "true or false"}, {"source", true, "key under sources"}, {"note", false, "remark"}});
    g.nvlink_sharp = sharp.child("value").as_bool();
    check_sources(sharp, g.sources);
  }
  g.tdp_watts = sourced(n, "tdp", Dimension::watts, g.sources);
  g.price_usd = sourced(n, "price", Dimension::ratio, g.sources);
  const YamlNode ach = n.child("achievable");
  ach.check_keys({{"gemm_bf16", true, "largest measured BF16 GEMM throughput / BF16 peak"},
                  {"gemm_fp8", true, "largest measured FP8 GEMM throughput / FP8 peak"},
                  {"attention_fwd", true, "fused causal attention forward / BF16 peak"},
                  {"attention_bwd", true, "fused causal attention backward / BF16 peak"},
                  {"elementwise", true, "norm / activation kernels' bandwidth / HBM peak"},
                  {"copy", true, "large copy bandwidth / HBM peak"}});
  auto fraction = [&](const char* key) {
    const double v = sourced(ach, key, Dimension::ratio, g.sources);
    if (v > 1.0) throw ach.child(key).error("a fraction of peak cannot exceed 1");
    return v;
  };
  g.achievable = {fraction("gemm_bf16"),     fraction("gemm_fp8"),    fraction("attention_fwd"),
                  fraction("attention_bwd"), fraction("elementwise"), fraction("copy")};
  g.kernel_launch_seconds = sourced(n, "kernel_launch", Dimension::seconds, g.sources);
  if (n.has("graph_kernel_gap")) g.graph_kernel_gap_seconds = sourced(n, "graph_kernel_gap", Dimension::seconds, g.sources);
  g.kernel_min_seconds = sourced(n, "kernel_min_duration", Dimension::seconds, g.sources);
  if (!(g.kernel_min_seconds >= 0 && g.kernel_min_seconds <= 1e-4))
    throw n.child("kernel_min_duration").error("between 0 and 100 us: the run of a kernel that moves almost nothing");
  g.nccl_channels_in_node = sourced_count(n, "nccl_channels_in_node", g.sources);
  if (g.nccl_channels_in_node > g.sms)
    throw n.child("nccl_channels_in_node").error("at most the GPU's SMs: one channel occupies one SM");
  // A sourced ratio in [0, most]; `what` names it in the error.
  auto bounded = [&](const char* key, double most, const char* what) {
    const double v = sourced(n, key, Dimension::ratio, g.sources);
    if (!(v >= 0 && v <= most)) throw n.child(key).error(what);
    return v;
  };
  g.speed_variation = bounded("speed_variation", 0.3, "a coefficient of variation between 0 and 0.3 (0.021 is 2.1%)");
  if (n.has("slowdown_beside_comm"))
    g.slowdown_beside_comm = bounded("slowdown_beside_comm", 0.5, "a fraction of the rate between 0 and 0.5 (0.05 is 5%)");
  if (n.has("kernel_jitter"))
    g.kernel_jitter = bounded("kernel_jitter", 0.3, "a coefficient of variation between 0 and 0.3 (0.024 is 2.4%)");
  return g;
}

NetworkSpec load_network(const YamlNode& n) {
  n.check_keys({{"name", true, "network id"},
                {"title", true, "human name"},
                {"kind", true, "nvswitch | fat-tree"},
                {"sources", true, "key -> citation"},
                {"tiers", false, "fat-tree: 1, 2 or 3 switch layers"},
                {"planes", false, "fat-tree: 1 (default) or one plane per NIC index"},
                {"rail_optimised", false, "fat-tree: NIC k of nodes share rail-k leaves"},
                {"leaf_down_ports", false, "fat-tree: NICs per leaf"},
                {"oversubscription", false, "fat-tree: leaf down:up bandwidth"},
                {"pod_gpus", false, "3 tiers: GPUs per pod"},
                {"pod_oversubscription", false, "3 tiers: aggregation down:up bandwidth"},
                {"nic_bandwidth_per_gpu", false, "fat-tree: scale-out bandwidth per GPU per direction"},
                {"pcie_bandwidth", false, "fat-tree: GPU to NIC per direction"},
                {"nvlink_efficiency", true, "achievable fraction of NVLink line rate (ring)"},
                {"nvls_efficiency", true, "NVLS all-reduce algorithm bandwidth / NVLink line rate"},
                {"nic_efficiency", false, "achievable fraction of NIC line rate"},
                {"ep_nvlink_efficiency", true, "NVLink fraction of DeepEP dispatch/combine kernels"},
                {"base_latency", true, "per collective (NCCL baseLat)"},
                {"nvlink_step_latency", true, "per ring step over NVLink"},
                {"net_step_latency", false, "per ring step across nodes (fat-tree)"},
                {"nvls_latency", true, "NVLink SHARP all-reduce latency (NCCL hwLat[NVLink][NVLS])"},
                {"nccl_ll", true, "NCCL's LL protocol: {base_latency, nvlink_step_latency, net_step_latency (fat-tree), bandwidth_fraction, source}"},
                {"nccl_ll128", true, "NCCL's LL128 protocol: as nccl_ll"},
                {"ll_max_bus_bandwidth_2_nodes", false, "fat-tree: NCCL's cap on LL bus bandwidth across 2 nodes"},
                {"ll_max_bus_bandwidth_more_nodes", false, "fat-tree: NCCL's cap on LL bus bandwidth across more nodes"},
                {"nccl_net_overhead", false, "fat-tree: floor of an in-node ring step when the ring crosses nodes"},
                {"comm_sms", true, "SMs an expert-parallel dispatch / combine kernel occupies (DeepEP's num_sms)"},
                {"nccl_channels_across_nodes", false, "fat-tree: channels (one SM each) of an NCCL ring collective across nodes"},
                {"nccl_p2p_channels_per_net_peer", false, "fat-tree: channels of an NCCL send / recv to a peer across nodes"}});
  NetworkSpec w;
  w.name = n.child("name").as_string();
  w.title = n.child("title").as_string();
  w.kind = n.child("kind").as_string();
  if (w.kind != "nvswitch" && w.kind != "fat-tree")
    throw n.child("kind").error("unknown value '" + w.kind + "' (one of: nvswitch fat-tree)");
  w.sources = load_sources(n);
  auto fraction = [&](const char* key) {
    const double v = sourced(n, key, Dimension::ratio, w.sources);
    if (v > 1.0) throw n.child(key).error("an efficiency cannot exceed 1");
    return v;
  };
  auto count = [&](const char* key) { return sourced_count(n, key, w.sources); };
  if (w.kind == "fat-tree") {
    w.tiers = count("tiers");
    if (w.tiers < 1 || w.tiers > 3) throw n.child("tiers").error("a fat tree has 1, 2 or 3 tiers");
    w.planes = n.has("planes") ? count("planes") : 1;
    w.rail_optimised = n.child("rail_optimised").as_bool();
    if (w.planes > 1 && !w.rail_optimised)
      throw n.child("planes").error("separate planes need rail_optimised: true (one plane per rail)");
    w.leaf_down_ports = count("leaf_down_ports");
    w.oversubscription = sourced(n, "oversubscription", Dimension::ratio, w.sources);
    if (w.tiers == 3) {
      w.pod_gpus = count("pod_gpus");
      w.pod_oversubscription = sourced(n, "pod_oversubscription", Dimension::ratio, w.sources);
    }
    w.nic_bytes_per_s_per_gpu = sourced(n, "nic_bandwidth_per_gpu", Dimension::bytes_per_second, w.sources);
    w.pcie_bytes_per_s = sourced(n, "pcie_bandwidth", Dimension::bytes_per_second, w.sources);
    w.nic_efficiency = fraction("nic_efficiency");
    w.net_step_latency_seconds = sourced(n, "net_step_latency", Dimension::seconds, w.sources);
    w.ll_max_bus_bytes_per_s_2_nodes = sourced(n, "ll_max_bus_bandwidth_2_nodes", Dimension::bytes_per_second, w.sources);
    w.ll_max_bus_bytes_per_s_more_nodes = sourced(n, "ll_max_bus_bandwidth_more_nodes", Dimension::bytes_per_second, w.sources);
    w.net_overhead_seconds = sourced(n, "nccl_net_overhead", Dimension::seconds, w.sources);
    w.nccl_channels_across_nodes = count("nccl_channels_across_nodes");
    w.nccl_p2p_channels_per_net_peer = count("nccl_p2p_channels_per_net_peer");
  }
  auto protocol = [&](const char* key) {
    const YamlNode p = n.child(key);
    if (!p.is_map()) throw p.error("expected {base_latency, nvlink_step_latency, net_step_latency, bandwidth_fraction, source}");
    std::vector<KeySpec> keys = {{"base_latency", true, "per collective"},
                                 {"nvlink_step_latency", true, "per ring step over NVLink"},
                                 {"bandwidth_fraction", true, "of the Simple protocol's bus bandwidth"},
                                 {"source", true, "key under sources"},
                                 {"note", false, "remark"}};
    if (w.kind == "fat-tree") keys.push_back({"net_step_latency", true, "per ring step across nodes"});
    p.check_keys(keys);
    check_sources(p, w.sources);
    NetworkSpec::Protocol out;
    out.base_latency_seconds = p.child("base_latency").as_quantity(Dimension::seconds);
    out.nvlink_step_latency_seconds = p.child("nvlink_step_latency").as_quantity(Dimension::seconds);
    if (w.kind == "fat-tree") out.net_step_latency_seconds = p.child("net_step_latency").as_quantity(Dimension::seconds);
    out.bandwidth_fraction = p.child("bandwidth_fraction").as_double();
    if (!(out.bandwidth_fraction > 0 && out.bandwidth_fraction <= 1))
      throw p.child("bandwidth_fraction").error("a fraction in (0, 1]");
    return out;
  };
  w.nvls_latency_seconds = sourced(n, "nvls_latency", Dimension::seconds, w.sources);
  w.ll = protocol("nccl_ll");
  w.ll128 = protocol("nccl_ll128");
  w.nvlink_efficiency = fraction("nvlink_efficiency");
  w.nvls_efficiency = fraction("nvls_efficiency");
  w.ep_nvlink_efficiency = fraction("ep_nvlink_efficiency");
  w.base_latency_seconds = sourced(n, "base_latency", Dimension::seconds, w.sources);
  w.nvlink_step_latency_seconds = sourced(n, "nvlink_step_latency", Dimension::seconds, w.sources);
  w.comm_sms = count("comm_sms");
  return w;
}

NodeSpec load_node(const YamlNode& n) {
  n.check_keys({{"name", true, "node id"},
                {"title", true, "product name"},
                {"sources", true, "key -> citation"},
                {"gpu", true, "GPU preset"},
                {"gpus", true, "GPUs per node"},
                {"nvswitch_chips", true, "NVSwitch chips"},
                {"nics", true, "compute NICs"},
                {"nic_bandwidth", true, "per NIC"},
                {"pcie_bandwidth", true, "GPU to NIC per direction"},
                {"system_power", true, "server power at full load"},
                {"price", true, "USD per server"}});
  NodeSpec d;
  const auto sources = load_sources(n);
  d.name = n.child("name").as_string();
  d.title = n.child("title").as_string();
  d.gpu = n.child("gpu").as_string();
  d.gpus = sourced_count(n, "gpus", sources);
  d.nvswitch_chips = sourced_count(n, "nvswitch_chips", sources);
  d.nics = sourced_count(n, "nics", sources);
  d.nic_bytes_per_s = sourced(n, "nic_bandwidth", Dimension::bytes_per_second, sources);
  d.pcie_bytes_per_s = sourced(n, "pcie_bandwidth", Dimension::bytes_per_second, sources);
  d.system_power_watts = sourced(n, "system_power", Dimension::watts, sources);
  d.price_usd = sourced(n, "price", Dimension::ratio, sources);
  return d;
}

GpuSpec load_gpu_preset(const std::string& name, const Catalog& catalog) {
  return load_named(YamlNode::load_string("gpu: \"" + name + "\"", "--gpu").child("gpu"), catalog,
                    "hardware/gpus", "GPU", load_gpu);
}

NetworkSpec load_network_preset(const std::string& name, const Catalog& catalog) {
  return load_named(YamlNode::load_string("network: \"" + name + "\"", "--network").child("network"), catalog,
                    "hardware/networks", "network", load_network);
}

namespace {

// The profile `name` names, which must describe `gpu`.
std::shared_ptr<const CalibrationProfile> profile_for(const GpuSpec& gpu, const YamlNode& name, const Catalog& catalog) {
  auto profile = std::make_shared<CalibrationProfile>(
      load_named(name, catalog, "hardware/calibration", "calibration profile", load_calibration));
  if (profile->gpu != gpu.name)
    throw name.error("profile '" + profile->name + "' describes " + profile->gpu + ", not " + gpu.name);
  return profile;
}

}  // namespace

std::shared_ptr<const CalibrationProfile> default_calibration(const GpuSpec& gpu, const Catalog& catalog) {
  if (gpu.calibration.empty()) return nullptr;
  const YamlNode name = YamlNode::load_string("calibration: \"" + gpu.calibration + "\"", gpu.name + " (its calibration)");
  return profile_for(gpu, name.child("calibration"), catalog);
}

ClusterSpec load_cluster(const YamlNode& c, const Catalog& catalog) {
  c.check_keys({{"gpu", true, "preset name or inline mapping"},
                {"nodes", true, "servers"},
                {"gpus_per_node", true, "GPUs per server"},
                {"network", true, "preset name or inline mapping"},
                {"calibration", false, "kernel calibration profile (default: the GPU's own; none: roofline)"},
                {"clocks", false, "sustained (default: tensor-core kernels at the profile's power-capped rate) or burst"},
                {"stragglers", false, "true (default: the job paces at its slowest GPU) or false (an ideal cluster)"},
                {"slowdown_beside_comm", false, "true (default: a GEMM on a fixed SM partition slows by the GPU's slowdown_beside_comm while communication kernels hold the SMs it leaves) or false"},
                {"jitter", false, "true (default: collectives wait for the slowest participant's kernel jitter, the GPU's kernel_jitter) or false"},
                {"flows", false, "true: data- and pipeline-parallel transfers across nodes run as flows sharing the topology's links; false (default): closed forms"},
                {"host", false, "true (default: kernels wait for the host to launch them, hardware/host.yaml) or false (an ideal host)"}});
  ClusterSpec cl;
  cl.gpu = load_named(c.child("gpu"), catalog, "hardware/gpus", "GPU", load_gpu);
  cl.nodes = c.child("nodes").as_count();
  cl.gpus_per_node = c.child("gpus_per_node").as_count();
  cl.network = load_named(c.child("network"), catalog, "hardware/networks", "network", load_network);
  if (auto cal = c.optional_child("calibration")) {
    if (!(cal->is_scalar() && cal->as_string() == "none")) cl.calibration = profile_for(cl.gpu, *cal, catalog);
  } else {
    cl.calibration = default_calibration(cl.gpu, catalog);
  }
  if (auto clocks = c.optional_child("clocks")) cl.clocks = clocks->as_enum<Clocks>();
  if (auto stragglers = c.optional_child("stragglers")) cl.stragglers = stragglers->as_bool();
  if (auto flows = c.optional_child("flows")) cl.flows = flows->as_bool();
  if (auto beside = c.optional_child("slowdown_beside_comm")) cl.slowdown_beside_comm = beside->as_bool();
  if (auto jitter = c.optional_child("jitter")) cl.jitter = jitter->as_bool();
  const auto host = c.optional_child("host");
  if (!host || host->as_bool()) {
    const YamlNode doc = YamlNode::load_file(catalog.root() + "/hardware/host.yaml");
    doc.check_keys({{"sources", true, "key -> citation"}, {"kernel_launch", true, "host time per kernel launch"}});
    cl.host_launch_seconds = sourced(doc, "kernel_launch", Dimension::seconds, load_sources(doc));
  }
  if (cl.nodes > 1 && cl.network.kind == "nvswitch")
    throw c.child("network").error("an nvswitch network spans one node; " + std::to_string(cl.nodes) +
                                   " nodes need a fat-tree network");
  return cl;
}

}  // namespace gpuhours
