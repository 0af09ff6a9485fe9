#include <algorithm>
#include <cmath>

#include "gpuhours/error.hpp"
#include "gpuhours/opgraph.hpp"

namespace gpuhours {

namespace {

constexpr double kAct = 2.0;                       // bytes per BF16 activation element
constexpr double kFp8Token = 1.0 + 4.0 / 128;      // FP8 element + one FP32 scale per 128 (DeepSeek-V3 §3.3)

double d(std::int64_t v) { return static_cast<double>(v); }

Kernel gemm(std::int64_t m, std::int64_t n, std::int64_t k, bool fp8, bool backward = false, int groups = 1) {
  const double operand = fp8 ? 1.0 : 2.0;  // FP8 operands are 1 byte; outputs stay BF16
  Kernel g;
  g.kind = OpKind::gemm;
  g.m = m;
  g.n = n;
  g.k = k;
  g.groups = groups;
  g.fp8 = fp8;
  g.backward = backward;
  g.flops = 2.0 * d(m) * d(n) * d(k) * groups;
  g.bytes = ((d(m) * d(k) + d(k) * d(n)) * operand + d(m) * d(n) * kAct) * groups;
  return g;
}

Kernel memory_kernel(double bytes, bool backward = false) {
  Kernel k;
  k.kind = OpKind::memory;
  k.bytes = bytes;
  k.backward = backward;
  return k;
}

// A linear layer y = x W, x: [T x in], W: [in x out] (per group for grouped experts).
// FP8 (DeepSeek-V3 §3.3, Fig. 6): forward quantizes x (1x128 tiles) unless it arrives in FP8
// (`input_fp8`: routed experts get their tokens dispatched in FP8); dgrad quantizes dy; wgrad
// re-quantizes the cached FP8 x and quantizes dy along the other axis (128x1 tiles).
Op linear(std::string name, std::int64_t tokens, std::int64_t in, std::int64_t out, bool bias, bool fp8,
          int groups = 1, bool input_fp8 = false) {
  Op op;
  op.name = std::move(name);
  op.forward = gemm(tokens, out, in, fp8, false, groups);
  op.backward = {gemm(tokens, in, out, fp8, true, groups),   // dX = dY W^T
                 gemm(in, out, tokens, fp8, true, groups)};  // dW = X^T dY
  if (fp8) {
    const double x = d(tokens) * d(in) * groups, dy = d(tokens) * d(out) * groups;
    const double quantize = kAct + kFp8Token;  // read BF16, write FP8 + scale
    op.forward.quantize_bytes = input_fp8 ? 0.0 : x * quantize;
    op.backward[0].quantize_bytes = dy * quantize;
    op.backward[1].quantize_bytes = x * 2 * kFp8Token + dy * quantize;
  }
  op.weight_grad_kernels = 1;
  op.saved_bytes = d(tokens) * d(in) * (fp8 ? kFp8Token : kAct) * groups;  // FP8 activations cached in FP8
  op.saved_selective = op.saved_bytes;
  op.params = (in * out + (bias ? out : 0)) * groups;
  return op;
}

// Normalisation over width h: forward reads x, writes y; backward reads dy and x, writes dx.
Op norm(std::string name, std::int64_t tokens, std::int64_t h, NormKind kind) {
  const double th = d(tokens) * d(h) * kAct;
  Op op;
  op.name = std::move(name);
  op.forward = memory_kernel(2 * th);
  op.backward = {memory_kernel(3 * th, true)};
  op.saved_bytes = th + d(tokens) * 4.0;  // input + FP32 statistics
  op.saved_selective = op.saved_bytes;    // the input is kept to recompute the output
  op.rerun_selective = true;
  op.params = kind == NormKind::layernorm ? 2 * h : h;
  return op;
}

// Element-wise op reading `in` tensors and writing `out` of `elems` elements each.
Op elementwise(std::string name, double elems, int in, int out, int bwd_in, int bwd_out, int saved) {
  Op op;
  op.name = std::move(name);
  op.forward = memory_kernel(elems * kAct * (in + out));
  if (bwd_in + bwd_out > 0) op.backward = {memory_kernel(elems * kAct * (bwd_in + bwd_out), true)};
  op.saved_bytes = elems * kAct * saved;
  op.saved_selective = op.saved_bytes;
  return op;
}

// Residual add: reads two tensors, writes one; its gradient passes through without a kernel.
Op residual(std::string name, std::int64_t tokens, std::int64_t h) {
  return elementwise(std::move(name), d(tokens) * d(h), 2, 1, 0, 0, 0);
}

Op comm(std::string name, OpComm kind, double bytes) {
  Op op;
  op.name = std::move(name);
  op.comm = kind;
  op.comm_bytes = bytes;
  return op;
}

// Activation: a gated one (SwiGLU silu(gate)*up, GeGLU gelu(gate)*up) reads 2, writes 1,
// backward reads dy, gate, up, writes 2; GELU / squared ReLU read 1, write 1, backward reads dy
// and x, writes dx. Under FP8 training the inputs are cached in FP8 (DeepSeek-V3 §3.3.3, "inputs
// of the SwiGLU operator in MoE").
Op activation(Activation a, double elems, bool fp8) {
  Op op = gated(a) ? elementwise(name_of(a), elems, 2, 1, 3, 2, 2) : elementwise(name_of(a), elems, 1, 1, 2, 1, 1);
  if (fp8) op.saved_bytes = op.saved_selective = op.saved_bytes / kAct * kFp8Token;
  return op;
}

Op rerun(Op op) {
  op.rerun_selective = true;
  return op;
}

// A linear reading the very tensor an earlier op keeps: its input is saved (and held for a
// deferred W) once, by that op.
void shares_input(Op& op) { op.saved_bytes = op.saved_selective = 0; }

// The consumer of a recomputed output does not keep it under selective recomputation.
Op input_recomputed(Op op) {
  op.saved_selective = 0;
  return op;
}

// Marks ops [from, end) of L as parts of `module` (Megatron-Core's --recompute-modules).
void tag(std::vector<Op>& L, std::size_t from, RecomputeModule module) {
  for (std::size_t i = from; i < L.size(); ++i) L[i].modules |= bit(module);
}
void tag(std::vector<Op>& L, std::size_t from, std::size_t to, GraphScope scope) {
  for (std::size_t i = from; i < to; ++i) L[i].graph_scopes |= bit(scope);
}

struct Builder {
  const ModelSpec& m;
  const RankShape& s;
  std::int64_t T;   // tokens on the rank
  std::int64_t Ts;  // tokens per rank in sequence-parallel regions (T / tp)
  bool fp8;
  bool bias;

  // Under sequence parallelism a column-parallel GEMM keeps its input in the sharded form (T/tp
  // tokens) and all-gathers it again for the backward (Korthikanti et al. 2022, §4.2.2).
  Op sequence_sharded(Op op) const {
    if (s.sequence_parallel) op.saved_bytes /= s.tp;
    return op;
  }

  // Tensor parallelism around a block (attention or FFN): with sequence parallelism an
  // all-gather before and a reduce-scatter after; without it (Megatron-LM 2019-2021) one
  // all-reduce after the block forward (its conjugate, an all-reduce of the input gradient,
  // runs at the block entry in backward).
  void block_entry(std::vector<Op>& L, const std::string& name) const {
    if (s.tp <= 1) return;
    if (s.sequence_parallel) L.push_back(comm(name + " all-gather (tp)", OpComm::tp_all_gather, d(T) * d(m.hidden) * kAct));
    else L.push_back(comm(name + " input grad all-reduce (tp)", OpComm::tp_all_reduce, 0));  // backward only
  }
  void block_exit(std::vector<Op>& L, const std::string& name) const {
    dropout(L, name);
    tp_exit(L, name);
  }
  void dropout(std::vector<Op>& L, const std::string& name) const {
    if (s.dropout) L.push_back(elementwise(name + "_dropout", d(Ts) * d(m.hidden), 1, 1, 1, 1, 0));
  }
  void tp_exit(std::vector<Op>& L, const std::string& name) const {
    if (s.tp <= 1) return;
    if (s.sequence_parallel) L.push_back(comm(name + " reduce-scatter (tp)", OpComm::tp_reduce_scatter, d(T) * d(m.hidden) * kAct));
    else L.push_back(comm(name + " all-reduce (tp)", OpComm::tp_all_reduce, d(T) * d(m.hidden) * kAct));
  }

  // Unfused attention as one op of several kernels (see opgraph.hpp).
  Op unfused_attention(int a, int kv, int dqk, int dv) const {
    const std::int64_t S = s.seq_len, b = s.micro_batch;
    const double scores = d(b) * a * d(S) * d(S) / s.cp;  // elements of the score matrix on the rank
    const std::int64_t bh = b * a;                          // batched GEMMs, one per (sequence, head)
    Op op;
    op.name = "attention (unfused)";
    const std::int64_t rows = S / s.cp;
    Kernel qk = gemm(rows, S, dqk, false, false, static_cast<int>(bh));
    Kernel pv = gemm(rows, dv, S, false, false, static_cast<int>(bh));
    // Forward: QK^T, softmax (read + write scores), dropout (read, write, mask), PV; the op's
    // forward kernel is their sum (one roofline each, added).
    op.forward.kind = OpKind::gemm;
    op.forward.flops = qk.flops + pv.flops;
    op.forward.bytes = qk.bytes + pv.bytes + scores * (2 + 2) + scores * (2 + 2 + 1);
    op.forward.m = rows;
    op.forward.n = S;
    op.forward.k = dqk;
    op.forward.groups = static_cast<int>(bh);
    op.forward.batched = true;
    op.forward.kernels = 4;  // QK^T, softmax, dropout, PV: each one batched launch
    Kernel back = op.forward;
    back.backward = true;
    back.kernels = 6;  // dropout and softmax backward, and two GEMMs per forward GEMM
    back.flops = 2 * op.forward.flops;  // two GEMMs per forward GEMM
    back.bytes = 2 * (qk.bytes + pv.bytes) + scores * (2 + 1 + 2) + scores * (2 + 2 + 2);  // dropout, softmax bwd
    op.backward = {back};
    // Korthikanti et al. 2022 §4.1: q, k (4sbh), softmax output, dropout mask and output (5as^2b), v.
    op.saved_bytes = op.saved_selective = d(T) * (d(a) * dqk + d(kv) * (dqk + dv)) * kAct + 5 * scores;
    return op;
  }

  void attention(std::vector<Op>& L, bool window) const {
    const AttentionSpec& at = m.attention;
    const std::int64_t h = m.hidden;
    const int a = at.heads / s.tp;
    const int kv = at.kind == AttentionKind::gqa ? std::max(1, at.kv_heads / s.tp) : a;
    const int dqk = at.qk_dim(), dv = at.v_dim();
    L.push_back(norm("attn_norm", Ts, h, m.norm));
    tag(L, L.size() - 1, RecomputeModule::layernorm);
    block_entry(L, "attn");
    const bool qkvb = bias || m.qkv_bias;
    if (at.kind == AttentionKind::mla) {
      if (at.q_lora_rank > 0) {
        L.push_back(input_recomputed(linear("q_down_proj", T, h, at.q_lora_rank, false, fp8)));
        L.push_back(norm("q_norm", T, at.q_lora_rank, m.norm));
        L.push_back(rerun(input_recomputed(linear("q_up_proj", T, at.q_lora_rank, std::int64_t{a} * dqk, false, fp8))));
      } else {
        L.push_back(rerun(input_recomputed(linear("q_proj", T, h, std::int64_t{a} * dqk, false, fp8))));
      }
      tag(L, L.size() - 1, RecomputeModule::mla_up_proj);
      L.push_back(input_recomputed(linear("kv_down_proj", T, h, at.kv_lora_rank + at.qk_rope_head_dim, false, fp8)));
      shares_input(L.back());  // the normed x the query projection keeps
      L.push_back(norm("kv_norm", T, at.kv_lora_rank, m.norm));
      // With context parallelism the ring carries the compressed latent and the RoPE key (576
      // values per token instead of 128 heads x 320), and every rank up-projects the latents of
      // all cp blocks it attends to (assumed: the exchange MLA makes cheapest).
      if (s.cp > 1)
        L.push_back(comm("kv latent ring (cp)", OpComm::cp_ring,
                         d(T) * d(at.kv_lora_rank + at.qk_rope_head_dim) * kAct * (s.cp - 1)));
      L.push_back(rerun(input_recomputed(linear("kv_up_proj", T * s.cp, at.kv_lora_rank,
                                                std::int64_t{a} * (at.qk_nope_head_dim + dv), false, fp8))));
      // The other blocks' key and value gradients pass with the ring: their weight gradient is
      // computed as they pass, not deferred to a W pass.
      L.back().weight_grad_inline = s.cp > 1;
      tag(L, L.size() - 1, RecomputeModule::mla_up_proj);
      // RoPE on the query's and the shared key's rotary parts (Su et al. 2021).
      L.push_back(elementwise("rope", d(T) * (a + 1) * at.qk_rope_head_dim, 1, 1, 1, 1, 0));
    } else {
      L.push_back(input_recomputed(sequence_sharded(linear("qkv_proj", T, h, std::int64_t{a + 2 * kv} * dqk, qkvb, fp8))));
      // QK-Norm (Dehghani et al. 2023; Qwen3 Technical Report §2): an RMSNorm over each query and
      // each key head, weights of one head's width shared by the heads; one kernel each.
      if (at.qk_norm) {
        for (const auto& [name, heads] : {std::pair{"q_norm", a}, std::pair{"k_norm", kv}}) {
          L.push_back(norm(name, T, std::int64_t{heads} * dqk, m.norm));
          L.back().params = dqk;
        }
      }
      L.push_back(elementwise("rope", d(T) * (a + kv) * dqk, 1, 1, 1, 1, 0));
    }
    // Ring attention (Liu et al. 2023): every rank's keys and values visit the other cp-1 ranks.
    if (s.cp > 1 && at.kind != AttentionKind::mla)
      L.push_back(comm("kv ring (cp)", OpComm::cp_ring, d(T) * kv * (dqk + dv) * kAct * (s.cp - 1)));
    const std::size_t ring = L.size();  // the ring op, when there is one, is the last before attention
    if (s.attention == AttentionKernel::unfused) {
      L.push_back(unfused_attention(a, kv, dqk, dv));
      tag(L, L.size() - 1, RecomputeModule::core_attn);
    } else {
      Op attn;
      attn.name = "attention";
      attn.forward.kind = OpKind::attention;
      attn.forward.library = s.attention;
      const double fwd = 2.0 * s.micro_batch * a * d(s.seq_len) * attended_keys_per_query(m, window, s.seq_len) *
                         (dqk + dv) / s.cp;
      attn.forward.flops = fwd;
      attn.forward.m = s.micro_batch * a;
      // Under context parallelism the kernels run block by block: a rank's s/cp queries against one
      // s/cp block of keys per ring step (Liu et al. 2023), so each kernel's shape is that block's.
      attn.forward.n = s.seq_len / s.cp;
      // A window of W < s tokens: timed at the rate the kernels reach on causal sequences of W tokens,
      // s/W of them (each query tile meets about W keys, as in a causal kernel of that length).
      if (window && m.attention.sliding_window < s.seq_len) {
        const std::int64_t w = m.attention.sliding_window;
        attn.forward.m *= (s.seq_len + w - 1) / w;
        attn.forward.n = w;
      }
      attn.forward.k = dqk + dv;
      const double io = d(T) * (d(a) * (dqk + dv) + d(kv) * (dqk + dv)) * kAct;  // q, k, v, o
      attn.forward.bytes = io + d(T) * a * 4.0;
      Kernel bwd = attn.forward;
      bwd.backward = true;
      bwd.flops = 2.5 * fwd;  // 5 matmuls for 2 (Dao 2023, FlashAttention-2 §3.1; its benchmark's flops())
      bwd.bytes = 2 * io + d(T) * a * 4.0;  // read q, k, v, o, do, lse; write dq, dk, dv
      attn.backward = {bwd};
      attn.saved_bytes = d(T) * (d(a) * dqk + d(kv) * (dqk + dv)) * kAct + d(T) * a * 4.0;  // q, k, v, lse
      // MLA under selective recomputation: q, k, v come again from the re-run up-projections.
      attn.saved_selective = at.kind == AttentionKind::mla ? d(T) * a * 4.0 : attn.saved_bytes;
      // The ring's transfers overlap the blockwise attention: the ring op carries its kernels.
      for (std::size_t i = ring; i-- > 0;)
        if (L[i].comm == OpComm::cp_ring) {
          L[i].forward = attn.forward;
          L[i].backward = attn.backward;
          L[i].modules |= bit(RecomputeModule::core_attn);
          break;
        }
      attn.modules |= bit(RecomputeModule::core_attn);
      L.push_back(attn);
    }
    L.push_back(linear("o_proj", T, std::int64_t{a} * dv, h, bias, fp8));
    block_exit(L, "attn");
    L.push_back(residual("attn_residual", Ts, h));
  }

  void dense_ffn(std::vector<Op>& L, std::int64_t width, const std::string& prefix) const {
    const std::int64_t h = m.hidden, f = width / s.tp;
    const bool glu = gated(m.ffn.activation);
    L.push_back(input_recomputed(
        sequence_sharded(linear(prefix + (glu ? "gate_up_proj" : "up_proj"), T, h, glu ? 2 * f : f, bias, fp8))));
    L.push_back(activation(m.ffn.activation, d(T) * d(f), fp8));
    L.push_back(linear(prefix + "down_proj", T, f, h, bias, fp8));
  }

  std::vector<Op> layer(bool moe, bool window = false) const {
    std::vector<Op> L;
    const std::int64_t h = m.hidden;
    attention(L, window);
    tag(L, 0, L.size(), GraphScope::attn);
    const std::size_t ffn_norm = L.size();
    L.push_back(norm("ffn_norm", Ts, h, m.norm));
    tag(L, L.size() - 1, RecomputeModule::layernorm);
    const std::size_t ffn = L.size();
    if (moe) {
      L[ffn_norm].graph_scopes |= bit(GraphScope::moe_router);  // with the router and shared experts (moe_ffn)
      moe_ffn(L);
      tag(L, ffn, RecomputeModule::moe);
    } else {
      block_entry(L, "ffn");
      dense_ffn(L, m.ffn.intermediate, "");
      block_exit(L, "ffn");
      tag(L, ffn, RecomputeModule::mlp);
    }
    L.push_back(residual("ffn_residual", Ts, h));
    if (!moe) tag(L, ffn_norm, L.size(), GraphScope::mlp);
    return L;
  }

  // Mixture of experts with MoE parallel folding (Megatron-Core; Liu et al. 2025,
  // arXiv:2504.14960): the routed experts are not tensor-parallel (expert TP 1) and the
  // expert-parallel group folds over the tensor-parallel ranks, so each rank routes, dispatches
  // and combines only its own Ts tokens (T/tp under sequence parallelism) and no TP collective
  // surrounds the routed experts. Shared experts are a dense FFN under TP with their own
  // all-gather and reduce-scatter.
  // A permutation pass: reads `rows_in` rows of the hidden size and writes `rows_out`, at `bytes`
  // per element forward and `grad_bytes` backward, where its gradient takes the reverse path.
  Op permutation(std::string name, double rows_in, double rows_out, double bytes, double grad_bytes) const {
    const double elems = (rows_in + rows_out) * d(m.hidden);
    Op op;
    op.name = std::move(name);
    op.forward = memory_kernel(elems * bytes);
    op.backward = {memory_kernel(elems * grad_bytes, true)};
    return op;
  }

  // The bias of the experts' second projection under Megatron-Core's TEGroupedMLP
  // (megatron/core/transformer/moe/experts.py, _apply_bias): the grouped GEMM returns it unapplied
  // and an eager loop adds b_e * p to each local expert's rows, then concatenates them. Forward,
  // per expert a product and a sum, and the concatenation: 2E + 1 kernels writing the rows 3 times
  // and reading them 3 times (12 bytes per element in BF16). Backward (autograd), per expert the
  // bias gradient sum(dy * p) and the gate-weight gradient sum(dy * b), two kernels each, the
  // gradient's concatenation, the gate weights' own, and one accumulation per bias into its main
  // gradient: 5E + 2 kernels, 16 bytes per element. The gate weights are taken in BF16 (Megatron-Core's
  // moe_router_dtype unset).
  Op eager_expert_bias(double rows, int local) const {
    const double elems = rows * d(m.hidden);
    Op op;
    op.name = "experts_down_bias";
    op.forward = memory_kernel(elems * 6 * kAct);
    op.forward.kernels = 2 * local + 1;
    op.backward = {memory_kernel(elems * 8 * kAct, true)};
    op.backward[0].kernels = 5 * local + 2;
    op.saved_bytes = op.saved_selective = rows * kAct;  // the gate weights
    return op;
  }

  void moe_ffn(std::vector<Op>& L) const {
    const FfnSpec& ff = m.ffn;
    const std::int64_t h = m.hidden;
    // The router's CUDA graph (transformer_layer.py) holds the norm before it, the router and the
    // shared experts.
    Op router = input_recomputed(linear("router", Ts, h, ff.experts, false, false));
    router.weight_grad_kernels = 1;
    router.graph_scopes = bit(GraphScope::moe_router);
    L.push_back(router);
    if (ff.shared_experts > 0) {
      const std::size_t shared = L.size();
      block_entry(L, "shared_experts");
      dense_ffn(L, std::int64_t{ff.shared_experts} * ff.expert_intermediate, "shared_");
      // One GPU per expert group: the gate-up projection reads the router's normed x (in FP8 its
      // own quantized copy; under TP the all-gathered sequence).
      if (!fp8 && s.tp == 1) shares_input(L[shared]);
      tp_exit(L, "shared_experts");
      tag(L, shared, RecomputeModule::shared_experts);
      tag(L, shared, L.size(), GraphScope::moe_router);
    }
    // DeepSeek-V3 §3.3.2: in FP8 the activations dispatched to the experts and, in the backward,
    // the activation gradients sent to them (the combine's backward) travel in FP8; the combine and
    // the dispatch's backward stay in BF16. A BF16 dispatch (RankShape::dispatch_fp8 false) sends
    // both in BF16, and the experts quantize them on arrival.
    const bool fp8_tokens = fp8 && s.dispatch_fp8;
    const double token_bytes = fp8_tokens ? kFp8Token : kAct;  // per element, on its way to the experts
    const double to_experts = d(Ts) * d(h) * token_bytes, from_experts = d(Ts) * d(h) * kAct;
    // Routed experts on this rank: experts / ep, receiving imbalance x the mean token count.
    const int local = std::max(1, ff.experts / s.ep);
    const double routed = d(Ts) * ff.experts_per_token * s.expert_imbalance;
    // Token permutation (Megatron-Core token_dispatcher.py / moe_utils.py; DeepSeek's profile:
    // expand_to_fused_with_scales after DeepEP's dispatch): memory passes that copy each routed
    // token to its expert's rows. The NCCL all-to-all first copies each token k times in expert
    // order, then sorts what it received by local expert, and sorts back before the combine; DeepEP
    // receives a token once per rank and expands it to its local experts after the dispatch;
    // HybridEP does it inside its kernels. The weighted sum below is the reverse pass of each.
    const bool around_alltoall = s.permutation == TokenPermutation::around_alltoall;
    if (around_alltoall) {  // in Megatron-Core's dispatch_preprocess: CUDA-graph scope moe_preprocess
      L.push_back(permutation("token_permute", d(Ts), d(Ts) * ff.experts_per_token, token_bytes, kAct));
      L.back().graph_scopes = bit(GraphScope::moe_preprocess);
    }
    L.push_back(comm("dispatch (ep)", OpComm::ep_dispatch, to_experts));
    L.back().backward_comm_bytes = from_experts;
    if (s.permutation == TokenPermutation::after_dispatch)
      L.push_back(permutation("token_permute", routed, routed, token_bytes, kAct));
    if (around_alltoall && local > 1) L.push_back(permutation("sort_by_expert", routed, routed, token_bytes, kAct));
    const auto per_expert = static_cast<std::int64_t>(std::ceil(routed / local));
    const std::int64_t ei = ff.expert_intermediate;
    const bool glu = gated(ff.activation);
    Op up = linear("experts_gate_up", per_expert, h, glu ? 2 * ei : ei, bias, fp8, local, /*input_fp8=*/fp8_tokens);
    up.expert_params = true;
    L.push_back(up);
    L.push_back(activation(ff.activation, d(per_expert) * local * d(ei), fp8));
    tag(L, L.size() - 1, RecomputeModule::moe_act);
    Op down = linear("experts_down", per_expert, ei, h, bias, fp8, local);
    down.expert_params = true;
    if (fp8_tokens) down.grad_output_value_bytes = kFp8Token;  // sent to the experts in FP8 (above)
    L.push_back(down);
    if (bias && s.expert_bias_eager) L.push_back(eager_expert_bias(routed, local));
    if (around_alltoall && local > 1) L.push_back(permutation("sort_back", routed, routed, kAct, token_bytes));
    L.push_back(comm("combine (ep)", OpComm::ep_combine, from_experts));
    L.back().backward_comm_bytes = to_experts;
    // Weighted sum of the k expert outputs per token, done inside the combine; it keeps the FP32
    // gate weights. Assumed: the expert outputs are not cached for the gate-weight gradient.
    Op sum = elementwise("expert_weighted_sum", d(Ts) * d(h), ff.experts_per_token, 1, 1, ff.experts_per_token, 0);
    sum.saved_bytes = sum.saved_selective = d(Ts) * ff.experts_per_token * 4.0;
    L.push_back(sum);
    dropout(L, "ffn");
  }

  std::vector<Op> head(const std::string& prefix, bool owns_weights) const {
    std::vector<Op> H;
    const std::int64_t h = m.hidden, V = m.vocab / s.tp;  // vocabulary-parallel head
    Op fn = norm(prefix + "final_norm", Ts, h, m.norm);
    if (!owns_weights) fn.params = 0;
    H.push_back(fn);
    Op lm = linear(prefix + "lm_head", T, h, V, false, false);
    if (m.tie_embeddings || !owns_weights) lm.params = 0;  // counted with the embedding / main head
    H.push_back(lm);
    // Cross-entropy over FP32 log-probabilities: forward reads BF16 logits and writes FP32
    // log-probs; backward reads them and writes BF16 logit gradients.
    Op loss;
    loss.name = prefix + "cross_entropy";
    loss.forward = memory_kernel(d(T) * d(V) * (kAct + 4.0));
    loss.backward = {memory_kernel(d(T) * d(V) * (4.0 + kAct), true)};
    loss.saved_bytes = d(T) * d(V) * 4.0;
    H.push_back(loss);
    return H;
  }
};

// Float8CurrentScaling (Fp8Recipe::current): before each cast of a BF16 operand, a kernel of its own
// reads the whole tensor for its amax, so the forward's x and the backward's dy are read twice. The
// weight gradient's operands are the same quantized tensors (TE casts dy to both layouts at once): no
// extra pass. Kernels (transformer_engine/pytorch/csrc/quantizer.cpp, Float8CurrentScalingQuantizer::
// quantize_impl): amax, scale, cast per tensor; a grouped GEMM's input split by split (csrc/extensions/
// cast.cpp, multi_tensor_quantize_impl: "only have fused kernel for FP8 delayed scaling").
// Not simulated: the amax all-reduce over the tensor-parallel group under sequence parallelism.
void apply_current_scaling(std::vector<Op>& ops) {
  auto add_amax_pass = [](Kernel& k) {
    if (k.quantize_bytes <= 0) return;
    k.quantize_bytes *= (2 * kAct + kFp8Token) / (kAct + kFp8Token);  // elements x (read, read, write)
    k.quantize_kernels = 3 * std::max(1, k.groups);
  };
  for (Op& op : ops) {
    add_amax_pass(op.forward);
    if (!op.backward.empty()) add_amax_pass(op.backward[0]);
  }
}

// Autocast over FP32 parameters (RankShape::autocast): FP32 norms, residuals and embedding move
// twice the bytes; before each linear a cast kernel converts its weight (and its input, when an
// FP32 op produced it) to BF16, and its backward converts the gradients back.
void apply_autocast(std::vector<Op>& ops) {
  std::vector<Op> out;
  bool fp32_stream = true;  // the embedding / residual stream feeds the first op
  for (Op op : ops) {
    const bool fp32_op = op.comm == OpComm::none && op.forward.kind == OpKind::memory &&
                         (op.name.find("norm") != std::string::npos || op.name.find("residual") != std::string::npos ||
                          op.name == "embedding");
    if (op.comm == OpComm::none && op.forward.kind == OpKind::gemm && op.params > 0) {
      const double input = fp32_stream ? d(op.forward.m) * d(op.forward.k) * op.forward.groups : 0.0;
      Op cast;
      cast.name = op.name + " cast (autocast)";
      // Per element: read FP32 (4 bytes), write BF16 (2): 6 bytes (backward: the gradients back).
      cast.forward = memory_kernel(6.0 * (d(op.params) + input));
      cast.backward = {memory_kernel(6.0 * (d(op.params) + input), true)};
      cast.modules = op.modules;
      cast.graph_scopes = op.graph_scopes;
      out.push_back(cast);
    }
    if (fp32_op) {
      op.forward.bytes *= 2;
      for (Kernel& k : op.backward) k.bytes *= 2;
      op.saved_bytes *= 2;
      op.saved_selective *= 2;
    }
    if (op.comm == OpComm::none) fp32_stream = fp32_op;
    out.push_back(std::move(op));
  }
  ops = std::move(out);
}

}  // namespace

double weight_grad_held_bytes(const Op& op) {
  if (op.weight_grad_kernels == 0 || op.weight_grad_inline) return 0.0;
  // A linear's forward is gemm(tokens, out, in): x is its cached input, dy is tokens x out.
  return op.saved_bytes + d(op.forward.m) * d(op.forward.n) * op.grad_output_value_bytes * op.forward.groups;
}

double saved_bytes_recomputing(const std::vector<Op>& ops, std::uint32_t mask) {
  double bytes = 0;
  bool after_recomputed = false;  // the last op with a kernel was recomputed
  for (const Op& op : ops) {
    const bool kernel_free = op.forward.flops == 0 && op.forward.bytes == 0;  // a bare communication op
    const bool recomputed = (op.modules & mask) != 0;
    if (recomputed) bytes += after_recomputed ? 0.0 : op.saved_bytes;  // a run keeps its first input
    else bytes += after_recomputed && op.forward.kind == OpKind::gemm ? 0.0 : op.saved_bytes;
    if (!kernel_free) after_recomputed = recomputed;
  }
  return bytes;
}

ParamCount count_params(const ModelSpec& m) {
  // One rank holding everything: op params are the model's.
  RankShape whole;
  whole.seq_len = 1;
  const OpGraph g = build_op_graph(m, whole);
  auto sum = [](const std::vector<Op>& ops, bool experts_only = false) {
    std::int64_t p = 0;
    for (const Op& op : ops)
      if (!experts_only || op.expert_params) p += op.params;
    return p;
  };
  auto matmul = [](const std::vector<Op>& ops) {
    std::int64_t p = 0;
    for (const Op& op : ops)
      if (op.forward.kind == OpKind::gemm && !op.expert_params) p += op.params;
    return p;
  };
  ParamCount p;
  p.embedding = sum(g.embedding);
  p.dense_layer = sum(g.dense_layer);
  p.per_layer = p.dense_layer;
  const FfnSpec& ff = m.ffn;
  const int dense = ff.moe ? ff.dense_layers : m.layers;
  const int moe = m.layers - dense;
  std::int64_t experts_active = 0;
  if (ff.moe) {
    p.moe_layer = sum(g.moe_layer);
    p.routed_experts_per_layer = sum(g.moe_layer, true);
    experts_active = p.routed_experts_per_layer / ff.experts * ff.experts_per_token;
    p.moe_layer_active = p.moe_layer - p.routed_experts_per_layer + experts_active;
  }
  p.lm_head = m.tie_embeddings ? 0 : m.vocab * m.hidden;
  p.final_norm = g.head.front().params;
  p.mtp = sum(g.mtp) * m.mtp_depth;
  p.total = p.embedding + dense * p.dense_layer + moe * p.moe_layer + p.lm_head + p.final_norm;
  p.active = p.embedding + dense * p.dense_layer + moe * p.moe_layer_active + p.lm_head + p.final_norm;
  p.matmul_active = dense * matmul(g.dense_layer) + moe * (matmul(g.moe_layer) + experts_active) + m.vocab * m.hidden;
  return p;
}

double attended_keys_per_query(const ModelSpec& m, bool window, std::int64_t seq_len) {
  const std::int64_t w = m.attention.sliding_window;
  if (!window || w <= 0 || w >= seq_len) return 0.5 * d(seq_len);  // causal: s/2 on average (the convention)
  // Query i attends to min(i + 1, W) keys: s*W - W*(W-1)/2 pairs over the sequence.
  return (d(seq_len) * d(w) - d(w) * d(w - 1) / 2) / d(seq_len);
}

double model_flops_per_token(const ModelSpec& m, std::int64_t seq_len) {
  // 6N (Kaplan et al. 2020) + causal attention, half of PaLM's 12*L*H*Q*T (Chowdhery et al. 2022,
  // App. B): 6 x 2 FLOPs per attended key and head width (forward and backward); a windowed layer
  // attends to fewer keys.
  const double dqk = m.attention.qk_dim(), dv = m.attention.v_dim();
  double keys = 0;
  for (int i = 0; i < m.layers; ++i) keys += attended_keys_per_query(m, m.is_window_layer(i), seq_len);
  return 6.0 * d(count_params(m).matmul_active) + 6.0 * keys * m.attention.heads * (dqk + dv);
}

OpGraph build_op_graph(const ModelSpec& m, const RankShape& s) {
  GPUHOURS_ASSERT(s.seq_len > 0 && s.micro_batch > 0 && s.tp > 0 && s.cp > 0 && s.ep > 0, "positive shape");
  const std::int64_t T = s.seq_len * s.micro_batch / s.cp;
  Builder b{m, s, T, s.sequence_parallel ? std::max<std::int64_t>(1, T / s.tp) : T, s.precision == Precision::fp8, m.bias};
  OpGraph g;
  g.tokens = T;
  g.routed_tokens = b.Ts;
  const std::int64_t h = m.hidden;
  // Embedding: gather rows; backward scatter-adds rows of gradient into FP32 storage.
  Op emb;
  emb.name = "embedding";
  emb.forward = memory_kernel(2.0 * d(b.Ts) * d(h) * kAct);
  emb.backward = {memory_kernel(d(b.Ts) * d(h) * (kAct + 2 * 4.0), true)};
  emb.params = m.vocab / s.tp * h + m.position_embeddings * h;
  g.embedding.push_back(emb);
  g.dense_layer = b.layer(false);
  if (m.ffn.moe) g.moe_layer = b.layer(true);
  if (m.attention.sliding_window > 0) {
    g.dense_window_layer = b.layer(false, true);
    if (m.ffn.moe) g.moe_window_layer = b.layer(true, true);
  }
  g.head = b.head("", true);
  if (m.mtp_depth > 0) {
    // DeepSeek-V3 §2.2: RMSNorm the hidden state and the next token's embedding, project the
    // concatenation [2h -> h], run one transformer layer, then the shared output head.
    g.mtp.push_back(norm("mtp_norms", 2 * b.Ts, h, m.norm));
    g.mtp.back().params *= 2;
    g.mtp.push_back(linear("mtp_proj", T, 2 * h, h, false, b.fp8));
    for (Op op : b.layer(m.ffn.moe)) {
      op.name = "mtp " + op.name;
      g.mtp.push_back(op);
    }
    for (Op op : b.head("mtp ", false)) g.mtp.push_back(op);
  }
  for (std::vector<Op>* ops : g.lists()) {
    if (s.autocast) apply_autocast(*ops);
    if (b.fp8 && s.fp8_recipe == Fp8Recipe::current) apply_current_scaling(*ops);
  }
  return g;
}

OpGraph build_op_graph(const ModelSpec& m, std::int64_t seq_len, std::int64_t micro_batch, Precision precision) {
  RankShape s;
  s.seq_len = seq_len;
  s.micro_batch = micro_batch;
  s.precision = precision;
  return build_op_graph(m, s);
}

}  // namespace gpuhours
