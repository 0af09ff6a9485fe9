// Serving scenarios (scenarios/serve/*.yaml): requests, deployments and their pools, prices.
#include "gpuhours/serving.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "gpuhours/catalog.hpp"
#include "gpuhours/error.hpp"

namespace gpuhours {

namespace {

// A trace or a generated stream holds at most this many requests: each is simulated one by one.
constexpr std::int64_t kMaxRequests = 2'000'000;
// A request's prompt or answer holds at most this many tokens (the longest context windows).
constexpr std::int64_t kMaxRequestTokens = 10'000'000;
// The requests of one simulation hold at most this many tokens (prompts and answers): about a
// minute of simulation; throughput and latency percentiles settle within a few thousand requests.
constexpr double kMaxSimulatedTokens = 2e9;

void check_work(const YamlNode& where, double tokens) {
  if (tokens > kMaxSimulatedTokens)
    throw where.error(fmt::format("the requests hold {:.3g} prompt and answer tokens, more than the {:.0e} one simulation "
                                  "serves; simulate fewer requests (a few thousand settle throughput and latency)",
                                  tokens, kMaxSimulatedTokens));
}

TokenLengths parse_lengths(const YamlNode& n) {
  n.check_keys({{"mean", true, "mean tokens"},
                {"max", false, "longest (default: the mean when fixed, else 8 x the mean)"},
                {"distribution", false, "fixed (default) | exponential (truncated at max)"}});
  TokenLengths t;
  t.mean = n.child("mean").as_positive_double();
  if (t.mean > static_cast<double>(kMaxRequestTokens)) throw n.child("mean").error(fmt::format("at most {} tokens", kMaxRequestTokens));
  t.fixed = true;
  if (auto d = n.optional_child("distribution")) t.fixed = d->as_choice<bool>({{"exponential", false}, {"fixed", true}});
  t.max = t.fixed ? std::llround(t.mean) : std::llround(8 * t.mean);
  if (auto m = n.optional_child("max")) {
    t.max = m->as_count(static_cast<int>(std::min<std::int64_t>(kMaxRequestTokens, 2147483647)));
    if (t.fixed && t.max != std::llround(t.mean)) throw m->error("a fixed length has no separate max");
    if (!t.fixed && static_cast<double>(t.max) <= t.mean) throw m->error("the max must exceed the mean");
  }
  t.max = std::max<std::int64_t>(t.max, 1);
  return t;
}

double parse_fraction(const YamlNode& n) {
  const double v = n.as_nonnegative_double();
  if (v >= 1) throw n.error("a fraction in [0, 1)");
  return v;
}

RequestSpec parse_requests(const YamlNode& n) {
  n.check_keys({{"count", false, "requests simulated (not with trace)"},
                {"arrival", true, "saturate | poisson | trace"},
                {"rate_per_s", false, "poisson: requests per second over the deployment"},
                {"seed", false, "poisson: seed of the arrival draws (default 1)"},
                {"input_tokens", false, "{mean, max, distribution}: prompt tokens"},
                {"output_tokens", false, "{mean, max, distribution}: answer tokens"},
                {"prefix_cache_hit", false, "fraction of prompt tokens found in the prefix cache (default 0)"},
                {"trace", false, "CSV file: arrival_s,input_tokens,output_tokens,cached_tokens"}});
  RequestSpec r;
  r.arrival = n.child("arrival").as_choice<Arrival>(
      {{"saturate", Arrival::saturate}, {"poisson", Arrival::poisson}, {"trace", Arrival::trace}});
  if (r.arrival == Arrival::trace) {
    for (const char* k : {"count", "rate_per_s", "input_tokens", "output_tokens", "prefix_cache_hit", "seed"})
      if (n.has(k)) throw n.child(k).error("a trace gives every request itself; drop this key");
    const YamlNode t = n.child("trace");
    std::string path = t.as_string();
    if (path.empty()) throw t.error("a file name");
    if (path.front() != '/') {  // relative to the scenario file
      const auto slash = n.file().rfind('/');
      if (slash != std::string::npos) path = n.file().substr(0, slash + 1) + path;
    }
    r.trace_file = path;
    r.trace = read_request_trace(path);
    r.count = static_cast<std::int64_t>(r.trace.size());
    double tokens = 0;
    for (const TraceRequest& q : r.trace) tokens += static_cast<double>(q.input_tokens + q.output_tokens);
    check_work(t, tokens);
    return r;
  }
  if (n.has("trace")) throw n.child("trace").error("a trace needs arrival: trace");
  r.count = n.child("count").as_count(kMaxRequests);
  r.input = parse_lengths(n.child("input_tokens"));
  r.output = parse_lengths(n.child("output_tokens"));
  check_work(n, static_cast<double>(r.count) * (r.input.mean + r.output.mean));
  if (auto v = n.optional_child("prefix_cache_hit")) r.prefix_cache_hit = parse_fraction(*v);
  if (r.arrival == Arrival::poisson) {
    const YamlNode rate = n.child("rate_per_s");
    r.rate_per_s = rate.as_positive_double();
    if (r.rate_per_s > 1e7) throw rate.error("at most 1e7 requests per second");
    if (static_cast<double>(r.count) / r.rate_per_s > 1e8)
      throw rate.error(fmt::format("{} requests at {:.3g}/s arrive over {:.3g} s; at most 1e8 s (about 3 years)", r.count,
                                   r.rate_per_s, static_cast<double>(r.count) / r.rate_per_s));
  } else if (n.has("rate_per_s")) {
    throw n.child("rate_per_s").error("a rate needs arrival: poisson");
  }
  if (auto v = n.optional_child("seed")) {
    const std::int64_t seed = v->as_int();
    if (seed < 0) throw v->error("a seed is a whole number >= 0");
    r.seed = static_cast<std::uint64_t>(seed);
  }
  return r;
}

PoolSpec parse_pool(const YamlNode& n, const Scenario& platform) {
  PoolSpec p;
  p.layout = load_inference(n, {{"role", false, "both (default: prefill and decode on the same instances) | prefill | decode"},
                                {"instances", false, "instances of this pool (default 1)"},
                                {"max_batch_tokens", false, "tokens per iteration: the chunked-prefill budget (default 8192)"},
                                {"admission", false, "no-evict (default: reserve the prompt and the longest answer, TensorRT-LLM) | evict (the prompt only; evict and recompute when full, vLLM)"}});
  if (auto v = n.optional_child("role"))
    p.role = v->as_choice<PoolRole>({{"both", PoolRole::both}, {"prefill", PoolRole::prefill}, {"decode", PoolRole::decode}});
  if (auto v = n.optional_child("instances")) p.instances = v->as_count(10'000'000);
  if (auto v = n.optional_child("max_batch_tokens")) p.max_batch_tokens = v->as_count(16'777'216);
  if (auto v = n.optional_child("admission")) p.evict = v->as_choice<bool>({{"no-evict", false}, {"evict", true}});
  if (!p.layout.weights) p.layout.weights = Precision::bf16;
  if (p.layout.cuda_graphs && !platform.cluster.gpu.graph_kernel_gap_seconds)
    throw n.child("cuda_graphs").error("the GPU file gives no graph_kernel_gap (time per kernel replayed from a graph)");
  const ModelSpec& m = platform.model;
  const int gpus_per_node = platform.cluster.gpus_per_node;
  const std::int64_t gpus = static_cast<std::int64_t>(p.layout.tp) * p.layout.ep;
  if (gpus > 10'000'000) throw n.error("an instance of more than 10^7 GPUs");
  if (static_cast<std::int64_t>(p.instances) * gpus > 10'000'000) throw n.error("a pool of more than 10^7 GPUs");
  if (p.layout.tp > gpus_per_node || gpus_per_node % p.layout.tp != 0)
    throw n.error(fmt::format("tp {} must divide the {} GPUs of a node", p.layout.tp, gpus_per_node));
  if (m.ffn.moe) {
    if ((m.ffn.experts + p.layout.redundant_experts) % p.layout.ep != 0)
      throw n.error(fmt::format("the {} expert slots ({} experts + {} redundant) do not divide over ep {}",
                                m.ffn.experts + p.layout.redundant_experts, m.ffn.experts, p.layout.redundant_experts,
                                p.layout.ep));
  } else if (p.layout.redundant_experts > 0) {
    throw n.child("redundant_experts").error("the model has no routed experts");
  }
  return p;
}

PriceList load_price(const YamlNode& ref, const Catalog& catalog) {
  const std::string name = ref.as_string();
  const YamlNode doc = YamlNode::load_file(catalog.root() + "/hardware/api-prices.yaml");
  const YamlNode lists = doc.child("prices");
  std::vector<std::string> names;
  for (const auto& [key, node] : lists.entries()) {
    names.push_back(key);
    if (key != name) continue;
    node.check_keys({{"model", true, "the model served at this price"},
                     {"date", true, "when the price was published"},
                     {"input_cache_hit_usd", false, "per million prompt tokens found in the cache"},
                     {"input_cache_miss_usd", true, "per million prompt tokens"},
                     {"output_usd", true, "per million answer tokens"},
                     {"source", true, "page and date"}});
    PriceList p;
    p.name = name + " (" + node.child("model").as_string() + ")";
    p.date = node.child("date").as_string();
    p.source = node.child("source").as_string();
    p.input_cache_miss_usd = node.child("input_cache_miss_usd").as_nonnegative_double();
    p.input_cache_hit_usd = p.input_cache_miss_usd;
    if (auto v = node.optional_child("input_cache_hit_usd")) p.input_cache_hit_usd = v->as_nonnegative_double();
    p.output_usd = node.child("output_usd").as_nonnegative_double();
    return p;
  }
  throw ref.error("unknown price list '" + name + "'" + name_hint(name, names) + " (hardware/api-prices.yaml)");
}

}  // namespace

RequestSpec Deployment::requests(const RequestSpec& shared) const {
  RequestSpec r = shared;
  if (output_tokens) r.output = *output_tokens;
  return r;
}

int Deployment::gpus() const {
  int g = 0;
  for (const PoolSpec& p : pools) g += p.instances * p.layout.gpus();
  return g;
}

const std::vector<std::pair<std::string, std::string>>& serving_figure_keys() {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"kv_reduction", "1 - KV-cache bytes per token of the last deployment / the first"},
      {"throughput_ratio", "output tokens/s per GPU of the last deployment / the first"},
      {"output_tokens_per_s_per_gpu", "output tokens per second per GPU (the whole run)"},
      {"output_tokens_per_s_per_node", "decode capacity: output tokens per busy second per node of the decode pool"},
      {"input_tokens_per_s_per_node", "prefill capacity: prompt tokens (cache hits included) per busy second per node"},
      {"ttft_p50_seconds", "time to first token, median"},
      {"ttft_p99_seconds", "time to first token, P99"},
      {"tpot_p50_seconds", "time per output token after the first, median"},
      {"tpot_p99_seconds", "time per output token after the first, P99"},
      {"itl_p50_seconds", "time between answer tokens while a sequence runs, median"},
      {"daily_nodes", "nodes busy on average to serve the daily traffic"},
      {"daily_cost_usd", "rental cost of a day of the traffic"},
      {"daily_revenue_usd", "the day's tokens at the price list"},
      {"margin", "cost profit margin: revenue / cost - 1"}};
  return keys;
}

std::vector<TraceRequest> read_request_trace(const std::string& path) {
  const std::string text = read_input_file(path);
  std::istringstream in(text);
  std::string line;
  std::vector<TraceRequest> out;
  int line_no = 0;
  if (!std::getline(in, line)) throw InputError(path + ": empty trace; expected the header arrival_s,input_tokens,output_tokens,cached_tokens");
  ++line_no;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark (spreadsheets write one)
  if (line != "arrival_s,input_tokens,output_tokens,cached_tokens")
    throw InputError(path + ":1: expected the header arrival_s,input_tokens,output_tokens,cached_tokens");
  static const char* const kFields[] = {"arrival_s", "input_tokens", "output_tokens", "cached_tokens"};
  double last_arrival = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    double v[4];
    std::size_t start = 0;
    for (int f = 0; f < 4; ++f) {
      const std::size_t comma = line.find(',', start);
      if ((f < 3) != (comma != std::string::npos))
        throw InputError(fmt::format("{}:{}: expected 4 comma-separated fields", path, line_no));
      const std::string cell = line.substr(start, f < 3 ? comma - start : std::string::npos);
      // Plain decimal numbers only: std::stod alone would also take hexadecimal and leading spaces.
      const bool plain = !cell.empty() && cell.find_first_not_of("0123456789.eE+-") == std::string::npos;
      std::size_t used = 0;
      try {
        v[f] = plain ? std::stod(cell, &used) : 0.0;
      } catch (const std::exception&) {
        used = std::string::npos;
      }
      if (!plain || used != cell.size() || !std::isfinite(v[f]))
        throw InputError(fmt::format("{}:{}: field '{}': expected a number, got \"{}\"", path, line_no, kFields[f],
                                     cell.substr(0, 40)));
      if (v[f] < 0) throw InputError(fmt::format("{}:{}: field '{}': must not be negative, got {}", path, line_no, kFields[f], cell));
      if (f > 0 && (v[f] != std::floor(v[f]) || v[f] > static_cast<double>(kMaxRequestTokens)))
        throw InputError(fmt::format("{}:{}: field '{}': a whole number of tokens up to {}, got {}", path, line_no,
                                     kFields[f], kMaxRequestTokens, cell));
      start = comma + 1;
    }
    if (v[1] < 1 || v[2] < 1)
      throw InputError(fmt::format("{}:{}: a request has at least one prompt and one answer token", path, line_no));
    if (v[3] > v[1])
      throw InputError(fmt::format("{}:{}: field 'cached_tokens': {} exceeds the prompt's {}", path, line_no, v[3], v[1]));
    if (v[0] < last_arrival)
      throw InputError(fmt::format("{}:{}: field 'arrival_s': arrivals must not go back in time ({} after {})", path, line_no, v[0], last_arrival));
    if (v[0] > 1e9) throw InputError(fmt::format("{}:{}: field 'arrival_s': at most 1e9 seconds", path, line_no));
    last_arrival = v[0];
    if (static_cast<std::int64_t>(out.size()) >= kMaxRequests)
      throw InputError(fmt::format("{}: more than {} requests", path, kMaxRequests));
    out.push_back({v[0], static_cast<std::int64_t>(v[1]), static_cast<std::int64_t>(v[2]), static_cast<std::int64_t>(v[3])});
  }
  if (out.empty()) throw InputError(path + ": the trace holds no request");
  return out;
}

ServingScenario load_serving(const std::string& name_or_path, const Catalog& catalog) {
  std::string path = name_or_path;
  if (name_or_path.find('/') == std::string::npos && !name_or_path.ends_with(".yaml")) {
    if (auto problem = preset_name_problem(name_or_path); !problem.empty()) throw InputError("'" + name_or_path.substr(0, 200) + "': " + problem);
    path = catalog.preset_path("scenarios/serve", name_or_path);
    if (!Catalog::exists(path))
      throw InputError("unknown serving preset '" + name_or_path + "'" + name_hint(name_or_path, catalog.names("scenarios/serve")) +
                       " (gpuhours list shows the presets)");
  } else if (!Catalog::exists(path)) {
    throw InputError(path.substr(0, 200) + ": no such serving scenario file");
  }
  return load_serving(YamlNode::load_file(path), catalog);
}

ServingScenario load_serving(const YamlNode& n, const Catalog& catalog) {
  n.check_keys({{"name", true, "scenario id"},
                {"title", true, "one line"},
                {"description", false, "one paragraph"},
                {"sources", false, "where the figures come from"},
                {"requests", true, "arrival, count, input_tokens, output_tokens, prefix_cache_hit (or a trace)"},
                {"deployments", true, "[{name, model, cluster, memory, pools}]: the first is the baseline of ratios"},
                {"cost", true, "gpu_hour_usd"},
                {"reliability", false, "unused by serve"},
                {"price_list", false, "API prices to compute a margin against (hardware/api-prices.yaml)"},
                {"traffic", false, "{input_tokens_per_day, output_tokens_per_day, cache_hit_fraction, source}"},
                {"slo", false, "{ttft_p99_seconds, tpot_p99_seconds}: latency targets for --slo"},
                {"published", false, "{figure: {value, source}}: published figures set beside the simulated ones"}});
  ServingScenario s;
  s.file = n.file();
  s.name = n.child("name").as_string();
  s.title = n.child("title").as_string();
  s.description = n.optional_string("description");
  s.sources = n.optional_list("sources");
  s.requests = parse_requests(n.child("requests"));
  const YamlNode deps = n.child("deployments");
  if (!deps.is_sequence() || deps.items().empty()) throw deps.error("a list of at least one deployment");
  for (const YamlNode& d : deps.items()) {
    d.check_keys({{"name", true, "label"},
                  {"model", true, "preset name or inline mapping"},
                  {"cluster", true, "gpu, gpus_per_node, network (nodes: as the pools need)"},
                  {"memory", false, "communication buffers and fragmentation allowance"},
                  {"routing", false, "MoE load balancing, a regime of models/routing/balancing.yaml (default: the model's; forced: every expert the mean load, as profiles run)"},
                  {"pools", true, "[{role, instances, tp, ep, weights, kv_cache_bits, redundant_experts, max_batch_tokens, max_sequences}]"},
                  {"output_tokens", false, "{mean, max, distribution}: this deployment's answers (default: the requests')"}});
    Deployment dep;
    dep.name = d.child("name").as_string();
    for (const Deployment& other : s.deployments)
      if (other.name == dep.name) throw d.child("name").error("two deployments are named '" + dep.name + "'");
    dep.platform = load_platform(d, n, catalog);
    if (auto o = d.optional_child("output_tokens")) {
      if (s.requests.arrival == Arrival::trace) throw o->error("a trace gives each request's answer length");
      dep.output_tokens = parse_lengths(*o);
      check_work(*o, static_cast<double>(s.requests.count) * (s.requests.input.mean + dep.output_tokens->mean));
    }
    const YamlNode pools = d.child("pools");
    if (!pools.is_sequence() || pools.items().empty()) throw pools.error("a list of at least one pool");
    for (const YamlNode& p : pools.items()) dep.pools.push_back(parse_pool(p, dep.platform));
    const auto count = [&](PoolRole r) {
      return std::count_if(dep.pools.begin(), dep.pools.end(), [&](const PoolSpec& p) { return p.role == r; });
    };
    const bool colocated = count(PoolRole::both) == 1 && dep.pools.size() == 1;
    const bool split = count(PoolRole::prefill) == 1 && count(PoolRole::decode) == 1 && dep.pools.size() == 2;
    if (!colocated && !split)
      throw pools.error("either one pool of role both, or one prefill pool and one decode pool (disaggregated)");
    if (static_cast<std::int64_t>(dep.gpus()) > 10'000'000) throw pools.error("more than 10^7 GPUs");
    s.deployments.push_back(std::move(dep));
  }
  if (auto p = n.optional_child("price_list")) s.prices = load_price(*p, catalog);
  if (auto t = n.optional_child("traffic")) {
    t->check_keys({{"input_tokens_per_day", true, "prompt tokens a day, cache hits included"},
                   {"output_tokens_per_day", true, "answer tokens a day"},
                   {"cache_hit_fraction", false, "of the prompt tokens (default: requests.prefix_cache_hit)"},
                   {"source", true, "citation"}});
    DailyTraffic d;
    d.input_tokens = t->child("input_tokens_per_day").as_positive_double();
    d.output_tokens = t->child("output_tokens_per_day").as_positive_double();
    for (const char* k : {"input_tokens_per_day", "output_tokens_per_day"})
      if (t->child(k).as_double() > 1e18) throw t->child(k).error("at most 1e18 tokens a day");
    d.cache_hit_fraction = s.requests.prefix_cache_hit;
    if (auto v = t->optional_child("cache_hit_fraction")) {
      d.cache_hit_fraction = parse_fraction(*v);
      if (std::abs(d.cache_hit_fraction - s.requests.prefix_cache_hit) > 1e-9)
        throw v->error(fmt::format("must equal requests.prefix_cache_hit ({}): the simulated cost of a prompt token depends on it",
                                   s.requests.prefix_cache_hit));
    }
    d.source = t->child("source").as_string();
    s.traffic = d;
  }
  if (auto v = n.optional_child("slo")) {
    v->check_keys({{"ttft_p99_seconds", false, "time to first token, P99"},
                   {"tpot_p99_seconds", false, "time per output token after the first, as users see it, P99"},
                   {"itl_p99_seconds", false, "time between answer tokens while a sequence runs, P99"}});
    if (auto t = v->optional_child("ttft_p99_seconds")) s.slo.ttft_seconds = t->as_positive_double();
    if (auto t = v->optional_child("tpot_p99_seconds")) s.slo.tpot_seconds = t->as_positive_double();
    if (auto t = v->optional_child("itl_p99_seconds")) s.slo.token_interval_seconds = t->as_positive_double();
    if (!s.slo.any()) throw v->error("give one or more of ttft_p99_seconds, tpot_p99_seconds, itl_p99_seconds");
  }
  if (auto pub = n.optional_child("published")) {
    std::vector<KeySpec> keys;
    for (const auto& [k, help] : serving_figure_keys()) keys.push_back({k, false, help});
    pub->check_keys(keys);
    for (const auto& [key, v] : pub->entries()) {
      v.check_keys({{"value", true, "the published figure"}, {"source", true, "where it was published"}});
      s.published.push_back({key, v.child("value").as_double(), v.child("source").as_string()});
      if (!std::isfinite(s.published.back().value) || s.published.back().value <= 0)
        throw v.child("value").error("a published figure greater than zero");
    }
    const bool ratio = std::any_of(s.published.begin(), s.published.end(),
                                   [](const PublishedFigure& f) { return f.key == "kv_reduction" || f.key == "throughput_ratio"; });
    if (ratio && s.deployments.size() < 2) throw pub->error("kv_reduction and throughput_ratio compare two deployments; give two");
    const bool margin = std::any_of(s.published.begin(), s.published.end(), [](const PublishedFigure& f) {
      return f.key.rfind("daily_", 0) == 0 || f.key == "margin";
    });
    if (margin && !s.traffic) throw pub->error("daily figures and the margin need traffic:");
  }
  if (s.traffic && !s.prices)
    throw n.child("traffic").error("a daily margin needs a price_list");
  return s;
}

}  // namespace gpuhours
