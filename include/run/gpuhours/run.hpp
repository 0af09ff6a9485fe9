// Whole-run accounting, pure arithmetic over the simulated phases (phases.hpp): GPU-hours with
// interruptions and checkpoints, wall-clock days, costs under each model, energy, and the claim.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/scenario.hpp"
#include "gpuhours/phases.hpp"

namespace gpuhours {

/// Interruptions and checkpoints over the simulated phases (first-order model, Young 1974 / Daly
/// 2006): with checkpoint write time d, cluster mean time between interruptions M and restart R,
/// the optimal interval is tau = sqrt(2 d M); wall = useful * (1 + d/tau) / (1 - (tau/2 + d + R)/M),
/// the lost work per interruption being on average half an interval plus the restore (d) and the
/// restart (R). Goodput = useful / wall.
struct ReliabilityResult {
  bool enabled = false;
  double checkpoint_bytes = 0, checkpoint_seconds = 0, interval_seconds = 0;
  double mtbi_hours = 0, interruptions = 0, goodput = 1.0;
  double checkpoint_gpu_hours = 0, lost_gpu_hours = 0;  // overheads inside gpu_hours
};

struct CostResult {
  double rental_usd = 0;                       // gpu_hours x the scenario's price
  std::map<std::string, double> rental_presets_usd;
  double owned_usd_per_gpu_hour = 0;           // amortised hardware + interconnect + capital + energy
  double owned_usd = 0, owned_energy_usd = 0;
  double programme_gpu_hours = 0, programme_usd = 0;  // whole programme at the scenario's price
  std::optional<std::pair<double, double>> programme_gpu_hours_range;  // at the multiplier's low and high ends
  /// An owned fleet's cost per year: its capex amortised and financed at the owned-cost rates
  /// (hardware/costs.yaml), plus the energy of every GPU running all year.
  std::optional<double> fleet_usd_per_year;
  std::optional<double> api_usd;        // generation phases bought from an API instead (their GPU-hours' alternative)
  std::optional<double> api_route_usd;  // the run at the scenario's price with those phases bought from the API
};

struct RunResult {
  std::vector<PhaseResult> phases;  // main phase (split along a batch ramp), then later phases
  double steps = 0;            // optimizer steps of the simulated phases (fractional last step kept)
  double useful_gpu_hours = 0; // sum over phases of steps * step seconds * GPUs / 3600
  double mfu = 0;              // model FLOPs of the simulated phases / (their GPU-seconds x the peak)
  double gpu_hours = 0;        // useful / goodput for simulated phases, + reported phases
  double wall_clock_days = 0;
  double cost_usd = 0;         // gpu_hours * gpu_hour_usd
  double energy_mwh = 0;       // gpu_hours * TDP * avg power fraction * server factor * PUE
  double co2_tonnes = 0;       // energy * grid intensity, when given
  ReliabilityResult reliability;
  CostResult costs;
};

struct ClaimResult {
  struct Phase {
    std::string name;
    double claimed_gpu_hours = 0, simulated_gpu_hours = 0;  // simulated: interruptions included
  };
  std::vector<Phase> phases;  // the claim's figures by phase, beside the simulated ones
  std::optional<double> gpu_hours;
  std::optional<double> ratio;         // claimed / simulated GPU-hours
  std::optional<double> required_mfu;  // MFU the claimed GPU-hours imply
  std::optional<double> cost_usd;
  std::string source;
};

/// The run made of `phases` (simulate_phases): totals, interruptions and checkpoints over the
/// simulated ones, wall-clock days, costs, energy. Simulates nothing.
RunResult account_run(const Scenario& s, std::vector<PhaseResult> phases);
/// Interruptions and checkpoints for `useful_gpu_hours` of simulated training (see above).
ReliabilityResult reliability(const Scenario& s, double useful_gpu_hours);
/// Costs of a run under each model (rental, presets, owned cluster, programme).
CostResult price(const Scenario& s, const RunResult& run);
/// Facility power per GPU in kW (Epoch AI): TDP x average power fraction x server overhead x PUE.
double facility_kw_per_gpu(const Scenario& s);
/// Owned-cluster cost of one GPU-hour (Epoch AI's method, see price()), energy included.
double owned_usd_per_gpu_hour(const Scenario& s);

ClaimResult check_claim(const Scenario& s, const RunResult& run);

}  // namespace gpuhours
