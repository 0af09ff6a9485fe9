// Loads scenarios and the model / GPU / network files they name, validating every field.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "gpuhours/error.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace fs = std::filesystem;

const char* to_string(Precision p) { return p == Precision::fp8 ? "fp8" : "bf16"; }
const char* to_string(Recompute r) {
  switch (r) {
    case Recompute::none: return "none";
    case Recompute::selective: return "selective";
    case Recompute::full: return "full";
  }
  return "?";
}

Catalog::Catalog(std::string root) : root_(std::move(root)) {}

std::vector<std::string> Catalog::names(const std::string& folder) const {
  std::vector<std::string> out;
  const fs::path dir = fs::path(root_) / folder;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().stem());
  std::sort(out.begin(), out.end());
  return out;
}

std::string Catalog::preset_path(const std::string& folder, const std::string& name) const {
  return (fs::path(root_) / folder / (name + ".yaml")).string();
}

std::string Catalog::scenario_path(const std::string& name_or_path) const {
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".yaml")) {
    if (!fs::exists(name_or_path)) throw InputError(name_or_path + ": no such scenario file");
    return name_or_path;
  }
  const std::string path = preset_path("scenarios", name_or_path);
  if (fs::exists(path)) return path;
  std::string msg = "unknown scenario preset '" + name_or_path + "'";
  if (auto hint = closest_match(name_or_path, names("scenarios")); !hint.empty())
    msg += "; did you mean '" + hint + "'?";
  throw InputError(msg + " (gpuhours list shows the presets)");
}

namespace {

template <typename Enum>
Enum parse_enum(const YamlNode& n, const std::vector<std::pair<std::string, Enum>>& options) {
  const std::string v = n.as_string();
  std::vector<std::string> names;
  for (const auto& [name, value] : options) {
    if (name == v) return value;
    names.push_back(name);
  }
  std::string msg = "unknown value '" + v + "'";
  if (auto hint = closest_match(v, names); !hint.empty()) msg += "; did you mean '" + hint + "'?";
  msg += " (one of:";
  for (const auto& name : names) msg += " " + name;
  throw n.error(msg + ")");
}

std::vector<std::string> optional_list(const YamlNode& n, std::string_view key) {
  auto c = n.optional_child(key);
  return c ? c->as_string_list() : std::vector<std::string>{};
}

std::string optional_string(const YamlNode& n, std::string_view key) {
  auto c = n.optional_child(key);
  return c ? c->as_string() : std::string{};
}

// Hardware files: `sources` is a mapping key -> citation; every quantity names one of those keys.
std::map<std::string, std::string> load_sources(const YamlNode& n) {
  std::map<std::string, std::string> out;
  for (const auto& [key, cite] : n.child("sources").entries()) out[key] = cite.as_string();
  if (out.empty()) throw n.child("sources").error("at least one source is required");
  return out;
}

double sourced(const YamlNode& parent, std::string_view key, Dimension dim,
               const std::map<std::string, std::string>& sources) {
  const YamlNode n = parent.child(key);
  if (!n.is_map())
    throw n.error("expected {value: ..., source: ...}: every hardware number carries its source");
  const double v = n.as_quantity(dim);
  for (const auto& s : n.child("source").as_string_list())
    if (!sources.count(s)) throw n.child("source").error("unknown source '" + s + "'; add it under 'sources'");
  return v;
}

// A model/gpu/network given by preset name or inline mapping.
template <typename Loader>
auto load_named(const YamlNode& n, const Catalog& catalog, const std::string& folder,
                const std::string& what, Loader loader) {
  if (n.is_map()) return loader(n);
  const std::string name = n.as_string();
  const std::string path = catalog.preset_path(folder, name);
  if (!fs::exists(path)) {
    std::string msg = "unknown " + what + " '" + name + "'";
    if (auto hint = closest_match(name, catalog.names(folder)); !hint.empty())
      msg += "; did you mean '" + hint + "'?";
    throw n.error(msg + " (presets are in " + folder + "/)");
  }
  return loader(YamlNode::load_file(path));
}

}  // namespace

ModelSpec load_model(const YamlNode& n) {
  n.check_keys({{"name", true, "model id"},
                {"title", false, "human name"},
                {"sources", false, "where the architecture comes from"},
                {"description", false, "one paragraph"},
                {"layers", true, "transformer layers"},
                {"hidden", true, "model width"},
                {"vocab", true, "vocabulary size"},
                {"attention", true, "attention block"},
                {"ffn", true, "feed-forward block"},
                {"norm", false, "rmsnorm (default) | layernorm"},
                {"tie_embeddings", false, "input embedding shared with the LM head (default false)"},
                {"bias", false, "all linear layers carry biases (default false)"},
                {"qkv_bias", false, "q, k, v projections carry biases (default false)"},
                {"position_embeddings", false, "learned absolute positions (default none: RoPE)"},
                {"mtp_depth", false, "multi-token prediction modules (default 0)"},
                {"published_params", false, "total parameter count the source states"},
                {"published_active_params", false, "activated parameters per token the source states"}});
  ModelSpec m;
  m.name = n.child("name").as_string();
  m.title = n.has("title") ? n.child("title").as_string() : m.name;
  m.sources = optional_list(n, "sources");
  m.layers = static_cast<int>(n.child("layers").as_positive_int());
  m.hidden = n.child("hidden").as_positive_int();
  m.vocab = n.child("vocab").as_positive_int();
  if (auto c = n.optional_child("norm"))
    m.norm = parse_enum<NormKind>(*c, {{"rmsnorm", NormKind::rmsnorm}, {"layernorm", NormKind::layernorm}});
  if (auto c = n.optional_child("tie_embeddings")) m.tie_embeddings = c->as_bool();
  if (auto c = n.optional_child("bias")) m.bias = c->as_bool();
  if (auto c = n.optional_child("qkv_bias")) m.qkv_bias = c->as_bool();
  if (auto c = n.optional_child("position_embeddings")) m.position_embeddings = c->as_positive_int();
  if (auto c = n.optional_child("mtp_depth")) {
    m.mtp_depth = static_cast<int>(c->as_int());
    if (m.mtp_depth < 0) throw c->error("must not be negative");
  }
  if (auto c = n.optional_child("published_params")) m.published_params = c->as_positive_double();
  if (auto c = n.optional_child("published_active_params")) m.published_active_params = c->as_positive_double();

  const YamlNode a = n.child("attention");
  a.check_keys({{"kind", true, "mha | gqa | mla"},
                {"heads", true, "query heads"},
                {"kv_heads", false, "key/value heads (gqa; default = heads)"},
                {"head_dim", false, "per-head width (default hidden / heads)"},
                {"q_lora_rank", false, "mla: query compression rank (0: none)"},
                {"kv_lora_rank", false, "mla: key/value compression rank"},
                {"qk_nope_head_dim", false, "mla: per-head query/key width without RoPE"},
                {"qk_rope_head_dim", false, "mla: decoupled RoPE width"},
                {"v_head_dim", false, "mla: per-head value width"}});
  AttentionSpec& at = m.attention;
  at.kind = parse_enum<AttentionKind>(
      a.child("kind"), {{"mha", AttentionKind::mha}, {"gqa", AttentionKind::gqa}, {"mla", AttentionKind::mla}});
  at.heads = static_cast<int>(a.child("heads").as_positive_int());
  if (at.kind == AttentionKind::mla) {
    for (const char* k : {"kv_heads", "head_dim"})
      if (a.has(k)) throw a.child(k).error("not used by mla; give kv_lora_rank and the head dims");
    at.kv_heads = at.heads;
    at.q_lora_rank = a.has("q_lora_rank") ? a.child("q_lora_rank").as_int() : 0;
    if (at.q_lora_rank < 0) throw a.child("q_lora_rank").error("must not be negative");
    at.kv_lora_rank = a.child("kv_lora_rank").as_positive_int();
    at.qk_nope_head_dim = static_cast<int>(a.child("qk_nope_head_dim").as_positive_int());
    at.qk_rope_head_dim = static_cast<int>(a.child("qk_rope_head_dim").as_positive_int());
    at.v_head_dim = static_cast<int>(a.child("v_head_dim").as_positive_int());
    at.head_dim = at.qk_nope_head_dim;
  } else {
    for (const char* k : {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
      if (a.has(k)) throw a.child(k).error("only used by kind: mla");
    at.kv_heads = a.has("kv_heads") ? static_cast<int>(a.child("kv_heads").as_positive_int()) : at.heads;
    if (!a.has("head_dim") && m.hidden % at.heads != 0)
      throw a.child("heads").error("heads (" + std::to_string(at.heads) + ") must divide hidden (" +
                                   std::to_string(m.hidden) + ")");
    if (at.heads % at.kv_heads != 0)
      throw a.child("kv_heads").error("kv_heads (" + std::to_string(at.kv_heads) + ") must divide heads (" +
                                      std::to_string(at.heads) + ")");
    if (at.kind == AttentionKind::mha && at.kv_heads != at.heads)
      throw a.child("kv_heads").error("mha has kv_heads == heads; use kind: gqa");
    at.head_dim = a.has("head_dim") ? static_cast<int>(a.child("head_dim").as_positive_int())
                                    : static_cast<int>(m.hidden / at.heads);
  }

  const YamlNode f = n.child("ffn");
  f.check_keys({{"kind", true, "dense | moe"},
                {"intermediate", false, "dense FFN width"},
                {"activation", true, "swiglu | gelu | relu2"},
                {"dense_layers", false, "moe: leading layers with a dense FFN (default 0)"},
                {"experts", false, "moe: routed experts"},
                {"experts_per_token", false, "moe: routed experts per token"},
                {"shared_experts", false, "moe: always-active experts (default 0)"},
                {"expert_intermediate", false, "moe: expert FFN width"},
                {"max_nodes_per_token", false, "moe: node-limited routing (default unlimited)"}});
  FfnSpec& ff = m.ffn;
  ff.moe = parse_enum<bool>(f.child("kind"), {{"dense", false}, {"moe", true}});
  ff.activation = parse_enum<Activation>(
      f.child("activation"), {{"swiglu", Activation::swiglu}, {"gelu", Activation::gelu}, {"relu2", Activation::relu2}});
  if (!ff.moe) {
    for (const char* k : {"dense_layers", "experts", "experts_per_token", "shared_experts", "expert_intermediate",
                          "max_nodes_per_token"})
      if (f.has(k)) throw f.child(k).error("only used by kind: moe");
    ff.intermediate = f.child("intermediate").as_positive_int();
  } else {
    ff.dense_layers = f.has("dense_layers") ? static_cast<int>(f.child("dense_layers").as_int()) : 0;
    if (ff.dense_layers < 0 || ff.dense_layers > m.layers)
      throw f.child("dense_layers").error("must be between 0 and layers (" + std::to_string(m.layers) + ")");
    if (ff.dense_layers > 0) ff.intermediate = f.child("intermediate").as_positive_int();
    ff.experts = static_cast<int>(f.child("experts").as_positive_int());
    ff.experts_per_token = static_cast<int>(f.child("experts_per_token").as_positive_int());
    if (ff.experts_per_token > ff.experts)
      throw f.child("experts_per_token").error("cannot exceed experts (" + std::to_string(ff.experts) + ")");
    ff.shared_experts = f.has("shared_experts") ? static_cast<int>(f.child("shared_experts").as_int()) : 0;
    if (ff.shared_experts < 0) throw f.child("shared_experts").error("must not be negative");
    ff.expert_intermediate = f.child("expert_intermediate").as_positive_int();
    if (f.has("max_nodes_per_token"))
      ff.max_nodes_per_token = static_cast<int>(f.child("max_nodes_per_token").as_positive_int());
  }
  return m;
}

GpuSpec load_gpu(const YamlNode& n) {
  n.check_keys({{"name", true, "GPU id"},
                {"title", true, "product name"},
                {"sources", true, "key -> citation"},
                {"peak_flops", true, "dense tensor-core peaks by dtype"},
                {"hbm_capacity", true, "device memory"},
                {"hbm_bandwidth", true, "device memory bandwidth"},
                {"l2_cache", true, "L2 size"},
                {"sms", true, "streaming multiprocessors"},
                {"clock", true, "tensor clock implied by the peak"},
                {"nvlink_bandwidth", true, "NVLink per direction"},
                {"tdp", true, "board power"},
                {"price", true, "price per GPU"},
                {"achievable", true, "measured ceilings as fractions of peak"},
                {"kernel_launch", true, "fixed time per kernel"}});
  GpuSpec g;
  g.name = n.child("name").as_string();
  g.title = n.child("title").as_string();
  g.sources = load_sources(n);
  const YamlNode peaks = n.child("peak_flops");
  for (const auto& [dtype, node] : peaks.entries()) {
    static const std::vector<std::string> dtypes = {"fp64", "tf32", "bf16", "fp16", "fp8"};
    if (std::find(dtypes.begin(), dtypes.end(), dtype) == dtypes.end())
      throw node.error("unknown dtype '" + dtype + "' (one of: fp64 tf32 bf16 fp16 fp8)");
    g.peak_flops_per_s[dtype] = sourced(peaks, dtype, Dimension::flops_per_second, g.sources);
  }
  if (!g.peak_flops_per_s.count("bf16")) throw peaks.error("missing required key 'bf16'");
  g.hbm_bytes = sourced(n, "hbm_capacity", Dimension::bytes, g.sources);
  g.hbm_bytes_per_s = sourced(n, "hbm_bandwidth", Dimension::bytes_per_second, g.sources);
  g.l2_bytes = sourced(n, "l2_cache", Dimension::bytes, g.sources);
  g.sms = static_cast<int>(sourced(n, "sms", Dimension::ratio, g.sources));
  g.clock_hz = sourced(n, "clock", Dimension::hertz, g.sources);
  g.nvlink_bytes_per_s = sourced(n, "nvlink_bandwidth", Dimension::bytes_per_second, g.sources);
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
                {"comm_sms", true, "SMs a collective kernel occupies"}});
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
  auto count = [&](const char* key) {
    const double v = sourced(n, key, Dimension::ratio, w.sources);
    if (v != std::floor(v)) throw n.child(key).error("expected a whole number");
    return static_cast<int>(v);
  };
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
  }
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
  d.gpus = static_cast<int>(sourced(n, "gpus", Dimension::ratio, sources));
  d.nvswitch_chips = static_cast<int>(sourced(n, "nvswitch_chips", Dimension::ratio, sources));
  d.nics = static_cast<int>(sourced(n, "nics", Dimension::ratio, sources));
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

// Overrides the keys `p` gives in `out` (a scenario's layout, or a phase's changes to it).
void parse_parallel(const YamlNode& p, const ModelSpec& model, ParallelSpec& out) {
  p.check_keys({{"tp", false, "tensor parallel"}, {"pp", false, "pipeline parallel"},
                {"ep", false, "expert parallel"}, {"cp", false, "context parallel"},
                {"zero", false, "ZeRO stage 0-3"}, {"schedule", false, "pipeline schedule"},
                {"virtual_stages", false, "interleaving"}, {"micro_batch", false, "sequences per micro-batch"},
                {"recompute", false, "none | selective | full"},
                {"layers_per_part", false, "explicit layers of each pipeline part (uneven split)"},
                {"expert_imbalance", false, "busiest expert-parallel rank's tokens / mean (default 1)"},
                {"sequence_parallel", false, "with tp > 1 (default true)"}});
  auto get = [&](std::string_view k, int& v) {
    if (auto c = p.optional_child(k)) v = static_cast<int>(c->as_positive_int());
  };
  get("tp", out.tp);
  get("pp", out.pp);
  get("ep", out.ep);
  get("cp", out.cp);
  get("virtual_stages", out.virtual_stages);
  get("micro_batch", out.micro_batch);
  if (auto z = p.optional_child("zero")) {
    const auto v = z->as_int();
    if (v < 0 || v > 3) throw z->error("ZeRO stage is 0, 1, 2 or 3, got " + std::to_string(v));
    out.zero = static_cast<int>(v);
  }
  if (auto v = p.optional_child("schedule")) out.schedule = v->as_string();
  if (auto v = p.optional_child("layers_per_part")) {
    out.layers_per_part.clear();
    int sum = 0;
    for (const auto& item : v->items()) {
      out.layers_per_part.push_back(static_cast<int>(item.as_int()));
      if (out.layers_per_part.back() < 0) throw item.error("must not be negative");
      sum += out.layers_per_part.back();
    }
    if (sum != model.layers)
      throw v->error("adds up to " + std::to_string(sum) + " layers; the model has " + std::to_string(model.layers));
  }
  if (auto v = p.optional_child("sequence_parallel")) out.sequence_parallel = v->as_bool();
  if (auto v = p.optional_child("expert_imbalance")) {
    out.expert_imbalance = v->as_double();
    if (out.expert_imbalance < 1.0) throw v->error("max / mean tokens is at least 1");
  }
  if (auto v = p.optional_child("recompute"))
    out.recompute = parse_enum<Recompute>(
        *v, {{"none", Recompute::none}, {"selective", Recompute::selective}, {"full", Recompute::full}});
}

ClusterSpec parse_cluster(const YamlNode& c, const Catalog& catalog) {
  c.check_keys({{"gpu", true, "preset name or inline mapping"},
                {"nodes", true, "servers"},
                {"gpus_per_node", true, "GPUs per server"},
                {"network", true, "preset name or inline mapping"},
                {"calibration", false, "kernel calibration profile"}});
  ClusterSpec cl;
  cl.gpu = load_named(c.child("gpu"), catalog, "hardware/gpus", "GPU", load_gpu);
  cl.nodes = static_cast<int>(c.child("nodes").as_positive_int());
  cl.gpus_per_node = static_cast<int>(c.child("gpus_per_node").as_positive_int());
  cl.network = load_named(c.child("network"), catalog, "hardware/networks", "network", load_network);
  if (auto cal = c.optional_child("calibration")) {
    auto profile = std::make_shared<CalibrationProfile>(
        load_named(*cal, catalog, "hardware/calibration", "calibration profile", load_calibration));
    if (profile->gpu != cl.gpu.name)
      throw cal->error("profile '" + profile->name + "' describes " + profile->gpu + ", not " + cl.gpu.name);
    cl.calibration = std::move(profile);
  }
  if (cl.nodes > 1 && cl.network.kind == "nvswitch")
    throw c.child("network").error("an nvswitch network spans one node; " + std::to_string(cl.nodes) +
                                   " nodes need a fat-tree network");
  return cl;
}

InferenceSpec parse_inference(const YamlNode& n) {
  n.check_keys({{"tp", false, "tensor parallel per attention replica (default 1)"},
                {"ep", false, "GPUs per instance over which experts spread and attention runs data-parallel (default 1)"},
                {"max_sequences", false, "running sequences per instance at most (default: as the KV cache holds)"},
                {"weights", false, "fp8 | bf16 (default: the training precision)"}});
  InferenceSpec i;
  if (auto v = n.optional_child("tp")) i.tp = static_cast<int>(v->as_positive_int());
  if (auto v = n.optional_child("ep")) i.ep = static_cast<int>(v->as_positive_int());
  if (auto v = n.optional_child("max_sequences")) i.max_sequences = static_cast<int>(v->as_positive_int());
  if (auto v = n.optional_child("weights")) i.weights = parse_enum<Precision>(*v, {{"bf16", Precision::bf16}, {"fp8", Precision::fp8}});
  return i;
}

// Generation shared by rl and generate phases: prompt and response lengths, inference layout.
void parse_generation(const YamlNode& n, GenerationSpec& g) {
  g.prompt_tokens = n.child("prompt_tokens").as_positive_double();
  const YamlNode r = n.child("response_tokens");
  r.check_keys({{"mean", true, "mean tokens per response, or [from, to] when it grows over the phase"},
                {"max", true, "generation limit (tokens)"},
                {"distribution", false, "exponential (default: truncated at max) | fixed"},
                {"points", false, "means simulated along a growing length (default 3)"}});
  const YamlNode mean = r.child("mean");
  if (mean.is_sequence()) {
    const auto items = mean.items();
    if (items.size() != 2) throw mean.error("a growing mean is [from, to]");
    g.response.mean_from = items[0].as_positive_double();
    g.response.mean_to = items[1].as_positive_double();
  } else {
    g.response.mean_from = g.response.mean_to = mean.as_positive_double();
  }
  g.response.max_tokens = r.child("max").as_positive_int();
  if (std::max(g.response.mean_from, g.response.mean_to) >= static_cast<double>(g.response.max_tokens))
    throw mean.error("the mean must be below max (" + std::to_string(g.response.max_tokens) + ")");
  if (auto d = r.optional_child("distribution"))
    g.response.fixed = parse_enum<bool>(*d, {{"exponential", false}, {"fixed", true}});
  if (auto v = r.optional_child("points")) g.response.points = static_cast<int>(v->as_positive_int());
  if (auto v = n.optional_child("inference")) g.inference = parse_inference(*v);
}

// A later phase: training with its own shape and layout, RL, generation, or reported figures.
PhaseSpec parse_phase(const YamlNode& n, const Scenario& s, const Catalog& catalog) {
  const std::vector<KeySpec> common = {
      {"name", true, "phase name"},
      {"kind", false, "train (default) | rl | generate"},
      {"model", false, "another model for this phase (e.g. a teacher)"},
      {"cluster", false, "another cluster for this phase"},
      {"parallelism", false, "changes to the layout for this phase (training, policy update)"},
      {"reported_gpu_hours", false, "taken as reported instead of simulated"},
      {"source", false, "where the phase's figures come from"}};
  auto keys = [&](std::vector<KeySpec> extra) {
    extra.insert(extra.begin(), common.begin(), common.end());
    return extra;
  };
  PhaseSpec ph;
  ph.name = n.child("name").as_string();
  ph.source = optional_string(n, "source");
  if (auto k = n.optional_child("kind"))
    ph.kind = parse_enum<PhaseKind>(*k, {{"train", PhaseKind::train}, {"rl", PhaseKind::rl}, {"generate", PhaseKind::generate}});
  if (auto m = n.optional_child("model"))
    ph.model = std::make_shared<const ModelSpec>(load_named(*m, catalog, "models", "model", load_model));
  if (auto c = n.optional_child("cluster")) ph.cluster = std::make_shared<const ClusterSpec>(parse_cluster(*c, catalog));
  const ModelSpec& model = ph.model ? *ph.model : s.model;
  ph.seq_len = n.has("seq_len") ? n.child("seq_len").as_positive_int() : s.training.seq_len;
  ph.global_batch = n.has("global_batch") ? n.child("global_batch").as_positive_int() : s.training.global_batch;
  ph.parallel = s.parallel;
  if (auto p = n.optional_child("parallelism")) parse_parallel(*p, model, ph.parallel);
  if (auto r = n.optional_child("reported_gpu_hours")) {
    n.check_keys(common);
    ph.reported_gpu_hours = r->as_positive_double();
    return ph;
  }
  const KeySpec generation_keys[] = {
      {"prompt_tokens", true, "prompt tokens per output (mean)"},
      {"response_tokens", true, "{mean, max, distribution, points}"},
      {"inference", false, "inference instance layout {tp, ep, max_sequences}"}};
  switch (ph.kind) {
    case PhaseKind::train: {
      n.check_keys(keys({{"tokens", false, "tokens of the phase"},
                         {"steps", false, "optimizer steps of the phase"},
                         {"samples", false, "training examples (with tokens_per_sample and epochs)"},
                         {"tokens_per_sample", false, "mean tokens per example"},
                         {"epochs", false, "passes over the examples (default 1)"},
                         {"seq_len", false, "tokens per sequence (default: the main phase's)"},
                         {"global_batch", false, "sequences per step (default: the main phase's)"}}));
      const int given = n.has("tokens") + n.has("steps") + n.has("samples");
      if (given != 1) throw n.error("give exactly one of 'tokens', 'steps' or 'samples'");
      if (n.has("samples")) {
        const double epochs = n.has("epochs") ? n.child("epochs").as_positive_double() : 1.0;
        ph.tokens = n.child("samples").as_positive_double() * n.child("tokens_per_sample").as_positive_double() * epochs;
      } else if (n.has("tokens_per_sample") || n.has("epochs")) {
        throw n.error("'tokens_per_sample' and 'epochs' go with 'samples'");
      } else {
        ph.tokens = n.has("tokens") ? n.child("tokens").as_positive_double()
                                    : n.child("steps").as_positive_double() * static_cast<double>(ph.global_batch * ph.seq_len);
      }
      break;
    }
    case PhaseKind::rl: {
      std::vector<KeySpec> k = keys({{"steps", true, "policy-update steps"},
                                     {"algorithm", false, "grpo (default) | ppo"},
                                     {"prompts_per_step", true, "prompts (questions) per update"},
                                     {"samples_per_prompt", true, "outputs sampled per prompt (GRPO group size)"},
                                     {"updates_per_rollout", false, "policy updates per rollout (default 1)"},
                                     {"reference_model", false, "KL to a reference policy (default true)"},
                                     {"reward_model", false, "a learned reward model scores outputs (default false: rule-based)"},
                                     {"seq_len", false, "packing length of the update batch (default: the main phase's)"}});
      k.insert(k.end(), std::begin(generation_keys), std::end(generation_keys));
      n.check_keys(k);
      ph.steps = n.child("steps").as_positive_double();
      if (auto a = n.optional_child("algorithm"))
        ph.rl.algorithm = parse_enum<std::string>(*a, {{"grpo", "grpo"}, {"ppo", "ppo"}});
      ph.rl.prompts_per_step = n.child("prompts_per_step").as_positive_int();
      ph.rl.samples_per_prompt = n.child("samples_per_prompt").as_positive_int();
      if (auto v = n.optional_child("updates_per_rollout")) ph.rl.updates_per_rollout = static_cast<int>(v->as_positive_int());
      if (auto v = n.optional_child("reference_model")) ph.rl.reference_model = v->as_bool();
      if (auto v = n.optional_child("reward_model")) ph.rl.reward_model = v->as_bool();
      parse_generation(n, ph.generation);
      ph.generation.outputs = ph.rl.prompts_per_step * ph.rl.samples_per_prompt * ph.rl.updates_per_rollout;
      break;
    }
    case PhaseKind::generate: {
      std::vector<KeySpec> k = keys({{"outputs", true, "sequences generated"},
                                     {"api", false, "{input_usd_per_million, output_usd_per_million, source}: the same tokens from a paid API"}});
      k.insert(k.end(), std::begin(generation_keys), std::end(generation_keys));
      n.check_keys(k);
      ph.generation.outputs = n.child("outputs").as_positive_int();
      parse_generation(n, ph.generation);
      if (auto a = n.optional_child("api")) {
        a->check_keys({{"input_usd_per_million", true, "USD per million prompt tokens"},
                       {"output_usd_per_million", true, "USD per million generated tokens"},
                       {"source", true, "where the prices come from"}});
        ApiPriceSpec api;
        api.input_usd_per_million = a->child("input_usd_per_million").as_nonnegative_double();
        api.output_usd_per_million = a->child("output_usd_per_million").as_nonnegative_double();
        api.source = a->child("source").as_string();
        ph.api = api;
      }
      break;
    }
  }
  return ph;
}

// Defaults from hardware/costs.yaml, then the scenario's `cost:` and `reliability:` overrides.
void load_costs(const YamlNode& n, const Catalog& catalog, Scenario& s) {
  const YamlNode defaults = YamlNode::load_file(catalog.root() + "/hardware/costs.yaml");
  defaults.check_keys({{"sources", true, ""}, {"rental_usd_per_gpu_hour", true, ""}, {"owned", true, ""}, {"reliability", true, ""}});
  const auto sources = load_sources(defaults);
  for (const auto& [name, node] : defaults.child("rental_usd_per_gpu_hour").entries())
    s.cost.rental_presets[name] = sourced(defaults.child("rental_usd_per_gpu_hour"), name, Dimension::ratio, sources);
  OwnedCostSpec& o = s.cost.owned;
  const std::vector<std::pair<const char*, double*>> owned_keys = {
      {"amortisation_per_year", &o.amortisation_per_year}, {"server_overhead", &o.server_overhead},
      {"interconnect_fraction", &o.interconnect_fraction}, {"cost_of_capital_per_year", &o.cost_of_capital_per_year},
      {"avg_power_fraction", &o.avg_power_fraction},       {"server_power_factor", &o.server_power_factor},
      {"pue", &o.pue},                                     {"electricity_usd_per_kwh", &o.electricity_usd_per_kwh}};
  const YamlNode dn = defaults.child("owned");
  for (const auto& [key, dst] : owned_keys) {
    const YamlNode v = dn.child(key);
    *dst = v.child("value").as_nonnegative_double();
    for (const auto& src : v.child("source").as_string_list())
      if (!sources.count(src)) throw v.error("unknown source '" + src + "'");
  }
  const YamlNode dr = defaults.child("reliability");
  s.reliability.interruptions_per_gpu_hour = sourced(dr, "interruptions_per_gpu_hour", Dimension::ratio, sources);
  s.reliability.checkpoint_write_bytes_per_s_per_node =
      sourced(dr, "checkpoint_write_bytes_per_s_per_node", Dimension::bytes_per_second, sources);
  s.reliability.restart_seconds = sourced(dr, "restart_seconds", Dimension::ratio, sources);
  o.gpu_price_usd = s.cluster.gpu.price_usd;

  const YamlNode cost = n.child("cost");
  cost.check_keys({{"gpu_hour_usd", true, "rental price per GPU-hour"},
                   {"owned", false, "owned-cluster cost overrides (hardware/costs.yaml owned)"},
                   {"carbon_t_per_mwh", false, "grid carbon intensity, tonnes CO2 per MWh"},
                   {"fleet", false, "{gpus, capex_usd, source}: the lab's whole fleet"},
                   {"programme", false, "{multiplier, items: [{name, gpu_hours}], source}: beyond the final run"}});
  s.cost.gpu_hour_usd = cost.child("gpu_hour_usd").as_nonnegative_double();
  if (auto ov = cost.optional_child("owned")) {
    std::vector<KeySpec> keys = {{"gpu_price_usd", false, "price per GPU"}};
    for (const auto& [key, dst] : owned_keys) keys.push_back({key, false, ""});
    ov->check_keys(keys);
    for (const auto& [key, dst] : owned_keys)
      if (auto v = ov->optional_child(key)) *dst = v->as_nonnegative_double();
    if (auto v = ov->optional_child("gpu_price_usd")) o.gpu_price_usd = v->as_positive_double();
    if (auto v = ov->optional_child("pue"); v && o.pue < 1.0) throw v->error("a PUE is at least 1, got " + v->as_string());
    if (auto v = ov->optional_child("avg_power_fraction"); v && o.avg_power_fraction > 1.0)
      throw v->error("a fraction of TDP is at most 1");
  }
  if (auto c = cost.optional_child("carbon_t_per_mwh")) s.cost.carbon_t_per_mwh = c->as_nonnegative_double();
  if (auto f = cost.optional_child("fleet")) {
    f->check_keys({{"gpus", true, "GPUs"}, {"capex_usd", true, "capital cost"}, {"source", true, "citation"}});
    s.cost.fleet = FleetSpec{f->child("gpus").as_positive_double(), f->child("capex_usd").as_positive_double(),
                             f->child("source").as_string()};
  }
  if (auto pg = cost.optional_child("programme")) {
    pg->check_keys({{"multiplier", false, "whole programme / final run (default 1)"},
                    {"items", false, "[{name, gpu_hours}] added to the final run"},
                    {"source", true, "citation or reasoning"}});
    ProgrammeSpec prog;
    prog.source = pg->child("source").as_string();
    if (auto m = pg->optional_child("multiplier")) {
      prog.multiplier = m->as_positive_double();
      if (prog.multiplier < 1) throw m->error("the whole programme is at least the final run (multiplier >= 1)");
    }
    if (auto items = pg->optional_child("items"))
      for (const YamlNode& it : items->items()) {
        it.check_keys({{"name", true, ""}, {"gpu_hours", true, ""}});
        prog.extra_gpu_hours.emplace_back(it.child("name").as_string(), it.child("gpu_hours").as_positive_double());
      }
    s.cost.programme = prog;
  }
  if (auto rel = n.optional_child("reliability")) {
    rel->check_keys({{"enabled", false, "count interruptions and checkpoints (default true)"},
                     {"interruptions_per_gpu_hour", false, "unexpected interruptions per GPU-hour"},
                     {"checkpoint_write_per_node", false, "storage write bandwidth per node, e.g. \"10 GiB/s\""},
                     {"restart_seconds", false, "time to detect, restart and reload after an interruption"}});
    if (auto v = rel->optional_child("enabled")) s.reliability.enabled = v->as_bool();
    if (auto v = rel->optional_child("interruptions_per_gpu_hour")) {
      s.reliability.interruptions_per_gpu_hour = v->as_double();
      if (s.reliability.interruptions_per_gpu_hour < 0) throw v->error("a failure rate cannot be negative");
    }
    if (auto v = rel->optional_child("checkpoint_write_per_node"))
      s.reliability.checkpoint_write_bytes_per_s_per_node = v->as_quantity(Dimension::bytes_per_second);
    if (auto v = rel->optional_child("restart_seconds")) s.reliability.restart_seconds = v->as_nonnegative_double();
  }
}

}  // namespace

Scenario load_scenario(const std::string& name_or_path, const Catalog& catalog) {
  const std::string path = catalog.scenario_path(name_or_path);
  return load_scenario(YamlNode::load_file(path), catalog);
}

Scenario load_scenario(const YamlNode& n, const Catalog& catalog) {
  const std::string path = n.file();
  n.check_keys({{"name", true, "scenario id"},
                {"title", true, "one line"},
                {"description", false, "one paragraph"},
                {"sources", false, "where the figures come from"},
                {"model", true, "preset name or inline mapping"},
                {"cluster", true, "gpu, nodes, gpus_per_node, network"},
                {"parallelism", false, "layout (default: data parallel only)"},
                {"memory", false, "communication buffers and fragmentation allowance"},
                {"training", true, "precision, seq_len, global_batch, tokens"},
                {"cost", true, "gpu_hour_usd"},
                {"claim", false, "published figure to compare with"},
                {"reliability", false, "interruptions, checkpoints, restarts (defaults: hardware/costs.yaml)"}});
  Scenario s;
  s.file = path;
  s.name = n.child("name").as_string();
  s.title = n.child("title").as_string();
  s.description = optional_string(n, "description");
  s.sources = optional_list(n, "sources");
  s.model = load_named(n.child("model"), catalog, "models", "model", load_model);

  s.cluster = parse_cluster(n.child("cluster"), catalog);

  if (auto p = n.optional_child("parallelism")) parse_parallel(*p, s.model, s.parallel);

  if (auto mem = n.optional_child("memory")) {
    mem->check_keys({{"comm_buffers", false, "bytes per GPU for NCCL / DeepEP buffers (default 1 GiB)"},
                     {"fragmentation", false, "allocator allowance, fraction (default 0.05)"}});
    if (auto v = mem->optional_child("comm_buffers")) s.memory.comm_buffer_bytes = v->as_quantity(Dimension::bytes);
    if (auto v = mem->optional_child("fragmentation")) {
      s.memory.fragmentation = v->as_nonnegative_double();
      if (s.memory.fragmentation >= 1) throw v->error("a fraction below 1");
    }
  }
  const YamlNode t = n.child("training");
  t.check_keys({{"precision", true, "bf16 | fp8"},
                {"optimizer", false, "adamw (default)"},
                {"optimizer_moments", false, "fp32 (default) | bf16 (DeepSeek-V3)"},
                {"attention_kernel", false, "flash (default) | unfused (frameworks before FlashAttention)"},
                {"dropout", false, "hidden dropout after attention and MLP (default false)"},
                {"mixed_precision", false, "master-weights (default: BF16 weights, FP32 master in the optimizer) | autocast (PyTorch AMP over FP32 parameters)"},
                {"seq_len", true, "tokens per sequence"},
                {"global_batch", false, "sequences per step"},
                {"global_batch_tokens", false, "tokens per step"},
                {"tokens", false, "training tokens of the main phase (none: only the later phases run)"},
                {"batch_ramp", false, "{from: sequences, tokens: T, points: N}: batch grown linearly over the first T tokens"},
                {"phases", false, "later phases (context extension, fine-tuning, reported figures)"}});
  s.training.precision = parse_enum<Precision>(t.child("precision"), {{"bf16", Precision::bf16}, {"fp8", Precision::fp8}});
  if (auto o = t.optional_child("optimizer")) {
    s.training.optimizer = o->as_string();
    if (s.training.optimizer != "adamw") throw o->error("unknown value '" + s.training.optimizer + "' (one of: adamw)");
  }
  if (auto v = t.optional_child("dropout")) s.training.dropout = v->as_bool();
  if (auto v = t.optional_child("mixed_precision"))
    s.training.autocast = parse_enum<bool>(*v, {{"master-weights", false}, {"autocast", true}});
  if (auto a = t.optional_child("attention_kernel"))
    s.training.flash_attention = parse_enum<bool>(*a, {{"flash", true}, {"unfused", false}});
  if (auto o = t.optional_child("optimizer_moments"))
    s.training.bf16_moments = parse_enum<bool>(*o, {{"fp32", false}, {"bf16", true}});
  s.training.seq_len = t.child("seq_len").as_positive_int();
  if (t.has("global_batch") == t.has("global_batch_tokens"))
    throw t.error("give exactly one of 'global_batch' (sequences) or 'global_batch_tokens'");
  if (auto b = t.optional_child("global_batch")) s.training.global_batch = b->as_positive_int();
  if (auto b = t.optional_child("global_batch_tokens")) {
    const auto tok = b->as_positive_int();
    if (tok % s.training.seq_len != 0)
      throw b->error("global_batch_tokens must be a multiple of seq_len (" + std::to_string(s.training.seq_len) + ")");
    s.training.global_batch = tok / s.training.seq_len;
  }
  if (auto v = t.optional_child("tokens")) s.training.tokens = v->as_positive_double();
  if (auto r = t.optional_child("batch_ramp")) {
    r->check_keys({{"from", true, "sequences per step at the start"},
                   {"tokens", true, "tokens over which the batch grows to global_batch"},
                   {"points", false, "batch sizes simulated along the ramp (default 4)"}});
    BatchRamp ramp;
    ramp.from = r->child("from").as_positive_int();
    ramp.tokens = r->child("tokens").as_positive_double();
    if (auto p = r->optional_child("points")) ramp.points = static_cast<int>(p->as_positive_int());
    if (ramp.from >= s.training.global_batch) throw r->child("from").error("must be below global_batch");
    if (ramp.tokens > s.training.tokens) throw r->child("tokens").error("exceeds the phase's tokens");
    s.training.batch_ramp = ramp;
  }

  if (auto ph = t.optional_child("phases"))
    for (const YamlNode& item : ph->items()) s.training.phases.push_back(parse_phase(item, s, catalog));
  if (s.training.tokens == 0 && s.training.phases.empty())
    throw t.error("give the main phase's 'tokens', or later 'phases' (or both)");

  load_costs(n, catalog, s);
  if (auto cl = n.optional_child("claim")) {
    cl->check_keys({{"gpu_hours", false, "claimed GPU-hours"},
                    {"cost_usd", false, "claimed cost"},
                    {"source", true, "where the claim was made"},
                    {"baseline", false, "scenario the claim compares with"},
                    {"saving", false, "claimed saving over the baseline (fraction)"},
                    {"phases", false, "claimed GPU-hours by phase: {phase or group name: GPU-hours}"}});
    ClaimSpec claim;
    if (cl->has("baseline") != cl->has("saving")) throw cl->error("give 'baseline' and 'saving' together");
    if (auto v = cl->optional_child("baseline")) {
      claim.baseline = v->as_string();
      catalog.scenario_path(claim.baseline);  // fails now, clearly, when the baseline does not exist
    }
    if (auto v = cl->optional_child("saving")) {
      claim.saving = v->as_double();
      if (*claim.saving <= 0 || *claim.saving >= 1) throw v->error("a saving is a fraction between 0 and 1");
    }
    if (auto v = cl->optional_child("gpu_hours")) claim.gpu_hours = v->as_positive_double();
    if (auto v = cl->optional_child("cost_usd")) claim.cost_usd = v->as_positive_double();
    claim.source = cl->child("source").as_string();
    if (auto ph = cl->optional_child("phases"))
      for (const auto& [key, v] : ph->entries()) {
        const bool matches = (key == "main" && s.training.tokens > 0) ||
                             std::any_of(s.training.phases.begin(), s.training.phases.end(), [&](const PhaseSpec& p) {
                               return p.name == key || p.name.rfind(key + "/", 0) == 0;
                             });
        if (!matches) throw v.error("no phase is named '" + key + "' or '" + key + "/...'");
        claim.phase_gpu_hours.emplace_back(key, v.as_positive_double());
      }
    s.claim = claim;
  }
  return s;
}

}  // namespace gpuhours
