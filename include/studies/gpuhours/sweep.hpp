// Layout and cluster-size search: a grid of variations of a scenario, rejected early where it
// cannot run (divisibility, memory, deadline), bounded analytically (step_lower_bound), and
// simulated only where the bound can still reach the best K or the Pareto front of wall-clock days
// against cost. Deterministic: candidates are visited in order of their bound, in fixed batches,
// so the result (and every count) is the same for any number of threads or MPI processes.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/scenario.hpp"

namespace gpuhours {

/// One --vary: a key and its values, in the given order.
struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

/// The keys --vary takes.
const std::vector<std::string>& sweep_keys();
/// Parses "key=v1,v2,..."; throws InputError for an unknown key (with a suggestion), an empty list
/// or a value of the wrong kind.
SweepAxis parse_sweep_axis(const std::string& spec, const Catalog& catalog);

/// A job-array shard: this process evaluates the layouts whose grid index is index mod count.
struct Shard {
  int index = 0, count = 1;
};
/// Parses "I/N" with 0 <= I < N; throws InputError.
Shard parse_shard(const std::string& spec);

/// cost: GPU-hours at the scenario's rental price (the same for every GPU type); owned_cost: the
/// owned-cluster cost per GPU-hour of each GPU type (Epoch AI's method, its catalogue price).
enum class SweepObjective { cost, owned_cost, gpu_hours, days };
template <>
struct EnumTable<SweepObjective> {
  static constexpr std::array<EnumName<SweepObjective>, 4> names{{{SweepObjective::cost, "cost"},
                                                                  {SweepObjective::owned_cost, "owned_cost"},
                                                                  {SweepObjective::gpu_hours, "gpu_hours"},
                                                                  {SweepObjective::days, "days"}}};
};
inline const char* to_string(SweepObjective o) { return name_of(o); }
/// "cost", "owned_cost", "gpu_hours" or "days"; throws InputError listing them.
inline SweepObjective parse_objective(const std::string& s) { return parse_enum<SweepObjective>(s, "objective"); }

/// One process checks at most this many layouts of its shard (about 1 us each, so a refused grid
/// would have taken minutes); a larger grid is refused at once with advice to shard it.
inline constexpr std::int64_t kMaxLayoutsPerProcess = 2'000'000;

struct SweepOptions {
  std::vector<SweepAxis> axes;
  std::optional<double> deadline_days;
  int top = 10;
  SweepObjective objective = SweepObjective::cost;
  int threads = 1;
  bool prune = true;  // false: simulate every feasible layout (the exhaustive reference)
  bool cache = true;  // false: rebuild op graphs and part times for every layout
  Shard shard;
  std::function<void(std::int64_t done, std::int64_t total)> progress;  // optional
};

/// One simulated layout. The main phase is scaled to the run (tokens / tokens per step) with the
/// scenario's reliability model; later phases and batch ramps are not re-simulated per layout.
struct SweepPoint {
  std::int64_t index = 0;           // in the grid (last axis fastest)
  std::vector<std::string> values;  // one per axis
  int gpus = 0;
  double bound_seconds = 0, step_seconds = 0, mfu = 0, peak_memory_bytes = 0;
  double gpu_hours = 0, days = 0, cost_usd = 0, owned_cost_usd = 0;
};

struct SweepResult {
  std::string scenario;
  std::vector<std::string> keys;
  std::int64_t grid = 0;       // layouts in the grid
  std::int64_t evaluated = 0;  // this shard's share of them
  std::map<std::string, std::int64_t> rejected;  // infeasibility (its name, infeasible.hpp) -> layouts
  std::int64_t bounded = 0, pruned = 0, simulated = 0;
  std::int64_t programs_reused = 0;  // layouts whose step program was simulated already (cache)
  std::int64_t shape_cache_hits = 0, shapes_built = 0;
  double check_seconds = 0, simulate_seconds = 0;  // wall-clock of each stage (not in the JSON)
  int top_k = 0;
  std::string objective;
  std::optional<double> deadline_days;
  std::vector<SweepPoint> top;     // best first
  std::vector<SweepPoint> pareto;  // by wall-clock days, then cost
  Shard shard;
};

/// What a distributed sweep needs from MPI: the process's rank, the number of processes, and an
/// all-gather of doubles (every process's vector, concatenated in rank order). The default is one
/// process.
class SweepComm {
 public:
  virtual ~SweepComm() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  virtual std::vector<double> allgather(const std::vector<double>& mine) { return mine; }
};

SweepResult run_sweep(const Scenario& base, const Catalog& catalog, const SweepOptions& options, SweepComm& comm);

void write_sweep_json(const SweepResult& r, std::ostream& out);
void write_sweep_csv(const SweepResult& r, std::ostream& out);
void write_sweep_terminal(const SweepResult& r, std::ostream& out);
/// What a sweep's GPU-hours, days and costs cover; its reports say so first.
extern const char* const kSweepCoverage;
/// Layouts rejected as infeasible, every reason together.
std::int64_t rejected_layouts(const SweepResult& r);
/// Reads a sweep written with write_sweep_json (a shard's output); throws InputError naming the file.
SweepResult read_sweep_json(const std::string& path);
/// The result of the whole grid from its shards' results: counts summed, top K and Pareto front
/// recomputed from the shards' (each shard's top K holds every global top-K layout of its share).
SweepResult merge_sweeps(const std::vector<SweepResult>& shards);

}  // namespace gpuhours
