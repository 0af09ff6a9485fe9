// The operators of a transformer with their exact FLOPs and bytes, per micro-batch.
//
// Conventions (all per micro-batch of T = b*s tokens, 2-byte BF16 activations unless stated):
//  - GEMM [M x K] * [K x N]: 2*M*N*K FLOPs; bytes = (M*K + K*N + M*N) * element size.
//    Backward = two GEMMs of the same FLOPs: input gradient [M x N]*[N x K] and weight gradient
//    [K x M]*[M x N], so backward = 2x forward.
//  - Causal attention (FlashAttention): forward 2*b*a*s^2*(d_qk + d_v) * 1/2 (the causal half);
//    backward 2.5x the forward FLOPs (5 matmuls instead of 2: Dao 2023, FlashAttention-2 §3.1).
//    No s x s matrix is stored: it saves q, k, v, the output and the log-sum-exp.
//  - Element-wise and normalisation ops move bytes: forward reads inputs and writes outputs;
//    backward reads the output gradient and the saved inputs and writes the input gradients.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gpuhours/scenario.hpp"

namespace gpuhours {

enum class OpKind { gemm, attention, memory };

/// One pass of one operator: a kernel (or a fixed group of kernels) on the GPU.
struct Kernel {
  OpKind kind = OpKind::memory;
  double flops = 0;
  double bytes = 0;
  bool fp8 = false;   // GEMM runs in FP8 (precision fp8)
  bool backward = false;
  std::int64_t m = 0, n = 0, k = 0;  // GEMM shape
};

struct Op {
  std::string name;
  Kernel forward;
  std::vector<Kernel> backward;  // run in order
  double saved_bytes = 0;        // activation bytes kept from forward to backward
  std::int64_t params = 0;       // parameters this op owns
};

/// The operators of one training micro-batch: embedding, one (repeated) layer, head and loss.
struct OpGraph {
  std::vector<Op> embedding;
  std::vector<Op> layer;  // identical for every layer of a dense model
  int layers = 0;
  std::vector<Op> head;
  std::int64_t tokens = 0;  // tokens per micro-batch
};

/// Builds the op graph of a dense transformer for micro-batch `micro_batch` x `seq_len`.
OpGraph build_op_graph(const ModelSpec& model, std::int64_t seq_len, std::int64_t micro_batch,
                       Precision precision);

struct ParamCount {
  std::int64_t embedding = 0;   // input token embedding
  std::int64_t per_layer = 0;
  std::int64_t lm_head = 0;     // 0 when tied to the embedding
  std::int64_t final_norm = 0;
  std::int64_t total = 0;
  /// Weights that take part in matrix multiplications per token: layers' linear weights + LM head
  /// (the tied embedding counts once, as the LM head).
  std::int64_t matmul = 0;
};
ParamCount count_params(const ModelSpec& model);

/// Model FLOPs per token, the MFU convention of gpuhours (no recomputation counted):
///   6 * N_matmul + 3 * L * a * s * (d_qk + d_v)
/// 6*N: forward 2 FLOPs per weight per token, backward 4 (Kaplan et al. 2020), over the weights
/// that multiply activations (LM head included, embedding lookup excluded). Attention: a query at
/// position i attends to i keys, s/2 on average (causal), so QK^T costs 2*(s/2)*d_qk and PV
/// 2*(s/2)*d_v per head forward; x3 for training. For d_qk = d_v = d this is 6*L*s*a*d, half of
/// PaLM's non-causal 12*L*H*Q*T.
double model_flops_per_token(const ModelSpec& model, std::int64_t seq_len);

}  // namespace gpuhours
