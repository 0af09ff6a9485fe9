// One training step: placement of layers on pipeline ranks, the memory plan, the per-rank task
// program and its event simulation.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/infeasible.hpp"
#include "gpuhours/layout.hpp"
#include "gpuhours/opgraph.hpp"
#include "gpuhours/scenario.hpp"

namespace gpuhours {

class Engine;

/// What one pipeline rank holds: layer ranges per model part, parameters, and memory (bytes).
struct StagePlan {
  int rank = 0;
  std::vector<int> parts;                  // model parts (pipeline positions) on this rank
  int layers = 0;                          // transformer layers held (all parts)
  bool embedding = false, head = false;    // first / last part
  double params = 0, expert_params = 0;    // parameters on the GPU (after tp / ep sharding)
  double forward_flops_per_token = 0;      // the GPU's forward FLOPs per token of its micro-batch
  double weights = 0, gradients = 0, optimizer = 0, activations = 0, buffers = 0, fragmentation = 0;
  int micro_batches_in_flight = 0;         // activation sets held at the peak
  double total() const { return weights + gradients + optimizer + activations + buffers + fragmentation; }
};

/// Contiguous split of layers into `parts` parts (each at least one layer) that minimises the
/// largest part's cost; the first part also carries `first_extra` (embedding), the last
/// `last_extra` (head, MTP). Returns each part's [first, last) layers.
std::vector<std::pair<int, int>> balanced_split(const std::vector<double>& layer_cost, double first_extra,
                                                double last_extra, int parts);

struct StepBreakdown {
  double compute = 0, optimizer = 0, exposed_communication = 0, bubble = 0;  // seconds
  double waiting_for_host = 0;  // the GPU idle while the host launches its next kernels
};

struct StreamUse {
  int rank = 0;
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
  int micro_batches = 0;  // per data-parallel rank per step
  std::vector<StagePlan> stages;
  StagePlan peak;         // the stage with the most memory
  StepBreakdown breakdown;                                      // mean over pipeline ranks
  std::map<std::string, double> exposed_communication_by_kind;  // seconds, mean over ranks
  std::vector<StreamUse> streams;
  std::size_t tasks = 0;
  std::map<std::string, double> comm_bytes_per_step;  // per GPU, by collective
  /// With flows (ClusterSpec::flows): per class of link (NIC -> leaf, leaf -> spine ...), the one
  /// that carried the most bytes for its capacity in the step, busiest class first.
  struct LinkLoad {
    std::string link;
    double bytes = 0;
    double busy = 0;  // bytes / (capacity x step time)
    int as_busy = 1;  // links of the class within 1% of it (itself included)
  };
  std::vector<LinkLoad> busiest_links;
  std::vector<std::string> assumptions;
};

/// The op graph of one rank of the scenario's layout.
OpGraph scenario_op_graph(const Scenario& s);

/// Why the scenario's layout cannot run (what does not divide, what the pipeline schedule refuses),
/// or nothing.
std::optional<Infeasible> layout_infeasibility(const Scenario& s);
/// Throws InfeasibleLayout with layout_infeasibility(s).
void check_layout(const Scenario& s);
/// Memory per pipeline rank on layout `l`, whether it fits or not.
std::vector<StagePlan> memory_plan(const Scenario& s, const Layout& l);
/// Out of memory: the first stage over the GPU's memory, with its needs; or nothing.
std::optional<Infeasible> memory_infeasibility(const Scenario& s, const std::vector<StagePlan>& stages);
/// memory_plan on the scenario's layout; throws InfeasibleLayout when infeasible or out of memory.
std::vector<StagePlan> plan_memory(const Scenario& s);
/// One micro-batch's passes through each model part on one GPU, indexed by part (pipeline
/// position): the compute kernels at their nominal time, and the communication the pass waits for
/// between its first and last kernel (the in-order compute stream idles through it).
struct PartTimes {
  struct Pass {
    std::int64_t compute_ns = 0, blocking_comm_ns = 0;
    std::int64_t host_ns = 0;  // the host's time launching the pass's kernels
    std::int64_t serial_ns() const { return compute_ns + blocking_comm_ns; }
  };
  std::vector<Pass> forward, backward_full, backward_input, weights;
};
/// The part times of `s`'s layout. They depend on the rank shape, the GPU and the split into parts
/// only (not on the data-parallel size, the batch or ZeRO): part_times_key() names them for a cache.
PartTimes part_compute_times(const Scenario& s);
std::string part_times_key(const Scenario& s);
/// Whether the layout's FP8 GEMMs run on the SMs the expert dispatch / combine kernels leave for the
/// whole step (gemm_sms: partitioned, with a MoE model and expert parallelism to leave them for).
bool gemms_partitioned(const Scenario& s);

/// What the layouts of one part_times_key() share: the op graph, the split into parts and the part
/// times, built once and reused across a sweep. Immutable; safe to share between threads.
struct ShapeData;
std::shared_ptr<const ShapeData> build_shape_data(const Scenario& s);
const PartTimes& part_times(const ShapeData& shape);
/// The layout of `s` (feasible), reusing `shape`'s op graph and split into parts.
Layout make_layout(const Scenario& s, const ShapeData& shape);
/// A lower bound on simulate_step(s).seconds. On each pipeline rank: the busy time of its compute
/// stream (every pass's kernels, plus the communication a pass waits for between its kernels;
/// DualPipe's overlapped F&B pairs count their kernels only; concurrent communication only slows
/// kernels), after the forward passes that its first micro-batch needs on earlier parts, and, when
/// its last op is a backward, before the backward passes that this micro-batch still needs on
/// earlier parts (each pass is a chain of dependent tasks), or followed by its optimizer step and
/// ZeRO-1/2 weight all-gathers; and at least the time its host takes to launch every kernel of the
/// rank. Never exceeds the simulated step
/// (tested on random layouts). `l` is the scenario's (feasible) layout, `stages` its memory plan.
double step_lower_bound(const Scenario& s, const Layout& l, const PartTimes& parts, const std::vector<StagePlan>& stages);

/// `s` with the achievable link bandwidths scaled by its uncertainty's network_bandwidth_scale.
Scenario with_network_uncertainty(const Scenario& s);
/// Receives the simulated step's engine, a name for each rank and the step's assumptions (which
/// mechanisms were on: clocks, stragglers, imbalance...) (a trace writer, report/trace.hpp).
using TraceSink = std::function<void(const Engine& engine, const std::vector<std::string>& rank_names,
                                     const std::vector<std::string>& assumptions)>;
/// Simulates one step of `s`; hands the simulation to `trace` when given.
StepResult simulate_step(const Scenario& s, const TraceSink& trace = {});
/// The same on `s`'s layout `l` built already (make_layout).
StepResult simulate_step(const Scenario& s, const Layout& l, const TraceSink& trace = {});

}  // namespace gpuhours
