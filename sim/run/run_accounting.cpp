#include "gpuhours/run.hpp"

namespace gpuhours {

RunResult account_run(const Scenario& s, const StepResult& step) {
  RunResult r;
  r.steps = s.training.tokens / static_cast<double>(step.tokens);
  const double seconds = r.steps * step.seconds;
  r.gpu_hours = seconds * s.cluster.gpus() / 3600.0;
  r.wall_clock_days = seconds / 86400.0;
  r.cost_usd = r.gpu_hours * s.cost.gpu_hour_usd;
  r.energy_mwh = r.gpu_hours * s.cluster.gpu.tdp_watts / 1e6;
  return r;
}

ClaimResult check_claim(const Scenario& s, const StepResult& step, const RunResult& run) {
  ClaimResult c;
  if (!s.claim) return c;
  c.source = s.claim->source;
  c.cost_usd = s.claim->cost_usd;
  c.gpu_hours = s.claim->gpu_hours;
  if (c.gpu_hours) {
    c.ratio = *c.gpu_hours / run.gpu_hours;
    // Same tokens in fewer GPU-hours needs proportionally more model FLOPs per GPU-second.
    c.required_mfu = step.mfu * run.gpu_hours / *c.gpu_hours;
  }
  return c;
}

}  // namespace gpuhours
