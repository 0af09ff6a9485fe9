// Generation as inference: prefill (compute-bound) and decode (memory-bound: weights and KV cache
// read from HBM every iteration) on inference instances carved out of the cluster, and an event
// simulation of continuous batching over the sequences of a rollout. Used by RL phases (rollouts)
// and generation phases (SFT data, distillation).
#pragma once
#include <cstdint>
#include <map>
#include <tuple>
#include <cstdint>
#include <string>
#include <vector>

#include "gpuhours/decode.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

/// What one iteration of an inference instance costs (per GPU of the instance).
struct IterationCost {
  double flops = 0;         // matrix + attention FLOPs on the busiest GPU
  double weight_bytes = 0;  // weights read from HBM (dense share + the routed experts touched)
  double kv_bytes = 0;      // KV cache read from HBM
  double compute_seconds = 0, memory_seconds = 0, comm_seconds = 0, launch_seconds = 0;
  double gemm_seconds = 0;  // prompts: the FP8 GEMMs' kernels alone (quantization passes left out), within compute
  double seconds = 0;       // max(compute, memory) + communication + kernel launches
};

/// The kernel times of prompt iterations already computed in one simulation, by shape: a
/// simulation's iterations repeat their shapes (the same chunk budget, prompts admitted one by one
/// as answers end), and each shape costs an op graph and a profile lookup per kernel.
class PromptKernelCache {
 public:
  struct Times {
    // other_seconds: every kernel but attention (gemm_seconds: its FP8 GEMMs without their
    // quantization passes); attention at graph_pairs
    double other_seconds = 0, gemm_seconds = 0, attention_seconds = 0, graph_pairs = 0;
  };
  using Key = std::tuple<int, int, int, std::int64_t, std::int64_t, std::int64_t, double>;  // tp, ep, precision, T, len, micro-batch, imbalance
  const Times* find(const Key& k) const {
    const auto it = values_.find(k);
    return it == values_.end() ? nullptr : &it->second;
  }
  void put(const Key& k, const Times& t) { values_[k] = t; }

 private:
  std::map<Key, Times> values_;
};

/// Cost of one forward iteration of an instance over `tokens` new tokens (prefill: prompts' tokens;
/// decode: one per running sequence) that attend to `attended_pairs` (query, key) pairs in all and
/// read `kv_tokens` cached tokens from HBM. Weights are FP8 or BF16 (the layout's, by default the
/// training precision), GEMMs run at that precision's peak; the KV cache is BF16.
IterationCost iteration_cost(const Scenario& s, const InferenceSpec& layout, double tokens, double attended_pairs,
                             double kv_tokens, bool decode, PromptKernelCache* cache = nullptr);

/// Tokens of one kind in an iteration: new tokens, the (query, key) pairs they attend, and the
/// cached tokens read from HBM.
struct BatchPart {
  double tokens = 0, attended_pairs = 0, kv_tokens = 0;
};
/// One iteration of continuous batching with chunked prefill: prompt chunks and decode tokens in
/// one forward pass. Their FLOPs add; the weights are read once, the KV cache of both; their
/// expert exchanges use the prefill and decode kernels; one set of kernel launches.
IterationCost batch_iteration_cost(const Scenario& s, const InferenceSpec& layout, const BatchPart& prefill,
                                   const BatchPart& decode, PromptKernelCache* cache = nullptr);

/// KV-cache bytes per token on one GPU of an attention replica, at the layout's cache precision.
double kv_bytes_per_token(const ModelSpec& m, const InferenceSpec& layout);
/// KV-cache bytes of one token over all the GPUs of a replica (what a prompt's cache weighs in transit).
double kv_bytes_per_token_whole_model(const ModelSpec& m, const InferenceSpec& layout);
/// Weight bytes on one GPU of an instance: dense weights over tp, routed experts (with the
/// redundant slots' replicas) over all its GPUs, the embedding over tp.
double instance_weight_bytes_per_gpu(const Scenario& s, const InferenceSpec& layout);
/// Tokens the KV cache of one GPU holds: HBM less weights, communication buffers and the allocator
/// allowance; InfeasibleLayout when the weights leave no room.
std::int64_t kv_capacity_tokens_per_gpu(const Scenario& s, const InferenceSpec& layout);

/// Response lengths of `count` outputs: quantiles (i + 0.5) / count of an exponential distribution
/// truncated at `max_tokens` whose truncated mean is `mean_tokens` (fixed: all equal to the mean).
std::vector<std::int64_t> response_lengths(const LengthSpec& spec, double mean_tokens, std::int64_t count);

struct GenerationResult {
  int instances = 0, instance_gpus = 0;
  std::int64_t outputs = 0;              // whole cluster
  std::int64_t outputs_per_instance = 0;
  double prompt_tokens = 0, output_tokens = 0;  // whole cluster
  std::int64_t kv_capacity_tokens = 0;   // per attention replica, after weights and buffers
  double peak_concurrent = 0;            // sequences running at once on an instance, at most
  double mean_concurrent = 0;            // time-weighted over decode
  Time prefill, decode;                  // an instance's busy time in each
  Time wall;                             // the instance's makespan (all instances are alike)
  double output_tokens_per_gpu_second = 0;
  double model_flops = 0;                // forward FLOPs of the whole generation (MFU convention)
};

/// Event simulation of continuous batching on one instance (all instances get the same length
/// distribution): a sequence is admitted when the KV cache holds its prompt and its whole response
/// (paged allocation without preemption), its prompt is prefilled, then every running sequence
/// decodes one token per iteration; events are admissions and completions.
GenerationResult simulate_generation(const Scenario& s, const GenerationSpec& g, double mean_response_tokens);

}  // namespace gpuhours
