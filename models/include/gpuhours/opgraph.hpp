// The operators of a transformer on one rank, with their exact FLOPs and bytes, per micro-batch.
//
// Conventions (per micro-batch; T = b*s/cp tokens on the rank; BF16 activations unless stated):
//  - GEMM [M x K] * [K x N]: 2*M*N*K FLOPs; bytes = (M*K + K*N) * operand size + M*N * 2.
//    Backward = two GEMMs of the same FLOPs: input gradient [M x N]*[N x K] and weight gradient
//    [K x M]*[M x N], so backward = 2x forward. The weight gradient is the "W" pass that
//    zero-bubble schedules defer.
//  - Causal attention (FlashAttention): forward 2*b*a*s^2*(d_qk + d_v) * 1/2 (the causal half);
//    backward 2.5x the forward FLOPs (5 matmuls instead of 2: Dao 2023, FlashAttention-2 §3.1).
//    No s x s matrix is stored: it saves q, k, v, the output and the log-sum-exp.
//    Unfused attention (Megatron-LM before FlashAttention): batched GEMMs QK^T and PV over the
//    full s x s scores (4*b*a*s^2*d forward, twice that backward), and a fused scale-mask-softmax
//    and a dropout kernel that each read and write the b*a*s^2 scores (FP16), plus a 1-byte mask.
//  - Element-wise and normalisation ops move bytes: forward reads inputs and writes outputs;
//    backward reads the output gradient and the saved inputs and writes the input gradients.
//  - Tensor parallelism with sequence parallelism (Korthikanti et al. 2022): column-parallel
//    GEMMs split N, row-parallel GEMMs split K, attention splits heads; norms and residuals run on
//    T/tp tokens; each layer all-gathers its input before the attention and the FFN and
//    reduce-scatters after them (backward: the reverse), T*h*2 bytes each.
//  - Mixture of experts (DeepSeekMoE; DeepSeek-V3 §2.1): router GEMM, shared experts as a dense
//    FFN, routed experts as a grouped GEMM over the experts on the rank; tokens are dispatched to
//    and combined from the expert-parallel ranks. The busiest rank gets `imbalance` x the mean
//    tokens. Under TP the routed experts are folded (expert TP 1): each rank routes its own T/tp
//    sequence-parallel tokens, with no TP collective around them.
//  - FP8 (DeepSeek-V3 §3.3.1): linear layers' GEMMs in FP8; embedding, LM head, router,
//    normalisation and attention stay in BF16/FP32.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gpuhours/attention_kernel.hpp"
#include "gpuhours/dtype.hpp"
#include "gpuhours/enums.hpp"
#include "gpuhours/model.hpp"

namespace gpuhours {

enum class OpKind { gemm, attention, memory };

/// One pass of one operator: a kernel (or a fixed group of kernels) on the GPU.
struct Kernel {
  OpKind kind = OpKind::memory;
  double flops = 0;
  double bytes = 0;
  bool fp8 = false;  // GEMM runs in FP8
  bool backward = false;
  std::int64_t m = 0, n = 0, k = 0;  // GEMM shape (per group for grouped GEMMs); attention:
                                     // batch*heads, sequence of one block (s/cp), d_qk + d_v
  int groups = 1;                    // grouped GEMM: experts on the rank (unfused attention: batch x heads)
  bool batched = false;              // the groups run in one batched launch per kernel (unfused attention)
  AttentionKernel library = AttentionKernel::fused;  // attention: which kernel library times it
  /// FP8 GEMMs: bytes of the separate memory-bound pass that quantizes their operands first (read
  /// BF16, write FP8 with scales), which DeepSeek-V3 §3.5.2 names as an HBM round trip.
  double quantize_bytes = 0;
  int quantize_kernels = 1;  // kernels of that pass: under current scaling 3 per tensor (amax, scale, cast)
  /// Memory-bound passes: kernels the pass is made of, each launched on its own (an eager loop over
  /// the local experts launches a few per expert).
  int kernels = 1;
  /// Replayed from a CUDA graph: the GPU pays the gap between graph kernels, not a launch (step program).
  bool graphed = false;
};

/// The parts of a layer Megatron-Core can recompute one by one (--recompute-granularity selective
/// --recompute-modules; megatron/core/transformer/transformer_config.py). An op belongs to one or
/// more of them (a bit each): the MoE activation is in `moe` and `moe_act`.
enum class RecomputeModule : std::uint32_t {
  layernorm = 1,        // the norms before the attention and the FFN
  core_attn = 2,        // the attention kernel itself
  mla_up_proj = 4,      // MLA's query and key-value up-projections
  mlp = 8,              // a dense FFN with its TP communication
  moe = 16,             // the whole MoE block: router, dispatch, experts, combine (and shared experts)
  moe_act = 32,         // the routed experts' activation function
  shared_experts = 64,  // the shared experts
};
template <>
struct EnumTable<RecomputeModule> {
  static constexpr std::array<EnumName<RecomputeModule>, 7> names{{{RecomputeModule::layernorm, "layernorm"},
                                                                   {RecomputeModule::core_attn, "core_attn"},
                                                                   {RecomputeModule::mla_up_proj, "mla_up_proj"},
                                                                   {RecomputeModule::mlp, "mlp"},
                                                                   {RecomputeModule::moe, "moe"},
                                                                   {RecomputeModule::moe_act, "moe_act"},
                                                                   {RecomputeModule::shared_experts, "shared_experts"}}};
};
constexpr std::uint32_t bit(RecomputeModule m) { return static_cast<std::uint32_t>(m); }

/// The parts of a layer Megatron-Core captures in CUDA graphs with Transformer Engine
/// (--cuda-graph-impl transformer_engine --cuda-graph-scope; transformer_layer.py
/// _te_cuda_graph_capture): one graph per layer and pass holds the scopes' ops.
enum class GraphScope : std::uint32_t {
  attn = 1,            // the attention block: its norm through its residual add
  mlp = 2,             // a dense layer's FFN block: its norm through its residual add
  moe_router = 4,      // a MoE layer's norm, router and shared experts (not overlapped)
  moe_preprocess = 8,  // the dispatcher's preprocessing: the all-to-all's token permutation (DeepEP's and
                       // HybridEP's have no op of their own here)
};
template <>
struct EnumTable<GraphScope> {
  static constexpr std::array<EnumName<GraphScope>, 4> names{{{GraphScope::attn, "attn"},
                                                              {GraphScope::mlp, "mlp"},
                                                              {GraphScope::moe_router, "moe_router"},
                                                              {GraphScope::moe_preprocess, "moe_preprocess"}}};
};
constexpr std::uint32_t bit(GraphScope g) { return static_cast<std::uint32_t>(g); }

/// Communication an op stands for (its forward; the backward is the dual).
enum class OpComm { none, tp_all_gather, tp_reduce_scatter, tp_all_reduce, ep_dispatch, ep_combine, cp_ring };

struct Op {
  std::string name;
  Kernel forward;
  std::vector<Kernel> backward;  // input-gradient kernels first, then weight-gradient kernels
  int weight_grad_kernels = 0;   // how many of the last backward kernels are weight gradients
  // The weight gradient runs inside the input-gradient backward even when the backward is split
  // (its output gradients exist only while a context-parallel ring passes them; nothing to defer).
  bool weight_grad_inline = false;
  double saved_bytes = 0;        // activation bytes kept from forward to backward
  double grad_output_value_bytes = 2;  // bytes per value of the output gradient the backward receives
  // Selective recomputation (DeepSeek-V3 §3.2.3: RMSNorm and MLA up-projections): `rerun` ops run
  // their forward again before the backward, and every op keeps only `saved_selective` bytes
  // (the consumers of a recomputed output drop it).
  bool rerun_selective = false;
  double saved_selective = 0;
  std::uint32_t modules = 0;     // the RecomputeModule bits of the parts of the layer this op is in
  std::uint32_t graph_scopes = 0;  // the GraphScope bits of the CUDA-graph scopes that capture this op
  /// Whether a layout replaying `scopes` (ParallelSpec::cuda_graph_scopes) runs this op from a graph.
  bool graphed_by(std::uint32_t scopes) const { return (graph_scopes & scopes) != 0; }
  std::int64_t params = 0;       // parameters this op owns on the rank
  bool expert_params = false;    // routed-expert weights (sharded by expert parallelism)
  OpComm comm = OpComm::none;
  double comm_bytes = 0;         // per rank
  double backward_comm_bytes = 0;  // per rank, of the backward's transfer (expert dispatch / combine)
};

/// Activation bytes `ops` keep from forward to backward when the ops of the modules in `mask` (a
/// RecomputeModule bit set, non-zero) run their forward again before the backward (Megatron-Core's
/// selective recomputation by module): a recomputed run of ops keeps only the input of its first
/// op, and a GEMM right after it does not keep its input either (the run's output, recomputed).
double saved_bytes_recomputing(const std::vector<Op>& ops, std::uint32_t mask);

/// Bytes a deferred weight-gradient pass (W of a split backward) holds for `op` from its
/// input-gradient backward (B) until it runs: the layer input x as cached and the output gradient
/// dy (at grad_output_value_bytes) of each linear, the operands of dW = x^T dy (Qi et al. 2023, Zero Bubble Pipeline
/// Parallelism §2; deepseek-ai/DualPipe WeightGradStore keeps both). 0 for ops without weights.
double weight_grad_held_bytes(const Op& op);

/// How the model is cut onto one rank.
/// Where a MoE layer's token permutation runs: the passes that order the routed token copies by
/// local expert and back (Megatron-Core token_dispatcher.py and moe_utils.py permute / unpermute /
/// sort_chunks_by_idxs).
enum class TokenPermutation {
  after_dispatch,   // DeepEP: a permute kernel after the dispatch (and its reduce in backward)
  in_dispatch,      // HybridEP: fused into the dispatch and combine kernels, no kernel of its own
  around_alltoall,  // NCCL all-to-all: permute before it, sort by local expert after it and back before the combine
};

struct RankShape {
  int tp = 1, cp = 1, ep = 1;
  std::int64_t seq_len = 0, micro_batch = 1;
  Precision precision = Precision::bf16;
  Fp8Recipe fp8_recipe = Fp8Recipe::delayed;
  double expert_imbalance = 1.0;  // max / mean tokens per expert-parallel rank
  TokenPermutation permutation = TokenPermutation::after_dispatch;
  /// Under FP8: tokens dispatched to the experts (and gradients sent back to them) in FP8, so the
  /// experts' first GEMM takes its input already quantized (DeepSeek-V3 §3.3.2); false: in BF16,
  /// quantized on arrival.
  bool dispatch_fp8 = true;
  /// Experts with biases: the second projection's bias added by an eager loop over the local experts
  /// (Megatron-Core's TEGroupedMLP._apply_bias); false: fused into the grouped GEMM.
  bool expert_bias_eager = false;
  AttentionKernel attention = AttentionKernel::fused;
  bool sequence_parallel = true;  // with tp > 1; false: all-reduce per block, norms on all T tokens
  bool dropout = false;           // hidden dropout after attention and MLP (reads, writes, 1-byte mask)
  /// PyTorch autocast over FP32 parameters: the residual stream, norms and embedding stay FP32;
  /// every linear casts its FP32 weight (and an FP32 input) to BF16 in forward and its gradients
  /// back to FP32 in backward (6 bytes moved per element each way).
  bool autocast = false;
};

/// The operators of one training micro-batch on one rank.
struct OpGraph {
  std::vector<Op> embedding;
  std::vector<Op> dense_layer;  // a layer with a dense FFN
  std::vector<Op> moe_layer;    // a layer with a mixture-of-experts FFN (MoE models)
  // The same two with sliding-window attention (models with attention.sliding_window).
  std::vector<Op> dense_window_layer, moe_window_layer;
  std::vector<Op> head;         // final norm, LM head, loss
  std::vector<Op> mtp;          // one multi-token-prediction module (projection, a layer, head, loss)
  std::int64_t tokens = 0;      // tokens per micro-batch on the rank
  std::int64_t routed_tokens = 0;  // of them, the tokens this rank routes to experts (T/tp under sequence parallelism)
  /// Every list of ops, for passes that apply to all of them.
  std::array<std::vector<Op>*, 7> lists() {
    return {&embedding, &dense_layer, &moe_layer, &dense_window_layer, &moe_window_layer, &head, &mtp};
  }
  std::array<const std::vector<Op>*, 7> lists() const {
    return {&embedding, &dense_layer, &moe_layer, &dense_window_layer, &moe_window_layer, &head, &mtp};
  }
  const std::vector<Op>& layer(const ModelSpec& m, int index) const {
    if (m.is_window_layer(index)) return m.is_moe_layer(index) ? moe_window_layer : dense_window_layer;
    return m.is_moe_layer(index) ? moe_layer : dense_layer;
  }
};

OpGraph build_op_graph(const ModelSpec& model, const RankShape& shape);
/// A single rank holding the whole model (no model parallelism).
OpGraph build_op_graph(const ModelSpec& model, std::int64_t seq_len, std::int64_t micro_batch,
                       Precision precision);

struct ParamCount {
  std::int64_t embedding = 0;  // token (+ learned position) embedding
  std::int64_t dense_layer = 0, moe_layer = 0;  // one layer of each kind
  std::int64_t moe_layer_active = 0;            // a MoE layer's parameters one token uses
  std::int64_t routed_experts_per_layer = 0;
  std::int64_t lm_head = 0;  // 0 when tied to the embedding
  std::int64_t final_norm = 0;
  std::int64_t mtp = 0;      // all MTP modules (shared embedding and head not counted again)
  std::int64_t total = 0;    // without MTP, as DeepSeek-V3 reports 671B
  std::int64_t active = 0;   // per token, without MTP
  /// Weights in matrix multiplications one token uses: layers' linear weights (active experts
  /// only) + LM head (a tied embedding counts once, as the LM head).
  std::int64_t matmul_active = 0;
  /// Back-compatible name for dense models: the per-layer count of a dense layer.
  std::int64_t per_layer = 0;
};
ParamCount count_params(const ModelSpec& model);

/// Model FLOPs per token, the MFU convention of gpuhours (no recomputation counted):
///   6 * N_matmul_active + 3 * L * a * s * (d_qk + d_v)
/// 6*N: forward 2 FLOPs per weight per token, backward 4 (Kaplan et al. 2020), over the weights
/// that multiply activations (LM head included, embedding lookup excluded, routed experts counted
/// for the k a token uses). Attention: a query at position i attends to i keys, s/2 on average
/// (causal), so QK^T costs 2*(s/2)*d_qk and PV 2*(s/2)*d_v per head forward; x3 for training.
/// For d_qk = d_v = d this is 6*L*s*a*d, half of PaLM's non-causal 12*L*H*Q*T. MTP modules
/// are not counted (DeepSeek-V3 reports 37B activated without them).
double model_flops_per_token(const ModelSpec& model, std::int64_t seq_len);
/// Keys a query attends to on average over a causal sequence of `seq_len`: s/2 (the convention), or
/// fewer through a sliding window (`window`: the layer is windowed).
double attended_keys_per_query(const ModelSpec& model, bool window, std::int64_t seq_len);

}  // namespace gpuhours
