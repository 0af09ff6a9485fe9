#include <algorithm>
#include <cmath>
#include <functional>

#include "gpuhours/error.hpp"
#include "gpuhours/flow.hpp"

namespace gpuhours {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
// A flow whose remaining bytes take less than the completion quantum at its current rate counts as
// finished, so that flows ending close together finish in one event and one re-solve: the
// quantum is 1 us, or 1% of the time the network has been busy without a pause, if longer. A
// flow ends at most that early: under 1% of the collective's time (a resolution chosen here, like
// SimGrid's precision on remaining work; tests/unit/flow_solver_test.cpp checks the error).
constexpr double kCompletionQuantumSeconds = 1e-6;
constexpr double kCompletionQuantumFraction = 0.01;
}

FlowSolver::FlowSolver(std::vector<double> cap)
    : capacity_(std::move(cap)),
      link_flows_(capacity_.size()),
      link_mark_(capacity_.size(), 0),
      link_left_(capacity_.size(), 0),
      link_unfrozen_(capacity_.size(), 0),
      link_bytes_(capacity_.size(), 0.0) {
  for (double c : capacity_) GPUHOURS_ASSERT(c > 0, "links have positive capacity");
}

FlowId FlowSolver::add_flow(const std::vector<std::uint32_t>& path, double bytes, double cap) {
  const FlowId id = add_flow_on(path, bytes, cap);
  Flow& f = flows_[id];
  f.owned = path;  // the flow keeps its own copy: `path` may be a temporary
  f.path = f.owned;
  return id;
}

FlowId FlowSolver::add_flow_on(std::span<const std::uint32_t> path, double bytes, double cap) {
  GPUHOURS_ASSERT(bytes >= 0 && cap > 0, "a flow has bytes and a positive cap");
  GPUHOURS_ASSERT(!path.empty() || std::isfinite(cap), "a flow crosses a link or has a cap");
  // A finished flow's slot is reused once no link list or active list holds it (see solve).
  FlowId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
    flows_[id] = Flow{{}, path, bytes, 0.0, cap, true};
  } else {
    id = static_cast<FlowId>(flows_.size());
    flows_.push_back(Flow{{}, path, bytes, 0.0, cap, true});
    flow_mark_.push_back(0);
  }
  for (auto l : path) {
    GPUHOURS_ASSERT(l < capacity_.size(), "a flow crosses known links");
    link_flows_[l].push_back(id);
  }
  dirty_.push_back(id);
  active_ids_.push_back(id);
  ++active_;
  return id;
}

void FlowSolver::remove_flow(FlowId f) {
  Flow& fl = flows_[f];
  if (!fl.active) return;
  fl.active = false;
  fl.rate = 0;
  --active_;
  for (auto l : fl.path) dirty_links_.push_back(l);
  retiring_.push_back(f);
  active_ids_stale_ = true;
}

void FlowSolver::advance(double seconds) {
  if (seconds <= 0) return;
  busy_seconds_ = active_ > 0 ? busy_seconds_ + seconds : 0.0;
  for (FlowId id : active_ids_) {
    Flow& f = flows_[id];
    if (!f.active) continue;
    const double sent = std::min(f.remaining, f.rate * seconds);
    f.remaining -= sent;
    for (std::uint32_t l : f.path) link_bytes_[l] += sent;
  }
}

void FlowSolver::solve() {
  if (dirty_.empty() && dirty_links_.empty()) return;
  ++solves_;
  ++epoch_;
  // Collect the component(s) touched by the changes: flows reachable through shared links.
  std::vector<FlowId> comp;
  std::vector<std::uint32_t> links;
  std::vector<std::uint32_t> stack_links;
  auto visit_link = [&](std::uint32_t l) {
    if (link_mark_[l] == epoch_) return;
    link_mark_[l] = epoch_;
    links.push_back(l);
    stack_links.push_back(l);
  };
  auto visit_flow = [&](FlowId f) {
    if (flow_mark_[f] == epoch_ || !flows_[f].active) return;
    flow_mark_[f] = epoch_;
    comp.push_back(f);
    for (auto l : flows_[f].path) visit_link(l);
  };
  for (FlowId f : dirty_) visit_flow(f);
  for (auto l : dirty_links_) visit_link(l);
  while (!stack_links.empty()) {
    const auto l = stack_links.back();
    stack_links.pop_back();
    auto& lf = link_flows_[l];
    // Compact finished flows out of the link's list as we pass.
    lf.erase(std::remove_if(lf.begin(), lf.end(), [&](FlowId f) { return !flows_[f].active; }), lf.end());
    for (FlowId f : lf) visit_flow(f);
  }
  dirty_.clear();
  dirty_links_.clear();
  // Every link of a removed flow was dirty, so no link list holds it any more; once the active
  // list drops it too, its slot is free.
  if (!retiring_.empty()) {
    if (active_ids_stale_)  // take_finished compacts the list itself; a direct remove_flow does not
      active_ids_.erase(std::remove_if(active_ids_.begin(), active_ids_.end(), [&](FlowId f) { return !flows_[f].active; }),
                        active_ids_.end());
    active_ids_stale_ = false;
    for (FlowId f : retiring_) {
      flows_[f].owned.clear();
      flows_[f].path = {};
    }
    free_.insert(free_.end(), retiring_.begin(), retiring_.end());
    retiring_.clear();
  }
  std::sort(comp.begin(), comp.end());  // deterministic order
  flows_solved_ += comp.size();
  // Progressive filling on the component, as water-filling in one pass: all unfrozen flows share
  // one rising level; link l saturates at level (capacity - rates frozen on l) / unfrozen flows
  // on l, a flow at its cap. The lowest pending saturation is the next event: its flows freeze
  // at that level, which raises the saturation level of the other links they cross.
  for (auto l : links) {
    link_left_[l] = capacity_[l];
    link_unfrozen_[l] = 0;
  }
  for (FlowId f : comp) {
    flows_[f].rate = -1;  // unfrozen
    for (auto l : flows_[f].path) ++link_unfrozen_[l];
  }
  struct Entry {
    double level;
    std::uint32_t id;  // link id, or flow id for a cap
    bool is_cap;
    bool operator>(const Entry& o) const {
      if (level != o.level) return level > o.level;
      if (is_cap != o.is_cap) return is_cap > o.is_cap;
      return id > o.id;
    }
  };
  std::vector<Entry> heap;
  auto push = [&](Entry e) {
    heap.push_back(e);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  auto key = [&](std::uint32_t l) { return link_left_[l] / link_unfrozen_[l]; };
  for (auto l : links)
    if (link_unfrozen_[l] > 0) push({key(l), l, false});
  for (FlowId f : comp)
    if (std::isfinite(flows_[f].cap)) push({flows_[f].cap, f, true});
  std::size_t left = comp.size();
  // Freezing a flow at the current level never lowers another link's saturation level (the level
  // is at most that link's fair share), so links are re-keyed lazily: a popped entry whose level
  // has risen goes back into the heap with its new level.
  auto freeze = [&](FlowId f, double level) {
    Flow& fl = flows_[f];
    fl.rate = level;
    --left;
    for (auto l : fl.path) {
      link_left_[l] = std::max(0.0, link_left_[l] - level);
      --link_unfrozen_[l];
    }
  };
  while (left > 0) {
    GPUHOURS_ASSERT(!heap.empty(), "every flow is bounded by a link or a cap");
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Entry e = heap.back();
    heap.pop_back();
    if (e.is_cap) {
      if (flows_[e.id].rate < 0) freeze(e.id, e.level);
      continue;
    }
    const auto l = e.id;
    if (link_unfrozen_[l] == 0) continue;
    const double level = key(l);
    if (level > e.level * (1 + 1e-12)) {  // its level rose since it was pushed
      push({level, l, false});
      continue;
    }
    for (FlowId f : link_flows_[l])
      if (flows_[f].active && flows_[f].rate < 0) freeze(f, level);
  }
}

double FlowSolver::time_to_next_completion() {
  solve();
  double t = kInf;
  for (FlowId id : active_ids_) {
    const Flow& f = flows_[id];
    if (f.active && f.rate > 0) t = std::min(t, f.remaining / f.rate);
  }
  return t;
}

std::vector<FlowId> FlowSolver::take_finished() {
  std::vector<FlowId> done;
  const double quantum = std::max(kCompletionQuantumSeconds, kCompletionQuantumFraction * busy_seconds_);
  std::size_t kept = 0;
  for (FlowId id : active_ids_) {
    const Flow& f = flows_[id];
    if (!f.active) continue;
    if (f.remaining <= f.rate * quantum) done.push_back(id);
    else active_ids_[kept++] = id;
  }
  active_ids_.resize(kept);
  for (FlowId f : done) remove_flow(f);
  active_ids_stale_ = false;  // the pass above dropped every inactive flow, these included
  if (active_ == 0) busy_seconds_ = 0;
  return done;
}

double FlowSolver::rate(FlowId f) {
  solve();
  return flows_[f].rate;
}

}  // namespace gpuhours
