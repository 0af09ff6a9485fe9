#include <doctest/doctest.h>

#include <algorithm>

#include "gpuhours/opgraph.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/yaml.hpp"
#include "test_util.hpp"

using namespace gpuhours;

using test::zoo;

namespace {
Op find(const std::vector<Op>& ops, const std::string& name) {
  for (const Op& op : ops)
    if (op.name == name) return op;
  FAIL("no op " << name);
  return Op{};
}
// One rank of 4,096 tokens under TP 2 with sequence parallelism and EP 8.
RankShape tp2_ep8_shape() {
  RankShape shape;
  shape.seq_len = 4096;
  shape.tp = 2;
  shape.ep = 8;
  return shape;
}
}  // namespace

TEST_CASE("Llama 3 parameter counts are within 0.5% of the published 8.03B and 70.6B") {
  const auto p8 = count_params(zoo("llama-3-8b"));
  const auto p70 = count_params(zoo("llama-3-70b"));
  CHECK(std::abs(p8.total / 8.03e9 - 1.0) < 0.005);
  CHECK(std::abs(p70.total / 70.6e9 - 1.0) < 0.005);
  // Hand count for 8B: layer = q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 + FFN 3*4096*14336
  // + 2 norms of 4096 = 218,112,000; embedding and LM head 128256*4096 each; final norm 4096.
  CHECK(p8.per_layer == 218112000);
  CHECK(p8.total == 32LL * 218112000 + 2LL * 128256 * 4096 + 4096);
}

TEST_CASE("the reference models count exactly what PyTorch counted") {
  CHECK(count_params(zoo("ref-llama-1b")).total == 1104218112);
  CHECK(count_params(zoo("ref-llama-3b")).total == 3015355392);
}

TEST_CASE("model FLOPs per token equal 6 N_matmul plus the causal attention term") {
  // Convention: 6 * (linear weights of all layers + LM head) + 3*L*a*s*(d_qk + d_v).
  // Llama 3 8B at s = 8192: N_matmul = 32 * (218,112,000 - 8192) + 128256*4096 = 7,504,658,432;
  // attention = 3 * 32 * 32 * 8192 * 256 = 6,442,450,944.
  const ModelSpec m = zoo("llama-3-8b");
  const double expected = 6.0 * 7504658432.0 + 6442450944.0;
  CHECK(count_params(m).matmul_active == 7504658432LL);
  CHECK(model_flops_per_token(m, 8192) == doctest::Approx(expected).epsilon(1e-12));
}

TEST_CASE("the op graph's FLOPs add up to the model FLOPs per token") {
  // Forward GEMM + attention FLOPs of a micro-batch, x3 for forward + backward, equal the
  // per-token convention x tokens (GEMM backward = 2x forward, attention backward = 2.5x forward,
  // so attention alone is 3.5x: the convention's 3x counts the backward as 2x like a GEMM).
  const ModelSpec m = zoo("ref-llama-1b");
  const OpGraph g = build_op_graph(m, 2048, 4, Precision::bf16);
  double gemm_fwd = 0, gemm_bwd = 0, attn_fwd = 0, attn_bwd = 0;
  auto add = [&](const std::vector<Op>& ops, int times) {
    for (const Op& op : ops) {
      if (op.forward.kind == OpKind::gemm) gemm_fwd += times * op.forward.flops;
      if (op.forward.kind == OpKind::attention) attn_fwd += times * op.forward.flops;
      for (const Kernel& k : op.backward) {
        if (k.kind == OpKind::gemm) gemm_bwd += times * k.flops;
        if (k.kind == OpKind::attention) attn_bwd += times * k.flops;
      }
    }
  };
  add(g.dense_layer, m.layers);
  add(g.head, 1);
  add(g.embedding, 1);
  CHECK(gemm_bwd == doctest::Approx(2 * gemm_fwd));
  CHECK(attn_bwd == doctest::Approx(2.5 * attn_fwd));
  const double tokens = 2048.0 * 4;
  CHECK(3 * (gemm_fwd + attn_fwd) == doctest::Approx(model_flops_per_token(m, 2048) * tokens));
  // Matches the reference script's own count for the same config (54,348,516,163,584 per step).
  CHECK(3 * (gemm_fwd + attn_fwd) == doctest::Approx(54348516163584.0));
}

TEST_CASE("saved activations of a Llama layer match the hand count") {
  // T = b*s tokens, BF16: norms 2*(2Th + 4T); qkv input 2Th; q,k,v 2T(a+2g)d + lse 4Ta;
  // o_proj input 2Tad; gate_up input 2Th; SwiGLU gate and up 2*2Tf; down input 2Tf.
  const ModelSpec m = zoo("ref-llama-1b");
  const OpGraph g = build_op_graph(m, 2048, 1, Precision::bf16);
  const double T = 2048, h = 2048, a = 32, kv = 8, d = 64, f = 8192;
  const double expected = 2 * (2 * T * h + 4 * T) + 2 * T * h + 2 * T * (a + 2 * kv) * d + 4 * T * a +
                          2 * T * a * d + 2 * T * h + 4 * T * f + 2 * T * f;
  double saved = 0;
  for (const Op& op : g.dense_layer) saved += op.saved_bytes;
  CHECK(saved == doctest::Approx(expected));
}

TEST_CASE("a deferred weight gradient holds each linear's input and output gradient, an input two linears read once") {
  // Llama layer (BF16): down_proj's W needs its input T x f and its output gradient T x h.
  const OpGraph g = build_op_graph(zoo("ref-llama-1b"), 2048, 1, Precision::bf16);
  const double T = 2048, h = 2048, f = 8192;
  CHECK(weight_grad_held_bytes(find(g.dense_layer, "down_proj")) == doctest::Approx(2 * T * f + 2 * T * h));
  CHECK(weight_grad_held_bytes(find(g.dense_layer, "attn_norm")) == 0);  // its weight gradient is in B
  // MLA (DeepSeek-V3, FP8): the KV down-projection reads the normed x the query's keeps, so neither
  // its activations nor its W hold it again; the expert down-projection's output gradient arrives
  // in FP8 (§3.3.2), 1 byte plus a 4-byte scale per 128 values.
  RankShape shape;
  shape.seq_len = 4096;
  shape.ep = 64;
  shape.precision = Precision::fp8;
  const OpGraph v3 = build_op_graph(zoo("deepseek-v3"), shape);
  const Op kv_down = find(v3.moe_layer, "kv_down_proj");
  CHECK(kv_down.saved_bytes == 0);
  CHECK(weight_grad_held_bytes(kv_down) == doctest::Approx(4096.0 * (512 + 64) * 2));
  const Op down = find(v3.moe_layer, "experts_down");
  const double rows = down.forward.m * double(down.forward.groups);
  CHECK(weight_grad_held_bytes(down) == doctest::Approx(down.saved_bytes + rows * 7168 * (1 + 4.0 / 128)));
  // Under context parallelism the KV up-projection's W runs in the backward (the ring passes the
  // other blocks' gradients), so a W pass holds nothing for it.
  shape.cp = 2;
  shape.seq_len = 8192;
  const Op up = find(build_op_graph(zoo("deepseek-v3"), shape).moe_layer, "kv_up_proj");
  CHECK(up.weight_grad_inline);
  CHECK(weight_grad_held_bytes(up) == 0);
}

TEST_CASE("context parallelism: MLA's ring carries the latents, GQA's the keys and values, each with its attention kernels") {
  RankShape shape;
  shape.seq_len = 131072;
  shape.cp = 16;
  shape.ep = 64;
  const OpGraph g = build_op_graph(zoo("deepseek-v3"), shape);
  const double T = 131072.0 / 16;
  const Op ring = find(g.moe_layer, "kv latent ring (cp)");
  CHECK(ring.comm == OpComm::cp_ring);
  CHECK(ring.comm_bytes == doctest::Approx(T * (512 + 64) * 2 * 15));  // latent + RoPE key, BF16, 15 hops
  const Op attention = find(g.moe_layer, "attention");
  CHECK(ring.forward.flops == attention.forward.flops);
  CHECK(ring.backward.at(0).flops == attention.backward.at(0).flops);
  // Every rank up-projects the latents of all 16 blocks: 128 heads x (128 + 128) outputs each.
  const Op up = find(g.moe_layer, "kv_up_proj");
  CHECK(up.forward.flops == doctest::Approx(2.0 * T * 16 * 512 * 128 * 256));
  // GQA (Llama 3 8B): K and V of the 8 KV heads travel.
  RankShape small;
  small.seq_len = 32768;
  small.cp = 4;
  const OpGraph l = build_op_graph(zoo("llama-3-8b"), small);
  CHECK(find(l.dense_layer, "kv ring (cp)").comm_bytes == doctest::Approx(32768.0 / 4 * 8 * 256 * 2 * 3));
  // Each kernel is one ring step's block: the rank's 8,192 queries against 8,192 keys, 32 heads of
  // 128 + 128; the FLOPs are the rank's quarter of the causal whole, 2 * 32 * 32768^2 * 256 / 2 / 4.
  const Op attention_l = find(l.dense_layer, "attention");
  CHECK(attention_l.forward.m == 32);
  CHECK(attention_l.forward.n == 8192);
  CHECK(attention_l.forward.k == 256);
  CHECK(attention_l.forward.flops == doctest::Approx(2.0 * 32 * 32768.0 * 32768 * 256 / 2 / 4));
}

TEST_CASE("FP8 linears carry their quantization passes (DeepSeek-V3 §3.3 and §3.5.2), by hand") {
  RankShape shape;
  shape.seq_len = 4096;
  shape.ep = 64;
  shape.precision = Precision::fp8;
  const OpGraph g = build_op_graph(zoo("deepseek-v3"), shape);
  const double T = 4096, q = 2 + (1 + 4.0 / 128), fp8 = 1 + 4.0 / 128;  // BF16 in, FP8 + 1 scale per 128 out
  const Op o = find(g.moe_layer, "o_proj");  // 128 heads x 128 -> 7168
  CHECK(o.forward.quantize_bytes == doctest::Approx(T * 16384 * q));
  CHECK(o.backward[0].quantize_bytes == doctest::Approx(T * 7168 * q));
  CHECK(o.backward[1].quantize_bytes == doctest::Approx(T * 16384 * 2 * fp8 + T * 7168 * q));
  // Routed experts get their tokens dispatched in FP8: no forward pass of their own.
  CHECK(find(g.moe_layer, "experts_gate_up").forward.quantize_bytes == 0);
  CHECK(find(g.moe_layer, "experts_down").forward.quantize_bytes > 0);
  // Per routed token: 7168 FP8 values + 56 scales out, 7168 BF16 gradient values back.
  const Op dispatch = find(g.moe_layer, "dispatch (ep)");
  CHECK(dispatch.comm_bytes == doctest::Approx(T * 7168 * fp8));
  CHECK(dispatch.backward_comm_bytes == doctest::Approx(T * 7168 * 2));
  CHECK(find(g.moe_layer, "combine (ep)").backward_comm_bytes == doctest::Approx(T * 7168 * fp8));
  // A BF16 dispatch (Megatron-Core's dispatchers) sends 2 bytes per value both ways, and the
  // experts quantize on arrival the 4096 x 8 routed rows of 7168 that the rank's 4 experts receive.
  shape.dispatch_fp8 = false;
  const OpGraph b = build_op_graph(zoo("deepseek-v3"), shape);
  CHECK(find(b.moe_layer, "dispatch (ep)").comm_bytes == doctest::Approx(T * 7168 * 2));
  CHECK(find(b.moe_layer, "combine (ep)").backward_comm_bytes == doctest::Approx(T * 7168 * 2));
  CHECK(find(b.moe_layer, "experts_gate_up").forward.quantize_bytes == doctest::Approx(T * 8 * 7168 * q));
  CHECK(find(b.moe_layer, "experts_down").grad_output_value_bytes == 2);
  CHECK(find(g.moe_layer, "experts_down").grad_output_value_bytes == doctest::Approx(fp8));
  shape.dispatch_fp8 = true;
  // Current scaling reads x (forward) and dy (dgrad) once more for their amax, in a kernel of its
  // own; the weight gradient reuses those quantized tensors.
  shape.fp8_recipe = Fp8Recipe::current;
  const Op oc = find(build_op_graph(zoo("deepseek-v3"), shape).moe_layer, "o_proj");
  CHECK(oc.forward.quantize_bytes == doctest::Approx(T * 16384 * (q + 2)));
  CHECK(oc.backward[0].quantize_bytes == doctest::Approx(T * 7168 * (q + 2)));
  CHECK(oc.backward[1].quantize_bytes == doctest::Approx(o.backward[1].quantize_bytes));
  // Transformer Engine's Float8CurrentScalingQuantizer: amax, scale, cast, three kernels per tensor; a
  // grouped GEMM's input is quantized split by split (only delayed scaling has a fused multi-tensor
  // cast), so 3 per local expert, where delayed scaling casts all of them in one kernel.
  CHECK(oc.forward.quantize_kernels == 3);
  CHECK(o.forward.quantize_kernels == 1);
  const OpGraph gc = build_op_graph(zoo("deepseek-v3"), shape);
  const Op& down = find(gc.moe_layer, "experts_down");
  CHECK(down.forward.groups == 4);
  CHECK(down.forward.quantize_kernels == 3 * 4);
  CHECK(down.backward[0].quantize_kernels == 3 * 4);
  CHECK(find(gc.moe_layer, "experts_gate_up").forward.quantize_bytes == 0);  // dispatched in FP8: nothing to cast
  CHECK(find(g.moe_layer, "experts_down").forward.quantize_kernels == 1);
  shape.fp8_recipe = Fp8Recipe::blockwise;
  CHECK(find(build_op_graph(zoo("deepseek-v3"), shape).moe_layer, "o_proj").forward.quantize_bytes ==
        doctest::Approx(o.forward.quantize_bytes));
  shape.fp8_recipe = Fp8Recipe::delayed;
  // BF16 training quantizes nothing.
  shape.precision = Precision::bf16;
  for (const Op& op : build_op_graph(zoo("deepseek-v3"), shape).moe_layer) CHECK(op.forward.quantize_bytes == 0);
}

TEST_CASE("sliding-window attention: alternate layers attend to 128 keys, counted and timed at the window's shape") {
  const ModelSpec m = zoo("gpt-oss-120b");
  CHECK(m.is_window_layer(0));
  CHECK_FALSE(m.is_window_layer(1));  // every second layer is full (window_attn_skip_freq 2)
  CHECK(m.is_window_layer(34));
  CHECK_FALSE(m.is_window_layer(35));
  RankShape shape;
  shape.seq_len = 4096;
  shape.ep = 8;
  const OpGraph g = build_op_graph(m, shape);
  CHECK(&g.layer(m, 0) == &g.moe_window_layer);
  CHECK(&g.layer(m, 1) == &g.moe_layer);
  // 64 heads of width 64 + 64: a full layer attends to s^2/2 pairs, a windowed one to
  // s*W - W*(W-1)/2 = 4096*128 - 128*127/2 = 516,160.
  const Op full = find(g.moe_layer, "attention"), win = find(g.moe_window_layer, "attention");
  CHECK(full.forward.flops == doctest::Approx(2.0 * 64 * 4096.0 * 4096 / 2 * 128));
  CHECK(win.forward.flops == doctest::Approx(2.0 * 64 * 516160.0 * 128));
  CHECK(win.forward.m == 64 * 32);  // timed as 4096 / 128 causal kernels of 128 tokens per head
  CHECK(win.forward.n == 128);
  CHECK(full.forward.n == 4096);
  // Everything else in the layer is the same.
  CHECK(g.moe_layer.size() == g.moe_window_layer.size());
  // The MFU convention counts each layer's attended keys: 18 layers at 2048, 18 at 516160 / 4096.
  const double dense = model_flops_per_token(m, 4096), keys = 18 * 2048.0 + 18 * 516160.0 / 4096;
  ModelSpec unwindowed = m;
  unwindowed.attention.sliding_window = 0;
  CHECK(model_flops_per_token(unwindowed, 4096) - dense == doctest::Approx(6.0 * (36 * 2048.0 - keys) * 64 * 128));
}

TEST_CASE("QK-Norm adds an RMSNorm over the query heads and one over the key heads, each with one head's weights") {
  ModelSpec m = zoo("qwen3-30b-a3b");
  REQUIRE(m.attention.qk_norm);
  RankShape shape;
  shape.seq_len = 4096;
  shape.tp = 2;
  const OpGraph g = build_op_graph(m, shape);
  // Per TP rank: 16 of 32 query heads and 2 of 4 key heads of 128, over the whole sequence.
  const Op q = find(g.moe_layer, "q_norm"), k = find(g.moe_layer, "k_norm");
  CHECK(q.forward.bytes == doctest::Approx(2.0 * 4096 * 16 * 128 * 2));  // read x, write y in BF16
  CHECK(k.forward.bytes == doctest::Approx(2.0 * 4096 * 2 * 128 * 2));
  CHECK(q.params == 128);
  CHECK(k.params == 128);
  // 48 layers x 2 x 128 weights more than the same model without it.
  const std::int64_t with = count_params(m).total;
  m.attention.qk_norm = false;
  CHECK(with - count_params(m).total == 48 * 2 * 128);
  bool any = false;
  for (const Op& op : build_op_graph(m, shape).moe_layer) any = any || op.name == "q_norm" || op.name == "k_norm";
  CHECK_FALSE(any);
}

TEST_CASE("a GeGLU FFN has SwiGLU's gated width and parameters, with a GELU-gated activation") {
  ModelSpec swiglu = zoo("llama-3-8b");
  ModelSpec geglu = swiglu;
  geglu.ffn.activation = Activation::geglu;
  ModelSpec gelu = swiglu;
  gelu.ffn.activation = Activation::gelu;
  // Gate and up projections: 2 x 4096 x 14336 per layer, as for SwiGLU; an ungated GELU FFN has one.
  CHECK(count_params(geglu).total == count_params(swiglu).total);
  CHECK(count_params(swiglu).total - count_params(gelu).total == 32LL * 4096 * 14336);
  const OpGraph g = build_op_graph(geglu, 4096, 1, Precision::bf16);
  const auto has = [&](const std::string& name) {
    return std::any_of(g.dense_layer.begin(), g.dense_layer.end(), [&](const Op& op) { return op.name == name; });
  };
  CHECK(has("geglu"));
  CHECK(has("gate_up_proj"));
  CHECK_FALSE(has("swiglu"));
  // Its activation moves SwiGLU's bytes: reads gate and up, writes one (per element, BF16).
  for (const Op& op : g.dense_layer)
    if (op.name == "geglu") CHECK(op.forward.bytes == doctest::Approx(4096.0 * 14336 * 2 * 3));
  CHECK(YamlNode::load_string("a: geglu", "t").child("a").as_enum<Activation>() == Activation::geglu);
}

TEST_CASE("MoE parallel folding: under TP each rank routes only its own sequence-parallel tokens") {
  // Qwen3-30B-A3B, 4,096 tokens, TP 2 with sequence parallelism, EP 8: a rank routes 2,048
  // tokens x 8 experts over 128 / 8 = 16 local experts = 1,024 tokens per expert, and dispatches
  // its 2,048 tokens of width 2,048 in BF16; no TP collective surrounds the routed experts.
  const RankShape shape = tp2_ep8_shape();
  const OpGraph g = build_op_graph(zoo("qwen3-30b-a3b"), shape);
  CHECK(g.tokens == 4096);
  CHECK(g.routed_tokens == 2048);
  const Op up = find(g.moe_layer, "experts_gate_up");
  CHECK(up.forward.groups == 16);
  CHECK(up.forward.m == 1024);
  CHECK(find(g.moe_layer, "dispatch (ep)").comm_bytes == 2048.0 * 2048 * 2);
  CHECK(find(g.moe_layer, "router").forward.m == 2048);
  for (const Op& op : g.moe_layer) CHECK(op.name.rfind("ffn ", 0) != 0);
  // Shared experts stay a TP-sharded dense FFN with their own all-gather of all 4,096 tokens.
  RankShape v3 = shape;
  v3.ep = 64;
  const OpGraph d = build_op_graph(zoo("deepseek-v3"), v3);
  CHECK(find(d.moe_layer, "shared_experts all-gather (tp)").comm_bytes == 4096.0 * 7168 * 2);
  CHECK(find(d.moe_layer, "shared_gate_up_proj").forward.n == 2 * 2048 / 2);
}

TEST_CASE("the token permutation runs where the dispatcher puts it, with its bytes by hand") {
  // Qwen3-30B-A3B under TP 2 (sequence parallel) and EP 8: a rank routes 2,048 tokens x 8 experts =
  // 16,384 rows of width 2,048 to its 16 local experts.
  const ModelSpec m = zoo("qwen3-30b-a3b");
  auto names = [&](TokenPermutation p, Precision precision) {
    RankShape shape = tp2_ep8_shape();
    shape.permutation = p;
    shape.precision = precision;
    std::vector<std::string> out;
    for (const Op& op : build_op_graph(m, shape).moe_layer)
      if (op.name == "token_permute" || op.name == "sort_by_expert" || op.name == "sort_back" || op.name == "dispatch (ep)" ||
          op.name == "combine (ep)" || op.name == "experts_gate_up")
        out.push_back(op.name);
    return out;
  };
  using V = std::vector<std::string>;
  // DeepEP: the received tokens are expanded to their experts after the dispatch.
  CHECK(names(TokenPermutation::after_dispatch, Precision::bf16) == V{"dispatch (ep)", "token_permute", "experts_gate_up", "combine (ep)"});
  // HybridEP: inside its kernels.
  CHECK(names(TokenPermutation::in_dispatch, Precision::bf16) == V{"dispatch (ep)", "experts_gate_up", "combine (ep)"});
  // NCCL all-to-all: k copies before it, sorted by local expert after it and back before the combine.
  CHECK(names(TokenPermutation::around_alltoall, Precision::bf16) ==
        V{"token_permute", "dispatch (ep)", "sort_by_expert", "experts_gate_up", "sort_back", "combine (ep)"});

  RankShape shape = tp2_ep8_shape();
  shape.permutation = TokenPermutation::around_alltoall;
  const OpGraph bf16 = build_op_graph(m, shape);
  const double rows = 2048.0 * 8, width = 2048;
  // The source permute reads 2,048 tokens and writes 16,384 copies, BF16 both ways.
  CHECK(find(bf16.moe_layer, "token_permute").forward.bytes == (2048 + rows) * width * 2);
  CHECK(find(bf16.moe_layer, "token_permute").backward.at(0).bytes == (2048 + rows) * width * 2);
  CHECK(find(bf16.moe_layer, "sort_by_expert").forward.bytes == 2 * rows * width * 2);
  // In FP8 the tokens travel to the experts as FP8 with one FP32 scale per 128: the forward of the
  // sort by expert and the backward of the sort back move them; the way back stays BF16.
  shape.precision = Precision::fp8;
  const OpGraph fp8 = build_op_graph(m, shape);
  const double fp8_bytes = 1 + 4.0 / 128;
  CHECK(find(fp8.moe_layer, "sort_by_expert").forward.bytes == doctest::Approx(2 * rows * width * fp8_bytes));
  CHECK(find(fp8.moe_layer, "sort_by_expert").backward.at(0).bytes == 2 * rows * width * 2);
  CHECK(find(fp8.moe_layer, "sort_back").forward.bytes == 2 * rows * width * 2);
  CHECK(find(fp8.moe_layer, "sort_back").backward.at(0).bytes == doctest::Approx(2 * rows * width * fp8_bytes));
  // One local expert: nothing to sort.
  RankShape one = tp2_ep8_shape();
  one.permutation = TokenPermutation::around_alltoall;
  one.ep = 128;
  for (const Op& op : build_op_graph(m, one).moe_layer) CHECK(op.name.rfind("sort_", 0) != 0);
}

TEST_CASE("recomputing by module (Megatron-Core's --recompute-modules) keeps each recomputed run's input only, by hand") {
  // Qwen3-30B-A3B, 4,096 tokens, TP 2 (sequence parallel), EP 8. Recomputing the MoE block keeps
  // the router's input (the block's checkpoint) and nothing of the router, dispatch, experts and
  // combine; with the norms recomputed too, the router's input is the recomputed norm output and
  // goes as well, and so does the QKV projection's (attn_norm's output; the TP all-gather between
  // them has no kernel of its own).
  const RankShape shape = tp2_ep8_shape();
  const OpGraph g = build_op_graph(zoo("qwen3-30b-a3b"), shape);
  const auto& L = g.moe_layer;
  double outside_moe = 0, outside_both = 0;
  for (const Op& op : L) {
    if (!(op.modules & bit(RecomputeModule::moe))) outside_moe += op.saved_bytes;
    if (!(op.modules & (bit(RecomputeModule::moe) | bit(RecomputeModule::layernorm)))) outside_both += op.saved_bytes;
  }
  const double router_input = 2048.0 * 2048 * 2;  // Ts x hidden, BF16
  CHECK(find(L, "router").saved_bytes == router_input);
  CHECK(saved_bytes_recomputing(L, bit(RecomputeModule::moe)) == doctest::Approx(outside_moe + router_input));
  const double norms = find(L, "attn_norm").saved_bytes + find(L, "ffn_norm").saved_bytes;
  CHECK(norms == 2 * (2048.0 * 2048 * 2 + 2048 * 4));  // each: input (BF16) + FP32 statistics
  const double qkv_input = find(L, "qkv_proj").saved_bytes;
  CHECK(qkv_input == 2048.0 * 2048 * 2);  // kept sequence-sharded (before the all-gather) under SP
  CHECK(saved_bytes_recomputing(L, bit(RecomputeModule::moe) | bit(RecomputeModule::layernorm)) ==
        doctest::Approx(outside_both + norms - qkv_input));
  // The routed activation alone (moe_act, in "norm, act"): it keeps its inputs (the gate and up
  // projections) and experts_down, the GEMM after it, drops its input, the activation's output.
  double all = 0;
  for (const Op& op : L) all += op.saved_bytes;
  CHECK(find(L, "experts_down").saved_bytes > 0);
  CHECK(saved_bytes_recomputing(L, bit(RecomputeModule::moe_act)) == doctest::Approx(all - find(L, "experts_down").saved_bytes));
}

TEST_CASE("HybridEP permutes in a kernel after its dispatch unless the layout fuses the permutation into it") {
  Scenario s = test::preset("deepseek-v3-claim");
  s.parallel.dispatcher = Dispatcher::hybridep;
  auto permutes = [&] {
    const OpGraph g = scenario_op_graph(s);
    return std::any_of(g.moe_layer.begin(), g.moe_layer.end(), [](const Op& op) { return op.name == "token_permute"; });
  };
  CHECK(permutes());  // Megatron-Core's default: moe_permute_fusion_into_hybridep false
  s.parallel.hybridep_fused_permute = true;
  CHECK_FALSE(permutes());
}

TEST_CASE("Experts with biases add the second projection's in an eager loop over the local experts unless it is fused") {
  Scenario s = test::preset("deepseek-v3-claim");
  s.model.bias = true;
  s.parallel.expert_imbalance = 1.0;  // every rank gets the mean load: rows = routed tokens x top-k
  const int local = s.model.ffn.experts / s.parallel.ep;
  const OpGraph g = scenario_op_graph(s);
  const Op& bias = find(g.moe_layer, "experts_down_bias");
  const double elems = static_cast<double>(g.routed_tokens) * s.model.ffn.experts_per_token * s.model.hidden;
  // Megatron-Core TEGroupedMLP._apply_bias: b * p and t + (b * p) per expert, one concatenation;
  // BF16 rows written 3 times and read 3 times.
  CHECK(bias.forward.kernels == 2 * local + 1);
  CHECK(bias.forward.bytes == doctest::Approx(elems * 12));
  REQUIRE(bias.backward.size() == 1);
  CHECK(bias.backward[0].kernels == 5 * local + 2);
  CHECK(bias.backward[0].bytes == doctest::Approx(elems * 16));
  // The biases are parameters of the expert GEMMs: 2 x 2048 + 7168 per DeepSeek-V3 expert.
  const Op& up = find(g.moe_layer, "experts_gate_up");
  const Op& down = find(g.moe_layer, "experts_down");
  CHECK(up.params == (7168LL * 4096 + 4096) * local);
  CHECK(down.params == (2048LL * 7168 + 7168) * local);
  s.parallel.expert_bias_fused = true;
  const OpGraph fused = scenario_op_graph(s);
  CHECK(std::none_of(fused.moe_layer.begin(), fused.moe_layer.end(), [](const Op& op) { return op.name == "experts_down_bias"; }));
}

TEST_CASE("CUDA-graph scopes cover Megatron-Core's captured parts of a layer") {
  // transformer_layer.py _te_cuda_graph_capture: attn is the attention block from its norm to its
  // residual add; moe_router the MoE layer's norm, router and shared experts; mlp a dense FFN block.
  const OpGraph g = scenario_op_graph(test::preset("deepseek-v3-claim"));
  auto scopes = [](const std::vector<Op>& L, const std::string& name) { return find(L, name).graph_scopes; };
  for (const char* name : {"attn_norm", "q_down_proj", "attention", "o_proj", "attn_residual"})
    CHECK(scopes(g.moe_layer, name) == bit(GraphScope::attn));
  for (const char* name : {"ffn_norm", "router", "shared_gate_up_proj", "shared_down_proj"})
    CHECK(scopes(g.moe_layer, name) == bit(GraphScope::moe_router));
  for (const char* name : {"dispatch (ep)", "experts_gate_up", "experts_down", "combine (ep)", "ffn_residual"})
    CHECK(scopes(g.moe_layer, name) == 0);
  for (const char* name : {"ffn_norm", "gate_up_proj", "down_proj", "ffn_residual"})
    CHECK(scopes(g.dense_layer, name) == bit(GraphScope::mlp));
  CHECK(scopes(g.dense_layer, "attn_norm") == bit(GraphScope::attn));
  for (const Op& op : g.head) CHECK(op.graph_scopes == 0);
}
