// Scenario: composes a model (model.hpp) and a cluster (hardware.hpp) with what is the
// scenario's own: the parallel layout, the training run and its phases, cost and claim, loaded
// from YAML with every unit normalised (bytes, bytes/s, FLOP/s, seconds, watts).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/attention_kernel.hpp"
#include "gpuhours/catalog.hpp"
#include "gpuhours/dtype.hpp"
#include "gpuhours/expert_load.hpp"
#include "gpuhours/hardware.hpp"
#include "gpuhours/model.hpp"

namespace gpuhours {

enum class Recompute { none, selective, full };
template <>
struct EnumTable<Recompute> {
  static constexpr std::array<EnumName<Recompute>, 3> names{
      {{Recompute::none, "none"}, {Recompute::selective, "selective"}, {Recompute::full, "full"}}};
};
inline const char* to_string(Recompute r) { return name_of(r); }



/// How MoE tokens travel to their experts: DeepEP (each token crosses to a node once and is
/// forwarded over NVLink, DeepSeek-V3 §3.2.2), HybridEP (the same exchange through Megatron-Core's
/// flex dispatcher, hybridep backend; the token permutation a kernel after it unless fused into its
/// kernels: ParallelSpec::hybridep_fused_permute) or a plain
/// NCCL all-to-all of every (token, expert) copy (Megatron-Core's alltoall token dispatcher).
enum class Dispatcher { deepep, alltoall, hybridep };
template <>
struct EnumTable<Dispatcher> {
  static constexpr std::array<EnumName<Dispatcher>, 3> names{
      {{Dispatcher::deepep, "deepep"}, {Dispatcher::alltoall, "alltoall"}, {Dispatcher::hybridep, "hybridep"}}};
};
inline const char* to_string(Dispatcher d) { return name_of(d); }

/// Where the GEMMs run beside the expert dispatch / combine kernels: on every SM, giving up those
/// the communication kernels take while they run (cuBLAS, Transformer Engine), or as persistent
/// kernels sized to the SMs the communication kernels leave, for the whole step (DeepGEMM's
/// set_num_sms: DeepSeek's training profile launches its FP8 GEMMs on 112 of the H800's 132 SMs,
/// the 20 others DeepEP's, DeepSeek-V3 §3.2.2).
enum class GemmSms { shared, partitioned };
template <>
struct EnumTable<GemmSms> {
  static constexpr std::array<EnumName<GemmSms>, 2> names{{{GemmSms::shared, "shared"}, {GemmSms::partitioned, "partitioned"}}};
};
inline const char* to_string(GemmSms g) { return name_of(g); }

struct ParallelSpec {
  int tp = 1, pp = 1, ep = 1, cp = 1;
  int zero = 0;
  std::string schedule = "1f1b";
  int virtual_stages = 1;
  // false: the schedule's split backwards (zb-h1, dualpipe, dualpipev) compute their weight
  // gradients at once, so no activations wait for a deferred W (memory for bubble).
  bool split_backward = true;
  int micro_batch = 1;
  Recompute recompute = Recompute::none;
  // With selective recomputation: the RecomputeModule bits (opgraph.hpp) whose ops are recomputed
  // (Megatron-Core's --recompute-modules); 0: the default set (norms, MLA up-projections, as
  // DeepSeek-V3 §3.2.3, and the activation inputs' consumers).
  std::uint32_t recompute_modules = 0;
  std::vector<int> layers_per_part;  // explicit uneven split over pipeline parts (optional)
  // Busiest expert-parallel rank's tokens / mean, when given; otherwise drawn from the router model
  // of `routing` (expert_load.hpp) for the layout: see expert_imbalance(Scenario).
  std::optional<double> expert_imbalance;
  RoutingRegime routing;             // the model's balancing regime, or the layout's `routing:`
  bool sequence_parallel = true;     // with tp > 1 (Korthikanti et al. 2022)
  Dispatcher dispatcher = Dispatcher::deepep;
  GemmSms gemm_sms = GemmSms::shared;
  // HybridEP: the token permutation inside its dispatch and combine kernels (Megatron-Core's
  // moe_permute_fusion_into_hybridep, default false: a permute kernel after the dispatch).
  bool hybridep_fused_permute = false;
  // Experts with biases (bias: true): the bias of their second projection fused into the grouped
  // GEMM (Transformer Engine's op fuser); false (Megatron-Core's default TEGroupedMLP): added after
  // it by an eager loop over the local experts (OpGraph op experts_down_bias).
  bool expert_bias_fused = false;
  // GraphScope bits of the CUDA graphs the layers replay (Megatron-Core's --cuda-graph-scope with
  // --cuda-graph-impl transformer_engine); 0: every kernel launched by the host.
  std::uint32_t cuda_graph_scopes = 0;
  // Precision of the activations dispatched to the experts under FP8 training; unset: FP8 through
  // DeepEP (DeepSeek-V3 §3.3.2), BF16 through an NCCL all-to-all or HybridEP (dispatch_fp8()).
  std::optional<Precision> dispatch_precision;
  bool ep_comm_overlap = false;      // Megatron-Core's expert all-to-all overlap: steady-state F and B as one F&B pair
  bool tp_comm_overlap = false;      // TP all-gathers / reduce-scatters pipelined with their GEMMs (Transformer Engine)
};

/// Whether a MoE layer's tokens travel to their experts in FP8 (and their gradients back from
/// them, the combine's backward). Given, the layout's `dispatch_precision`; otherwise FP8 exactly
/// where DeepSeek's recipe sends it, FP8 training through DeepEP (DeepSeek-V3 §3.3.2): Megatron-Core's
/// all-to-all and HybridEP dispatchers move the BF16 hidden states (fused_a2a.py: "HybridEP
/// dispatcher does not support fp8 dispatch"), and Transformer Engine quantizes them after.
inline bool dispatch_fp8(const ParallelSpec& p, Precision training) {
  if (training != Precision::fp8) return false;
  return p.dispatch_precision ? *p.dispatch_precision == Precision::fp8 : p.dispatcher == Dispatcher::deepep;
}

/// Why the layout's CUDA-graph scopes (ParallelSpec::cuda_graph_scopes, non-zero) cannot run with `model`
/// and the layout's recomputation, as Megatron-Core checks --cuda-graph-scope (transformer_config.py):
/// MoE scopes need experts, moe_preprocess needs moe_router, mlp needs dense layers, full
/// recomputation needs full-iteration graphs (not simulated), and recompute_modules: [moe] may not
/// cover a moe_router graph. nullopt when they can.
std::optional<std::string> graph_scope_problem(const ParallelSpec& p, const ModelSpec& model);

/// Memory outside the model's states and activations; both defaults are gpuhours assumptions (the
/// README lists them), overridable in a scenario's `memory:`.
struct MemorySpec {
  double comm_buffer_bytes = 1.0 * (1 << 30);  // NCCL channels + DeepEP buffers per GPU (assumed 1 GiB)
  double fragmentation = 0.05;                 // allocator allowance, fraction of the rest (assumed)
};

/// The batch grows linearly from `from` sequences to the phase's global batch over `tokens`.
struct BatchRamp {
  std::int64_t from = 0;
  double tokens = 0;
  int points = 4;  // batch sizes simulated along the ramp, each for tokens / points (default assumed)
};

/// Inference instances carved out of the cluster for generation: each runs tp x ep GPUs, attention
/// data-parallel over the ep GPUs (one attention replica per tp group) and experts spread over them
/// (DeepSeek's inference system, SGLang's DP attention).
struct InferenceSpec {
  int tp = 1, ep = 1;
  int max_sequences = 0;  // running sequences per instance at most; 0: as many as the KV cache holds
  std::optional<Precision> weights;  // FP8 or BF16 weights (default: the training precision)
  double kv_cache_bits = 16;         // bits per cached element (BF16 unless quantised)
  int redundant_experts = 0;         // extra expert slots holding replicas of the busiest experts (EPLB)
  bool dual_batch_overlap = false;   // two micro-batches: one's communication hidden behind the other's computation
  // With dual_batch_overlap: where the prompt iterations' GEMMs run beside DeepEP's kernels (SGLang's
  // two-batch overlap sizes DeepGEMM to the SMs DeepEP's normal kernels leave: partitioned).
  GemmSms gemm_sms = GemmSms::shared;
  bool cuda_graphs = false;          // decode-only iterations replayed from CUDA graphs (no per-kernel launch from the host)
  int gpus() const { return tp * ep; }
};

/// Response lengths: an exponential distribution truncated at max_tokens (long reasoning traces,
/// many cut at the limit), or fixed; the mean may grow linearly over a phase (RL lengthens them).
struct LengthSpec {
  double mean_from = 0, mean_to = 0;  // tokens; equal when constant
  std::int64_t max_tokens = 0;
  bool fixed = false;
  int points = 3;  // means simulated along a growing length, each for an equal share of the steps (default assumed)
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
template <>
struct EnumTable<PhaseKind> {
  static constexpr std::array<EnumName<PhaseKind>, 3> names{
      {{PhaseKind::train, "train"}, {PhaseKind::rl, "rl"}, {PhaseKind::generate, "generate"}}};
};

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
  Fp8Recipe fp8_recipe = Fp8Recipe::delayed;  // with precision fp8
  std::string optimizer = "adamw";
  bool bf16_moments = false;  // AdamW moments in BF16 (DeepSeek-V3 §3.3.3)
  bool fp32_gradients = false;  // gradients accumulated in FP32 (DeepSeek-V3 §3.3.3), not BF16
  AttentionKernel attention_kernel = AttentionKernel::fused;
  bool dropout = false;         // hidden dropout after attention and MLP
  bool autocast = false;        // mixed precision: PyTorch autocast over FP32 parameters
  std::int64_t seq_len = 0;
  std::int64_t global_batch = 0;  // sequences per step
  double tokens = 0;              // training tokens of the main phase (0: no main phase, e.g. RL only)
  std::optional<BatchRamp> batch_ramp;
  std::vector<PhaseSpec> phases;
};

/// Mixed-precision AdamW's bytes per parameter (Rajbhandari et al. 2020, ZeRO §3.1): BF16 weights
/// and gradients, FP32 master weights and two FP32 moments; DeepSeek-V3 §3.3.3 keeps the moments
/// in BF16 and accumulates the gradients in FP32.
struct OptimizerBytes {
  double weights = 2, gradients = 2, master = 4, moments = 8;
  /// Optimizer states, what ZeRO-1 shards: master weights and moments.
  double states() const { return master + moments; }
  /// HBM traffic of one optimizer step: reads and writes weights, master weights and moments, and
  /// reads the gradients.
  double step_traffic() const { return 2 * (weights + master + moments) + gradients; }
};
inline OptimizerBytes optimizer_bytes(const TrainingSpec& t) {
  OptimizerBytes b;
  if (t.bf16_moments) b.moments = 4;
  if (t.fp32_gradients) b.gradients = 4;
  return b;
}

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
  // The multiplier's published range, when one is given (`range: {low, high, source}`).
  std::optional<std::pair<double, double>> range;
  std::string range_source;
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
  /// The range each uncertain input moves over (hardware/uncertainty.yaml, with sources).
  struct Range {
    double low = 1, high = 1;
  };
  Range kernel_time, network_bandwidth, interruption_rate, expert_imbalance, response_length, speed_variation;
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
  std::string counterfactual_of;  // a scenario this one varies (e.g. the same run on other GPUs): set beside it, not judged
  int dp() const { return cluster.gpus() / (parallel.tp * parallel.pp * parallel.cp); }
};


Scenario load_scenario(const std::string& name_or_path, const Catalog& catalog);

/// The busiest expert-parallel rank's routed tokens / the mean, for `s`'s layout: the layout's
/// `expert_imbalance` when given, else the mean over 256 seeded draws of its routing regime's
/// router model (expert_load.hpp) at the model's experts and top-k, the layout's ep and the tokens
/// an expert-parallel group routes per micro-batch and layer (ep x micro_batch x seq_len / (tp x cp)).
/// 1 without expert parallelism.
double expert_imbalance(const Scenario& s);
/// The same for `ep` ranks routing `tokens` in one step of one layer (inference instances).
double expert_imbalance(const Scenario& s, int ep, double tokens);
/// Says where expert_imbalance(s) comes from, for the report.
std::string expert_imbalance_assumption(const Scenario& s);
/// A scenario given as a mapping (e.g. inside a validation case).
Scenario load_scenario(const YamlNode& node, const Catalog& catalog);
/// What a serving deployment shares with training: the model, cluster and memory allowances of
/// `deployment`, and the costs (cost, reliability) of `scenario`, with the uncertainty defaults.
Scenario load_platform(const YamlNode& deployment, const YamlNode& scenario, const Catalog& catalog);
/// An inference layout (tp, ep, max_sequences, weights, kv_cache_bits, redundant_experts); the
/// mapping may also hold the `extra` keys, which the caller reads.
InferenceSpec load_inference(const YamlNode& node, std::vector<KeySpec> extra = {});
/// The same for `ep` ranks routing `tokens` in one layer with `redundant_experts` extra slots.
double expert_imbalance(const Scenario& s, int ep, double tokens, int redundant_experts);

}  // namespace gpuhours
