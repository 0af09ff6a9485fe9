// A transformer model's architecture (models/*.yaml): attention (MHA, GQA, MLA), dense or
// mixture-of-experts FFN, normalisation, embeddings, multi-token prediction.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/enums.hpp"

namespace gpuhours {

class YamlNode;

enum class AttentionKind { mha, gqa, mla };
template <>
struct EnumTable<AttentionKind> {
  static constexpr std::array<EnumName<AttentionKind>, 3> names{
      {{AttentionKind::mha, "mha"}, {AttentionKind::gqa, "gqa"}, {AttentionKind::mla, "mla"}}};
};
/// FFN activation. Gated ones multiply an activated gate by an up projection, so the FFN's first
/// GEMM is twice as wide (Shazeer 2020, "GLU Variants Improve Transformer", arXiv:2002.05202):
/// SwiGLU (Llama, DeepSeek) and GeGLU, a GELU-gated FFN (Gemma, arXiv:2403.08295).
enum class Activation { swiglu, geglu, gelu, relu2 };
template <>
struct EnumTable<Activation> {
  static constexpr std::array<EnumName<Activation>, 4> names{{{Activation::swiglu, "swiglu"},
                                                              {Activation::geglu, "geglu"},
                                                              {Activation::gelu, "gelu"},
                                                              {Activation::relu2, "relu2"}}};
};
constexpr bool gated(Activation a) { return a == Activation::swiglu || a == Activation::geglu; }
enum class NormKind { rmsnorm, layernorm };
template <>
struct EnumTable<NormKind> {
  static constexpr std::array<EnumName<NormKind>, 2> names{{{NormKind::rmsnorm, "rmsnorm"}, {NormKind::layernorm, "layernorm"}}};
};

struct AttentionSpec {
  AttentionKind kind = AttentionKind::mha;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  bool qk_norm = false;  // RMSNorm over each query and key head before RoPE (QK-Norm; Qwen3, OLMo 2)
  // Sliding-window attention (Beltagy et al. 2020; Mistral 7B, Gemma, GPT-OSS): a query attends to
  // the last `sliding_window` tokens (itself included); every `full_attention_every`-th layer
  // attends to the whole causal prefix instead (0: every layer is windowed). 0: no window.
  std::int64_t sliding_window = 0;
  int full_attention_every = 0;
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
  std::string balancing;          // load-balancing method, a regime of models/routing/balancing.yaml; empty: not stated
  std::string balancing_where;    // file:line:column of `balancing`, for errors
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
  /// Whether layer `layer` (0-based) attends through the sliding window: Megatron-Core's
  /// window_attn_skip_freq, layer i full when (i + 1) % full_attention_every == 0.
  bool is_window_layer(int layer) const {
    return attention.sliding_window > 0 &&
           !(attention.full_attention_every > 0 && (layer + 1) % attention.full_attention_every == 0);
  }
};

/// Loads a model file (or inline mapping), validating every field.
ModelSpec load_model(const YamlNode& node);

}  // namespace gpuhours
