// The run's phases, simulated: the main phase at its simulated step (split along the batch ramp),
// then each later phase with its own shape, layout, model and cluster: training (context
// extension, fine-tuning), RL (GRPO or PPO: rollouts generated as inference, then policy updates)
// and generation; a phase taken as reported is passed through.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/scenario.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

/// One phase of the run: simulated (step time x steps) or taken as reported.
struct PhaseResult {
  std::string name;
  std::string kind = "train";  // train | rl | generate | reported
  bool simulated = true;
  int gpus = 0;
  double tokens = 0, steps = 0, step_seconds = 0, mfu = 0;
  std::int64_t seq_len = 0, global_batch = 0;
  double gpu_hours = 0, wall_clock_days = 0;
  double model_flops = 0;  // MFU convention (forward 2N, training 6N, plus attention)
  // Generation (rl, generate): GPU-hours spent generating, tokens generated, decode throughput.
  double generation_gpu_hours = 0, output_tokens = 0, output_tokens_per_gpu_second = 0;
  std::optional<double> api_usd;            // generate: the same tokens bought from an API
  std::string note;
};

/// A training phase of `tokens` at `step` (steps = tokens / the step's tokens) on `s`'s cluster.
PhaseResult training_phase(const Scenario& s, const std::string& name, double tokens, const StepResult& step);
/// The phases of `s`'s run, the main one at `main_step` (simulate_step(s)); the batch ramp and each
/// later phase are simulated (InfeasibleLayout names the phase).
std::vector<PhaseResult> simulate_phases(const Scenario& s, const StepResult& main_step);

}  // namespace gpuhours
