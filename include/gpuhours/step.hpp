// One training step: the memory plan, the per-rank task program and its event simulation.
#pragma once
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "gpuhours/opgraph.hpp"
#include "gpuhours/scenario.hpp"

namespace gpuhours {

/// Memory one GPU holds at the peak of the step, by category (bytes).
struct MemoryPlan {
  double weights = 0, gradients = 0, optimizer = 0, activations = 0, transient = 0;
  double total() const { return weights + gradients + optimizer + activations + transient; }
};

/// Mixed-precision Adam (Rajbhandari et al. 2020, ZeRO §3.1): 2 bytes BF16 weights + 2 bytes
/// gradients + 12 bytes FP32 master weights and moments per parameter; ZeRO stage 1 partitions
/// the 12 over data-parallel ranks, stage 2 also the gradients, stage 3 also the weights.
/// Activations: the bytes each op saves for backward, for one micro-batch in flight.
/// Throws InfeasibleLayout when the total exceeds the GPU's memory.
MemoryPlan plan_memory(const Scenario& s, const OpGraph& graph);

struct StepBreakdown {
  double compute = 0, optimizer = 0, exposed_communication = 0, bubble = 0;  // seconds
};

struct StreamUse {
  std::string name;
  double busy_seconds = 0;
  double utilisation = 0;
};

struct StepResult {
  double seconds = 0;
  std::int64_t tokens = 0;  // per step, whole cluster
  double tokens_per_gpu_second = 0;
  double model_flops_per_token = 0;
  double mfu = 0;
  int dp = 1;
  int micro_batches = 0;  // per data-parallel rank per step (gradient accumulation)
  MemoryPlan memory;
  StepBreakdown breakdown;
  std::map<std::string, double> exposed_communication_by_kind;  // seconds
  std::vector<StreamUse> streams;
  std::size_t tasks = 0;
  std::vector<std::string> assumptions;
};

/// Simulates one step of `s`. Writes a Chrome trace to `trace` when given.
StepResult simulate_step(const Scenario& s, std::ostream* trace = nullptr);

/// Checks the layout; throws InfeasibleLayout naming what does not divide.
void check_layout(const Scenario& s);

}  // namespace gpuhours
