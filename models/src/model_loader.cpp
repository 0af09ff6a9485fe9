// Loads a model file, validating every field.
#include <cmath>

#include "gpuhours/error.hpp"
#include "gpuhours/model.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

ModelSpec load_model(const YamlNode& n) {
  n.check_keys({{"name", true, "model id"},
                {"title", false, "human name"},
                {"sources", false, "where the architecture comes from"},
                {"description", false, "one paragraph"},
                {"layers", true, "transformer layers"},
                {"hidden", true, "model width"},
                {"vocab", true, "vocabulary size"},
                {"attention", true, "attention block"},
                {"ffn", true, "feed-forward block"},
                {"norm", false, "rmsnorm (default) | layernorm"},
                {"tie_embeddings", false, "input embedding shared with the LM head (default false)"},
                {"bias", false, "all linear layers carry biases (default false)"},
                {"qkv_bias", false, "q, k, v projections carry biases (default false)"},
                {"position_embeddings", false, "learned absolute positions (default none: RoPE)"},
                {"mtp_depth", false, "multi-token prediction modules (default 0)"},
                {"published_params", false, "total parameter count the source states"},
                {"published_active_params", false, "activated parameters per token the source states"}});
  ModelSpec m;
  m.name = n.child("name").as_string();
  m.title = n.has("title") ? n.child("title").as_string() : m.name;
  m.sources = n.optional_list("sources");
  m.layers = n.child("layers").as_count();
  m.hidden = n.child("hidden").as_positive_int();
  m.vocab = n.child("vocab").as_positive_int();
  if (auto c = n.optional_child("norm"))
    m.norm = c->as_enum<NormKind>();
  if (auto c = n.optional_child("tie_embeddings")) m.tie_embeddings = c->as_bool();
  if (auto c = n.optional_child("bias")) m.bias = c->as_bool();
  if (auto c = n.optional_child("qkv_bias")) m.qkv_bias = c->as_bool();
  if (auto c = n.optional_child("position_embeddings")) m.position_embeddings = c->as_positive_int();
  if (auto c = n.optional_child("mtp_depth")) {
    const std::int64_t depth = c->as_int();
    if (depth < 0 || depth > m.layers) throw c->error("must be between 0 and the model's layers");
    m.mtp_depth = static_cast<int>(depth);
  }
  if (auto c = n.optional_child("published_params")) m.published_params = c->as_positive_double();
  if (auto c = n.optional_child("published_active_params")) m.published_active_params = c->as_positive_double();

  const YamlNode a = n.child("attention");
  a.check_keys({{"kind", true, "mha | gqa | mla"},
                {"heads", true, "query heads"},
                {"kv_heads", false, "key/value heads (gqa; default = heads)"},
                {"head_dim", false, "per-head width (default hidden / heads)"},
                {"sliding_window", false, "mha | gqa: tokens a query attends to, itself included (sliding-window attention; default: the whole causal prefix)"},
                {"full_attention_every", false, "with sliding_window: every n-th layer attends to the whole prefix (Megatron-Core window_attn_skip_freq; default: none)"},
                {"qk_norm", false, "mha | gqa: RMSNorm over each query and key head before RoPE (QK-Norm, Dehghani et al. 2023; default false)"},
                {"q_lora_rank", false, "mla: query compression rank (0: none)"},
                {"kv_lora_rank", false, "mla: key/value compression rank"},
                {"qk_nope_head_dim", false, "mla: per-head query/key width without RoPE"},
                {"qk_rope_head_dim", false, "mla: decoupled RoPE width"},
                {"v_head_dim", false, "mla: per-head value width"}});
  AttentionSpec& at = m.attention;
  at.kind = a.child("kind").as_enum<AttentionKind>();
  at.heads = a.child("heads").as_count();
  if (at.kind == AttentionKind::mla) {
    for (const char* k : {"kv_heads", "head_dim", "qk_norm", "sliding_window", "full_attention_every"})
      if (a.has(k)) throw a.child(k).error("not used by mla; give kv_lora_rank and the head dims");
    at.kv_heads = at.heads;
    at.q_lora_rank = a.has("q_lora_rank") ? a.child("q_lora_rank").as_int() : 0;
    if (at.q_lora_rank < 0) throw a.child("q_lora_rank").error("must not be negative");
    at.kv_lora_rank = a.child("kv_lora_rank").as_positive_int();
    at.qk_nope_head_dim = a.child("qk_nope_head_dim").as_count();
    at.qk_rope_head_dim = a.child("qk_rope_head_dim").as_count();
    at.v_head_dim = a.child("v_head_dim").as_count();
    at.head_dim = at.qk_nope_head_dim;
  } else {
    for (const char* k : {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
      if (a.has(k)) throw a.child(k).error("only used by kind: mla");
    at.kv_heads = a.has("kv_heads") ? a.child("kv_heads").as_count() : at.heads;
    if (!a.has("head_dim") && m.hidden % at.heads != 0)
      throw a.child("heads").error("heads (" + std::to_string(at.heads) + ") must divide hidden (" +
                                   std::to_string(m.hidden) + ")");
    if (at.heads % at.kv_heads != 0)
      throw a.child("kv_heads").error("kv_heads (" + std::to_string(at.kv_heads) + ") must divide heads (" +
                                      std::to_string(at.heads) + ")");
    if (at.kind == AttentionKind::mha && at.kv_heads != at.heads)
      throw a.child("kv_heads").error("mha has kv_heads == heads; use kind: gqa");
    at.head_dim = a.has("head_dim") ? a.child("head_dim").as_count()
                                    : static_cast<int>(m.hidden / at.heads);
    if (a.has("qk_norm")) at.qk_norm = a.child("qk_norm").as_bool();
    if (a.has("sliding_window")) at.sliding_window = a.child("sliding_window").as_positive_int();
    if (a.has("full_attention_every")) {
      if (!a.has("sliding_window")) throw a.child("full_attention_every").error("only used with sliding_window");
      at.full_attention_every = a.child("full_attention_every").as_count();
      if (at.full_attention_every < 2)
        throw a.child("full_attention_every").error("at least 2 (1 would make every layer full: leave sliding_window out)");
    }
  }

  const YamlNode f = n.child("ffn");
  f.check_keys({{"kind", true, "dense | moe"},
                {"intermediate", false, "dense FFN width"},
                {"activation", true, "swiglu | geglu | gelu | relu2"},
                {"dense_layers", false, "moe: leading layers with a dense FFN (default 0)"},
                {"experts", false, "moe: routed experts"},
                {"experts_per_token", false, "moe: routed experts per token"},
                {"shared_experts", false, "moe: always-active experts (default 0)"},
                {"expert_intermediate", false, "moe: expert FFN width"},
                {"max_nodes_per_token", false, "moe: node-limited routing (default unlimited)"},
                {"balancing", false, "moe: load-balancing method, a regime of models/routing/balancing.yaml (default aux-loss)"}});
  FfnSpec& ff = m.ffn;
  ff.moe = f.child("kind").as_choice<bool>({{"dense", false}, {"moe", true}});
  ff.activation = f.child("activation").as_enum<Activation>();
  if (!ff.moe) {
    for (const char* k : {"dense_layers", "experts", "experts_per_token", "shared_experts", "expert_intermediate",
                          "max_nodes_per_token", "balancing"})
      if (f.has(k)) throw f.child(k).error("only used by kind: moe");
    ff.intermediate = f.child("intermediate").as_positive_int();
  } else {
    const std::int64_t dense = f.has("dense_layers") ? f.child("dense_layers").as_int() : 0;
    if (dense < 0 || dense > m.layers)
      throw f.child("dense_layers").error("must be between 0 and layers (" + std::to_string(m.layers) + ")");
    ff.dense_layers = static_cast<int>(dense);
    if (ff.dense_layers > 0) ff.intermediate = f.child("intermediate").as_positive_int();
    ff.experts = f.child("experts").as_count();
    ff.experts_per_token = f.child("experts_per_token").as_count();
    if (ff.experts_per_token > ff.experts)
      throw f.child("experts_per_token").error("cannot exceed experts (" + std::to_string(ff.experts) + ")");
    ff.shared_experts = f.has("shared_experts") ? static_cast<int>(f.child("shared_experts").as_int()) : 0;
    if (ff.shared_experts < 0) throw f.child("shared_experts").error("must not be negative");
    ff.expert_intermediate = f.child("expert_intermediate").as_positive_int();
    if (f.has("max_nodes_per_token"))
      ff.max_nodes_per_token = f.child("max_nodes_per_token").as_count();
    if (auto b = f.optional_child("balancing")) {
      ff.balancing = b->as_string();
      ff.balancing_where = b->where();
    }
  }
  return m;
}

}  // namespace gpuhours
