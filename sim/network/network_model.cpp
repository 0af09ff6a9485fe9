// The network as the engine's external model: collectives run as phases of flows that share the
// topology's links by max-min fairness.
#include <algorithm>

#include "gpuhours/error.hpp"
#include "gpuhours/network.hpp"

namespace gpuhours {

NetworkModel::NetworkModel(const Topology& topo) : solver_(topo.capacities()) {}

std::uint32_t NetworkModel::add_op(CollectiveOp op) {
  ops_.push_back(std::move(op));
  return static_cast<std::uint32_t>(ops_.size() - 1);
}

void NetworkModel::start(std::uint32_t op, TaskId task, std::int64_t now_ns) {
  GPUHOURS_ASSERT(now_ns >= last_ns_, "the network moves forward in time");
  solver_.advance(static_cast<double>(now_ns - last_ns_) * 1e-9);
  last_ns_ = now_ns;
  running_.push_back(Running{op, task, 0, 0});
  const auto run = static_cast<std::uint32_t>(running_.size() - 1);
  if (ops_[op].phases.empty()) {
    timers_.emplace_back(now_ns, run);  // an empty collective ends at once
    running_[run].phase = 0;
    return;
  }
  const auto lat = Time::from_seconds_ceil(ops_[op].phases[0].latency_seconds).count_ns();
  timers_.emplace_back(now_ns + lat, run);
}

void NetworkModel::begin_phase(std::uint32_t run) {
  Running& r = running_[run];
  const Phase& ph = ops_[r.op].phases[r.phase];
  r.pending = ph.flows.size();
  for (const PhaseFlow& f : ph.flows) {
    const FlowId id = solver_.add_flow_on(f.path, f.bytes);  // ops_ keeps the path
    if (flow_owner_.size() <= id) flow_owner_.resize(id + 1);
    flow_owner_[id] = run;
  }
}

void NetworkModel::end_phase(std::uint32_t run, std::vector<TaskId>& finished) {
  Running& r = running_[run];
  ++r.phase;
  if (r.phase >= ops_[r.op].phases.size()) {
    finished.push_back(r.task);
    return;
  }
  const auto lat = Time::from_seconds_ceil(ops_[r.op].phases[r.phase].latency_seconds).count_ns();
  timers_.emplace_back(last_ns_ + lat, run);
}

std::int64_t NetworkModel::next_event_ns() {
  std::int64_t next = -1;
  for (const auto& [at, run] : timers_)
    if (next < 0 || at < next) next = at;
  const double t = solver_.time_to_next_completion();
  if (std::isfinite(t)) {
    const std::int64_t at = last_ns_ + static_cast<std::int64_t>(std::ceil(t * 1e9 - 1e-6));
    if (next < 0 || at < next) next = at;
  }
  return next;
}

void NetworkModel::advance(std::int64_t now_ns, std::vector<TaskId>& finished) {
  GPUHOURS_ASSERT(now_ns >= last_ns_, "the network moves forward in time");
  solver_.advance(static_cast<double>(now_ns - last_ns_) * 1e-9);
  last_ns_ = now_ns;
  for (FlowId f : solver_.take_finished()) {
    const std::uint32_t run = flow_owner_[f];
    if (--running_[run].pending == 0) end_phase(run, finished);
  }
  // Timers due now, in insertion order; starting a phase with no flows ends it at once.
  bool fired = true;
  while (fired) {
    fired = false;
    for (std::size_t i = 0; i < timers_.size(); ++i) {
      if (timers_[i].first > now_ns) continue;
      const std::uint32_t run = timers_[i].second;
      timers_.erase(timers_.begin() + static_cast<std::ptrdiff_t>(i));
      fired = true;
      Running& r = running_[run];
      if (ops_[r.op].phases.empty()) {
        finished.push_back(r.task);
        break;
      }
      begin_phase(run);
      if (running_[run].pending == 0) end_phase(run, finished);
      break;
    }
  }
}

}  // namespace gpuhours
