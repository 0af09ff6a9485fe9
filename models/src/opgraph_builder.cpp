#include <algorithm>

#include "gpuhours/error.hpp"
#include "gpuhours/opgraph.hpp"

namespace gpuhours {

namespace {

constexpr double kAct = 2.0;  // bytes per BF16 activation element

Kernel gemm(std::int64_t m, std::int64_t n, std::int64_t k, bool fp8, bool backward = false) {
  const double in_bytes = fp8 ? 1.0 : 2.0;  // FP8 operands are 1 byte; outputs stay BF16
  Kernel g;
  g.kind = OpKind::gemm;
  g.m = m;
  g.n = n;
  g.k = k;
  g.fp8 = fp8;
  g.backward = backward;
  g.flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  g.bytes = (static_cast<double>(m) * k + static_cast<double>(k) * n) * in_bytes +
            static_cast<double>(m) * n * kAct;
  return g;
}

Kernel memory_kernel(double bytes, bool backward = false) {
  Kernel k;
  k.kind = OpKind::memory;
  k.bytes = bytes;
  k.backward = backward;
  return k;
}

// A linear layer y = x W, x: [T x in], W: [in x out].
Op linear(std::string name, std::int64_t tokens, std::int64_t in, std::int64_t out, bool bias,
          bool fp8) {
  Op op;
  op.name = std::move(name);
  op.forward = gemm(tokens, out, in, fp8);
  op.backward = {gemm(tokens, in, out, fp8, true),   // dX = dY W^T
                 gemm(in, out, tokens, fp8, true)};  // dW = X^T dY
  op.saved_bytes = static_cast<double>(tokens) * in * kAct;
  op.params = in * out + (bias ? out : 0);
  return op;
}

// Normalisation over width h: forward reads x, writes y; backward reads dy and x, writes dx.
Op norm(std::string name, std::int64_t tokens, std::int64_t h, NormKind kind) {
  const double th = static_cast<double>(tokens) * h * kAct;
  Op op;
  op.name = std::move(name);
  op.forward = memory_kernel(2 * th);
  op.backward = {memory_kernel(3 * th, true)};
  op.saved_bytes = th + static_cast<double>(tokens) * 4.0;  // input + FP32 statistics
  op.params = kind == NormKind::layernorm ? 2 * h : h;
  return op;
}

// Residual add: reads two tensors, writes one; its gradient is passed through without a kernel.
Op residual(std::string name, std::int64_t tokens, std::int64_t h) {
  Op op;
  op.name = std::move(name);
  op.forward = memory_kernel(3.0 * tokens * h * kAct);
  return op;
}

}  // namespace

ParamCount count_params(const ModelSpec& m) {
  const std::int64_t h = m.hidden, a = m.attention.heads, g = m.attention.kv_heads,
                     d = m.attention.head_dim, f = m.ffn.intermediate;
  const std::int64_t norm_params = m.norm == NormKind::layernorm ? 2 * h : h;
  const std::int64_t qkv = h * (a + 2 * g) * d + (m.bias ? (a + 2 * g) * d : 0);
  const std::int64_t out = a * d * h + (m.bias ? h : 0);
  const std::int64_t ffn_in = m.ffn.activation == Activation::swiglu ? 2 * f : f;
  const std::int64_t ffn = h * ffn_in + f * h + (m.bias ? ffn_in + h : 0);
  ParamCount p;
  p.embedding = m.vocab * h;
  p.per_layer = qkv + out + ffn + 2 * norm_params;
  p.lm_head = m.tie_embeddings ? 0 : m.vocab * h;
  p.final_norm = norm_params;
  p.total = p.embedding + p.per_layer * m.layers + p.lm_head + p.final_norm;
  p.matmul = (qkv + out + ffn) * m.layers + m.vocab * h;
  return p;
}

double model_flops_per_token(const ModelSpec& m, std::int64_t seq_len) {
  const double d_qk = m.attention.head_dim, d_v = m.attention.head_dim;
  return 6.0 * static_cast<double>(count_params(m).matmul) +
         3.0 * m.layers * m.attention.heads * static_cast<double>(seq_len) * (d_qk + d_v);
}

OpGraph build_op_graph(const ModelSpec& m, std::int64_t seq_len, std::int64_t micro_batch,
                       Precision precision) {
  GPUHOURS_ASSERT(seq_len > 0 && micro_batch > 0, "positive micro-batch shape");
  const bool fp8 = precision == Precision::fp8;
  const std::int64_t T = seq_len * micro_batch;
  const std::int64_t h = m.hidden, a = m.attention.heads, g = m.attention.kv_heads,
                     d = m.attention.head_dim, f = m.ffn.intermediate, V = m.vocab;
  const double t = static_cast<double>(T);
  OpGraph graph;
  graph.tokens = T;
  graph.layers = m.layers;

  // Embedding: gather T rows; backward scatter-adds T rows of gradient into FP32 storage.
  Op emb;
  emb.name = "embedding";
  emb.forward = memory_kernel(2.0 * t * h * kAct);
  emb.backward = {memory_kernel(t * h * (kAct + 2 * 4.0), true)};
  emb.params = V * h;
  graph.embedding.push_back(emb);

  auto& L = graph.layer;
  L.push_back(norm("attn_norm", T, h, m.norm));
  L.push_back(linear("qkv_proj", T, h, (a + 2 * g) * d, m.bias, fp8));
  {  // rotary embedding on q and k: read and write both (Su et al. 2021)
    const double qk = t * (a + g) * d * kAct;
    Op rope;
    rope.name = "rope";
    rope.forward = memory_kernel(2 * qk);
    rope.backward = {memory_kernel(2 * qk, true)};
    L.push_back(rope);
  }
  {
    Op attn;
    attn.name = "attention";
    attn.forward.kind = OpKind::attention;
    const double fwd = 2.0 * micro_batch * a * static_cast<double>(seq_len) * seq_len * (2.0 * d) * 0.5;
    attn.forward.flops = fwd;
    const double qkvo = t * (2 * a + 2 * g) * d * kAct;
    attn.forward.bytes = qkvo + t * a * 4.0;
    Kernel bwd = attn.forward;
    bwd.backward = true;
    bwd.flops = 2.5 * fwd;
    bwd.bytes = 2 * qkvo + t * a * 4.0;  // read q,k,v,o,do,lse; write dq,dk,dv
    attn.backward = {bwd};
    attn.saved_bytes = t * (a + 2 * g) * d * kAct + t * a * 4.0;  // q, k, v, lse (o: o_proj)
    L.push_back(attn);
  }
  L.push_back(linear("o_proj", T, a * d, h, m.bias, fp8));
  L.push_back(residual("attn_residual", T, h));
  L.push_back(norm("ffn_norm", T, h, m.norm));
  const bool swiglu = m.ffn.activation == Activation::swiglu;
  L.push_back(linear(swiglu ? "gate_up_proj" : "up_proj", T, h, swiglu ? 2 * f : f, m.bias, fp8));
  {
    const double tf = t * f * kAct;
    Op act;
    act.name = swiglu ? "swiglu" : "gelu";
    // SwiGLU: y = silu(gate) * up reads 2, writes 1; backward reads dy, gate, up, writes 2.
    // GELU: reads 1, writes 1; backward reads dy and x, writes dx.
    act.forward = memory_kernel(swiglu ? 3 * tf : 2 * tf);
    act.backward = {memory_kernel(swiglu ? 5 * tf : 3 * tf, true)};
    act.saved_bytes = swiglu ? 2 * tf : tf;
    L.push_back(act);
  }
  L.push_back(linear("down_proj", T, f, h, m.bias, fp8));
  L.push_back(residual("ffn_residual", T, h));

  graph.head.push_back(norm("final_norm", T, h, m.norm));
  Op lm = linear("lm_head", T, h, V, false, fp8);
  if (m.tie_embeddings) lm.params = 0;  // counted with the embedding
  graph.head.push_back(lm);
  {
    // Cross-entropy over FP32 log-probabilities: forward reads BF16 logits and writes FP32
    // log-probs; backward reads them and writes BF16 logit gradients.
    Op loss;
    loss.name = "cross_entropy";
    loss.forward = memory_kernel(t * V * (kAct + 4.0));
    loss.backward = {memory_kernel(t * V * (4.0 + kAct), true)};
    loss.saved_bytes = t * V * 4.0;
    graph.head.push_back(loss);
  }
  return graph;
}

}  // namespace gpuhours
