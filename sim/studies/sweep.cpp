#include "gpuhours/sweep.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <ostream>
#include <thread>
#include <unordered_map>
#include <variant>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gpuhours/error.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/run.hpp"
#include "gpuhours/schedule.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace {

// Candidates simulated between two updates of the best K and the front. A constant, so that the
// visiting order, and every count, does not depend on threads or processes.
constexpr std::size_t kBatch = 16;

const std::vector<std::string> kIntKeys = {"tp", "pp", "ep", "cp", "zero", "virtual_stages", "micro_batch",
                                           "gpus", "global_batch", "seq_len"};

bool is_int_key(const std::string& k) { return std::find(kIntKeys.begin(), kIntKeys.end(), k) != kIntKeys.end(); }

// What a grid value resolves to: a number, a name, or presets loaded once.
struct AxisValues {
  std::string key;
  std::vector<std::string> text;
  std::vector<std::int64_t> ints;
  std::vector<GpuSpec> gpus;
  std::vector<std::shared_ptr<const CalibrationProfile>> calibrations;
  std::vector<NetworkSpec> networks;
};

// The figure the search ranks by.
double objective_of(SweepObjective o, double cost, double owned, double hours, double days) {
  switch (o) {
    case SweepObjective::cost: return cost;
    case SweepObjective::owned_cost: return owned;
    case SweepObjective::gpu_hours: return hours;
    case SweepObjective::days: return days;
  }
  return cost;
}

// A layout that got past the checks, with its bound.
struct Candidate {
  std::int64_t index = 0;
  int gpus = 0;
  double bound_seconds = 0, lb_metric = 0, lb_days = 0, lb_cost = 0;
  double peak_memory_bytes = 0;  // of the memory plan the checks made
};

class Sweep {
 public:
  Sweep(const Scenario& base, const Catalog& catalog, const SweepOptions& o) : base_(base), o_(o) {
    if (o.axes.empty()) throw InputError("sweep: the grid is empty; give at least one --vary key=v1,v2,...");
    for (const SweepAxis& a : o.axes) {
      if (a.values.empty()) throw InputError("sweep: --vary " + a.key + " has no values");
      AxisValues v;
      v.key = a.key;
      v.text = a.values;
      for (const std::string& t : a.values) {
        if (is_int_key(a.key)) v.ints.push_back(std::stoll(t));
        if (a.key == "gpu") {
          v.gpus.push_back(load_gpu_preset(t, catalog));
          v.calibrations.push_back(base.cluster.calibration && base.cluster.calibration->gpu == t
                                       ? base.cluster.calibration
                                       : default_calibration(v.gpus.back(), catalog));
        }
        if (a.key == "network") v.networks.push_back(load_network_preset(t, catalog));
      }
      axes_.push_back(std::move(v));
    }
    grid_ = 1;
    for (const AxisValues& a : axes_) {
      if (grid_ > std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(a.text.size()))
        throw InputError("sweep: the grid is too large");
      grid_ *= static_cast<std::int64_t>(a.text.size());
    }
    for (const AxisValues& a : axes_) {
      varies_schedule_ = varies_schedule_ || a.key == "schedule";
      varies_virtual_stages_ = varies_virtual_stages_ || a.key == "virtual_stages";
    }
  }

  std::int64_t grid() const { return grid_; }

  // The grid values of layout `index` (last axis fastest).
  std::vector<std::size_t> digits(std::int64_t index) const {
    std::vector<std::size_t> d(axes_.size());
    for (std::size_t i = axes_.size(); i-- > 0;) {
      const auto n = static_cast<std::int64_t>(axes_[i].text.size());
      d[i] = static_cast<std::size_t>(index % n);
      index /= n;
    }
    return d;
  }

  std::vector<std::string> values(std::int64_t index) const {
    std::vector<std::string> v;
    const auto d = digits(index);
    for (std::size_t i = 0; i < axes_.size(); ++i) v.push_back(axes_[i].text[d[i]]);
    return v;
  }

  // The scenario of layout `index`, or why its cluster cannot be built.
  std::variant<Scenario, Infeasible> try_scenario(std::int64_t index) const {
    Scenario s = base_;
    ParallelSpec& p = s.parallel;
    const auto d = digits(index);
    bool split_changes = false;
    std::optional<std::int64_t> gpus;
    for (std::size_t i = 0; i < axes_.size(); ++i) {
      const AxisValues& a = axes_[i];
      const std::string& t = a.text[d[i]];
      const auto n = a.ints.empty() ? 0 : static_cast<int>(a.ints[d[i]]);
      if (a.key == "tp") p.tp = n;
      else if (a.key == "pp") p.pp = n, split_changes = true;
      else if (a.key == "ep") p.ep = n;
      else if (a.key == "cp") p.cp = n;
      else if (a.key == "zero") p.zero = n;
      else if (a.key == "virtual_stages") p.virtual_stages = n, split_changes = true;
      else if (a.key == "micro_batch") p.micro_batch = n;
      else if (a.key == "schedule") p.schedule = t, split_changes = true;
      else if (a.key == "recompute") p.recompute = parse_enum<Recompute>(t, "recompute");
      else if (a.key == "global_batch") s.training.global_batch = a.ints[d[i]];
      else if (a.key == "seq_len") s.training.seq_len = a.ints[d[i]];
      else if (a.key == "gpus") gpus = a.ints[d[i]];
      else if (a.key == "gpu") {
        s.cluster.gpu = a.gpus[d[i]];
        s.cluster.calibration = a.calibrations[d[i]];
        s.cost.owned.gpu_price_usd = s.cluster.gpu.price_usd;  // the owned cost follows the GPU's catalogue price
      } else if (a.key == "network") s.cluster.network = a.networks[d[i]];
    }
    if (split_changes) p.layers_per_part.clear();
    // Varying the schedule alone: the scenario's interleaving applies to interleaved-1f1b only.
    if (varies_schedule_ && !varies_virtual_stages_ && !uses_virtual_stages(parse_schedule(p.schedule))) p.virtual_stages = 1;
    if (gpus) {
      if (*gpus % s.cluster.gpus_per_node != 0)
        return Infeasible{Infeasibility::gpus_fill_nodes,
                          fmt::format("gpus ({}) is not a multiple of the {} GPUs per node", *gpus, s.cluster.gpus_per_node),
                          {{"gpus", static_cast<double>(*gpus)}, {"gpus_per_node", s.cluster.gpus_per_node}}};
      s.cluster.nodes = static_cast<int>(*gpus / s.cluster.gpus_per_node);
    }
    if (s.cluster.nodes > 1 && s.cluster.network.kind == "nvswitch")
      return Infeasible{Infeasibility::network_spans_node, "an nvswitch network spans one node", {{"nodes", s.cluster.nodes}}};
    return s;
  }

  // The scenario of a layout that passed try_scenario.
  Scenario scenario(std::int64_t index) const { return std::get<Scenario>(try_scenario(index)); }

  // Shape data for `s`, built once per rank shape (or every time without the cache).
  std::shared_ptr<const ShapeData> shape(const Scenario& s) {
    if (!o_.cache) {
      ++shapes_built_;
      return build_shape_data(s);
    }
    const std::string key = part_times_key(s);
    {
      std::lock_guard lock(mutex_);
      if (auto it = shapes_.find(key); it != shapes_.end()) {
        ++shape_hits_;
        return it->second;
      }
    }
    auto built = build_shape_data(s);
    std::lock_guard lock(mutex_);
    ++shapes_built_;
    return shapes_.emplace(key, std::move(built)).first->second;
  }

  struct Scaled {
    double hours = 0, days = 0, cost = 0, owned = 0;
  };
  // The main phase at `step_seconds` per step, accounted as a run (interruptions included).
  Scaled scale(const Scenario& s, double step_seconds) const {
    StepResult step;
    step.seconds = step_seconds;
    step.tokens = s.training.global_batch * s.training.seq_len;
    const RunResult run = account_run(s, {training_phase(s, "main", s.training.tokens, step)});
    return {run.gpu_hours, run.wall_clock_days, run.cost_usd, run.costs.owned_usd};
  }

  // Checks and bounds layout `index`: a candidate, or why it cannot run.
  std::variant<Candidate, Infeasibility> bound(std::int64_t index) {
    const auto made = try_scenario(index);
    if (const auto* why = std::get_if<Infeasible>(&made)) return why->code;
    const Scenario& s = std::get<Scenario>(made);
    if (auto why = layout_infeasibility(s)) return why->code;
    const auto sh = shape(s);
    const Layout l = make_layout(s, *sh);
    const std::vector<StagePlan> stages = memory_plan(s, l);
    if (auto why = memory_infeasibility(s, stages)) return why->code;
    try {
      Candidate c;
      c.index = index;
      c.gpus = s.cluster.gpus();
      c.bound_seconds = step_lower_bound(s, l, part_times(*sh), stages);
      for (const StagePlan& st : stages) c.peak_memory_bytes = std::max(c.peak_memory_bytes, st.total());
      const Scaled lb = scale(s, c.bound_seconds);
      c.lb_days = lb.days;
      c.lb_cost = lb.cost;
      c.lb_metric = objective_of(o_.objective, lb.cost, lb.owned, lb.hours, lb.days);
      if (o_.deadline_days && lb.days > *o_.deadline_days) return Infeasibility::deadline;
      return c;
    } catch (const InfeasibleLayout& e) {  // interruptions too frequent for this cluster (reliability)
      return e.why().code;
    }
  }

  // What the step program depends on: the rank shape and split (part_times_key), the data
  // parallelism, batch, cluster and ZeRO, where ZeRO-1 and ZeRO-2 run the same program (gradients
  // reduce-scattered, weights all-gathered after the optimizer; only the memory differs).
  std::string program_key(std::int64_t index) const {
    const Scenario s = scenario(index);
    const ParallelSpec& p = s.parallel;
    return part_times_key(s) + fmt::format("|zero{}|gb{}|n{}x{}|{}|{}", p.zero == 2 ? 1 : p.zero, s.training.global_batch,
                                           s.cluster.nodes, s.cluster.gpus_per_node, s.cluster.network.name,
                                           s.uncertainty.network_bandwidth_scale);
  }

  // Simulates candidate `c`, or takes the step of an identical program simulated before.
  SweepPoint simulate(const Candidate& c, const StepResult* same_program) {
    const Scenario s = scenario(c.index);
    const StepResult step = same_program ? *same_program : simulate_step(s, make_layout(s, *shape(s)));
    SweepPoint p;
    p.index = c.index;
    p.gpus = c.gpus;
    p.bound_seconds = c.bound_seconds;
    p.step_seconds = step.seconds;
    p.mfu = step.mfu;
    p.peak_memory_bytes = c.peak_memory_bytes;
    const Scaled r = scale(s, step.seconds);
    p.gpu_hours = r.hours;
    p.days = r.days;
    p.cost_usd = r.cost;
    p.owned_cost_usd = r.owned;
    return p;
  }

  double metric(const SweepPoint& p) const {
    return objective_of(o_.objective, p.cost_usd, p.owned_cost_usd, p.gpu_hours, p.days);
  }

  std::int64_t shape_hits() const { return shape_hits_; }
  std::int64_t shapes_built() const { return shapes_built_; }

 private:
  const Scenario& base_;
  const SweepOptions& o_;
  std::vector<AxisValues> axes_;
  std::int64_t grid_ = 1;
  bool varies_schedule_ = false, varies_virtual_stages_ = false;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const ShapeData>> shapes_;
  std::atomic<std::int64_t> shape_hits_{0}, shapes_built_{0};
};

// Runs f(i) for i in [0, n) on `threads` threads; the first exception stops the work and is
// rethrown here once every thread has joined.
template <class F>
void parallel_for(std::size_t n, int threads, F&& f) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) f(i);
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(n)); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

// Keeps the non-dominated points (fewer days, less cost), ties by grid index.
std::vector<SweepPoint> pareto_front(std::vector<SweepPoint> points) {
  std::sort(points.begin(), points.end(), [](const SweepPoint& a, const SweepPoint& b) {
    return std::tie(a.days, a.cost_usd, a.index) < std::tie(b.days, b.cost_usd, b.index);
  });
  std::vector<SweepPoint> front;
  for (const SweepPoint& p : points)
    if (front.empty() || p.cost_usd < front.back().cost_usd) front.push_back(p);
  return front;
}

void sort_top(std::vector<SweepPoint>& top, SweepObjective o, std::size_t k) {
  std::sort(top.begin(), top.end(), [&](const SweepPoint& a, const SweepPoint& b) {
    const double ma = objective_of(o, a.cost_usd, a.owned_cost_usd, a.gpu_hours, a.days);
    const double mb = objective_of(o, b.cost_usd, b.owned_cost_usd, b.gpu_hours, b.days);
    return std::tie(ma, a.index) < std::tie(mb, b.index);
  });
  if (top.size() > k) top.resize(k);
}

// A point's figures, in the order of the JSON and of the all-gather: the one list every
// serialisation of a SweepPoint reads (index, gpus and the layout's values are written beside it).
struct Figure {
  const char* name;
  double SweepPoint::*member;
};
constexpr Figure kFigures[] = {{"bound_seconds", &SweepPoint::bound_seconds}, {"step_seconds", &SweepPoint::step_seconds},
                               {"mfu", &SweepPoint::mfu},                     {"peak_memory_bytes", &SweepPoint::peak_memory_bytes},
                               {"gpu_hours", &SweepPoint::gpu_hours},         {"wall_clock_days", &SweepPoint::days},
                               {"cost_usd", &SweepPoint::cost_usd},           {"owned_cost_usd", &SweepPoint::owned_cost_usd}};
constexpr int kPointFields = 2 + static_cast<int>(std::size(kFigures));

void put_point(std::vector<double>& out, const SweepPoint& p) {
  out.insert(out.end(), {static_cast<double>(p.index), static_cast<double>(p.gpus)});
  for (const Figure& f : kFigures) out.push_back(p.*f.member);
}
SweepPoint get_point(const std::vector<double>& in, std::size_t at) {
  SweepPoint p;
  p.index = static_cast<std::int64_t>(in[at++]);
  p.gpus = static_cast<int>(in[at++]);
  for (const Figure& f : kFigures) p.*f.member = in[at++];
  return p;
}

}  // namespace


const std::vector<std::string>& sweep_keys() {
  static const std::vector<std::string> keys = {"tp", "pp", "ep", "cp", "zero", "schedule", "virtual_stages",
                                                "micro_batch", "recompute", "gpus", "gpu", "network",
                                                "global_batch", "seq_len"};
  return keys;
}

SweepAxis parse_sweep_axis(const std::string& spec, const Catalog& catalog) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos) throw InputError("--vary '" + spec + "': expected key=v1,v2,...");
  SweepAxis a;
  a.key = spec.substr(0, eq);
  const auto& keys = sweep_keys();
  if (std::find(keys.begin(), keys.end(), a.key) == keys.end()) {
    const std::string hint = closest_match(a.key, keys);
    std::string all;
    for (const auto& k : keys) all += (all.empty() ? "" : ", ") + k;
    throw InputError("--vary: unknown key '" + a.key + "'" + (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                     " (keys: " + all + ")");
  }
  std::string rest = spec.substr(eq + 1);
  for (std::size_t at = 0; at <= rest.size();) {
    const auto comma = rest.find(',', at);
    const std::string v = rest.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!v.empty()) a.values.push_back(v);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  if (a.values.empty()) throw InputError("--vary " + a.key + ": no values (expected " + a.key + "=v1,v2,...)");
  for (const std::string& v : a.values) {
    if (is_int_key(a.key)) {
      const bool digits = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
      const bool zero_ok = a.key == "zero";
      if (!digits || v.size() > 12 || (!zero_ok && std::stoll(v) == 0))
        throw InputError("--vary " + a.key + ": '" + v + "' is not a " + (zero_ok ? "whole number" : "positive whole number"));
      if (zero_ok && std::stoll(v) > 3) throw InputError("--vary zero: ZeRO stage is 0, 1, 2 or 3, got " + v);
    } else if (a.key == "schedule") {
      parse_schedule(v);
    } else if (a.key == "recompute") {
      if (v != "none" && v != "selective" && v != "full")
        throw InputError("--vary recompute: unknown value '" + v + "' (one of: none, selective, full)");
    } else if (a.key == "gpu") {
      load_gpu_preset(v, catalog);
    } else if (a.key == "network") {
      load_network_preset(v, catalog);
    }
  }
  return a;
}

Shard parse_shard(const std::string& spec) {
  const auto slash = spec.find('/');
  auto number = [&](const std::string& t) -> int {
    if (t.empty() || t.size() > 9 || !std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      throw InputError("--shard '" + spec + "': expected I/N with whole numbers, 0 <= I < N (e.g. 0/4)");
    return std::stoi(t);
  };
  if (slash == std::string::npos) number("");
  Shard s{number(spec.substr(0, slash)), number(spec.substr(slash + 1))};
  if (s.count < 1 || s.index >= s.count)
    throw InputError("--shard '" + spec + "': expected I/N with 0 <= I < N (e.g. 0/4)");
  return s;
}

SweepResult run_sweep(const Scenario& base, const Catalog& catalog, const SweepOptions& o, SweepComm& comm) {
  Sweep sweep(base, catalog, o);
  SweepResult r;
  r.scenario = base.name;
  for (const SweepAxis& a : o.axes) r.keys.push_back(a.key);
  r.grid = sweep.grid();
  r.shard = o.shard;
  r.top_k = o.top;
  r.objective = to_string(o.objective);
  r.deadline_days = o.deadline_days;
  r.evaluated = (r.grid - o.shard.index + o.shard.count - 1) / o.shard.count;
  const std::int64_t per_process = (r.evaluated + comm.size() - 1) / comm.size();
  if (per_process > kMaxLayoutsPerProcess) {
    const std::int64_t shards = (r.grid + kMaxLayoutsPerProcess * comm.size() - 1) / (kMaxLayoutsPerProcess * comm.size());
    throw InputError(fmt::format(
        "sweep: {} layouts for this process, more than the {} one process checks; split the grid with "
        "--shard I/{} (I = 0..{}, one job each, then gpuhours merge), run it under mpirun, or vary fewer values",
        per_process, kMaxLayoutsPerProcess, shards, shards - 1));
  }

  // 1. Checks and bounds: this shard's layouts, split over processes and threads.
  std::vector<std::int64_t> mine;
  std::int64_t local = 0;
  for (std::int64_t i = o.shard.index; i < r.grid; i += o.shard.count, ++local)
    if (local % comm.size() == comm.rank()) mine.push_back(i);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::variant<Candidate, Infeasibility>> checked(mine.size());
  parallel_for(mine.size(), o.threads, [&](std::size_t i) { checked[i] = sweep.bound(mine[i]); });
  std::vector<double> packed;
  std::map<Infeasibility, std::int64_t> reasons;
  for (const auto& c : checked) {
    if (const auto* reason = std::get_if<Infeasibility>(&c)) {
      ++reasons[*reason];
      continue;
    }
    const Candidate& k = std::get<Candidate>(c);
    packed.insert(packed.end(), {1.0, static_cast<double>(k.index), static_cast<double>(k.gpus), k.bound_seconds,
                                 k.lb_metric, k.lb_days, k.lb_cost, k.peak_memory_bytes});
  }
  for (const auto& [reason, n] : reasons) {
    packed.insert(packed.end(), {2.0, static_cast<double>(reason), static_cast<double>(n)});
  }
  const std::vector<double> all = comm.allgather(packed);
  std::vector<Candidate> candidates;
  for (std::size_t at = 0; at < all.size();) {
    if (all[at++] == 1.0) {
      candidates.push_back({static_cast<std::int64_t>(all[at]), static_cast<int>(all[at + 1]), all[at + 2], all[at + 3],
                            all[at + 4], all[at + 5], all[at + 6]});
      at += 7;
    } else {
      const auto reason = static_cast<Infeasibility>(static_cast<int>(all[at]));
      r.rejected[name_of(reason)] += static_cast<std::int64_t>(all[at + 1]);
      at += 2;
    }
  }
  r.bounded = static_cast<std::int64_t>(candidates.size());
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.lb_metric, a.index) < std::tie(b.lb_metric, b.index);
  });

  const auto t1 = std::chrono::steady_clock::now();
  r.check_seconds = std::chrono::duration<double>(t1 - t0).count();
  // 2. Simulation in order of the bound, batch by batch; a candidate is pruned when its bound can
  // reach neither the best K (strictly worse than the K-th) nor the front (strictly dominated).
  std::vector<SweepPoint> top, front;
  const auto k = static_cast<std::size_t>(o.top);
  auto prunable = [&](const Candidate& c) {
    if (!o.prune || top.size() < k) return false;
    if (!(c.lb_metric > sweep.metric(top.back()))) return false;
    return std::any_of(front.begin(), front.end(), [&](const SweepPoint& p) {
      return p.days <= c.lb_days && p.cost_usd <= c.lb_cost && (p.days < c.lb_days || p.cost_usd < c.lb_cost);
    });
  };
  const std::string late = name_of(Infeasibility::deadline);
  // Programs simulated so far (with the cache): key -> step seconds and MFU, the same on every
  // process since every process sees every result.
  std::map<std::string, std::pair<double, double>> programs;
  std::size_t cursor = 0;
  while (cursor < candidates.size()) {
    std::vector<Candidate> batch;
    std::vector<std::string> keys;
    for (; cursor < candidates.size() && batch.size() < kBatch; ++cursor) {
      if (prunable(candidates[cursor])) {
        ++r.pruned;
        continue;
      }
      batch.push_back(candidates[cursor]);
      keys.push_back(o.cache ? sweep.program_key(candidates[cursor].index) : std::string());
    }
    // With the cache, a program already simulated, or twice in this batch, is simulated once.
    std::vector<std::size_t> here;
    std::set<std::string> in_batch;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const bool repeat = o.cache && (programs.count(keys[i]) > 0 || !in_batch.insert(keys[i]).second);
      if (repeat) continue;
      if (static_cast<int>(i % static_cast<std::size_t>(comm.size())) == comm.rank()) here.push_back(i);
    }
    std::vector<SweepPoint> points(here.size());
    parallel_for(here.size(), o.threads, [&](std::size_t i) { points[i] = sweep.simulate(batch[here[i]], nullptr); });
    std::vector<double> mine_points;
    for (const SweepPoint& p : points) put_point(mine_points, p);
    const std::vector<double> gathered = comm.allgather(mine_points);
    std::vector<SweepPoint> done;
    for (std::size_t at = 0; at + kPointFields <= gathered.size(); at += kPointFields) done.push_back(get_point(gathered, at));
    r.simulated += static_cast<std::int64_t>(done.size());
    if (o.cache) {
      std::map<std::int64_t, const SweepPoint*> by_index;
      for (const SweepPoint& p : done) by_index[p.index] = &p;
      for (std::size_t i = 0; i < batch.size(); ++i)
        if (auto it = by_index.find(batch[i].index); it != by_index.end())
          programs.emplace(keys[i], std::pair{it->second->step_seconds, it->second->mfu});
      std::vector<SweepPoint> reused;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (by_index.count(batch[i].index)) continue;
        const auto& [seconds, mfu] = programs.at(keys[i]);
        StepResult same;
        same.seconds = seconds;
        same.mfu = mfu;
        reused.push_back(sweep.simulate(batch[i], &same));
        ++r.programs_reused;
      }
      done.insert(done.end(), reused.begin(), reused.end());
    }
    std::sort(done.begin(), done.end(), [](const SweepPoint& a, const SweepPoint& b) { return a.index < b.index; });
    for (SweepPoint& p : done) {
      if (o.deadline_days && p.days > *o.deadline_days) {
        ++r.rejected[late];
        continue;
      }
      p.values = sweep.values(p.index);
      top.push_back(p);
      front.push_back(p);
    }
    sort_top(top, o.objective, k);
    front = pareto_front(std::move(front));
    if (o.progress) o.progress(static_cast<std::int64_t>(cursor), static_cast<std::int64_t>(candidates.size()));
  }
  r.simulate_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  r.top = std::move(top);
  r.pareto = std::move(front);
  r.shape_cache_hits = sweep.shape_hits();
  r.shapes_built = sweep.shapes_built();
  return r;
}

namespace {

nlohmann::ordered_json point_json(const SweepResult& r, const SweepPoint& p) {
  nlohmann::ordered_json layout = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < r.keys.size() && i < p.values.size(); ++i) layout[r.keys[i]] = p.values[i];
  nlohmann::ordered_json j = {{"index", p.index}, {"layout", layout}, {"gpus", p.gpus}};
  for (const Figure& f : kFigures) j[f.name] = p.*f.member;
  return j;
}

SweepPoint point_from_json(const nlohmann::json& j, const std::vector<std::string>& keys) {
  SweepPoint p;
  p.index = j.at("index").get<std::int64_t>();
  for (const auto& k : keys) p.values.push_back(j.at("layout").at(k).get<std::string>());
  p.gpus = j.at("gpus").get<int>();
  for (const Figure& f : kFigures) p.*f.member = j.at(f.name).get<double>();
  return p;
}

}  // namespace

void write_sweep_json(const SweepResult& r, std::ostream& out) {
  nlohmann::ordered_json j;
  j["scenario"] = r.scenario;
  j["keys"] = r.keys;
  j["objective"] = r.objective;
  j["top_k"] = r.top_k;
  j["deadline_days"] = r.deadline_days ? nlohmann::ordered_json(*r.deadline_days) : nlohmann::ordered_json(nullptr);
  j["shard"] = {{"index", r.shard.index}, {"count", r.shard.count}};
  j["layouts"] = {{"grid", r.grid}, {"evaluated", r.evaluated}, {"rejected", r.rejected}, {"bounded", r.bounded},
                  {"pruned_by_bound", r.pruned}, {"simulated", r.simulated}, {"programs_reused", r.programs_reused}};
  nlohmann::ordered_json top = nlohmann::ordered_json::array(), pareto = nlohmann::ordered_json::array();
  for (const SweepPoint& p : r.top) top.push_back(point_json(r, p));
  for (const SweepPoint& p : r.pareto) pareto.push_back(point_json(r, p));
  j["top"] = top;
  j["pareto"] = pareto;
  out << j.dump(1) << "\n";
}

void write_sweep_csv(const SweepResult& r, std::ostream& out) {
  out << "rank,index";
  for (const auto& k : r.keys) out << "," << k;
  out << ",gpus,bound_seconds,step_seconds,mfu,peak_memory_bytes,gpu_hours,wall_clock_days,cost_usd,owned_cost_usd,pareto\n";
  for (std::size_t i = 0; i < r.top.size(); ++i) {
    const SweepPoint& p = r.top[i];
    out << i + 1 << "," << p.index;
    for (const auto& v : p.values) out << "," << v;
    const bool on_front = std::any_of(r.pareto.begin(), r.pareto.end(), [&](const SweepPoint& q) { return q.index == p.index; });
    out << fmt::format(",{},{:.9g},{:.9g},{:.6f},{:.0f},{:.9g},{:.9g},{:.9g},{:.9g},{}\n", p.gpus, p.bound_seconds,
                       p.step_seconds, p.mfu, p.peak_memory_bytes, p.gpu_hours, p.days, p.cost_usd, p.owned_cost_usd,
                       on_front ? 1 : 0);
  }
}

const char* const kSweepCoverage =
    "GPU-hours, days and costs cover the main pre-training phase at its final batch, interruptions and checkpoints "
    "included; the scenario's other phases and batch ramp are not in them (gpuhours run has them)";

std::int64_t rejected_layouts(const SweepResult& r) {
  std::int64_t n = 0;
  for (const auto& [reason, count] : r.rejected) n += count;
  return n;
}

void write_sweep_terminal(const SweepResult& r, std::ostream& out) {
  out << fmt::format("Sweep of {}: {} layouts{}", r.scenario, r.grid,
                     r.shard.count > 1 ? fmt::format(" (shard {}/{}: {})", r.shard.index, r.shard.count, r.evaluated) : "");
  if (r.deadline_days) out << fmt::format(", deadline {} days", *r.deadline_days);
  out << fmt::format(", best {} by {}\n", r.top_k, r.objective);
  out << "  " << kSweepCoverage << "\n";
  out << fmt::format("  rejected {}, bounded {}, pruned by the bound {}, simulated {}, same program as one simulated {}\n",
                     rejected_layouts(r), r.bounded, r.pruned, r.simulated, r.programs_reused);
  std::vector<std::pair<std::string, std::int64_t>> reasons(r.rejected.begin(), r.rejected.end());
  std::stable_sort(reasons.begin(), reasons.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [reason, n] : reasons) out << fmt::format("  {:>10}  {}\n", n, reason);
  auto table = [&](const std::string& title, const std::vector<SweepPoint>& points) {
    out << "\n" << title << "\n  ";
    for (const auto& k : r.keys) out << fmt::format("{:>15}", k.substr(0, 14));
    out << fmt::format("{:>8}{:>10}{:>7}{:>14}{:>9}{:>14}{:>14}\n", "GPUs", "step s", "MFU", "GPU-hours", "days", "rental USD",
                       "owned USD");
    for (const SweepPoint& p : points) {
      out << "  ";
      for (const auto& v : p.values) out << fmt::format("{:>15}", v.substr(0, 14));
      out << fmt::format("{:>8}{:>10.3f}{:>6.1f}%{:>14.0f}{:>9.2f}{:>14.0f}{:>14.0f}\n", p.gpus, p.step_seconds, 100 * p.mfu,
                         p.gpu_hours, p.days, p.cost_usd, p.owned_cost_usd);
    }
  };
  table(fmt::format("Best {} by {}", r.top.size(), r.objective), r.top);
  table("Pareto front (wall-clock days against cost)", r.pareto);
}

SweepResult read_sweep_json(const std::string& path) {
  const std::string text = read_input_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
    SweepResult r;
    r.scenario = j.at("scenario").get<std::string>();
    r.keys = j.at("keys").get<std::vector<std::string>>();
    r.objective = j.at("objective").get<std::string>();
    parse_objective(r.objective);
    r.top_k = j.at("top_k").get<int>();
    if (!j.at("deadline_days").is_null()) r.deadline_days = j.at("deadline_days").get<double>();
    r.shard = {j.at("shard").at("index").get<int>(), j.at("shard").at("count").get<int>()};
    const auto& l = j.at("layouts");
    r.grid = l.at("grid").get<std::int64_t>();
    r.evaluated = l.at("evaluated").get<std::int64_t>();
    r.rejected = l.at("rejected").get<std::map<std::string, std::int64_t>>();
    r.bounded = l.at("bounded").get<std::int64_t>();
    r.pruned = l.at("pruned_by_bound").get<std::int64_t>();
    r.simulated = l.at("simulated").get<std::int64_t>();
    r.programs_reused = l.at("programs_reused").get<std::int64_t>();
    for (const auto& p : j.at("top")) r.top.push_back(point_from_json(p, r.keys));
    for (const auto& p : j.at("pareto")) r.pareto.push_back(point_from_json(p, r.keys));
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not a sweep result written by 'gpuhours sweep --json': " + e.what());
  }
}

SweepResult merge_sweeps(const std::vector<SweepResult>& shards) {
  if (shards.empty()) throw InputError("merge: no shard results given");
  const SweepResult& first = shards.front();
  // What every shard shares (scenario, keys, grid, top K, objective, deadline); counts from zero.
  SweepResult r;
  std::tie(r.scenario, r.keys, r.grid, r.top_k, r.objective, r.deadline_days) =
      std::tie(first.scenario, first.keys, first.grid, first.top_k, first.objective, first.deadline_days);
  std::vector<bool> seen(static_cast<std::size_t>(first.shard.count), false);
  std::vector<SweepPoint> top, front;
  for (const SweepResult& s : shards) {
    if (s.scenario != first.scenario || s.keys != first.keys || s.grid != first.grid || s.top_k != first.top_k ||
        s.objective != first.objective || s.shard.count != first.shard.count || s.deadline_days != first.deadline_days)
      throw InputError("merge: the shards come from different sweeps (scenario, --vary, --top, objective, deadline or shard count differ)");
    if (seen.at(static_cast<std::size_t>(s.shard.index)))
      throw InputError(fmt::format("merge: shard {}/{} is given twice", s.shard.index, s.shard.count));
    seen[static_cast<std::size_t>(s.shard.index)] = true;
    r.evaluated += s.evaluated;
    for (const auto& [reason, n] : s.rejected) r.rejected[reason] += n;
    r.bounded += s.bounded;
    r.pruned += s.pruned;
    r.simulated += s.simulated;
    r.programs_reused += s.programs_reused;
    top.insert(top.end(), s.top.begin(), s.top.end());
    front.insert(front.end(), s.pareto.begin(), s.pareto.end());
  }
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) throw InputError(fmt::format("merge: shard {}/{} is missing", i, first.shard.count));
  sort_top(top, parse_objective(r.objective), static_cast<std::size_t>(r.top_k));
  r.top = std::move(top);
  r.pareto = pareto_front(std::move(front));
  return r;
}

}  // namespace gpuhours
