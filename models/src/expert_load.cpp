#include "gpuhours/expert_load.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "gpuhours/error.hpp"
#include "gpuhours/rng.hpp"

namespace gpuhours {

namespace {

struct Draw {
  std::vector<double> share;  // expected share of each expert (the router's popularity)
  std::vector<double> load;   // token copies each expert received
};

Draw draw(const ExpertLoadQuery& q, Rng& rng) {
  const auto E = static_cast<std::size_t>(q.experts);
  Draw d;
  d.share.resize(E);
  for (double& w : d.share) w = std::exp(q.sigma * rng.normal());
  const double total = std::accumulate(d.share.begin(), d.share.end(), 0.0);
  for (double& w : d.share) w /= total;
  // Multinomial in the normal limit with its exact covariance N (diag(p) - p p^T), so the loads sum
  // to the copies: x_e = sqrt(N p_e) (z_e - sqrt(p_e) sum_j sqrt(p_j) z_j). A token's top_k experts
  // are distinct (drawn without replacement), which scales the fluctuation by the finite-population
  // factor sqrt((E - k) / (E - 1)) (the hypergeometric variance; exact for a uniform router).
  const double copies = q.tokens * q.top_k;
  std::vector<double> z(E);
  double projection = 0;
  for (std::size_t e = 0; e < E; ++e) {
    z[e] = rng.normal();
    projection += std::sqrt(d.share[e]) * z[e];
  }
  const double finite_population = E > 1 ? std::sqrt(static_cast<double>(q.experts - std::min(q.top_k, q.experts)) / (q.experts - 1)) : 0.0;
  d.load.resize(E);
  for (std::size_t e = 0; e < E; ++e) {
    const double mean = copies * d.share[e];
    const double deviate = std::sqrt(mean) * (z[e] - std::sqrt(d.share[e]) * projection);
    d.load[e] = std::max(0.0, mean + finite_population * deviate);
  }
  return d;
}

// Loads of the expert-parallel ranks: experts/ep consecutive experts each, or with redundant
// slots DeepSeek's EPLB (deepseek-ai/EPLB, eplb.py): each extra slot replicates the expert with
// the highest expected load per replica, then the replicas are packed, heaviest first, onto the
// rank with the least expected load that still has a free slot. Placement uses the expected
// shares (EPLB balances on recorded statistics); the load is what the draw sent.
std::vector<double> rank_loads(const ExpertLoadQuery& q, const Draw& d) {
  const int E = q.experts, ep = q.ep;
  std::vector<double> ranks(static_cast<std::size_t>(ep), 0.0);
  if (q.redundant_experts == 0) {
    const int per = E / ep;
    for (int e = 0; e < E; ++e) ranks[static_cast<std::size_t>(e / per)] += d.load[static_cast<std::size_t>(e)];
    return ranks;
  }
  std::vector<int> replicas(static_cast<std::size_t>(E), 1);
  for (int r = 0; r < q.redundant_experts; ++r) {
    std::size_t hot = 0;
    for (std::size_t e = 1; e < replicas.size(); ++e)
      if (d.share[e] / replicas[e] > d.share[hot] / replicas[hot]) hot = e;
    ++replicas[hot];
  }
  struct Slot {
    double expected, load;
  };
  std::vector<Slot> slots;
  for (std::size_t e = 0; e < replicas.size(); ++e)
    for (int r = 0; r < replicas[e]; ++r) slots.push_back({d.share[e] / replicas[e], d.load[e] / replicas[e]});
  std::stable_sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) { return a.expected > b.expected; });
  const std::size_t per_rank = slots.size() / static_cast<std::size_t>(ep);
  std::vector<double> expected(ranks.size(), 0.0);
  std::vector<std::size_t> used(ranks.size(), 0);
  for (const Slot& s : slots) {
    std::size_t best = ranks.size();
    for (std::size_t r = 0; r < ranks.size(); ++r)
      if (used[r] < per_rank && (best == ranks.size() || expected[r] < expected[best])) best = r;
    expected[best] += s.expected;
    ranks[best] += s.load;
    ++used[best];
  }
  return ranks;
}

void check(const ExpertLoadQuery& q) {
  GPUHOURS_ASSERT(q.experts > 0 && q.top_k > 0 && q.ep > 0 && q.draws > 0 && q.tokens > 0 && q.sigma >= 0,
                  "expert load query out of range");
  GPUHOURS_ASSERT((q.experts + q.redundant_experts) % q.ep == 0, "expert slots divide over the expert-parallel ranks");
}

}  // namespace

double mean_max_expert_load(const ExpertLoadQuery& q) {
  check(q);
  Rng rng(q.seed);
  double sum = 0;
  for (int i = 0; i < q.draws; ++i) {
    const Draw d = draw(q, rng);
    const double mean = std::accumulate(d.load.begin(), d.load.end(), 0.0) / q.experts;
    sum += *std::max_element(d.load.begin(), d.load.end()) / mean;
  }
  return sum / q.draws;
}

double mean_rank_imbalance(const ExpertLoadQuery& q) {
  check(q);
  if (q.ep == 1) return 1.0;
  Rng rng(q.seed);
  double sum = 0;
  for (int i = 0; i < q.draws; ++i) {
    const std::vector<double> ranks = rank_loads(q, draw(q, rng));
    const double mean = std::accumulate(ranks.begin(), ranks.end(), 0.0) / q.ep;
    sum += *std::max_element(ranks.begin(), ranks.end()) / mean;
  }
  return sum / q.draws;
}

double ImbalanceMemo::get(const ExpertLoadQuery& q) {
  const auto key = std::make_tuple(q.sigma, q.experts, q.top_k, q.ep, q.tokens, q.redundant_experts, q.draws);
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = values_.find(key); it != values_.end()) return it->second;
  }
  const double v = mean_rank_imbalance(q);  // deterministic: a racing thread computes the same value
  const std::lock_guard<std::mutex> lock(mutex_);
  values_.emplace(key, v);
  return v;
}

double calibrate_sigma(const RoutingRegime& r) {
  if (r.max_violation <= 0) return 0.0;
  ExpertLoadQuery q;
  q.experts = r.experts;
  q.top_k = r.top_k;
  q.ep = r.experts;
  q.tokens = r.tokens;
  auto violation = [&](double sigma) {
    q.sigma = sigma;
    return mean_max_expert_load(q) - 1.0;
  };
  // Sampling noise alone (sigma = 0) already gives some violation; a published figure below it
  // cannot be reproduced by any popularity spread.
  if (violation(0.0) >= r.max_violation) return 0.0;
  double lo = 0.0, hi = 4.0;
  for (int i = 0; i < 40; ++i) {
    const double mid = 0.5 * (lo + hi);
    (violation(mid) < r.max_violation ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace gpuhours
