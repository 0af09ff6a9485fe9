#include "gpuhours/simulated_run.hpp"

namespace gpuhours {

SimulatedRun simulate_run(const Scenario& s, const TraceSink& trace) {
  SimulatedRun r;
  r.step = simulate_step(s, trace);
  r.run = account_run(s, simulate_phases(s, r.step));
  return r;
}

}  // namespace gpuhours
