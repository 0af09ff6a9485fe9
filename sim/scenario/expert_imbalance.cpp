// The expert-parallel imbalance of a scenario's layout: given, or drawn from its router model.
#include <fmt/format.h>

#include "gpuhours/scenario.hpp"

namespace gpuhours {

namespace {

ExpertLoadQuery query(const Scenario& s, int ep, double tokens) {
  ExpertLoadQuery q;
  q.sigma = s.parallel.routing.sigma;
  q.experts = s.model.ffn.experts;
  q.top_k = s.model.ffn.experts_per_token;
  q.ep = ep;
  q.tokens = tokens;
  return q;
}

ExpertLoadQuery query(const Scenario& s) {
  const ParallelSpec& p = s.parallel;
  return query(s, p.ep, static_cast<double>(p.ep) * p.micro_batch * static_cast<double>(s.training.seq_len) / (p.tp * p.cp));
}

}  // namespace

double expert_imbalance(const Scenario& s, int ep, double tokens, int redundant_experts) {
  if (s.parallel.expert_imbalance) return *s.parallel.expert_imbalance;
  // Forced balance or token dropping at capacity 1: every rank computes exactly the mean.
  if (!s.model.ffn.moe || ep <= 1 || tokens <= 0 || s.parallel.routing.max_violation <= 0) return 1.0;
  if ((s.model.ffn.experts + redundant_experts) % ep != 0) return 1.0;  // infeasible: the layout checks report it
  ExpertLoadQuery q = query(s, ep, tokens);
  q.redundant_experts = redundant_experts;
  return s.parallel.routing.memo->get(q);
}

double expert_imbalance(const Scenario& s, int ep, double tokens) { return expert_imbalance(s, ep, tokens, 0); }

double expert_imbalance(const Scenario& s) {
  const ParallelSpec& p = s.parallel;
  return expert_imbalance(s, p.ep, query(s).tokens);
}

std::string expert_imbalance_assumption(const Scenario& s) {
  if (!s.model.ffn.moe || s.parallel.ep == 1) return "";
  if (s.parallel.expert_imbalance)
    return fmt::format("expert load: the busiest expert-parallel rank routes {:.3f} x the mean tokens (given)",
                       *s.parallel.expert_imbalance);
  if (s.parallel.routing.max_violation <= 0)
    return "expert load: " + s.parallel.routing.name + " routing: every expert-parallel rank computes exactly the mean load";
  const ExpertLoadQuery q = query(s);
  return fmt::format(
      "expert load: {} routing (published MaxVio {:.2f}, router popularity spread {:.3f}); over {} draws of {:.0f} "
      "tokens x top-{} on {} experts in {} ranks, the busiest rank routes {:.3f} x the mean, and every MoE layer waits "
      "for it",
      s.parallel.routing.name, s.parallel.routing.max_violation, q.sigma, q.draws, q.tokens, q.top_k, q.experts, q.ep,
      expert_imbalance(s));
}

}  // namespace gpuhours
