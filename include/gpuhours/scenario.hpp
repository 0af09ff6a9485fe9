// Scenario: the three immutable inputs (model, cluster, layout) plus the training run, cost and
// claim, loaded from YAML with every unit normalised (bytes, bytes/s, FLOP/s, seconds, watts).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gpuhours {

class YamlNode;

enum class AttentionKind { mha, gqa, mla };
enum class Activation { swiglu, gelu, relu2 };
enum class NormKind { rmsnorm, layernorm };
enum class Precision { bf16, fp8 };
enum class Recompute { none, selective, full };

struct AttentionSpec {
  AttentionKind kind = AttentionKind::mha;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  // Multi-head latent attention (DeepSeek-V2 §2.1): low-rank query and key/value compression,
  // a decoupled RoPE key shared by the heads.
  std::int64_t q_lora_rank = 0;  // 0: no query compression
  std::int64_t kv_lora_rank = 0;
  int qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
  int qk_dim() const { return kind == AttentionKind::mla ? qk_nope_head_dim + qk_rope_head_dim : head_dim; }
  int v_dim() const { return kind == AttentionKind::mla ? v_head_dim : head_dim; }
};

struct FfnSpec {
  bool moe = false;
  std::int64_t intermediate = 0;  // dense FFN width (dense models, and the dense layers of MoE)
  Activation activation = Activation::swiglu;
  int dense_layers = 0;           // MoE: the first layers use the dense FFN
  int experts = 0, experts_per_token = 0, shared_experts = 0;
  std::int64_t expert_intermediate = 0;
  int max_nodes_per_token = 0;    // node-limited routing; 0 = unlimited
};

struct ModelSpec {
  std::string name, title;
  std::vector<std::string> sources;
  int layers = 0;
  std::int64_t hidden = 0;
  std::int64_t vocab = 0;
  AttentionSpec attention;
  FfnSpec ffn;
  NormKind norm = NormKind::rmsnorm;
  bool tie_embeddings = false;
  bool bias = false;      // biases on all linear layers (GPT-style); Llama has none
  bool qkv_bias = false;  // biases on q, k, v only (Qwen2)
  std::int64_t position_embeddings = 0;  // learned absolute positions (GPT-3); 0 = RoPE
  int mtp_depth = 0;      // DeepSeek-V3 multi-token prediction modules
  std::optional<double> published_params, published_active_params;
  bool is_moe_layer(int layer) const { return ffn.moe && layer >= ffn.dense_layers; }
};

struct GpuSpec {
  std::string name, title;
  std::map<std::string, std::string> sources;
  std::map<std::string, double> peak_flops_per_s;  // dense, by dtype: fp64, tf32, bf16, fp8
  double hbm_bytes = 0;
  double hbm_bytes_per_s = 0;
  double l2_bytes = 0;
  int sms = 0;
  double clock_hz = 0;
  double nvlink_bytes_per_s = 0;  // per direction
  double tdp_watts = 0;
  double price_usd = 0;
  /// Measured ceilings: the fraction of the datasheet peak a real kernel of each class reached.
  struct Achievable {
    double gemm_bf16 = 1, gemm_fp8 = 1;           // of the BF16 / FP8 tensor peak
    double attention_fwd = 1, attention_bwd = 1;  // of the BF16 tensor peak
    double elementwise = 1, copy = 1;             // of HBM bandwidth
  } achievable;
  double kernel_launch_seconds = 0;  // fixed cost per kernel on the GPU
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
  int comm_sms = 0;  // SMs a communication kernel occupies
};

/// A server: its GPUs, NVSwitch chips and NICs (hardware/nodes/*.yaml).
struct NodeSpec {
  std::string name, title, gpu;  // gpu: preset name
  int gpus = 0, nvswitch_chips = 0, nics = 0;
  double nic_bytes_per_s = 0, pcie_bytes_per_s = 0, system_power_watts = 0, price_usd = 0;
};

struct CalibrationProfile;

struct ClusterSpec {
  GpuSpec gpu;
  std::shared_ptr<const CalibrationProfile> calibration;  // measured kernel times, or none (roofline)
  int nodes = 1;
  int gpus_per_node = 1;
  NetworkSpec network;
  int gpus() const { return nodes * gpus_per_node; }
};

struct ParallelSpec {
  int tp = 1, pp = 1, ep = 1, cp = 1;
  int zero = 0;
  std::string schedule = "1f1b";
  int virtual_stages = 1;
  int micro_batch = 1;
  Recompute recompute = Recompute::none;
  std::vector<int> layers_per_part;  // explicit uneven split over pipeline parts (optional)
  double expert_imbalance = 1.0;     // busiest expert-parallel rank's tokens / mean
  bool sequence_parallel = true;     // with tp > 1 (Korthikanti et al. 2022)
};

struct MemorySpec {
  double comm_buffer_bytes = 1.0 * (1 << 30);  // NCCL channels + DeepEP buffers per GPU
  double fragmentation = 0.05;                 // allocator allowance, fraction of the rest
};

/// The batch grows linearly from `from` sequences to the phase's global batch over `tokens`.
struct BatchRamp {
  std::int64_t from = 0;
  double tokens = 0;
  int points = 4;  // batch sizes simulated along the ramp, each for tokens / points
};

/// Inference instances carved out of the cluster for generation: each runs tp x ep GPUs, attention
/// data-parallel over the ep GPUs (one attention replica per tp group) and experts spread over them
/// (DeepSeek's inference system, SGLang's DP attention).
struct InferenceSpec {
  int tp = 1, ep = 1;
  int max_sequences = 0;  // running sequences per instance at most; 0: as many as the KV cache holds
  std::optional<Precision> weights;  // FP8 or BF16 weights (default: the training precision)
  int gpus() const { return tp * ep; }
};

/// Response lengths: an exponential distribution truncated at max_tokens (long reasoning traces,
/// many cut at the limit), or fixed; the mean may grow linearly over a phase (RL lengthens them).
struct LengthSpec {
  double mean_from = 0, mean_to = 0;  // tokens; equal when constant
  std::int64_t max_tokens = 0;
  bool fixed = false;
  int points = 3;  // means simulated along a growing length, each for an equal share of the steps
};

struct GenerationSpec {
  std::int64_t outputs = 0;  // sequences generated (a generation phase's total; an RL rollout's)
  double prompt_tokens = 0;  // per output, mean
  LengthSpec response;
  InferenceSpec inference;
};

/// GRPO (DeepSeekMath §4) or PPO (Ouyang et al. 2022) over rollouts generated by the policy.
struct RlSpec {
  std::string algorithm = "grpo";  // grpo | ppo
  std::int64_t prompts_per_step = 0, samples_per_prompt = 1;
  int updates_per_rollout = 1;     // policy updates (mini-batches) per rollout
  bool reference_model = true;     // KL to a reference policy: one more forward pass
  bool reward_model = false;       // a learned reward model (same size as the policy) scores outputs
};

/// Paid API prices for generating the same tokens (distillation through an API).
struct ApiPriceSpec {
  double input_usd_per_million = 0, output_usd_per_million = 0;
  std::string source;
};

enum class PhaseKind { train, rl, generate };

/// A training phase after the main one (context extension, fine-tuning), simulated with its own
/// shape and layout; an RL phase (rollouts generated as inference, then policy updates); a
/// generation phase (inference only); or a phase whose GPU-hours are taken as reported. A phase
/// may run another model (a teacher) or on another cluster.
struct PhaseSpec {
  std::string name, source;
  PhaseKind kind = PhaseKind::train;
  std::int64_t seq_len = 0, global_batch = 0;  // train; rl: packing length of the update batch
  double tokens = 0;                           // train
  double steps = 0;                            // rl
  ParallelSpec parallel;
  GenerationSpec generation;                   // rl, generate
  RlSpec rl;
  std::optional<ApiPriceSpec> api;             // generate: the same tokens bought from an API
  std::shared_ptr<const ModelSpec> model;      // another model for this phase (none: the scenario's)
  std::shared_ptr<const ClusterSpec> cluster;  // another cluster for this phase
  std::optional<double> reported_gpu_hours;
};

struct TrainingSpec {
  Precision precision = Precision::bf16;
  std::string optimizer = "adamw";
  bool bf16_moments = false;  // AdamW moments in BF16 (DeepSeek-V3 §3.3.3)
  bool flash_attention = true;  // false: unfused attention kernels (pre-2022 frameworks)
  bool dropout = false;         // hidden dropout after attention and MLP
  bool autocast = false;        // mixed precision: PyTorch autocast over FP32 parameters
  std::int64_t seq_len = 0;
  std::int64_t global_batch = 0;  // sequences per step
  double tokens = 0;              // training tokens of the main phase (0: no main phase, e.g. RL only)
  std::optional<BatchRamp> batch_ramp;
  std::vector<PhaseSpec> phases;
};

/// Owned-cluster cost (Epoch AI's amortised-capex method) and facility energy.
struct OwnedCostSpec {
  double amortisation_per_year = 0, server_overhead = 0, interconnect_fraction = 0, cost_of_capital_per_year = 0;
  double avg_power_fraction = 0, server_power_factor = 0, pue = 0, electricity_usd_per_kwh = 0;
  double gpu_price_usd = 0;  // default: the GPU catalogue's price
};

/// A lab's whole fleet (capex view), e.g. SemiAnalysis' estimate of DeepSeek's ~50k Hopper GPUs.
struct FleetSpec {
  double gpus = 0, capex_usd = 0;
  std::string source;
};

/// The final run is one item of a programme: ablations, failed runs, experiments.
struct ProgrammeSpec {
  double multiplier = 1;  // whole programme / final run, applied to the run's GPU-hours
  std::vector<std::pair<std::string, double>> extra_gpu_hours;
  std::string source;
};

struct CostSpec {
  double gpu_hour_usd = 0;                      // the scenario's rental price
  std::map<std::string, double> rental_presets;  // name -> USD per GPU-hour (hardware/costs.yaml)
  OwnedCostSpec owned;
  std::optional<double> carbon_t_per_mwh;
  std::optional<FleetSpec> fleet;
  std::optional<ProgrammeSpec> programme;
};

/// Interruptions, checkpoints and restarts (run accounting).
struct ReliabilitySpec {
  bool enabled = true;
  double interruptions_per_gpu_hour = 0;
  double checkpoint_write_bytes_per_s_per_node = 0;
  double restart_seconds = 0;
};

/// Multipliers the sensitivity analysis and the Monte Carlo move (1 = as modelled).
struct UncertaintySpec {
  double kernel_time_scale = 1.0;        // every kernel's time
  double network_bandwidth_scale = 1.0;  // every achievable link bandwidth
};

struct ClaimSpec {
  std::optional<double> gpu_hours;
  std::optional<double> cost_usd;
  std::string source;
  std::string baseline;            // a scenario the claim compares with (e.g. "saves 42.5% over ...")
  std::optional<double> saving;    // claimed saving over the baseline, fraction of its GPU-hours
  /// Claimed GPU-hours of groups of phases: a key covers the phase of that name and the phases
  /// named "key/..." (e.g. r1-zero: r1-zero/32k + r1-zero/64k).
  std::vector<std::pair<std::string, double>> phase_gpu_hours;
};

struct Scenario {
  std::string name, title, description;
  std::vector<std::string> sources;
  std::string file;  // where it was loaded from
  ModelSpec model;
  ClusterSpec cluster;
  ParallelSpec parallel;
  MemorySpec memory;
  TrainingSpec training;
  CostSpec cost;
  ReliabilitySpec reliability;
  UncertaintySpec uncertainty;
  std::optional<ClaimSpec> claim;
  int dp() const { return cluster.gpus() / (parallel.tp * parallel.pp * parallel.cp); }
};

/// Where preset files live: <root>/models, <root>/hardware/gpus, <root>/hardware/networks,
/// <root>/scenarios.
class Catalog {
 public:
  explicit Catalog(std::string root);
  const std::string& root() const { return root_; }
  /// A scenario given as a path, or as a preset name under scenarios/.
  std::string scenario_path(const std::string& name_or_path) const;
  /// Preset names in one folder (sorted), e.g. names("models").
  std::vector<std::string> names(const std::string& folder) const;
  std::string preset_path(const std::string& folder, const std::string& name) const;

 private:
  std::string root_;
};

Scenario load_scenario(const std::string& name_or_path, const Catalog& catalog);
/// A scenario given as a mapping (e.g. inside a validation case).
Scenario load_scenario(const YamlNode& node, const Catalog& catalog);
ModelSpec load_model(const YamlNode& node);
GpuSpec load_gpu(const YamlNode& node);
NetworkSpec load_network(const YamlNode& node);
NodeSpec load_node(const YamlNode& node);
/// Loads a preset by name from `folder` ("hardware/gpus", ...), or throws an InputError that
/// suggests the closest name.
GpuSpec load_gpu_preset(const std::string& name, const Catalog& catalog);
NetworkSpec load_network_preset(const std::string& name, const Catalog& catalog);

const char* to_string(Precision p);
const char* to_string(Recompute r);

}  // namespace gpuhours
