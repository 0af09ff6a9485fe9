// A scenario simulated end to end: one step, the run's phases, and their accounting. The one path
// from a scenario to a run that the commands and studies take.
#pragma once
#include "gpuhours/phases.hpp"
#include "gpuhours/run.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

struct SimulatedRun {
  StepResult step;  // the main phase's step (at its final batch)
  RunResult run;
};

/// simulate_step (handing its engine to `trace` when given), simulate_phases, account_run.
SimulatedRun simulate_run(const Scenario& s, const TraceSink& trace = {});

}  // namespace gpuhours
