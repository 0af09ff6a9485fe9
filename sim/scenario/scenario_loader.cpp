// Loads scenarios: the model and cluster they name (models/, hardware/), and their own layout,
// training, phases, cost and claim, validating every field.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "gpuhours/error.hpp"
#include "gpuhours/opgraph.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace fs = std::filesystem;

namespace {

// Bounds on quantities (issue 19): beyond them no input is meaningful, and sums could overflow.
constexpr double kMaxTrainingTokens = 1e16;
constexpr double kMaxGpuHourUsd = 1e4;

// A load-balancing regime of models/routing/balancing.yaml, with the router model's popularity
// spread that reproduces its published statistic (expert_load.hpp). `where` names the field that
// asked for it.
RoutingRegime balancing_regime(const Catalog& catalog, const std::string& name, const std::string& where) {
  const YamlNode doc = YamlNode::load_file(catalog.root() + "/models/routing/balancing.yaml");
  doc.check_keys({{"sources", true, ""}, {"regimes", true, "name -> published statistic"}});
  const auto sources = load_sources(doc);
  const YamlNode regimes = doc.child("regimes");
  if (!regimes.has(name)) {
    std::string names;
    for (const auto& [k, v] : regimes.entries()) names += (names.empty() ? "" : ", ") + k;
    throw InputError(where + ": unknown balancing regime '" + name + "' (models/routing/balancing.yaml has " + names + ")");
  }
  const YamlNode r = regimes.child(name);
  r.check_keys({{"max_violation", true, "MaxVio: max expert load / mean - 1"}, {"experts", false, "routed experts measured"},
                {"top_k", false, "experts per token measured"}, {"tokens", false, "tokens counted over"},
                {"source", true, "key of sources"}, {"note", false, ""}});
  check_sources(r, sources);
  RoutingRegime out;
  out.name = name;
  out.source = sources.at(r.child("source").as_string());
  out.max_violation = r.child("max_violation").as_nonnegative_double();
  if (out.max_violation > 0) {
    out.experts = r.child("experts").as_count();
    out.top_k = r.child("top_k").as_count();
    out.tokens = r.child("tokens").as_positive_double();
    out.sigma = calibrate_sigma(out);
  }
  return out;
}

// The regime a model's routed experts were trained under (its `balancing:`, else aux-loss, the
// common method: assumed).
RoutingRegime model_regime(const Catalog& catalog, const ModelSpec& m) {
  if (!m.ffn.moe) return {};
  if (m.ffn.balancing.empty()) return balancing_regime(catalog, "aux-loss", m.name + " (no ffn.balancing)");
  return balancing_regime(catalog, m.ffn.balancing, m.ffn.balancing_where + ": field 'ffn.balancing'");
}

// A scenario named at `n` must exist: fails now, at that field, rather than when it is loaded.
void scenario_exists(const Catalog& catalog, const YamlNode& n) {
  try {
    catalog.scenario_path(n.as_string());
  } catch (const InputError& e) {
    throw n.error(e.what());
  }
}

// A key that only a mixture-of-experts model can use.
void require_moe(const ModelSpec& model, const YamlNode& key) {
  if (!model.ffn.moe) throw key.error("only used by mixture-of-experts models");
}

void parse_graph_scopes(const YamlNode& v, const ModelSpec& model, ParallelSpec& out) {
  std::uint32_t scopes = 0;
  for (const auto& item : v.items()) scopes |= bit(item.as_enum<GraphScope>());
  if (scopes == 0) throw v.error("names at least one scope (a whole-layer or full-iteration graph is not simulated)");
  if (scopes & (bit(GraphScope::moe_router) | bit(GraphScope::moe_preprocess))) require_moe(model, v);
  out.cuda_graph_scopes = scopes;
  if (auto problem = graph_scope_problem(out, model)) throw v.error(*problem);
}

// Overrides the keys `p` gives in `out` (a scenario's layout, or a phase's changes to it).
void parse_parallel(const YamlNode& p, const ModelSpec& model, const Catalog& catalog, ParallelSpec& out) {
  p.check_keys({{"tp", false, "tensor parallel"}, {"pp", false, "pipeline parallel"},
                {"ep", false, "expert parallel"}, {"cp", false, "context parallel"},
                {"zero", false, "ZeRO stage 0-3"}, {"schedule", false, "pipeline schedule"},
                {"virtual_stages", false, "interleaving"},
                {"split_backward", false, "zb-h1 / dualpipe / dualpipev: defer weight gradients to W passes, and in DualPipe's F&B pairs run them beside the next communication (default true)"}, {"micro_batch", false, "sequences per micro-batch"},
                {"recompute", false, "none | selective | full"},
                {"recompute_modules", false, "with recompute: selective, the parts of a layer recomputed (Megatron-Core's --recompute-modules): layernorm, core_attn, mla_up_proj, mlp, moe, moe_act, shared_experts"},
                {"layers_per_part", false, "explicit layers of each pipeline part (uneven split)"},
                {"expert_imbalance", false, "busiest expert-parallel rank's tokens / mean (default: the router model's draw)"},
                {"routing", false, "MoE load balancing of this run, a regime of models/routing/balancing.yaml (default: the model's)"},
                {"sequence_parallel", false, "with tp > 1 (default true)"},
                {"dispatcher", false, "MoE token exchange: deepep (default) | hybridep | alltoall"},
                {"gemm_sms", false, "MoE: shared (default: the GEMMs use every SM and give up those the expert dispatch / combine kernels take while they run) | partitioned (with ep > 1, the FP8 GEMMs are persistent kernels sized to the SMs the dispatch / combine kernels leave, for the whole step: DeepGEMM's set_num_sms, as DeepSeek-V3 trains)"},
                {"hybridep_fused_permute", false, "with dispatcher: hybridep, the token permutation inside its kernels (Megatron-Core's moe_permute_fusion_into_hybridep; default false: a permute kernel after the dispatch)"},
                {"expert_bias_fused", false, "experts with biases: the second projection's bias fused into the grouped GEMM (Transformer Engine's op fuser; default false: Megatron-Core's eager loop over the local experts)"},
                {"cuda_graph_scope", false, "the parts of each layer replayed from CUDA graphs (Megatron-Core's --cuda-graph-scope with --cuda-graph-impl transformer_engine): attn, mlp, moe_router, moe_preprocess (default: none, every kernel launched by the host)"},
                {"dispatch_precision", false, "fp8 | bf16: the activations sent to the experts under FP8 training (default: fp8 through deepep, as DeepSeek-V3; bf16 through alltoall and hybridep, as Megatron-Core)"},
                {"tp_comm_overlap", false, "TP collectives pipelined with their GEMMs, with sequence parallelism (default false)"},
                {"ep_comm_overlap", false, "MoE with ep > 1, 1f1b without pipelining or interleaved-1f1b: each steady-state forward and backward run as one pair whose expert all-to-alls overlap the other's compute (Megatron-Core --overlap-moe-expert-parallel-comm; default false)"}});
  auto get = [&](std::string_view k, int& v) {
    if (auto c = p.optional_child(k)) v = c->as_count();
  };
  get("tp", out.tp);
  get("pp", out.pp);
  get("ep", out.ep);
  get("cp", out.cp);
  if (out.cp > 1 && model.attention.sliding_window > 0)
    throw p.child("cp").error("sliding-window attention under context parallelism is not simulated");
  get("virtual_stages", out.virtual_stages);
  get("micro_batch", out.micro_batch);
  if (auto z = p.optional_child("zero")) {
    const auto v = z->as_int();
    if (v < 0 || v > 3) throw z->error("ZeRO stage is 0, 1, 2 or 3, got " + std::to_string(v));
    out.zero = static_cast<int>(v);
  }
  if (auto v = p.optional_child("schedule")) out.schedule = v->as_string();
  if (auto v = p.optional_child("layers_per_part")) {
    out.layers_per_part.clear();
    int sum = 0;
    for (const auto& item : v->items()) {
      const std::int64_t k = item.as_int();
      if (k < 0 || k > model.layers) throw item.error("must be between 0 and the model's " + std::to_string(model.layers) + " layers");
      out.layers_per_part.push_back(static_cast<int>(k));
      sum += out.layers_per_part.back();
    }
    if (sum != model.layers)
      throw v->error("adds up to " + std::to_string(sum) + " layers; the model has " + std::to_string(model.layers));
  }
  if (auto v = p.optional_child("split_backward")) out.split_backward = v->as_bool();
  if (auto v = p.optional_child("sequence_parallel")) out.sequence_parallel = v->as_bool();
  if (auto v = p.optional_child("tp_comm_overlap")) out.tp_comm_overlap = v->as_bool();
  if (auto v = p.optional_child("ep_comm_overlap")) {
    out.ep_comm_overlap = v->as_bool();
    if (out.ep_comm_overlap) require_moe(model, *v);
    if (out.ep_comm_overlap && out.ep <= 1) throw v->error("needs expert parallelism (ep > 1), as in Megatron-Core");
  }
  if (auto v = p.optional_child("expert_imbalance")) {
    out.expert_imbalance = v->as_double();
    if (!(*out.expert_imbalance >= 1.0 && *out.expert_imbalance <= 1e3))
      throw v->error("max / mean tokens lies between 1 and 1000");
  }
  if (auto v = p.optional_child("routing")) {
    require_moe(model, *v);
    out.routing = balancing_regime(catalog, v->as_string(), v->where() + ": field '" + v->path() + "'");
  }
  if (auto v = p.optional_child("recompute"))
    out.recompute = v->as_enum<Recompute>();
  if (auto v = p.optional_child("recompute_modules")) {
    if (out.recompute != Recompute::selective) throw v->error("needs recompute: selective");
    out.recompute_modules = 0;
    for (const auto& item : v->items()) out.recompute_modules |= bit(item.as_enum<RecomputeModule>());
    if (out.recompute_modules == 0) throw v->error("names at least one module");
  }
  if (auto v = p.optional_child("dispatcher"))
    out.dispatcher = v->as_enum<Dispatcher>();
  if (auto v = p.optional_child("gemm_sms")) {
    out.gemm_sms = v->as_enum<GemmSms>();
    if (out.gemm_sms == GemmSms::partitioned) require_moe(model, *v);
  }
  if (auto v = p.optional_child("hybridep_fused_permute")) {
    out.hybridep_fused_permute = v->as_bool();
    if (out.dispatcher != Dispatcher::hybridep) throw v->error("only used with dispatcher: hybridep");
  }
  if (auto v = p.optional_child("expert_bias_fused")) {
    require_moe(model, *v);
    if (!model.bias) throw v->error("only used by models whose experts carry biases (bias: true)");
    out.expert_bias_fused = v->as_bool();
  }
  if (auto v = p.optional_child("dispatch_precision")) {
    out.dispatch_precision = v->as_enum<Precision>();
    require_moe(model, *v);
  }
  if (auto v = p.optional_child("cuda_graph_scope")) parse_graph_scopes(*v, model, out);
}

InferenceSpec parse_inference(const YamlNode& n, std::vector<KeySpec> extra = {}) {
  std::vector<KeySpec> keys = {
      {"tp", false, "tensor parallel per attention replica (default 1)"},
      {"ep", false, "GPUs per instance over which experts spread and attention runs data-parallel (default 1)"},
      {"max_sequences", false, "running sequences per instance at most (default: as the KV cache holds)"},
      {"weights", false, "fp8 | bf16 (default: the training precision)"},
      {"kv_cache_bits", false, "bits per cached element (default 16; DeepSeek-V2 quantised its cache to 6 on average)"},
      {"redundant_experts", false, "extra expert slots for replicas of the busiest experts (EPLB; default 0)"},
      {"cuda_graphs", false, "decode iterations replayed from CUDA graphs (vLLM, SGLang, TensorRT-LLM; default false)"},
      {"dual_batch_overlap", false, "split each iteration into two micro-batches whose communication and computation overlap (DeepSeek's inference system; default false)"},
      {"gemm_sms", false, "with dual_batch_overlap: shared (default: prompt GEMMs give up DeepEP's SMs only while its kernels run) | partitioned (sized to the SMs DeepEP leaves for the whole prompt iteration, as SGLang's two-batch overlap configures DeepGEMM)"}};
  keys.insert(keys.end(), extra.begin(), extra.end());
  n.check_keys(keys);
  InferenceSpec i;
  if (auto v = n.optional_child("tp")) i.tp = v->as_count();
  if (auto v = n.optional_child("ep")) i.ep = v->as_count();
  if (auto v = n.optional_child("max_sequences")) i.max_sequences = v->as_count();
  if (auto v = n.optional_child("weights")) i.weights = v->as_enum<Precision>();
  if (auto v = n.optional_child("kv_cache_bits")) {
    i.kv_cache_bits = v->as_positive_double();
    if (i.kv_cache_bits > 32 || i.kv_cache_bits < 1) throw v->error("between 1 and 32 bits per cached element");
  }
  if (auto v = n.optional_child("redundant_experts")) i.redundant_experts = static_cast<int>(v->as_int());
  if (auto v = n.optional_child("dual_batch_overlap")) i.dual_batch_overlap = v->as_bool();
  if (auto v = n.optional_child("cuda_graphs")) i.cuda_graphs = v->as_bool();
  if (auto v = n.optional_child("gemm_sms")) {
    i.gemm_sms = v->as_enum<GemmSms>();
    if (i.gemm_sms == GemmSms::partitioned && !i.dual_batch_overlap)
      throw v->error("partitioned GEMMs need dual_batch_overlap (the prompt iterations' two overlapped micro-batches)");
  }
  if (i.redundant_experts < 0 || i.redundant_experts > 1'000'000)
    throw n.child("redundant_experts").error("between 0 and 1,000,000");
  return i;
}

// Generation shared by rl and generate phases: prompt and response lengths, inference layout.
void parse_generation(const YamlNode& n, GenerationSpec& g) {
  g.prompt_tokens = n.child("prompt_tokens").as_positive_double();
  const YamlNode r = n.child("response_tokens");
  r.check_keys({{"mean", true, "mean tokens per response, or [from, to] when it grows over the phase"},
                {"max", true, "generation limit (tokens)"},
                {"distribution", false, "exponential (default: truncated at max) | fixed"},
                {"points", false, "means simulated along a growing length (default 3)"}});
  const YamlNode mean = r.child("mean");
  if (mean.is_sequence()) {
    const auto items = mean.items();
    if (items.size() != 2) throw mean.error("a growing mean is [from, to]");
    g.response.mean_from = items[0].as_positive_double();
    g.response.mean_to = items[1].as_positive_double();
  } else {
    g.response.mean_from = g.response.mean_to = mean.as_positive_double();
  }
  g.response.max_tokens = r.child("max").as_positive_int();
  if (std::max(g.response.mean_from, g.response.mean_to) >= static_cast<double>(g.response.max_tokens))
    throw mean.error("the mean must be below max (" + std::to_string(g.response.max_tokens) + ")");
  if (auto d = r.optional_child("distribution"))
    g.response.fixed = d->as_choice<bool>({{"exponential", false}, {"fixed", true}});
  // Each point is simulated: a few describe a linear growth (bounded so that a run stays short).
  if (auto v = r.optional_child("points")) g.response.points = v->as_count(64);
  if (auto v = n.optional_child("inference")) g.inference = parse_inference(*v);
}

// Sliding-window attention is simulated in training only: generation would need its bounded KV
// cache and decode kernels.
void refuse_windowed_inference(const ModelSpec& m, const YamlNode& at) {
  if (m.attention.sliding_window > 0)
    throw at.error("model '" + m.name + "' has sliding-window attention, which gpuhours simulates in training only (not its KV cache or decode)");
}

// A later phase: training with its own shape and layout, RL, generation, or reported figures.
PhaseSpec parse_phase(const YamlNode& n, const Scenario& s, const Catalog& catalog) {
  const std::vector<KeySpec> common = {
      {"name", true, "phase name"},
      {"kind", false, "train (default) | rl | generate"},
      {"model", false, "another model for this phase (e.g. a teacher)"},
      {"cluster", false, "another cluster for this phase"},
      {"parallelism", false, "changes to the layout for this phase (training, policy update)"},
      {"reported_gpu_hours", false, "taken as reported instead of simulated"},
      {"source", false, "where the phase's figures come from"}};
  auto keys = [&](std::vector<KeySpec> extra) {
    extra.insert(extra.begin(), common.begin(), common.end());
    return extra;
  };
  PhaseSpec ph;
  ph.name = n.child("name").as_string();
  ph.source = n.optional_string("source");
  if (auto k = n.optional_child("kind"))
    ph.kind = k->as_enum<PhaseKind>();
  if (auto m = n.optional_child("model"))
    ph.model = std::make_shared<const ModelSpec>(load_named(*m, catalog, "models", "model", load_model));
  if (auto c = n.optional_child("cluster")) ph.cluster = std::make_shared<const ClusterSpec>(load_cluster(*c, catalog));
  const ModelSpec& model = ph.model ? *ph.model : s.model;
  if (ph.kind != PhaseKind::train) refuse_windowed_inference(model, n.has("kind") ? n.child("kind") : n);
  ph.seq_len = n.has("seq_len") ? n.child("seq_len").as_positive_int() : s.training.seq_len;
  ph.global_batch = n.has("global_batch") ? n.child("global_batch").as_positive_int() : s.training.global_batch;
  ph.parallel = s.parallel;
  if (ph.model) ph.parallel.routing = model_regime(catalog, model);
  if (auto p = n.optional_child("parallelism")) parse_parallel(*p, model, catalog, ph.parallel);
  if (ph.parallel.cuda_graph_scopes) {  // inherited scopes meet this phase's model, layout and GPU
    const YamlNode where = n.has("parallelism") ? n.child("parallelism") : n;
    if (auto problem = graph_scope_problem(ph.parallel, model)) throw where.error("cuda_graph_scope: " + *problem);
    if (!(ph.cluster ? ph.cluster->gpu : s.cluster.gpu).graph_kernel_gap_seconds)
      throw where.error("cuda_graph_scope: this phase's GPU file gives no graph_kernel_gap (time per kernel replayed from a graph)");
  }
  if (auto r = n.optional_child("reported_gpu_hours")) {
    n.check_keys(common);
    ph.reported_gpu_hours = r->as_positive_double();
    return ph;
  }
  const KeySpec generation_keys[] = {
      {"prompt_tokens", true, "prompt tokens per output (mean)"},
      {"response_tokens", true, "{mean, max, distribution, points}"},
      {"inference", false, "inference instance layout {tp, ep, max_sequences}"}};
  switch (ph.kind) {
    case PhaseKind::train: {
      n.check_keys(keys({{"tokens", false, "tokens of the phase"},
                         {"steps", false, "optimizer steps of the phase"},
                         {"samples", false, "training examples (with tokens_per_sample and epochs)"},
                         {"tokens_per_sample", false, "mean tokens per example"},
                         {"epochs", false, "passes over the examples (default 1)"},
                         {"seq_len", false, "tokens per sequence (default: the main phase's)"},
                         {"global_batch", false, "sequences per step (default: the main phase's)"}}));
      const int given = n.has("tokens") + n.has("steps") + n.has("samples");
      if (given != 1) throw n.error("give exactly one of 'tokens', 'steps' or 'samples'");
      if (n.has("samples")) {
        const double epochs = n.has("epochs") ? n.child("epochs").as_positive_double() : 1.0;
        ph.tokens = n.child("samples").as_positive_double() * n.child("tokens_per_sample").as_positive_double() * epochs;
      } else if (n.has("tokens_per_sample") || n.has("epochs")) {
        throw n.error("'tokens_per_sample' and 'epochs' go with 'samples'");
      } else {
        ph.tokens = n.has("tokens") ? n.child("tokens").as_positive_double()
                                    : n.child("steps").as_positive_double() * static_cast<double>(ph.global_batch * ph.seq_len);
      }
      break;
    }
    case PhaseKind::rl: {
      std::vector<KeySpec> k = keys({{"steps", true, "policy-update steps"},
                                     {"algorithm", false, "grpo (default) | ppo"},
                                     {"prompts_per_step", true, "prompts (questions) per update"},
                                     {"samples_per_prompt", true, "outputs sampled per prompt (GRPO group size)"},
                                     {"updates_per_rollout", false, "policy updates per rollout (default 1)"},
                                     {"reference_model", false, "KL to a reference policy (default true)"},
                                     {"reward_model", false, "a learned reward model scores outputs (default false: rule-based)"},
                                     {"seq_len", false, "packing length of the update batch (default: the main phase's)"}});
      k.insert(k.end(), std::begin(generation_keys), std::end(generation_keys));
      n.check_keys(k);
      ph.steps = n.child("steps").as_positive_double();
      if (auto a = n.optional_child("algorithm"))
        ph.rl.algorithm = a->as_choice<std::string>({{"grpo", "grpo"}, {"ppo", "ppo"}});
      ph.rl.prompts_per_step = n.child("prompts_per_step").as_positive_int();
      ph.rl.samples_per_prompt = n.child("samples_per_prompt").as_positive_int();
      if (auto v = n.optional_child("updates_per_rollout")) ph.rl.updates_per_rollout = v->as_count();
      if (auto v = n.optional_child("reference_model")) ph.rl.reference_model = v->as_bool();
      if (auto v = n.optional_child("reward_model")) ph.rl.reward_model = v->as_bool();
      parse_generation(n, ph.generation);
      ph.generation.outputs = ph.rl.prompts_per_step * ph.rl.samples_per_prompt * ph.rl.updates_per_rollout;
      break;
    }
    case PhaseKind::generate: {
      std::vector<KeySpec> k = keys({{"outputs", true, "sequences generated"},
                                     {"api", false, "{input_usd_per_million, output_usd_per_million, source}: the same tokens from a paid API"}});
      k.insert(k.end(), std::begin(generation_keys), std::end(generation_keys));
      n.check_keys(k);
      ph.generation.outputs = n.child("outputs").as_positive_int();
      parse_generation(n, ph.generation);
      if (auto a = n.optional_child("api")) {
        a->check_keys({{"input_usd_per_million", true, "USD per million prompt tokens"},
                       {"output_usd_per_million", true, "USD per million generated tokens"},
                       {"source", true, "where the prices come from"}});
        ApiPriceSpec api;
        api.input_usd_per_million = a->child("input_usd_per_million").as_nonnegative_double();
        api.output_usd_per_million = a->child("output_usd_per_million").as_nonnegative_double();
        api.source = a->child("source").as_string();
        ph.api = api;
      }
      break;
    }
  }
  return ph;
}

// The ranges of the uncertain inputs (hardware/uncertainty.yaml), each {low, high, source}.
void load_uncertainty(const Catalog& catalog, UncertaintySpec& u) {
  const YamlNode doc = YamlNode::load_file(catalog.root() + "/hardware/uncertainty.yaml");
  doc.check_keys({{"sources", true, ""}, {"kernel_time", true, ""}, {"network_bandwidth", true, ""},
                  {"interruption_rate", true, ""}, {"expert_imbalance", true, ""}, {"response_length", true, ""},
                  {"speed_variation", true, ""}});
  const auto sources = load_sources(doc);
  for (auto [key, range] : {std::pair{"kernel_time", &u.kernel_time}, {"network_bandwidth", &u.network_bandwidth},
                            {"interruption_rate", &u.interruption_rate}, {"expert_imbalance", &u.expert_imbalance},
                            {"response_length", &u.response_length}, {"speed_variation", &u.speed_variation}}) {
    const YamlNode r = doc.child(key);
    r.check_keys({{"low", true, "low end"}, {"high", true, "high end"}, {"source", true, "key of sources"}, {"note", false, ""}});
    check_sources(r, sources);
    range->low = r.child("low").as_positive_double();
    range->high = r.child("high").as_positive_double();
    if (range->high < range->low) throw r.child("high").error("the high end is below the low end");
  }
}

// Defaults from hardware/costs.yaml, then the scenario's `cost:` and `reliability:` overrides.
void load_costs(const YamlNode& n, const Catalog& catalog, Scenario& s) {
  const YamlNode defaults = YamlNode::load_file(catalog.root() + "/hardware/costs.yaml");
  defaults.check_keys({{"sources", true, ""}, {"rental_usd_per_gpu_hour", true, ""}, {"owned", true, ""}, {"reliability", true, ""}});
  const auto sources = load_sources(defaults);
  for (const auto& [name, node] : defaults.child("rental_usd_per_gpu_hour").entries())
    s.cost.rental_presets[name] = sourced(defaults.child("rental_usd_per_gpu_hour"), name, Dimension::ratio, sources);
  OwnedCostSpec& o = s.cost.owned;
  const std::vector<std::pair<const char*, double*>> owned_keys = {
      {"amortisation_per_year", &o.amortisation_per_year}, {"server_overhead", &o.server_overhead},
      {"interconnect_fraction", &o.interconnect_fraction}, {"cost_of_capital_per_year", &o.cost_of_capital_per_year},
      {"avg_power_fraction", &o.avg_power_fraction},       {"server_power_factor", &o.server_power_factor},
      {"pue", &o.pue},                                     {"electricity_usd_per_kwh", &o.electricity_usd_per_kwh}};
  const YamlNode dn = defaults.child("owned");
  for (const auto& [key, dst] : owned_keys) {
    const YamlNode v = dn.child(key);
    *dst = v.child("value").as_nonnegative_double();
    check_sources(v, sources);
  }
  const YamlNode dr = defaults.child("reliability");
  s.reliability.interruptions_per_gpu_hour = sourced(dr, "interruptions_per_gpu_hour", Dimension::ratio, sources);
  s.reliability.checkpoint_write_bytes_per_s_per_node =
      sourced(dr, "checkpoint_write_bytes_per_s_per_node", Dimension::bytes_per_second, sources);
  s.reliability.restart_seconds = sourced(dr, "restart_seconds", Dimension::ratio, sources);
  o.gpu_price_usd = s.cluster.gpu.price_usd;

  const YamlNode cost = n.child("cost");
  cost.check_keys({{"gpu_hour_usd", true, "rental price per GPU-hour"},
                   {"owned", false, "owned-cluster cost overrides (hardware/costs.yaml owned)"},
                   {"carbon_t_per_mwh", false, "grid carbon intensity, tonnes CO2 per MWh"},
                   {"fleet", false, "{gpus, capex_usd, source}: the lab's whole fleet"},
                   {"programme", false, "{multiplier, items: [{name, gpu_hours}], source}: beyond the final run"}});
  s.cost.gpu_hour_usd = cost.child("gpu_hour_usd").as_nonnegative_double();
  if (s.cost.gpu_hour_usd > kMaxGpuHourUsd)
    throw cost.child("gpu_hour_usd").error("at most $10,000 per GPU-hour (on-demand H100s cost under $10)");
  if (auto ov = cost.optional_child("owned")) {
    std::vector<KeySpec> keys = {{"gpu_price_usd", false, "price per GPU"}};
    for (const auto& [key, dst] : owned_keys) keys.push_back({key, false, ""});
    ov->check_keys(keys);
    for (const auto& [key, dst] : owned_keys)
      if (auto v = ov->optional_child(key)) *dst = v->as_nonnegative_double();
    if (auto v = ov->optional_child("gpu_price_usd")) o.gpu_price_usd = v->as_positive_double();
    if (auto v = ov->optional_child("pue"); v && o.pue < 1.0) throw v->error("a PUE is at least 1, got " + v->as_string());
    if (auto v = ov->optional_child("avg_power_fraction"); v && o.avg_power_fraction > 1.0)
      throw v->error("a fraction of TDP is at most 1");
    if (auto v = ov->optional_child("interconnect_fraction"); v && o.interconnect_fraction >= 1.0)
      throw v->error("the interconnect's share of the cluster's cost is a fraction below 1");
    if (auto v = ov->optional_child("gpu_price_usd"); v && o.gpu_price_usd > 1e7)
      throw v->error("at most $10,000,000 per GPU");
    for (const auto& [key, dst] : owned_keys)
      if (auto v = ov->optional_child(key); v && *dst > 1e6) throw v->error("at most 1e6");
  }
  if (auto c = cost.optional_child("carbon_t_per_mwh")) s.cost.carbon_t_per_mwh = c->as_nonnegative_double();
  if (auto f = cost.optional_child("fleet")) {
    f->check_keys({{"gpus", true, "GPUs"}, {"capex_usd", true, "capital cost"}, {"source", true, "citation"}});
    s.cost.fleet = FleetSpec{f->child("gpus").as_positive_double(), f->child("capex_usd").as_positive_double(),
                             f->child("source").as_string()};
  }
  if (auto pg = cost.optional_child("programme")) {
    pg->check_keys({{"multiplier", false, "whole programme / final run (default 1)"},
                    {"range", false, "{low, high, source}: the multiplier's published range"},
                    {"items", false, "[{name, gpu_hours}] added to the final run"},
                    {"source", true, "citation or reasoning"}});
    ProgrammeSpec prog;
    prog.source = pg->child("source").as_string();
    if (auto m = pg->optional_child("multiplier")) {
      prog.multiplier = m->as_positive_double();
      if (prog.multiplier < 1) throw m->error("the whole programme is at least the final run (multiplier >= 1)");
    }
    if (auto r = pg->optional_child("range")) {
      r->check_keys({{"low", true, "lowest multiplier"}, {"high", true, "highest multiplier"}, {"source", true, "citation"}});
      const double low = r->child("low").as_positive_double(), high = r->child("high").as_positive_double();
      if (low < 1) throw r->child("low").error("the whole programme is at least the final run (>= 1)");
      if (high < low) throw r->child("high").error("the high end is below the low end");
      if (prog.multiplier < low || prog.multiplier > high) throw r->error("the multiplier lies outside its range");
      prog.range = {low, high};
      prog.range_source = r->child("source").as_string();
    }
    if (auto items = pg->optional_child("items"))
      for (const YamlNode& it : items->items()) {
        it.check_keys({{"name", true, ""}, {"gpu_hours", true, ""}});
        prog.extra_gpu_hours.emplace_back(it.child("name").as_string(), it.child("gpu_hours").as_positive_double());
      }
    s.cost.programme = prog;
  }
  if (auto rel = n.optional_child("reliability")) {
    rel->check_keys({{"enabled", false, "count interruptions and checkpoints (default true)"},
                     {"interruptions_per_gpu_hour", false, "unexpected interruptions per GPU-hour"},
                     {"checkpoint_write_per_node", false, "storage write bandwidth per node, e.g. \"10 GiB/s\""},
                     {"restart_seconds", false, "time to detect, restart and reload after an interruption"}});
    if (auto v = rel->optional_child("enabled")) s.reliability.enabled = v->as_bool();
    if (auto v = rel->optional_child("interruptions_per_gpu_hour")) {
      s.reliability.interruptions_per_gpu_hour = v->as_double();
      if (s.reliability.interruptions_per_gpu_hour < 0) throw v->error("a failure rate cannot be negative");
    }
    if (auto v = rel->optional_child("checkpoint_write_per_node"))
      s.reliability.checkpoint_write_bytes_per_s_per_node = v->as_quantity(Dimension::bytes_per_second);
    if (auto v = rel->optional_child("restart_seconds")) s.reliability.restart_seconds = v->as_nonnegative_double();
  }
}

void load_memory(const YamlNode& n, Scenario& s) {
  if (auto mem = n.optional_child("memory")) {
    mem->check_keys({{"comm_buffers", false, "bytes per GPU for NCCL / DeepEP buffers (default 1 GiB)"},
                     {"fragmentation", false, "allocator allowance, fraction (default 0.05)"}});
    if (auto v = mem->optional_child("comm_buffers")) s.memory.comm_buffer_bytes = v->as_quantity(Dimension::bytes);
    if (auto v = mem->optional_child("fragmentation")) {
      s.memory.fragmentation = v->as_nonnegative_double();
      if (s.memory.fragmentation >= 1) throw v->error("a fraction below 1");
    }
  }
}

}  // namespace

Scenario load_platform(const YamlNode& deployment, const YamlNode& scenario, const Catalog& catalog) {
  Scenario s;
  s.file = scenario.file();
  s.name = scenario.child("name").as_string();
  s.title = scenario.child("title").as_string();
  s.model = load_named(deployment.child("model"), catalog, "models", "model", load_model);
  refuse_windowed_inference(s.model, deployment.child("model"));
  s.cluster = load_cluster(deployment.child("cluster"), catalog);
  s.parallel.routing = model_regime(catalog, s.model);
  if (auto v = deployment.optional_child("routing")) {
    require_moe(s.model, *v);
    s.parallel.routing = balancing_regime(catalog, v->as_string(), v->where() + ": field '" + v->path() + "'");
  }
  load_memory(deployment, s);
  load_costs(scenario, catalog, s);
  load_uncertainty(catalog, s.uncertainty);
  return s;
}

InferenceSpec load_inference(const YamlNode& n, std::vector<KeySpec> extra) { return parse_inference(n, std::move(extra)); }

Scenario load_scenario(const std::string& name_or_path, const Catalog& catalog) {
  const std::string path = catalog.scenario_path(name_or_path);
  return load_scenario(YamlNode::load_file(path), catalog);
}

Scenario load_scenario(const YamlNode& n, const Catalog& catalog) {
  const std::string path = n.file();
  n.check_keys({{"name", true, "scenario id"},
                {"title", true, "one line"},
                {"description", false, "one paragraph"},
                {"sources", false, "where the figures come from"},
                {"model", true, "preset name or inline mapping"},
                {"cluster", true, "gpu, nodes, gpus_per_node, network"},
                {"parallelism", false, "layout (default: data parallel only)"},
                {"memory", false, "communication buffers and fragmentation allowance"},
                {"training", true, "precision, seq_len, global_batch, tokens"},
                {"cost", true, "gpu_hour_usd"},
                {"claim", false, "published figure to compare with"},
                {"counterfactual_of", false, "the scenario this one varies: check sets the two side by side"},
                {"reliability", false, "interruptions, checkpoints, restarts (defaults: hardware/costs.yaml)"}});
  Scenario s;
  s.file = path;
  s.name = n.child("name").as_string();
  s.title = n.child("title").as_string();
  s.description = n.optional_string("description");
  s.sources = n.optional_list("sources");
  s.model = load_named(n.child("model"), catalog, "models", "model", load_model);

  s.cluster = load_cluster(n.child("cluster"), catalog);

  s.parallel.routing = model_regime(catalog, s.model);
  if (auto p = n.optional_child("parallelism")) {
    parse_parallel(*p, s.model, catalog, s.parallel);
    if (s.parallel.cuda_graph_scopes && !s.cluster.gpu.graph_kernel_gap_seconds)
      throw p->child("cuda_graph_scope").error("the GPU file gives no graph_kernel_gap (time per kernel replayed from a graph)");
  }

  load_memory(n, s);
  const YamlNode t = n.child("training");
  t.check_keys({{"precision", true, "bf16 | fp8"},
                {"fp8_recipe", false, "with fp8: delayed (default: Transformer Engine's DelayedScaling) | current (Float8CurrentScaling: an amax pass before each cast) | blockwise (DeepSeek-V3's 1x128 / 128x128 tiles)"},
                {"optimizer", false, "adamw (default)"},
                {"optimizer_moments", false, "fp32 (default) | bf16 (DeepSeek-V3)"},
                {"gradients", false, "bf16 (default) | fp32: gradients accumulated in FP32 (DeepSeek-V3)"},
                {"attention_kernel", false, "fused (default: cuDNN's fused attention, as Transformer Engine picks on Hopper+) | flash-attention-2 (PyTorch SDPA's flash backend) | unfused (frameworks before FlashAttention)"},
                {"dropout", false, "hidden dropout after attention and MLP (default false)"},
                {"mixed_precision", false, "master-weights (default: BF16 weights, FP32 master in the optimizer) | autocast (PyTorch AMP over FP32 parameters)"},
                {"seq_len", true, "tokens per sequence"},
                {"global_batch", false, "sequences per step"},
                {"global_batch_tokens", false, "tokens per step"},
                {"tokens", false, "training tokens of the main phase (none: only the later phases run)"},
                {"batch_ramp", false, "{from: sequences, tokens: T, points: N}: batch grown linearly over the first T tokens"},
                {"phases", false, "later phases (context extension, fine-tuning, reported figures)"}});
  s.training.precision = t.child("precision").as_enum<Precision>();
  if (auto v = t.optional_child("fp8_recipe")) {
    if (s.training.precision != Precision::fp8) throw v->error("only used with precision: fp8");
    s.training.fp8_recipe = v->as_enum<Fp8Recipe>();
  }
  if (auto p = n.optional_child("parallelism"))
    if (auto v = p->optional_child("dispatch_precision");
        v && s.parallel.dispatch_precision == Precision::fp8 && s.training.precision != Precision::fp8)
      throw v->error("FP8 dispatch needs FP8 training (training.precision: fp8): BF16 experts take BF16 tokens");
  if (auto o = t.optional_child("optimizer")) {
    s.training.optimizer = o->as_string();
    if (s.training.optimizer != "adamw") throw o->error("unknown value '" + s.training.optimizer + "' (one of: adamw)");
  }
  if (auto v = t.optional_child("dropout")) s.training.dropout = v->as_bool();
  if (auto v = t.optional_child("mixed_precision"))
    s.training.autocast = v->as_choice<bool>({{"master-weights", false}, {"autocast", true}});
  if (auto a = t.optional_child("attention_kernel"))
    s.training.attention_kernel = a->as_enum<AttentionKernel>();
  if (auto o = t.optional_child("optimizer_moments"))
    s.training.bf16_moments = o->as_choice<bool>({{"fp32", false}, {"bf16", true}});
  if (auto g = t.optional_child("gradients")) s.training.fp32_gradients = g->as_choice<bool>({{"bf16", false}, {"fp32", true}});
  s.training.seq_len = t.child("seq_len").as_positive_int();
  if (t.has("global_batch") == t.has("global_batch_tokens"))
    throw t.error("give exactly one of 'global_batch' (sequences) or 'global_batch_tokens'");
  if (auto b = t.optional_child("global_batch")) s.training.global_batch = b->as_positive_int();
  if (auto b = t.optional_child("global_batch_tokens")) {
    const auto tok = b->as_positive_int();
    if (tok % s.training.seq_len != 0)
      throw b->error("global_batch_tokens must be a multiple of seq_len (" + std::to_string(s.training.seq_len) + ")");
    s.training.global_batch = tok / s.training.seq_len;
  }
  if (auto v = t.optional_child("tokens")) {
    s.training.tokens = v->as_positive_double();
    if (s.training.tokens > kMaxTrainingTokens) throw v->error("at most 1e16 tokens (a thousand times the largest published run)");
  }
  if (auto r = t.optional_child("batch_ramp")) {
    r->check_keys({{"from", true, "sequences per step at the start"},
                   {"tokens", true, "tokens over which the batch grows to global_batch"},
                   {"points", false, "batch sizes simulated along the ramp (default 4)"}});
    BatchRamp ramp;
    ramp.from = r->child("from").as_positive_int();
    ramp.tokens = r->child("tokens").as_positive_double();
    // Each point is a simulated step: a few describe a linear ramp (bounded so that a run stays short).
    if (auto p = r->optional_child("points")) ramp.points = p->as_count(64);
    if (ramp.from >= s.training.global_batch) throw r->child("from").error("must be below global_batch");
    if (ramp.tokens > s.training.tokens) throw r->child("tokens").error("exceeds the phase's tokens");
    s.training.batch_ramp = ramp;
  }

  if (auto ph = t.optional_child("phases"))
    for (const YamlNode& item : ph->items()) s.training.phases.push_back(parse_phase(item, s, catalog));
  if (s.training.tokens == 0 && s.training.phases.empty())
    throw t.error("give the main phase's 'tokens', or later 'phases' (or both)");

  load_costs(n, catalog, s);
  load_uncertainty(catalog, s.uncertainty);
  if (auto cf = n.optional_child("counterfactual_of")) {
    if (n.has("claim")) throw cf->error("a counterfactual is set beside its baseline's claim: give no claim of its own");
    s.counterfactual_of = cf->as_string();
    scenario_exists(catalog, *cf);
  }
  if (auto cl = n.optional_child("claim")) {
    cl->check_keys({{"gpu_hours", false, "claimed GPU-hours"},
                    {"cost_usd", false, "claimed cost"},
                    {"source", true, "where the claim was made"},
                    {"baseline", false, "scenario the claim compares with"},
                    {"saving", false, "claimed saving over the baseline (fraction)"},
                    {"phases", false, "claimed GPU-hours by phase: {phase or group name: GPU-hours}"}});
    ClaimSpec claim;
    if (cl->has("baseline") != cl->has("saving")) throw cl->error("give 'baseline' and 'saving' together");
    if (auto v = cl->optional_child("baseline")) {
      claim.baseline = v->as_string();
      scenario_exists(catalog, *v);
    }
    if (auto v = cl->optional_child("saving")) {
      claim.saving = v->as_double();
      if (*claim.saving <= 0 || *claim.saving >= 1) throw v->error("a saving is a fraction between 0 and 1");
    }
    if (auto v = cl->optional_child("gpu_hours")) claim.gpu_hours = v->as_positive_double();
    if (auto v = cl->optional_child("cost_usd")) claim.cost_usd = v->as_positive_double();
    claim.source = cl->child("source").as_string();
    if (auto ph = cl->optional_child("phases"))
      for (const auto& entry : ph->entries()) {
        const std::string& key = entry.first;  // a plain name: clang 14 cannot capture a structured binding
        const YamlNode& v = entry.second;
        const bool matches = (key == "main" && s.training.tokens > 0) ||
                             std::any_of(s.training.phases.begin(), s.training.phases.end(), [&](const PhaseSpec& p) {
                               return p.name == key || p.name.rfind(key + "/", 0) == 0;
                             });
        if (!matches) throw v.error("no phase is named '" + key + "' or '" + key + "/...'");
        claim.phase_gpu_hours.emplace_back(key, v.as_positive_double());
      }
    s.claim = claim;
  }
  return s;
}

std::optional<std::string> graph_scope_problem(const ParallelSpec& p, const ModelSpec& model) {
  const std::uint32_t scopes = p.cuda_graph_scopes;
  if ((scopes & (bit(GraphScope::moe_router) | bit(GraphScope::moe_preprocess))) && !model.ffn.moe)
    return "moe_router and moe_preprocess capture mixture-of-experts layers; this model has none";
  if ((scopes & bit(GraphScope::moe_preprocess)) && !(scopes & bit(GraphScope::moe_router)))
    return "moe_preprocess needs moe_router, as in Megatron-Core";
  if ((scopes & bit(GraphScope::mlp)) && model.ffn.moe && model.ffn.dense_layers == 0)
    return "mlp captures dense layers; every layer of this model is a mixture of experts";
  if (scopes && p.recompute == Recompute::full)
    return "full recomputation is refused with layer graphs (Megatron-Core allows it only with full-iteration graphs)";
  if (p.recompute == Recompute::selective && (p.recompute_modules & bit(RecomputeModule::moe)) &&
      (scopes & bit(GraphScope::moe_router)))
    return "moe_router with recompute_modules: moe is refused, as in Megatron-Core (a recomputed module may not cover a graph)";
  return std::nullopt;
}

}  // namespace gpuhours
