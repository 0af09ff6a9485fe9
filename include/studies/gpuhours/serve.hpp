// gpuhours serve: an event simulation of a serving deployment. Requests arrive (saturating, Poisson
// or from a trace), instances run continuous batching with chunked prefill, optionally with prefill
// and decode on separate pools (disaggregation, KV cache sent between them), and every iteration is
// timed by the inference cost model of training's GPUs and network (inference.hpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/serving.hpp"

namespace gpuhours {

/// P50, P90 and P99 (nearest rank) of a latency, seconds.
struct LatencyPercentiles {
  double p50 = 0, p90 = 0, p99 = 0;
  bool defined = false;  // false when no request has this latency (TPOT of one-token answers)
};

struct PoolResult {
  PoolRole role = PoolRole::both;
  int instances = 0, instance_gpus = 0;
  double nodes = 0;                        // the pool's GPUs / GPUs per node
  double weight_bytes_per_gpu = 0;
  std::int64_t kv_capacity_tokens_per_gpu = 0;
  double busy_seconds = 0;                 // per instance, mean
  double utilisation = 0;                  // busy / the run's makespan
  double prompt_tokens = 0;                // prefilled here, cache hits included
  double output_tokens = 0;                // answer tokens produced here (a prefill pool's first tokens are not counted)
  // Rates over the iterations while requests waited for a slot (the pool at capacity), or over every
  // busy iteration when none waited (a light load):
  bool at_capacity = false;
  double measured_seconds = 0;             // per instance
  double input_tokens_per_s_per_node = 0;  // prompt tokens, cache hits included
  double output_tokens_per_s_per_node = 0;
  double prefill_gpu_seconds_per_prompt_token = 0, decode_gpu_seconds_per_output_token = 0;
  double mean_running = 0, peak_running = 0;  // sequences per instance, decode iterations time-weighted
  std::int64_t preemptions = 0;            // sequences evicted when the KV cache filled (recomputed later)
  std::int64_t iterations = 0;             // per instance, mean
};

struct DeploymentResult {
  std::string name;
  int gpus = 0;
  double nodes = 0;
  double kv_bytes_per_token = 0;  // whole model, at the cache's precision
  std::int64_t requests = 0;
  double prompt_tokens = 0, cached_tokens = 0, output_tokens = 0;
  double makespan_seconds = 0;
  double input_tokens_per_s_per_gpu = 0, output_tokens_per_s_per_gpu = 0;
  LatencyPercentiles ttft, tpot, latency;
  LatencyPercentiles token_interval;  // ITL: seconds between answer tokens while running, per token
  std::vector<PoolResult> pools;
  // At the scenario's GPU-hour price: GPU-time per prompt and per answer token (at capacity where
  // the pools reached it; a shared pool splits each iteration by what each part costs alone).
  double usd_per_million_input = 0, usd_per_million_output = 0;
  double gpu_hour_usd = 0;
  double gpu_seconds_per_request = 0, usd_per_request = 0;  // busy GPU-time of one answer, and its rental
  // With a price list: price / cost - 1 per token kind.
  std::optional<double> input_margin, output_margin;
  // With daily traffic: nodes busy on average, rental cost, revenue at the price list, margin.
  std::optional<double> daily_nodes, daily_cost_usd, daily_revenue_usd, daily_margin;
  std::optional<bool> meets_slo;
};

/// A published figure beside the simulated one.
struct ServingComparison {
  std::string key, meaning;
  double simulated = 0, published = 0;
  std::string source;
};

struct ServeResult {
  std::vector<DeploymentResult> deployments;
  std::optional<double> kv_reduction, throughput_ratio;  // last deployment against the first
  std::vector<ServingComparison> comparisons;
  std::vector<std::string> assumptions;
};

/// The requests of a scenario: arrivals and lengths (trace, or drawn with the scenario's seed).
struct ServedRequest {
  double arrival_s = 0;
  std::int64_t input_tokens = 0, output_tokens = 0, cached_tokens = 0;
  std::int64_t output_limit = 0;  // the most answer tokens the request may ask for (the distribution's max; a trace's own)
};
std::vector<ServedRequest> serving_requests(const RequestSpec& spec);

DeploymentResult simulate_deployment(const ServingScenario& s, const Deployment& d);
ServeResult simulate_serving(const ServingScenario& s);

/// A figure of serving_figure_keys() from a result (the first deployment's, or the ratio of the
/// last to the first); none when the scenario does not compute it (a ratio of one deployment).
std::optional<double> serving_figure(const ServeResult& r, const std::string& key);

/// --slo: for each deployment, the layout of its decoding pool (with `layouts`, tp x ep per
/// instance, the pool's GPUs kept; without, the scenario's) and the batch limit (max_sequences per instance, powers of two per GPU of an
/// attention replica) whose P99 latencies meet the scenario's targets at the least cost per request
/// (busy GPU-seconds of its prompt and answer at the scenario's price).
struct SloTry {
  InferenceSpec layout;  // the decoding pool's instance: tp, ep and max_sequences tried
  int instances = 0;     // of that layout, in the pool's GPUs
  DeploymentResult result;
};
struct SloChoice {
  std::string deployment;
  std::vector<SloTry> tried;  // the scenario's layout first
  std::optional<int> best;    // index into tried
  int not_drained = 0;        // layouts and batch limits skipped: the load did not drain within the iteration limit
};
std::vector<SloChoice> search_slo(const ServingScenario& s, bool layouts = false);
/// --max-rate: the highest Poisson arrival rate (requests/s over the deployment) whose P99 latencies
/// meet the scenario's SLO, to 0.5%, with the deployment's result at that rate (MLPerf's Server
/// scenario: the rate a system sustains within its latency constraints), and a rate at most 0.5%
/// above it that misses the SLO: the bracket where the latencies cross the targets (P99s of a finite
/// sample are not monotonic in the rate to the last fraction of a percent, so this is a crossing,
/// not a guarantee for every rate above).
struct MaxRate {
  std::string deployment;
  double rate_per_s = 0;
  double failing_rate_per_s = 0;
  DeploymentResult result;
};
MaxRate max_rate_within_slo(const ServingScenario& s, const Deployment& d);
/// "P99 TTFT 2 s, P99 TPOT 0.2 s" for the targets an SLO sets.
std::string slo_text(const Slo& slo);

}  // namespace gpuhours
