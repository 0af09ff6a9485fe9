// Expert load: how unevenly a router spreads tokens over experts, and what that does to the
// busiest expert-parallel rank.
//
// Router model. In one MoE layer and one micro-batch, expert e's expected share of the routed
// token copies is p_e proportional to exp(sigma * z_e), z_e standard normal (a lognormal
// popularity; sigma = 0 is a uniform router). The micro-batch's N = tokens * top_k copies then fall
// multinomially on the experts, drawn in the normal limit with the multinomial's covariance (the
// loads sum to N) and the finite-population factor of a token's k distinct experts, clamped at 0. An expert-parallel rank holds experts/ep consecutive experts (or,
// with redundant experts, a balanced placement of the hottest ones' replicas, DeepSeek's EPLB);
// its load is the sum of its experts' copies. Dispatch, grouped GEMMs and combine wait for the
// busiest rank (the combine is a barrier over the group), so a layer costs what the max-loaded
// rank costs: its imbalance is max_r load_r / mean_r load_r.
//
// sigma is not guessed: a balancing regime (models/routing.yaml) gives a published batch-level
// statistic, MaxVio_batch = max_e load_e / mean - 1 (Wang et al., arXiv:2408.15664 §4), with the
// experts, top-k and tokens it was measured at; sigma is the value for which this model reproduces
// it there (bisection; MaxVio grows with sigma).
//
// Every draw comes from a seeded generator (SplitMix64 + Box-Muller, the same on every platform),
// so results are deterministic.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

namespace gpuhours {

/// One draw's loads: per expert, then per expert-parallel rank.
struct ExpertLoadQuery {
  double sigma = 0;
  int experts = 0, top_k = 0, ep = 1;
  double tokens = 0;          // tokens routed by the expert-parallel group in one micro-batch and layer
  int redundant_experts = 0;  // extra expert slots for replicas of the hottest experts (EPLB)
  int draws = 256;            // independent (layer, micro-batch) draws averaged
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
};

/// mean_rank_imbalance results already drawn, shared by the copies of a scenario (a sweep
/// evaluates thousands of layouts with a few distinct shapes); safe across threads.
class ImbalanceMemo {
 public:
  double get(const ExpertLoadQuery& q);

 private:
  std::mutex mutex_;
  std::map<std::tuple<double, int, int, int, double, int, int>, double> values_;
};

/// A balancing regime's published statistic (models/routing/balancing.yaml).
struct RoutingRegime {
  std::string name, source;
  double max_violation = 0;  // MaxVio: max_e load_e / mean - 1, averaged over layers
  int experts = 0, top_k = 0;
  double tokens = 0;  // tokens it was counted over
  double sigma = 0;   // the router model's popularity spread that reproduces max_violation
  std::shared_ptr<ImbalanceMemo> memo = std::make_shared<ImbalanceMemo>();
};

/// Mean over the draws of the busiest expert's load / mean (MaxVio + 1) for ep = experts.
double mean_max_expert_load(const ExpertLoadQuery& q);
/// Mean over the draws of the busiest expert-parallel rank's load / mean: the step's imbalance.
double mean_rank_imbalance(const ExpertLoadQuery& q);
/// The sigma that reproduces a regime's published MaxVio_batch at its own experts, top-k and tokens.
double calibrate_sigma(const RoutingRegime& r);

}  // namespace gpuhours
