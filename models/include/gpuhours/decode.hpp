// Model arithmetic of inference (prefill and decode), from the architecture alone: which weights a
// token reads, attention FLOPs per (query, key) pair, and KV-cache bytes per token.
#pragma once
#include "gpuhours/model.hpp"

namespace gpuhours {

/// Layers with a mixture-of-experts FFN.
int moe_layers(const ModelSpec& m);

/// The model's weights by how inference reads them (parameters, not bytes).
struct DecodeWeights {
  double expert = 0;          // one routed expert of one layer
  double routed_total = 0;    // all routed experts, all layers
  double dense_read = 0;      // weights every token reads: attention, dense FFNs, shared experts, head
  double dense_matmul = 0;    // of them, those in matrix multiplications one token uses
};
DecodeWeights decode_weights(const ModelSpec& m);

/// Attention FLOPs per (query, key) pair over all layers. Decode with MLA multiplies in the
/// compressed latent space (weight absorption, DeepSeek-V2 §2.1.2): per head 2*(d_c + d_rope) for
/// the scores and 2*d_c for the values; otherwise 2*d_qk + 2*d_v per head.
double attention_flops_per_pair(const ModelSpec& m, bool decode);

/// KV-cache bytes per token per GPU of one attention replica of `tp` GPUs: MLA caches the
/// compressed latent and the RoPE key, (kv_lora_rank + rope dim) per layer (DeepSeek-V2 §2.1.2),
/// not split by tensor parallelism; MHA/GQA caches K and V, 2 * kv_heads * head_dim per layer,
/// split over tp (a KV head is replicated when tp > kv_heads). BF16.
double kv_cache_bytes_per_token(const ModelSpec& m, int tp);

}  // namespace gpuhours
