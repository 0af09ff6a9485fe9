// The serving simulation: requests, instances running continuous batching, pools, and the figures
// a reader asks of a deployment (throughput, latency, cost per token, margin).
#include "gpuhours/serve.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gpuhours/decode.hpp"
#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/inference.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/rng.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

namespace {

constexpr double kSecondsPerDay = 86400;
// An instance stops after this many iterations: a scenario whose load never drains (a rate above
// what the pool serves, with millions of requests) would otherwise run for hours.
constexpr std::int64_t kMaxIterationsPerDeployment = 5'000'000;

// A deployment that did not drain its requests within kMaxIterationsPerDeployment (--slo skips it).
class NotDrained : public InputError {
 public:
  using InputError::InputError;
};

// One request on one instance.
struct Job {
  std::size_t request = 0;
  double ready_s = 0;               // when it reaches this instance
  std::int64_t cached = 0;          // prompt tokens found in the prefix cache
  std::int64_t prefill_left = 0;    // prompt tokens still to prefill
  std::int64_t context = 0;         // tokens whose KV is in the cache
  std::int64_t generated = 0;       // answer tokens produced
  std::int64_t target = 0;          // answer tokens wanted
  std::int64_t limit = 0;           // answer tokens the scheduler must provision for (the request's maximum)
  std::int64_t reserved = 0;        // KV tokens held
  bool prompt_served = false;       // its prompt has been counted (a recomputed prompt is work, not a new prompt)
};

// Work done over some iterations: the basis of a pool's rates.
struct Work {
  double seconds = 0, prompt_tokens = 0, output_tokens = 0, prefill_gpu_seconds = 0, decode_gpu_seconds = 0;
  void add(const Work& w) {
    seconds += w.seconds;
    prompt_tokens += w.prompt_tokens;
    output_tokens += w.output_tokens;
    prefill_gpu_seconds += w.prefill_gpu_seconds;
    decode_gpu_seconds += w.decode_gpu_seconds;
  }
};

// What one pool's instances report per request, and in all.
struct PoolRun {
  Work all, full;  // every busy iteration; those while requests waited for a slot (at capacity)
  std::vector<double> first_token_s, done_s;  // by request; NaN where the pool did not serve it
  std::vector<std::pair<double, double>> token_intervals;  // decode iterations: (seconds, tokens decoded)
  PoolResult stats;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

LatencyPercentiles percentiles(const std::vector<double>& v) {
  if (v.empty()) return {};
  return {percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99), true};
}

// Percentiles of values that occur `weight` times each (nearest rank).
LatencyPercentiles weighted_percentiles(std::vector<std::pair<double, double>> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  double total = 0;
  for (const auto& [value, weight] : v) total += weight;
  const auto at = [&](double q) {
    double seen = 0;
    for (const auto& [value, weight] : v)
      if ((seen += weight) >= q * total) return value;
    return v.back().first;
  };
  return {at(0.50), at(0.90), at(0.99), true};
}

// When a job reaches its instance, on the simulation's integer clock.
Time ready(const Job& j) { return Time::from_seconds_ceil(j.ready_s); }

// Continuous batching on one instance with chunked prefill (Orca; Sarathi-Serve): every iteration
// decodes one token for each running sequence whose prompt is done and fills the rest of the token
// budget with prompt chunks, first admitted first. A sequence is admitted when the KV cache holds
// its prompt and the longest answer it may give (TensorRT-LLM's GUARANTEED_NO_EVICT), or with
// admission: evict its prompt alone, the last admitted being evicted and recomputed when decoding
// fills the cache (vLLM's recompute preemption).
class Instance {
 public:
  Instance(const Scenario& s, const PoolSpec& pool, std::int64_t& iteration_budget)
      : s_(s), pool_(pool), iteration_budget_(iteration_budget) {
    capacity_ = kv_capacity_tokens_per_gpu(s, pool.layout) * static_cast<std::int64_t>(pool.layout.ep);
    max_running_ = pool.layout.max_sequences > 0 ? static_cast<std::size_t>(pool.layout.max_sequences)
                                                 : std::numeric_limits<std::size_t>::max();
  }

  void run(std::vector<Job> jobs, PoolRun& out) {
    std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
      return a.ready_s < b.ready_s || (a.ready_s == b.ready_s && a.request < b.request);
    });
    std::deque<std::size_t> waiting;
    std::vector<std::size_t> running;  // admission order
    std::size_t next = 0;
    std::int64_t used = 0, iterations = 0;
    Time t = jobs.empty() ? Time{} : ready(jobs.front());
    Time busy;
    double running_time = 0, decode_time = 0;
    PoolResult& st = out.stats;
    while (next < jobs.size() || !waiting.empty() || !running.empty()) {
      while (next < jobs.size() && ready(jobs[next]) <= t) waiting.push_back(next++);
      if (running.empty() && waiting.empty()) {  // idle until the next arrival, which is then admitted
        t = std::max(t, ready(jobs[next]));
        continue;
      }
      while (!waiting.empty() && running.size() < max_running_) {
        Job& j = jobs[waiting.front()];
        // No eviction: the prompt and the rest of the longest answer it may give are reserved at once.
        // A prefill pool hands the request over after its prompt: it holds no answer.
        const bool reserve_answer = !pool_.evict && pool_.role != PoolRole::prefill;
        const std::int64_t need = j.context + j.prefill_left + (reserve_answer ? std::max<std::int64_t>(0, j.limit - j.generated) : 0);
        if (need + 1 > capacity_)
          throw InfeasibleLayout(Infeasibility::kv_cache,
                                 fmt::format("a request of {} tokens does not fit the KV cache of an instance ({} tokens)",
                                             need + 1, capacity_));
        if (used + need > capacity_) break;
        used += need;
        j.reserved = need;
        running.push_back(waiting.front());
        waiting.pop_front();
      }
      if (running.empty())  // the first waiting request always fits an empty cache (checked above)
        throw std::logic_error("serve: an empty instance admitted nothing");
      // Requests wait for a slot: the instance runs at its limit, and its rates are its capacity.
      const bool at_capacity = !waiting.empty();
      // The batch: decode tokens first, then prompt chunks within the token budget.
      BatchPart prefill, decode;
      std::vector<std::pair<std::size_t, std::int64_t>> chunks;
      for (std::size_t i : running)
        if (jobs[i].prefill_left == 0) {
          decode.tokens += 1;
          decode.attended_pairs += static_cast<double>(jobs[i].context + 1);
          decode.kv_tokens += static_cast<double>(jobs[i].context);
        }
      std::int64_t budget = pool_.max_batch_tokens - static_cast<std::int64_t>(decode.tokens);
      for (std::size_t i : running) {
        if (budget <= 0) break;
        const Job& j = jobs[i];
        if (j.prefill_left == 0) continue;
        const std::int64_t chunk = std::min(j.prefill_left, budget);
        const auto c = static_cast<double>(chunk), before = static_cast<double>(j.context);
        prefill.tokens += c;
        prefill.attended_pairs += c * (before + (c + 1) / 2);
        prefill.kv_tokens += before;
        chunks.emplace_back(i, chunk);
        budget -= chunk;
      }
      const IterationCost cost = batch_iteration_cost(s_, pool_.layout, prefill, decode, &cache_);
      const Time dt = Time::from_seconds_ceil(cost.seconds);
      // Busy time split between prompt and answer work by what each would cost alone.
      const double p_alone = prefill.tokens > 0 ? batch_iteration_cost(s_, pool_.layout, prefill, {}, &cache_).seconds : 0.0;
      const double d_alone = decode.tokens > 0 ? batch_iteration_cost(s_, pool_.layout, {}, decode).seconds : 0.0;
      const double gpus = pool_.layout.gpus();
      Work w;
      w.seconds = dt.seconds();
      // A prefill pool's time serves prompts, a decode pool's answers (recomputed prompts included).
      const double prefill_share = pool_.role == PoolRole::prefill  ? 1.0
                                   : pool_.role == PoolRole::decode ? 0.0
                                                                    : p_alone / (p_alone + d_alone);
      w.prefill_gpu_seconds = dt.seconds() * gpus * prefill_share;
      w.decode_gpu_seconds = dt.seconds() * gpus * (1 - prefill_share);
      w.output_tokens = decode.tokens;
      t = t + dt;
      busy = busy + dt;
      ++iterations;
      if (--iteration_budget_ < 0)
        throw NotDrained(fmt::format("serve: the deployment ran {} iterations without draining its requests; lower the "
                                     "request count or rate, or raise max_batch_tokens",
                                     kMaxIterationsPerDeployment));
      if (decode.tokens > 0) {
        out.token_intervals.emplace_back(dt.seconds(), decode.tokens);
        running_time += decode.tokens * dt.seconds();
        decode_time += dt.seconds();
        st.peak_running = std::max(st.peak_running, decode.tokens);
      }
      // Progress: decode tokens, then prompt chunks (a finished prompt yields the first token).
      const double now = t.seconds();
      std::vector<bool> finished(jobs.size() > 0 ? running.size() : 0, false);
      for (std::size_t r = 0; r < running.size(); ++r) {
        Job& j = jobs[running[r]];
        if (j.prefill_left > 0) continue;
        j.context += 1;
        j.generated += 1;
        if (pool_.evict) {  // the cache grows as the answer does
          j.reserved += 1;
          used += 1;
        }
        if (j.generated >= j.target) {
          out.done_s[j.request] = now;
          finished[r] = true;
        }
      }
      for (const auto& [i, chunk] : chunks) {
        Job& j = jobs[i];
        j.prefill_left -= chunk;
        j.context += chunk;
        if (j.prefill_left > 0) continue;
        if (std::isnan(out.first_token_s[j.request])) out.first_token_s[j.request] = now;
        if (!j.prompt_served) {  // the whole prompt, its cached prefix included, served once
          w.prompt_tokens += static_cast<double>(j.context);
          j.prompt_served = true;
        }
        if (j.generated == 0) {
          j.generated = 1;  // the prompt's last position yields the first answer token
          if (pool_.role == PoolRole::both) w.output_tokens += 1;
        }
        const bool handoff = pool_.role == PoolRole::prefill;
        if (handoff || j.generated >= j.target) {
          out.done_s[j.request] = now;
          const auto at = std::find(running.begin(), running.end(), i) - running.begin();
          finished[static_cast<std::size_t>(at)] = true;
        }
      }
      out.all.add(w);
      if (at_capacity) out.full.add(w);
      std::vector<std::size_t> still;
      still.reserve(running.size());
      for (std::size_t r = 0; r < running.size(); ++r) {
        if (finished[r]) used -= jobs[running[r]].reserved;
        else still.push_back(running[r]);
      }
      running.swap(still);
      // The cache overflowed: evict the last admitted sequences; they recompute what is not cached.
      while (used > capacity_ && !running.empty()) {
        Job& j = jobs[running.back()];
        used -= j.reserved;
        j.prefill_left = j.context + j.prefill_left - j.cached;
        j.context = j.cached;
        j.reserved = 0;
        waiting.push_front(running.back());
        running.pop_back();
        ++st.preemptions;
      }
    }
    st.busy_seconds += busy.seconds();
    st.iterations += iterations;
    st.mean_running += decode_time > 0 ? running_time / decode_time : 0;
  }

 private:
  const Scenario& s_;
  const PoolSpec& pool_;
  std::int64_t& iteration_budget_;  // shared by every instance of the deployment
  PromptKernelCache cache_;          // prompt iterations already timed, by shape
  std::int64_t capacity_ = 0;
  std::size_t max_running_ = 0;
};

// Runs a pool's instances over `jobs` (assigned round-robin in order of readiness).
const char* role_text(PoolRole r) {
  return r == PoolRole::prefill ? "prefill" : r == PoolRole::decode ? "decode" : "shared";
}

PoolRun run_pool(const Scenario& s, const PoolSpec& pool, std::vector<Job> jobs, std::size_t requests,
              std::int64_t& iteration_budget) {
  PoolRun out;
  out.first_token_s.assign(requests, std::numeric_limits<double>::quiet_NaN());
  out.done_s.assign(requests, std::numeric_limits<double>::quiet_NaN());
  PoolResult& st = out.stats;
  st.role = pool.role;
  st.instances = pool.instances;
  st.instance_gpus = pool.layout.gpus();
  st.nodes = static_cast<double>(pool.instances) * st.instance_gpus / s.cluster.gpus_per_node;
  st.weight_bytes_per_gpu = instance_weight_bytes_per_gpu(s, pool.layout);
  st.kv_capacity_tokens_per_gpu = kv_capacity_tokens_per_gpu(s, pool.layout);
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.ready_s < b.ready_s; });
  std::vector<std::vector<Job>> per_instance(static_cast<std::size_t>(pool.instances));
  for (std::size_t k = 0; k < jobs.size(); ++k) per_instance[k % per_instance.size()].push_back(jobs[k]);
  for (auto& list : per_instance) {
    if (list.empty()) continue;
    try {
      Instance(s, pool, iteration_budget).run(std::move(list), out);
    } catch (const InfeasibleLayout& e) {
      throw e.within(fmt::format("{} pool: ", role_text(pool.role)));
    }
  }
  const double n = pool.instances;
  st.busy_seconds /= n;
  st.mean_running /= n;
  st.iterations = static_cast<std::int64_t>(std::llround(static_cast<double>(st.iterations) / n));
  st.prompt_tokens = out.all.prompt_tokens;
  st.output_tokens = out.all.output_tokens;
  // Rates while requests waited, if they ever did; else over every busy iteration (a light load).
  st.at_capacity = out.full.seconds > 0;
  // Each kind of token is rated over the window that served some of it: a queue of waiting answers
  // may hold no prompt at all.
  const Work& prompts = out.full.prompt_tokens > 0 ? out.full : out.all;
  const Work& answers = out.full.output_tokens > 0 ? out.full : out.all;
  st.measured_seconds = (st.at_capacity ? out.full : out.all).seconds / n;
  const double node_share = static_cast<double>(st.instance_gpus) / s.cluster.gpus_per_node;  // nodes per instance
  if (prompts.prompt_tokens > 0) {
    st.prefill_gpu_seconds_per_prompt_token = prompts.prefill_gpu_seconds / prompts.prompt_tokens;
    st.input_tokens_per_s_per_node = prompts.prompt_tokens / (prompts.seconds * node_share);
  }
  if (answers.output_tokens > 0) {
    st.decode_gpu_seconds_per_output_token = answers.decode_gpu_seconds / answers.output_tokens;
    st.output_tokens_per_s_per_node = answers.output_tokens / (answers.seconds * node_share);
  }
  return out;
}


}  // namespace

std::vector<ServedRequest> serving_requests(const RequestSpec& spec) {
  std::vector<ServedRequest> out;
  if (spec.arrival == Arrival::trace) {
    for (const TraceRequest& t : spec.trace)
      out.push_back({t.arrival_s, t.input_tokens, t.output_tokens, std::min(t.cached_tokens, t.input_tokens - 1), t.output_tokens});
    return out;
  }
  Rng rng(spec.seed);
  // Lengths: the distribution's quantiles (exact mean), shuffled with the seed.
  const auto lengths = [&](const TokenLengths& l) {
    LengthSpec ls;
    ls.mean_from = ls.mean_to = l.mean;
    ls.max_tokens = l.max;
    ls.fixed = l.fixed;
    std::vector<std::int64_t> v = response_lengths(ls, l.mean, spec.count);
    for (std::size_t i = v.size(); i > 1; --i)  // Fisher-Yates
      std::swap(v[i - 1], v[std::min(i - 1, static_cast<std::size_t>(rng.uniform() * static_cast<double>(i)))]);
    return v;
  };
  const std::vector<std::int64_t> in = lengths(spec.input), answer = lengths(spec.output);
  double t = 0;
  for (std::int64_t k = 0; k < spec.count; ++k) {
    if (spec.arrival == Arrival::poisson) t += -std::log(rng.uniform()) / spec.rate_per_s;
    const auto i = static_cast<std::size_t>(k);
    const std::int64_t cached = std::min<std::int64_t>(in[i] - 1, std::llround(spec.prefix_cache_hit * static_cast<double>(in[i])));
    out.push_back({t, in[i], answer[i], std::max<std::int64_t>(0, cached), spec.output.max});
  }
  return out;
}

namespace {
DeploymentResult simulate_pools(const ServingScenario& sc, const Deployment& d);
}

DeploymentResult simulate_deployment(const ServingScenario& sc, const Deployment& d) {
  try {
    return simulate_pools(sc, d);
  } catch (const InfeasibleLayout& e) {
    throw e.within(sc.file + ": deployment '" + d.name + "', ");
  }
}

namespace {
DeploymentResult simulate_pools(const ServingScenario& sc, const Deployment& d) {
  const Scenario s = with_network_uncertainty(d.platform);
  const std::vector<ServedRequest> requests = serving_requests(d.requests(sc.requests));
  const std::size_t n = requests.size();
  DeploymentResult r;
  r.name = d.name;
  r.gpus = d.gpus();
  r.nodes = static_cast<double>(r.gpus) / s.cluster.gpus_per_node;
  r.requests = static_cast<std::int64_t>(n);
  r.gpu_hour_usd = s.cost.gpu_hour_usd;
  const PoolSpec& first = d.pools.front();
  r.kv_bytes_per_token = kv_bytes_per_token_whole_model(s.model, first.layout);

  std::vector<Job> jobs(n);
  for (std::size_t k = 0; k < n; ++k) {
    const ServedRequest& q = requests[k];
    jobs[k] = Job{k, q.arrival_s, q.cached_tokens, q.input_tokens - q.cached_tokens, q.cached_tokens, 0, q.output_tokens,
                  q.output_limit, 0};
    r.prompt_tokens += static_cast<double>(q.input_tokens);
    r.cached_tokens += static_cast<double>(q.cached_tokens);
    r.output_tokens += static_cast<double>(q.output_tokens);
  }
  std::vector<double> first_token, done;
  std::vector<std::pair<double, double>> intervals;
  std::int64_t budget = kMaxIterationsPerDeployment;
  if (d.pools.size() == 1) {
    PoolRun run = run_pool(s, first, jobs, n, budget);
    first_token = std::move(run.first_token_s);
    done = std::move(run.done_s);
    intervals = std::move(run.token_intervals);
    r.pools.push_back(run.stats);
  } else {
    const PoolSpec& pre = first.role == PoolRole::prefill ? d.pools[0] : d.pools[1];
    const PoolSpec& dec = first.role == PoolRole::prefill ? d.pools[1] : d.pools[0];
    PoolRun p = run_pool(s, pre, jobs, n, budget);
    // The prompt's KV cache goes from the prefill GPU to a decode GPU over the scale-out network.
    const double kv_bytes = kv_bytes_per_token_whole_model(s.model, dec.layout);
    std::vector<Job> decode_jobs;
    for (std::size_t k = 0; k < n; ++k) {
      if (requests[k].output_tokens <= 1) continue;  // answered by the prefill
      const double bytes = kv_bytes * static_cast<double>(requests[k].input_tokens);
      const double arrive = p.done_s[k] + p2p_time(bytes, true, s.cluster).seconds();
      decode_jobs.push_back(Job{k, arrive, 0, 0, requests[k].input_tokens, 1, requests[k].output_tokens,
                                requests[k].output_limit, 0, true});
    }
    PoolRun q = run_pool(s, dec, decode_jobs, n, budget);
    first_token = p.first_token_s;
    done = p.done_s;
    for (std::size_t k = 0; k < n; ++k)
      if (!std::isnan(q.done_s[k])) done[k] = q.done_s[k];
    intervals = std::move(q.token_intervals);
    r.pools.push_back(p.stats);
    r.pools.push_back(q.stats);
  }
  r.token_interval = weighted_percentiles(std::move(intervals));
  std::vector<double> ttft, tpot, latency;
  double end = 0, start = requests.empty() ? 0 : requests.front().arrival_s;
  for (std::size_t k = 0; k < n; ++k) {
    ttft.push_back(first_token[k] - requests[k].arrival_s);
    latency.push_back(done[k] - requests[k].arrival_s);
    if (requests[k].output_tokens > 1) tpot.push_back((done[k] - first_token[k]) / static_cast<double>(requests[k].output_tokens - 1));
    end = std::max(end, done[k]);
    start = std::min(start, requests[k].arrival_s);
  }
  r.ttft = percentiles(ttft);
  r.tpot = percentiles(tpot);
  r.latency = percentiles(latency);
  r.makespan_seconds = end - start;
  // GPU-seconds per prompt and per answer token, at capacity where the pools reached it.
  // Each pool's tokens at its GPU-seconds per token: prompt work (recomputation included) of the pools
  // that serve prompts, answer work of those that decode.
  double prefill_gpu_s = 0, decode_gpu_s = 0;
  for (PoolResult& p : r.pools) {
    p.utilisation = r.makespan_seconds > 0 ? p.busy_seconds / r.makespan_seconds : 0;
    prefill_gpu_s += p.prefill_gpu_seconds_per_prompt_token * p.prompt_tokens;
    decode_gpu_s += p.decode_gpu_seconds_per_output_token * p.output_tokens;
  }
  if (r.makespan_seconds > 0) {
    r.input_tokens_per_s_per_gpu = r.prompt_tokens / (r.makespan_seconds * r.gpus);
    r.output_tokens_per_s_per_gpu = r.output_tokens / (r.makespan_seconds * r.gpus);
  }
  // That GPU-time at the rental price, per million tokens of each kind.
  const double usd_per_gpu_second = r.gpu_hour_usd / 3600.0;
  if (r.prompt_tokens > 0) r.usd_per_million_input = prefill_gpu_s * usd_per_gpu_second / r.prompt_tokens * 1e6;
  if (r.output_tokens > 0) r.usd_per_million_output = decode_gpu_s * usd_per_gpu_second / r.output_tokens * 1e6;
  if (n > 0) {
    r.gpu_seconds_per_request = (prefill_gpu_s + decode_gpu_s) / static_cast<double>(n);
    r.usd_per_request = r.gpu_seconds_per_request * usd_per_gpu_second;
  }
  if (sc.prices) {
    const PriceList& p = *sc.prices;
    const double input_price = p.input_usd(r.prompt_tokens > 0 ? r.cached_tokens / r.prompt_tokens : 0);
    if (r.usd_per_million_input > 0) r.input_margin = input_price / r.usd_per_million_input - 1;
    if (r.usd_per_million_output > 0) r.output_margin = p.output_usd / r.usd_per_million_output - 1;
  }
  if (sc.traffic && sc.prices) {
    const DailyTraffic& t = *sc.traffic;
    const PriceList& p = *sc.prices;
    const double gpu_seconds = (r.prompt_tokens > 0 ? t.input_tokens * prefill_gpu_s / r.prompt_tokens : 0.0) +
                               (r.output_tokens > 0 ? t.output_tokens * decode_gpu_s / r.output_tokens : 0.0);
    r.daily_nodes = gpu_seconds / kSecondsPerDay / s.cluster.gpus_per_node;
    r.daily_cost_usd = gpu_seconds / 3600.0 * r.gpu_hour_usd;
    r.daily_revenue_usd = (t.input_tokens * p.input_usd(t.cache_hit_fraction) + t.output_tokens * p.output_usd) / 1e6;
    if (*r.daily_cost_usd > 0) r.daily_margin = *r.daily_revenue_usd / *r.daily_cost_usd - 1;
  }
  // A target on a latency no request has (TPOT of one-token answers) is met.
  const auto within = [](const LatencyPercentiles& l, const std::optional<double>& target) {
    return !target || !l.defined || l.p99 <= *target;
  };
  if (sc.slo.any())
    r.meets_slo = within(r.ttft, sc.slo.ttft_seconds) && within(r.tpot, sc.slo.tpot_seconds) &&
                  within(r.token_interval, sc.slo.token_interval_seconds);
  return r;
}

}  // namespace

std::optional<double> serving_figure(const ServeResult& r, const std::string& key) {
  const DeploymentResult& a = r.deployments.front();
  if (key == "kv_reduction") return r.kv_reduction;
  if (key == "throughput_ratio") return r.throughput_ratio;
  if (key == "output_tokens_per_s_per_gpu") return a.output_tokens_per_s_per_gpu;
  if (key == "ttft_p50_seconds") return a.ttft.p50;
  if (key == "ttft_p99_seconds") return a.ttft.p99;
  if (key == "tpot_p50_seconds") return a.tpot.p50;
  if (key == "tpot_p99_seconds") return a.tpot.p99;
  if (key == "itl_p50_seconds") return a.token_interval.p50;
  if (key == "daily_nodes") return a.daily_nodes;
  if (key == "daily_cost_usd") return a.daily_cost_usd;
  if (key == "daily_revenue_usd") return a.daily_revenue_usd;
  if (key == "margin") return a.daily_margin;
  if (key == "input_tokens_per_s_per_node" || key == "output_tokens_per_s_per_node") {
    const bool input = key == "input_tokens_per_s_per_node";
    for (const PoolResult& p : a.pools)
      if (p.role == (input ? PoolRole::prefill : PoolRole::decode) || p.role == PoolRole::both)
        return input ? p.input_tokens_per_s_per_node : p.output_tokens_per_s_per_node;
  }
  return std::nullopt;
}

ServeResult simulate_serving(const ServingScenario& s) {
  ServeResult out;
  for (const Deployment& d : s.deployments) out.deployments.push_back(simulate_deployment(s, d));
  const DeploymentResult& a = out.deployments.front();
  const DeploymentResult& b = out.deployments.back();
  if (out.deployments.size() > 1) {
    out.kv_reduction = 1 - b.kv_bytes_per_token / a.kv_bytes_per_token;
    // Maximum generation throughput: answer tokens per GPU of the decoding pools at capacity.
    const auto decode_rate = [](const DeploymentResult& d, const Scenario& platform) {
      return d.pools.back().output_tokens_per_s_per_node / platform.cluster.gpus_per_node;
    };
    const double ra = decode_rate(a, s.deployments.front().platform), rb = decode_rate(b, s.deployments.back().platform);
    if (ra > 0) out.throughput_ratio = rb / ra;
  }
  const auto& keys = serving_figure_keys();
  for (const PublishedFigure& f : s.published) {
    const auto meaning = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.first == f.key; });
    if (auto v = serving_figure(out, f.key)) out.comparisons.push_back({f.key, meaning->second, *v, f.value, f.source});
  }
  out.assumptions = {
      "iterations: continuous batching with chunked prefill; a sequence is admitted when the KV cache holds its prompt "
      "and its longest possible answer (TensorRT-LLM's GUARANTEED_NO_EVICT), or with admission: evict its prompt only, "
      "the last admitted being evicted and recomputed when decoding fills the cache (vLLM's scheduler)",
      "iteration time: max(compute, weights and KV cache read from HBM) + expert dispatch/combine (DeepEP normal "
      "kernels for prompts, low-latency kernels for decoding) + tensor-parallel all-reduces + 10 kernels per layer, "
      "each a host launch, or replayed from a CUDA graph the GPU's gap between graph kernels and a kernel's shortest "
      "run (the inference model of RL rollouts); prompt chunks compute the training op graph's forward kernels, timed by the "
      "GPU's calibration profile (the roofline where it has none) at the sustained clock; decode tokens their FP8 GEMMs "
      "at the throughput the profile gives for their rows (gemm_fp8_by_rows: DeepGEMM's, measured on H800), other "
      "GEMMs at the GPU's achievable rate, against the weights read, then their attention kernels, each the longer of "
      "its FLOPs and its read of the KV cache",
      "communication does not overlap computation, unless a pool sets dual_batch_overlap (DeepSeek's two micro-batches): "
      "then DeepEP's normal kernels take their SMs from the prompt kernels beside them, from the GEMMs for the whole "
      "iteration where a pool sets gemm_sms: partitioned (SGLang's two-batch overlap sizes DeepGEMM to the SMs left)",
      "the first answer token comes with the prompt's prefill; with separate pools the prompt's KV cache then goes to a "
      "decode GPU over the scale-out network, and waits there for a decoding slot without holding the prefill GPU's "
      "memory (no back-pressure: the wait shows in TPOT, not in TTFT)",
      "a request from a trace reserves its own answer length; generated requests reserve their distribution's maximum",
      "cost per token: busy GPU-time at the scenario's rental price; idle time is not charged",
      "TPOT is what a user sees between answer tokens after the first, waits for a decoding slot included; ITL is the "
      "time between tokens while a sequence runs (the decoding iteration)"};
  for (const Deployment& d : s.deployments)
    if (std::any_of(d.pools.begin(), d.pools.end(), [](const PoolSpec& p) { return p.layout.gemm_sms == GemmSms::partitioned; }))
      out.assumptions.push_back(d.name + ": partitioned prompt GEMMs: " + slowdown_beside_comm_assumption(d.platform.cluster));
  out.assumptions.push_back("kernel jitter is not simulated in serving: every iteration runs at its kernels' mean time");
  if (s.requests.arrival == Arrival::saturate)
    out.assumptions.push_back("every request arrives at the start (a saturating load): throughput is the deployment's "
                              "capacity, and TTFT and TPOT include the wait in the queue");
  return out;
}

std::string slo_text(const Slo& slo) {
  std::vector<std::string> parts;
  if (slo.ttft_seconds) parts.push_back(fmt::format("P99 TTFT {:.3g} s", *slo.ttft_seconds));
  if (slo.tpot_seconds) parts.push_back(fmt::format("P99 TPOT {:.3g} s", *slo.tpot_seconds));
  if (slo.token_interval_seconds) parts.push_back(fmt::format("P99 ITL {:.3g} s", *slo.token_interval_seconds));
  return fmt::format("{}", fmt::join(parts, ", "));
}

namespace {

// The instance layouts --slo --layouts tries for a pool (without --layouts, its own): its GPUs split into instances of tp x ep GPUs, tp a
// power of two dividing a node's GPUs (tensor parallelism stays on NVLink), ep a power of two
// dividing the expert slots (1 for a dense model); the scenario's own layout first.
std::vector<InferenceSpec> slo_layouts(const Deployment& d, const PoolSpec& pool, bool layouts) {
  if (!layouts) return {pool.layout};
  const int gpus = pool.instances * pool.layout.gpus();
  const ModelSpec& m = d.platform.model;
  const int slots = m.ffn.moe ? m.ffn.experts + pool.layout.redundant_experts : 1;
  std::vector<InferenceSpec> out{pool.layout};
  for (int tp = 1; tp <= d.platform.cluster.gpus_per_node && tp <= gpus; tp *= 2) {
    if (d.platform.cluster.gpus_per_node % tp != 0) continue;
    for (int ep = 1; tp * ep <= gpus && ep <= slots; ep *= 2) {
      if (gpus % (tp * ep) != 0 || slots % ep != 0 || (tp == pool.layout.tp && ep == pool.layout.ep)) continue;
      InferenceSpec l = pool.layout;
      l.tp = tp;
      l.ep = ep;
      out.push_back(l);
    }
  }
  return out;
}

}  // namespace

std::vector<SloChoice> search_slo(const ServingScenario& s, bool layouts) {
  if (!s.slo.any()) throw InputError(s.file + ": --slo needs an slo: section (ttft_p99_seconds, tpot_p99_seconds, itl_p99_seconds)");
  std::vector<SloChoice> out;
  // Ranked by cost: the busy GPU-seconds of one request (its prompt and its answer) at the scenario's price.
  const auto cheaper = [](const DeploymentResult& a, const DeploymentResult& b) { return a.usd_per_request < b.usd_per_request; };
  for (const Deployment& d : s.deployments) {
    SloChoice c;
    c.deployment = d.name;
    // The pool that decodes, in the scenario's order (a result lists prefill first, the decoding pool last).
    const std::size_t pool = d.pools.size() == 1 ? 0 : (d.pools[0].role == PoolRole::decode ? 0 : 1);
    const int pool_gpus = d.pools[pool].instances * d.pools[pool].layout.gpus();
    std::optional<InfeasibleLayout> own_infeasible;  // why the first layout tried (the scenario's) fits no batch
    for (const InferenceSpec& layout : slo_layouts(d, d.pools[pool], layouts)) {
      // The batch limit in powers of two per GPU of an attention replica.
      for (int per_gpu = 1; per_gpu <= 1024; per_gpu *= 2) {
        Deployment v = d;
        v.pools[pool].layout = layout;
        v.pools[pool].layout.max_sequences = per_gpu * layout.ep;
        v.pools[pool].instances = pool_gpus / layout.gpus();
        DeploymentResult r;
        try {
          r = simulate_deployment(s, v);
        } catch (const InfeasibleLayout& e) {
          if (c.tried.empty() && !own_infeasible) own_infeasible = e;
          break;  // a larger batch does not fit either
        } catch (const NotDrained&) {
          ++c.not_drained;  // too few sequences at once for this load: a larger batch may drain it
          continue;
        }
        c.tried.push_back({v.pools[pool].layout, v.pools[pool].instances, r});
        if (*r.meets_slo && (!c.best || cheaper(r, c.tried[static_cast<std::size_t>(*c.best)].result)))
          c.best = static_cast<int>(c.tried.size() - 1);
        // A larger batch only lengthens each iteration once the cache is full.
        if (r.pools.back().peak_running < v.pools[pool].layout.max_sequences) break;
      }
    }
    if (c.tried.empty() && own_infeasible) throw *own_infeasible;  // nothing fits: say why for the scenario's layout
    if (c.tried.empty())
      throw InputError(fmt::format("{}: no layout and batch limit of deployment '{}' drains its requests within {} "
                                   "iterations; lower the request count or rate",
                                   s.file, d.name, kMaxIterationsPerDeployment));
    if (!c.best) {
      const SloTry& first = c.tried.front();  // the scenario's layout, unless it did not fit
      throw InputError(fmt::format("{}: no layout and batch limit of deployment '{}' meets the SLO ({}); {} instance(s) of "
                                   "tp {}, ep {} at {} running sequences give P99 TTFT {:.3g} s, TPOT {:.3g} s and ITL {:.3g} s",
                                   s.file, d.name, slo_text(s.slo), first.instances, first.layout.tp, first.layout.ep,
                                   first.layout.max_sequences, first.result.ttft.p99, first.result.tpot.p99,
                                   first.result.token_interval.p99));
    }
    out.push_back(std::move(c));
  }
  return out;
}

MaxRate max_rate_within_slo(const ServingScenario& s, const Deployment& d) {
  if (!s.slo.any())
    throw InputError(s.file + ": field 'slo': missing; --max-rate needs latency targets (ttft_p99_seconds, tpot_p99_seconds, "
                     "itl_p99_seconds)");
  if (s.requests.arrival != Arrival::poisson)
    throw InputError(s.file + ": field 'requests.arrival': --max-rate varies a Poisson rate; this scenario's arrivals are " +
                     std::string(s.requests.arrival == Arrival::saturate ? "all at once (saturate)" : "a trace"));
  // The arrivals of one seed scale with 1/rate, so the latencies grow with the rate (to the noise of
  // a finite sample's P99), and the rate where they cross the targets is found by bisection between
  // a rate that meets them and one that does not (a rate whose load does not drain fails).
  ServingScenario x = s;
  auto at = [&](double rate) -> std::optional<DeploymentResult> {
    x.requests.rate_per_s = rate;
    try {
      DeploymentResult r = simulate_deployment(x, d);
      if (*r.meets_slo) return r;
    } catch (const NotDrained&) {
    }
    return std::nullopt;
  };
  constexpr int kDoublings = 30;        // 2^30 the scenario's rate either way
  constexpr double kPrecision = 0.005;  // the bracket's width relative to the rate found
  double meets = s.requests.rate_per_s, fails = meets;
  std::optional<DeploymentResult> best = at(meets);
  if (best) {
    for (int i = 0;; ++i) {
      if (i == kDoublings)
        throw InputError(fmt::format("{}: deployment '{}' meets the SLO ({}) even at {:.3g} requests/s: {} requests are too "
                                     "few for a rate to reach its limit; raise requests.count",
                                     s.file, d.name, slo_text(s.slo), meets, s.requests.count));
      auto r = at(fails = 2 * meets);
      if (!r) break;
      meets = fails;
      best = std::move(r);
    }
  } else {
    for (int i = 0; i < kDoublings && !best; ++i) best = at(meets /= 2);
    if (!best)
      throw InputError(fmt::format("{}: no arrival rate down to {:.3g}/s lets deployment '{}' meet the SLO ({})", s.file,
                                   meets, d.name, slo_text(s.slo)));
    fails = 2 * meets;
  }
  while (fails - meets > kPrecision * meets) {
    const double mid = (meets + fails) / 2;
    if (auto r = at(mid)) {
      meets = mid;
      best = std::move(r);
    } else {
      fails = mid;
    }
  }
  return {d.name, meets, fails, std::move(*best)};
}

}  // namespace gpuhours
