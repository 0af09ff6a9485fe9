#include "gpuhours/inference.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>

#include <fmt/format.h>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/decode.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/opgraph.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

namespace {

// Kernels per transformer layer in a decode iteration (norms, projections, attention, router,
// expert GEMMs, activation, dispatch/combine): each pays the GPU's fixed kernel cost. Assumed; of
// them the GEMMs of the query-key-value, output, up-gate and down projections.
constexpr double kKernelsPerLayer = 10;
constexpr double kGemmKernelsPerLayer = 4;
// Decode segments are cut at this many iterations so that the cost at the segment's mean context
// stays close to the mean of the per-iteration costs (max(compute, memory) is convex).
constexpr std::int64_t kMaxSegmentIterations = 256;

Precision weight_precision(const Scenario& s, const InferenceSpec& layout) {
  return layout.weights.value_or(s.training.precision);
}
double weight_bytes_per_param(const Scenario& s, const InferenceSpec& layout) {
  return bytes_per_element(weight_precision(s, layout));
}

// The busiest expert-parallel rank's load / mean for an iteration of `tokens` on an instance's ep
// GPUs (expert_imbalance), at token counts rounded to powers of sqrt(2): the spread of loads
// changes slowly with the batch, and the routing regime memoises each draw, so a generation's
// thousands of iterations draw a few dozen times.
double instance_imbalance(const Scenario& s, int ep, double tokens, int redundant_experts) {
  if (tokens < 1) return 1.0;
  return expert_imbalance(s, ep, std::exp2(static_cast<double>(std::lround(2.0 * std::log2(tokens))) / 2.0),
                          redundant_experts);
}

// An iteration's time from its parts. Without overlap: max(compute, HBM reads) + communication +
// launches. With dual micro-batch overlap (DeepSeek-V3/R1 inference system): each layer runs
// micro-batch A's computation while B's dispatch or combine is in flight and the reverse, so a layer
// takes the longer of the two; the pipeline fills once per iteration (half the shorter part of one
// layer). Each micro-batch reads the weights and launches the kernels again.
double iteration_seconds(const IterationCost& c, const InferenceSpec& layout, int layers) {
  if (!layout.dual_batch_overlap || c.comm_seconds <= 0)
    return std::max(c.compute_seconds, c.memory_seconds) + c.comm_seconds + c.launch_seconds;
  const double bytes = c.weight_bytes + c.kv_bytes;
  const double memory = bytes > 0 ? c.memory_seconds * (2 * c.weight_bytes + c.kv_bytes) / bytes : 0.0;
  const double work = std::max(c.compute_seconds, memory) + 2 * c.launch_seconds;
  return std::max(work, c.comm_seconds) + std::min(work, c.comm_seconds) / (2.0 * std::max(1, layers));
}

// The forward kernels of a prompt iteration on one GPU of an instance, timed by the kernel model of
// training (the calibration profile where the GPU has one): the training op graph of a micro-batch
// of the iteration's tokens per attention replica, with its norms, rotary embedding, router,
// activation, quantization passes and the expert weighted sum beside the GEMMs and attention. The
// routed experts fold over all tp x ep GPUs of the instance, as inference spreads them. The
// sequences are cut to the length that gives the iteration's (query, key) pairs, at most its tokens,
// and the attention kernels are scaled to the pairs attended (a chunk behind a cached prefix attends
// more than its own causal square). The final norm and LM head run on each sequence's last token
// only; no loss, no multi-token prediction. Communication ops are left out (the iteration times the
// dispatch, combine and all-reduces), and so are kernel launches (the iteration counts them).
struct PromptKernels {
  double seconds = 0;       // every kernel
  double gemm_seconds = 0;  // of which the FP8 GEMMs, their quantization passes left out
};
PromptKernels prompt_kernel_seconds(const Scenario& s, const InferenceSpec& layout, double tokens, double attended_pairs,
                                    double imbalance, PromptKernelCache* cache) {
  const double per_replica = tokens / layout.ep;
  if (per_replica < 1) return {};
  const auto T = static_cast<std::int64_t>(std::ceil(per_replica));
  const double pairs = attended_pairs / layout.ep;
  const std::int64_t len = std::clamp<std::int64_t>(std::llround(2.0 * pairs / per_replica), 1, T);
  RankShape shape;
  shape.tp = layout.tp;
  shape.ep = s.model.ffn.moe ? std::min(layout.tp * layout.ep, s.model.ffn.experts) : 1;
  shape.micro_batch = std::max<std::int64_t>(1, std::llround(per_replica / static_cast<double>(len)));
  shape.seq_len = len;
  shape.precision = weight_precision(s, layout);
  shape.expert_imbalance = imbalance;
  const PromptKernelCache::Key key{shape.tp, shape.ep, static_cast<int>(shape.precision), T, len, shape.micro_batch, imbalance};
  auto kernels_of = [&](const PromptKernelCache::Times& t) {
    return PromptKernels{t.other_seconds + t.attention_seconds * pairs / t.graph_pairs, t.gemm_seconds};
  };
  if (const PromptKernelCache::Times* t = cache ? cache->find(key) : nullptr) return kernels_of(*t);
  const OpGraph g = build_op_graph(s.model, shape);
  GpuSpec device = s.cluster.gpu;
  device.kernel_launch_seconds = 0;
  const KernelModel kernels(device, s.cluster.calibration.get(), 1.0, s.cluster.clocks);
  PromptKernelCache::Times times;
  times.graph_pairs = static_cast<double>(shape.micro_batch) * static_cast<double>(len) * static_cast<double>(len + 1) / 2.0;
  auto add = [&](const std::vector<Op>& ops, double times_run) {
    for (const Op& op : ops) {
      if (op.comm != OpComm::none) continue;
      const double seconds = kernels.time(op.forward).seconds() * times_run;
      (op.forward.kind == OpKind::attention ? times.attention_seconds : times.other_seconds) += seconds;
      if (op.forward.kind == OpKind::gemm && op.forward.fp8)
        times.gemm_seconds += (seconds - kernels.quantize_time(op.forward).seconds() * times_run);
    }
  };
  const int moe = moe_layers(s.model);
  add(g.dense_layer, s.model.layers - moe);
  add(g.moe_layer, moe);
  add(g.head, static_cast<double>(shape.micro_batch) / static_cast<double>(g.tokens));
  if (cache) cache->put(key, times);
  return kernels_of(times);
}

// `rows_beside`: the prompt tokens of a mixed iteration, which its decode tokens join in one GEMM
// each (continuous batching stacks a mixed batch's tokens), so the decode tokens' GEMMs run at the
// rows of both.
IterationCost iteration(const Scenario& s, const InferenceSpec& layout, const DecodeWeights& w, double tokens,
                        double attended_pairs, double kv_tokens, bool decode, PromptKernelCache* cache,
                        double rows_beside = 0) {
  const ModelSpec& m = s.model;
  const GpuSpec& gpu = s.cluster.gpu;
  const int tp = layout.tp, ep = layout.ep, L = moe_layers(m);
  const double wbytes = weight_bytes_per_param(s, layout);
  const double per_replica = tokens / ep;  // tokens of one attention replica (tp GPUs)
  IterationCost c;
  // Dense weights are sharded over tp and read by every replica; routed experts are spread over
  // all tp*ep GPUs and an expert is read when at least one of the instance's tokens picks it.
  const int k = m.ffn.experts_per_token;
  // The share of the experts at least one of `n` tokens picks.
  auto share_picked = [&](double n) { return 1.0 - std::pow(1.0 - static_cast<double>(k) / m.ffn.experts, n); };
  const double p_touched = (L > 0 && tokens > 0) ? share_picked(tokens) : 0.0;
  c.weight_bytes = (w.dense_read / tp + w.routed_total * p_touched / (tp * ep)) * wbytes;
  c.kv_bytes = kv_tokens / ep * kv_bytes_per_token(s.model, layout);
  const double imbalance = instance_imbalance(s, ep, tokens, layout.redundant_experts);
  const double dense_gemm_flops = 2.0 * w.dense_matmul * per_replica / tp;
  const double expert_gemm_flops = 2.0 * w.expert * k * L * tokens / (tp * ep) * imbalance;
  const double gemm_flops = dense_gemm_flops + expert_gemm_flops;
  const double attn_flops = attended_pairs / ep * attention_flops_per_pair(m, decode) / tp;
  c.flops = gemm_flops + attn_flops;
  // Prompts: the kernels of the training op graph, timed as in training; with two overlapped
  // micro-batches every kernel runs twice on half the tokens. Decoding: the GEMMs' FLOPs at the
  // GPU's achievable rate against the weights read (below), and the attention kernels after them,
  // each the longer of its FLOPs and its read of the KV cache: kernels of one stream run one after
  // another, so the cache's read does not hide behind the GEMMs' arithmetic (a roofline per
  // kernel). The profile's eager timings do not time decoding GEMMs: at a few hundred rows they
  // would sit on the ~25 us each of its timings adds (an FP8 512 x 576 x 7168 GEMM in 35 us). FP8
  // GEMMs run at the profile's gemm_fp8_by_rows where it has it, a GEMM of M rows at the throughput
  // measured at M rows (kernel time alone, as replayed from a CUDA graph; DeepSeek's H800s, which
  // run throttled under load, so no clock ratio on top): a dense GEMM's rows are the replica's
  // tokens, an expert's its tokens on the busiest rank over the experts some token picked; with
  // two overlapped micro-batches each GEMM runs twice on half the rows. Otherwise, and in BF16, the
  // catalogue's achievable rate at any row count, at the sustained clock as the prompt kernels.
  const Precision weights = weight_precision(s, layout);
  const CalibrationProfile* profile = s.cluster.calibration.get();
  const bool gemms_by_rows =
      decode && weights == Precision::fp8 && profile && !profile->gemm_fp8_by_rows.empty() && tokens > 0;
  PromptKernels prompt;
  if (decode) {
    const double clock = tensor_clock_ratio(profile, s.cluster.clocks);
    const double gemm_peak = peak_flops_per_s(gpu, weights) * achievable_gemm_fraction(gpu, weights) * clock;
    const double attn_peak = peak_flops_per_s(gpu, Precision::bf16) * gpu.achievable.attention_fwd * clock;
    const double kv_read = c.kv_bytes / (gpu.hbm_bytes_per_s * gpu.achievable.copy);
    double gemm_seconds = gemm_flops / gemm_peak;
    if (gemms_by_rows) {
      const double split = layout.dual_batch_overlap ? 0.5 : 1.0;
      const double rows = tokens + rows_beside;
      gemm_seconds = dense_gemm_flops / fp8_gemm_flops_per_s_at_rows(*profile, split * rows / ep);
      if (expert_gemm_flops > 0) {
        const double picked = m.ffn.experts * share_picked(rows);
        gemm_seconds += expert_gemm_flops / fp8_gemm_flops_per_s_at_rows(*profile, split * rows * k * imbalance / picked);
      }
    }
    c.compute_seconds = gemm_seconds + std::max(attn_flops / attn_peak, kv_read);
  } else if (layout.dual_batch_overlap) {
    prompt = prompt_kernel_seconds(s, layout, tokens / 2, attended_pairs / 2, imbalance, cache);
    prompt.seconds *= 2;
    prompt.gemm_seconds *= 2;
  } else prompt = prompt_kernel_seconds(s, layout, tokens, attended_pairs, imbalance, cache);
  if (!decode) {
    c.compute_seconds = prompt.seconds;
    c.gemm_seconds = prompt.gemm_seconds;
  }
  c.memory_seconds = (c.weight_bytes + c.kv_bytes) / (gpu.hbm_bytes_per_s * gpu.achievable.copy);
  // Communication, not overlapped with compute: expert dispatch (FP8 or BF16) and combine (BF16)
  // per MoE layer across the instance, with DeepEP's normal kernels for prefill and its
  // low-latency kernels for decode (DeepSeek-V3/R1 inference system); two all-reduces per layer
  // inside a tensor-parallel group.
  const int gpus = layout.gpus();
  const int nodes = std::max(1, (gpus + s.cluster.gpus_per_node - 1) / s.cluster.gpus_per_node);
  const double per_gpu_tokens = tokens / gpus;
  if (L > 0 && gpus > 1) {
    const MoeRouting routing{k, m.ffn.max_nodes_per_token};
    const double hidden = static_cast<double>(m.hidden);
    const Time dispatch = decode ? moe_low_latency_time(per_gpu_tokens * hidden * wbytes * imbalance, k, gpus, nodes, s.cluster)
                                 : moe_exchange_time(per_gpu_tokens * hidden * wbytes, gpus, nodes, imbalance, s.cluster, routing);
    const Time combine = decode ? moe_low_latency_time(per_gpu_tokens * hidden * 2.0 * imbalance, k, gpus, nodes, s.cluster)
                                : moe_exchange_time(per_gpu_tokens * hidden * 2.0, gpus, nodes, imbalance, s.cluster, routing);
    c.comm_seconds += L * (dispatch.seconds() + combine.seconds());
  }
  // Inside a node the all-reduce runs as NCCL's tuner picks it, ring or NVLink SHARP (serving
  // engines' own all-reduce kernels are taken to be at least as fast); across nodes, a ring.
  if (tp > 1) {
    const int tp_nodes = std::max(1, tp / s.cluster.gpus_per_node);
    const double bytes = per_replica * m.hidden * 2.0;
    c.comm_seconds += 2.0 * m.layers *
                      (tp_nodes == 1 ? node_all_reduce_time(bytes, tp, s.cluster)
                                     : ring_collective_time(CollectiveKind::all_reduce, bytes, tp, tp_nodes, s.cluster))
                          .seconds();
  }
  // With two micro-batches overlapped, DeepEP's normal kernels (prompts) hold their SMs while a
  // dispatch or combine runs, and the other micro-batch's kernels run on the rest, as in a training
  // step: compute C at full speed beside transfers of M seconds takes min(C / (1 - share), C + M x
  // share). Its low-latency kernels (decode) free the SMs while the transfer is in flight (DeepSeek
  // profile-data: "all GPU SMs are freed"). With gemm_sms: partitioned the FP8 GEMMs run on the SMs
  // DeepEP leaves for the whole iteration (SGLang's two-batch overlap: DeepGEMM's num_sms = the GPU's
  // SMs less DeepEP's), and the transfers slow the rest for their share of it. The GEMMs that run
  // beside the transfers (their share of the compute) lose the GPU's slowdown_beside_comm x.
  if (!decode && layout.dual_batch_overlap && c.comm_seconds > 0 && L > 0) {
    const double share = comm_sm_share(s.cluster.network.comm_sms, gpu);
    const double gemm = layout.gemm_sms == GemmSms::partitioned ? prompt.gemm_seconds : 0.0;
    const double rest = c.compute_seconds - gemm;
    const double beside_rest = gemm > 0 ? c.comm_seconds * rest / c.compute_seconds : c.comm_seconds;
    const double x = gemm > 0 ? gemm_slowdown_beside_comm(s.cluster) : 0.0;
    const double gemm_beside = std::min(gemm, c.comm_seconds * gemm / c.compute_seconds);
    c.compute_seconds = (gemm + gemm_beside * x / (1 - x)) / (1 - share) + std::min(rest / (1 - share), rest + beside_rest * share);
  }
  // Decode iterations replayed from a CUDA graph pay per kernel the GPU's gap between graph kernels
  // and the kernel's shortest run (its CTAs' launch and first memory round trips, on top of its bytes
  // and FLOPs), not a host launch. Launched one by one, the host's launch per kernel covers both.
  // A GEMM timed by gemm_fp8_by_rows has its shortest run in its measured kernel time already.
  const bool graph = decode && layout.cuda_graphs && gpu.graph_kernel_gap_seconds;
  c.launch_seconds =
      m.layers * (graph ? kKernelsPerLayer * *gpu.graph_kernel_gap_seconds +
                              (kKernelsPerLayer - (gemms_by_rows ? kGemmKernelsPerLayer : 0)) * gpu.kernel_min_seconds
                        : kKernelsPerLayer * gpu.kernel_launch_seconds);
  const double scale = s.uncertainty.kernel_time_scale;
  c.compute_seconds *= scale;
  c.gemm_seconds *= scale;
  c.memory_seconds *= scale;
  c.launch_seconds *= scale;
  c.seconds = iteration_seconds(c, layout, m.layers);
  return c;
}

}  // namespace

double kv_bytes_per_token(const ModelSpec& m, const InferenceSpec& layout) {
  return kv_cache_bytes_per_token(m, layout.tp) * layout.kv_cache_bits / 16.0;
}

double kv_bytes_per_token_whole_model(const ModelSpec& m, const InferenceSpec& layout) {
  InferenceSpec one = layout;
  one.tp = 1;  // one GPU holding every head: the bytes of a token over all of a replica's GPUs
  return kv_bytes_per_token(m, one);
}

double instance_weight_bytes_per_gpu(const Scenario& s, const InferenceSpec& layout) {
  const DecodeWeights w = decode_weights(s.model);
  const ParamCount p = count_params(s.model);
  // Redundant expert slots hold replicas: (experts + redundant) / experts of the routed weights.
  const double routed_copies =
      s.model.ffn.moe ? static_cast<double>(s.model.ffn.experts + layout.redundant_experts) / s.model.ffn.experts : 1.0;
  return (w.dense_read / layout.tp + w.routed_total * routed_copies / layout.gpus() +
          (s.model.tie_embeddings ? 0.0 : static_cast<double>(p.embedding) / layout.tp)) *
         weight_bytes_per_param(s, layout);
}

std::int64_t kv_capacity_tokens_per_gpu(const Scenario& s, const InferenceSpec& layout) {
  const double weights = instance_weight_bytes_per_gpu(s, layout);
  const double free_bytes = s.cluster.gpu.hbm_bytes * (1 - s.memory.fragmentation) - weights - s.memory.comm_buffer_bytes;
  if (free_bytes <= 0)
    throw InfeasibleLayout(Infeasibility::kv_cache, fmt::format("the model's weights ({:.1f} GB per GPU) leave no room for a KV cache on an "
                                       "inference instance of {} GPUs; use more GPUs per instance",
                                       weights / 1e9, layout.gpus()));
  return static_cast<std::int64_t>(free_bytes / kv_bytes_per_token(s.model, layout));
}

IterationCost iteration_cost(const Scenario& s, const InferenceSpec& layout, double tokens, double attended_pairs,
                             double kv_tokens, bool decode, PromptKernelCache* cache) {
  return iteration(s, layout, decode_weights(s.model), tokens, attended_pairs, kv_tokens, decode, cache);
}

IterationCost batch_iteration_cost(const Scenario& s, const InferenceSpec& layout, const BatchPart& prefill,
                                   const BatchPart& decode, PromptKernelCache* cache) {
  const DecodeWeights w = decode_weights(s.model);
  if (decode.tokens <= 0) return iteration(s, layout, w, prefill.tokens, prefill.attended_pairs, prefill.kv_tokens, false, cache);
  if (prefill.tokens <= 0) return iteration(s, layout, w, decode.tokens, decode.attended_pairs, decode.kv_tokens, true, cache);
  const IterationCost d =
      iteration(s, layout, w, decode.tokens, decode.attended_pairs, decode.kv_tokens, true, cache, prefill.tokens);
  const IterationCost p = iteration(s, layout, w, prefill.tokens, prefill.attended_pairs, prefill.kv_tokens, false, cache);
  IterationCost c;
  c.flops = p.flops + d.flops;
  c.weight_bytes = std::max(p.weight_bytes, d.weight_bytes);
  c.kv_bytes = p.kv_bytes + d.kv_bytes;
  c.compute_seconds = p.compute_seconds + d.compute_seconds;
  c.gemm_seconds = p.gemm_seconds;
  // Both parts' memory times are bytes at the same bandwidth: rescale to the bytes read once.
  const double bytes = p.weight_bytes + p.kv_bytes;
  c.memory_seconds = bytes > 0 ? p.memory_seconds * (c.weight_bytes + c.kv_bytes) / bytes : d.memory_seconds;
  c.comm_seconds = p.comm_seconds + d.comm_seconds;
  c.launch_seconds = p.launch_seconds;  // a batch with prompt chunks is launched kernel by kernel
  c.seconds = iteration_seconds(c, layout, s.model.layers);
  return c;
}

std::vector<std::int64_t> response_lengths(const LengthSpec& spec, double mean, std::int64_t count) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(count));
  const double cap = static_cast<double>(spec.max_tokens);
  if (spec.fixed || mean >= cap) {
    std::fill(out.begin(), out.end(), std::max<std::int64_t>(1, std::llround(std::min(mean, cap))));
    return out;
  }
  // E[min(X, cap)] = theta * (1 - exp(-cap / theta)) for X ~ Exp(mean theta): solve for theta by
  // bisection (the truncated mean grows with theta from 0 to cap).
  double lo = 1e-9 * cap, hi = 1.0;
  while (hi * (1 - std::exp(-cap / hi)) < mean) hi *= 2;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (mid * (1 - std::exp(-cap / mid)) < mean ? lo : hi) = mid;
  }
  const double theta = 0.5 * (lo + hi);
  for (std::int64_t i = 0; i < count; ++i) {
    const double u = (static_cast<double>(i) + 0.5) / static_cast<double>(count);
    out[static_cast<std::size_t>(i)] = std::clamp<std::int64_t>(std::llround(-theta * std::log1p(-u)), 1, spec.max_tokens);
  }
  return out;
}

GenerationResult simulate_generation(const Scenario& input, const GenerationSpec& g, double mean_response_tokens) {
  const Scenario s = with_network_uncertainty(input);
  const InferenceSpec& layout = g.inference;
  GenerationResult r;
  r.instance_gpus = layout.gpus();
  if (s.cluster.gpus() % r.instance_gpus != 0)
    throw InfeasibleLayout(Infeasibility::inference_instance, "an inference instance of " + std::to_string(r.instance_gpus) + " GPUs (tp " +
                           std::to_string(layout.tp) + " x ep " + std::to_string(layout.ep) + ") does not divide the " +
                           std::to_string(s.cluster.gpus()) + " GPUs");
  if (s.model.ffn.moe && s.model.ffn.experts % layout.ep != 0)
    throw InfeasibleLayout(Infeasibility::inference_instance, "inference ep " + std::to_string(layout.ep) + " does not divide " +
                           std::to_string(s.model.ffn.experts) + " experts");
  r.instances = s.cluster.gpus() / r.instance_gpus;
  r.outputs = g.outputs;
  r.outputs_per_instance = (g.outputs + r.instances - 1) / r.instances;

  // KV capacity of one GPU: HBM less its weights, communication buffers and allocator allowance.
  const DecodeWeights w = decode_weights(s.model);
  r.kv_capacity_tokens = kv_capacity_tokens_per_gpu(s, layout);
  const double capacity = static_cast<double>(r.kv_capacity_tokens) * layout.ep;  // whole instance

  std::vector<std::int64_t> lengths = response_lengths(g.response, mean_response_tokens, r.outputs_per_instance);
  // Arrival order: a fixed stride permutation of the quantiles, so that long and short responses
  // mix as in a shuffled batch, deterministically.
  const auto n = static_cast<std::int64_t>(lengths.size());
  // The stride is the golden-ratio conjugate (sqrt(5) - 1) / 2 of n, coprime with n: Fibonacci
  // hashing (Knuth, TAOCP vol. 3 §6.4) spreads consecutive quantiles far apart.
  std::int64_t stride = std::max<std::int64_t>(1, static_cast<std::int64_t>(0.618034 * static_cast<double>(n)));
  while (std::gcd(stride, n) != 1) ++stride;
  std::vector<std::int64_t> order(lengths.size());
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = lengths[static_cast<std::size_t>((i * stride) % n)];

  const double prompt = std::max(1.0, std::round(g.prompt_tokens));
  for (std::int64_t len : order) {
    if (prompt + static_cast<double>(len) > capacity)
      throw InfeasibleLayout(Infeasibility::kv_cache, "one sequence of " + std::to_string(static_cast<std::int64_t>(prompt) + len) +
                             " tokens does not fit the KV cache of an instance (" +
                             std::to_string(static_cast<std::int64_t>(capacity)) + " tokens)");
  }

  // Running sequences: (iteration at which it finishes, reserved tokens); iteration counter `it`.
  using Entry = std::pair<std::int64_t, double>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> running;
  PromptKernelCache cache;
  std::int64_t it = 0, next = 0;
  double reserved = 0, start_sum = 0;  // sum over running of the iteration they started decoding
  Time t, prefill, decode;
  double concurrent_time = 0;
  const std::size_t cap_seqs = layout.max_sequences > 0 ? static_cast<std::size_t>(layout.max_sequences) : SIZE_MAX;
  while (next < n || !running.empty()) {
    // Admit what fits, then prefill the new prompts together.
    std::int64_t admitted = 0;
    while (next < n && running.size() < cap_seqs &&
           reserved + prompt + static_cast<double>(order[static_cast<std::size_t>(next)]) <= capacity) {
      const double len = static_cast<double>(order[static_cast<std::size_t>(next)]);
      running.emplace(it + order[static_cast<std::size_t>(next)], prompt + len);
      reserved += prompt + len;
      start_sum += static_cast<double>(it);
      ++next;
      ++admitted;
    }
    if (admitted > 0) {
      const double tok = prompt * static_cast<double>(admitted);
      const Time dt = Time::from_seconds_ceil(iteration(s, layout, w, tok, tok * (prompt + 1) / 2, 0, false, &cache).seconds);
      t = t + dt;
      prefill = prefill + dt;
    }
    // Decode until the next completion (or a segment's end).
    const auto B = static_cast<double>(running.size());
    const std::int64_t k = std::min(running.top().first - it, kMaxSegmentIterations);
    // Context of a running sequence at iteration j: prompt + (j - start); mean over the segment.
    const double ctx_sum = B * (prompt + static_cast<double>(it) + static_cast<double>(k - 1) / 2.0) - start_sum;
    const double per_iter = iteration(s, layout, w, B, ctx_sum, ctx_sum, true, &cache).seconds;
    const Time dt = Time::from_seconds_ceil(per_iter * static_cast<double>(k));
    t = t + dt;
    decode = decode + dt;
    concurrent_time += B * dt.seconds();
    r.peak_concurrent = std::max(r.peak_concurrent, B);
    it += k;
    while (!running.empty() && running.top().first <= it) {
      reserved -= running.top().second;
      start_sum -= static_cast<double>(running.top().first) - (running.top().second - prompt);
      running.pop();
    }
  }
  r.prefill = prefill;
  r.decode = decode;
  r.wall = t;
  r.mean_concurrent = decode.seconds() > 0 ? concurrent_time / decode.seconds() : 0;
  const double out_per_instance = std::accumulate(lengths.begin(), lengths.end(), 0.0);
  r.output_tokens = out_per_instance / static_cast<double>(n) * static_cast<double>(g.outputs);
  r.prompt_tokens = prompt * static_cast<double>(g.outputs);
  r.output_tokens_per_gpu_second = out_per_instance / (t.seconds() * r.instance_gpus);
  // Forward FLOPs: a third of the training convention's 6N + attention (model_flops_per_token).
  const double mean_len = out_per_instance / static_cast<double>(n);
  r.model_flops = model_flops_per_token(s.model, static_cast<std::int64_t>(prompt + mean_len)) / 3.0 *
                  (r.prompt_tokens + r.output_tokens);
  return r;
}

}  // namespace gpuhours
