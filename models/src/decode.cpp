// Model arithmetic of inference: the weights a token reads, attention FLOPs per (query, key) pair
// and KV-cache bytes per token, from the architecture alone.
#include "gpuhours/decode.hpp"

#include <algorithm>

#include "gpuhours/opgraph.hpp"

namespace gpuhours {

int moe_layers(const ModelSpec& m) { return m.ffn.moe ? m.layers - m.ffn.dense_layers : 0; }

DecodeWeights decode_weights(const ModelSpec& m) {
  const ParamCount p = count_params(m);
  DecodeWeights w;
  const int L = moe_layers(m);
  if (m.ffn.moe && m.ffn.experts > 0) {
    w.expert = static_cast<double>(p.routed_experts_per_layer) / m.ffn.experts;
    w.routed_total = static_cast<double>(p.routed_experts_per_layer) * L;
  }
  // The embedding lookup reads one row per token; a tied embedding is read whole as the LM head.
  w.dense_read = static_cast<double>(p.total) - w.routed_total - (m.tie_embeddings ? 0.0 : static_cast<double>(p.embedding));
  w.dense_matmul = static_cast<double>(p.matmul_active) - w.expert * m.ffn.experts_per_token * L;
  return w;
}

// Attention FLOPs per (query, key) pair over all layers. Decode with MLA multiplies in the
// compressed latent space (weight absorption, DeepSeek-V2 §2.1.2): per head 2*(d_c + d_rope) for
// the scores and 2*d_c for the values; otherwise 2*d_qk + 2*d_v per head.
double attention_flops_per_pair(const ModelSpec& m, bool decode) {
  const AttentionSpec& a = m.attention;
  const double per_head = (decode && a.kind == AttentionKind::mla)
                              ? 2.0 * static_cast<double>(a.kv_lora_rank + a.qk_rope_head_dim) + 2.0 * static_cast<double>(a.kv_lora_rank)
                              : 2.0 * (a.qk_dim() + a.v_dim());
  return per_head * a.heads * m.layers;
}

double kv_cache_bytes_per_token(const ModelSpec& m, int tp) {
  const AttentionSpec& a = m.attention;
  const double kBf16 = bytes_per_element(Precision::bf16);  // the KV cache is BF16
  if (a.kind == AttentionKind::mla) return static_cast<double>(a.kv_lora_rank + a.qk_rope_head_dim) * m.layers * kBf16;
  const int kv_heads = a.kv_heads > 0 ? a.kv_heads : a.heads;
  const double shards = std::min(tp, kv_heads);  // a KV head is replicated when tp > kv_heads
  return 2.0 * kv_heads * a.head_dim * m.layers * kBf16 / shards;
}

}  // namespace gpuhours
