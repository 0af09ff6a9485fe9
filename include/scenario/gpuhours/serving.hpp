// A serving scenario: one or more deployments of a model (its pools of inference instances), the
// requests they serve, and the prices and published figures to set beside the result.
// `gpuhours serve NAME` loads scenarios/serve/NAME.yaml (docs/serving.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/scenario.hpp"

namespace gpuhours {

/// Tokens of a request's prompt or answer: fixed, or an exponential distribution truncated at `max`
/// whose truncated mean is `mean` (as for RL rollouts).
struct TokenLengths {
  double mean = 0;
  std::int64_t max = 0;
  bool fixed = false;
};

/// One request of a trace file: arrival (s), prompt tokens, answer tokens, prompt tokens found in the
/// prefix cache.
struct TraceRequest {
  double arrival_s = 0;
  std::int64_t input_tokens = 0, output_tokens = 0, cached_tokens = 0;
};

enum class Arrival { saturate, poisson, trace };

struct RequestSpec {
  std::int64_t count = 0;       // requests simulated
  Arrival arrival = Arrival::saturate;
  double rate_per_s = 0;        // Poisson arrivals over the whole deployment
  std::uint64_t seed = 1;
  TokenLengths input, output;
  double prefix_cache_hit = 0;  // fraction of prompt tokens found in the prefix cache (not prefilled)
  std::vector<TraceRequest> trace;
  std::string trace_file;
};

enum class PoolRole { both, prefill, decode };

/// Inference instances of one role: each `layout.gpus()` GPUs running continuous batching.
struct PoolSpec {
  PoolRole role = PoolRole::both;
  int instances = 1;
  InferenceSpec layout;
  std::int64_t max_batch_tokens = 8192;  // tokens per iteration (chunked prefill budget, decode tokens included)
  bool evict = false;  // admit on the prompt alone and evict when the cache fills (vLLM); default: reserve the longest answer
};

struct Deployment {
  std::string name;
  Scenario platform;  // model, cluster, memory, costs and uncertainty defaults; no training
  std::vector<PoolSpec> pools;
  std::optional<TokenLengths> output_tokens;  // this deployment's answers, when they differ from the requests'
  /// The requests this deployment serves.
  RequestSpec requests(const RequestSpec& shared) const;
  int gpus() const;
};

/// API prices per million tokens (hardware/api-prices.yaml).
struct PriceList {
  std::string name, source, date;
  double input_cache_miss_usd = 0, input_cache_hit_usd = 0, output_usd = 0;  // per million tokens
  /// Per million prompt tokens when `hit` of them are found in the cache.
  double input_usd(double hit) const { return hit * input_cache_hit_usd + (1 - hit) * input_cache_miss_usd; }
};

/// Tokens served in a day (DeepSeek's published service statistics), for a daily cost and margin.
struct DailyTraffic {
  double input_tokens = 0, output_tokens = 0;  // per day
  double cache_hit_fraction = 0;               // of the input tokens
  std::string source;
};

/// Latency targets for --slo (P99).
struct Slo {
  std::optional<double> ttft_seconds, tpot_seconds, token_interval_seconds;
  bool any() const { return ttft_seconds || tpot_seconds || token_interval_seconds; }
};

/// A published figure to print beside the simulated one (key: a figure the report computes).
struct PublishedFigure {
  std::string key;
  double value = 0;
  std::string source;
};

struct ServingScenario {
  std::string name, title, description, file;
  std::vector<std::string> sources;
  RequestSpec requests;
  std::vector<Deployment> deployments;
  std::optional<PriceList> prices;
  std::optional<DailyTraffic> traffic;
  Slo slo;
  std::vector<PublishedFigure> published;
};

/// Loads a serving scenario: a preset name (scenarios/serve/NAME.yaml) or a file path.
ServingScenario load_serving(const std::string& name_or_path, const Catalog& catalog);
ServingScenario load_serving(const YamlNode& node, const Catalog& catalog);
/// Reads a request trace: CSV with the header arrival_s,input_tokens,output_tokens,cached_tokens.
std::vector<TraceRequest> read_request_trace(const std::string& path);

/// The keys `published:` may hold, with what each means.
const std::vector<std::pair<std::string, std::string>>& serving_figure_keys();

}  // namespace gpuhours
