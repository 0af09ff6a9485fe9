// Flow-level network: concurrent flows share link directions by max-min fairness.
//
// Progressive filling (Bertsekas & Gallager, Data Networks §6.5; SimGrid's LMM): every unfrozen
// flow's rate rises by the same amount until a link is saturated or a flow reaches its cap; the
// flows crossing a saturated link (or at their cap) are frozen; repeat until all are frozen. The
// result is the max-min fair allocation: no flow can gain without a flow of no greater rate losing.
//
// Incremental: rates are re-solved only when the flow set changes, and only for the flows of the
// connected component (flows linked through shared links) that contains a changed flow; flows in
// other components keep their rates, which max-min fairness leaves unchanged. Remaining bytes are
// updated lazily when time advances.
#pragma once
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

namespace gpuhours {

using FlowId = std::uint32_t;

class FlowSolver {
 public:
  explicit FlowSolver(std::vector<double> link_capacity_bytes_per_s);
  /// Starts a flow of `bytes` over `path` (link ids), at most `cap` bytes/s. A flow's id is valid
  /// until it is taken finished or removed; its slot is then reused by a later flow.
  FlowId add_flow(const std::vector<std::uint32_t>& path, double bytes,
                  double cap_bytes_per_s = std::numeric_limits<double>::infinity());
  /// The same over a path the caller keeps alive, unchanged, until the flow is taken finished or
  /// removed (no copy: the network model's plans hold their paths for the whole simulation).
  FlowId add_flow_on(std::span<const std::uint32_t> path, double bytes,
                     double cap_bytes_per_s = std::numeric_limits<double>::infinity());
  void remove_flow(FlowId f);
  /// Moves time forward: every active flow sends rate * seconds bytes.
  void advance(double seconds);
  /// Seconds until the next active flow completes (re-solving rates first if needed); +inf if none.
  double time_to_next_completion();
  /// Removes and returns the flows whose bytes are all sent, or would be within the completion
  /// quantum (max of 1 us and 1% of the network's current busy period; see flow_solver.cpp).
  std::vector<FlowId> take_finished();
  double rate(FlowId f);
  double remaining_bytes(FlowId f) const { return flows_[f].remaining; }
  std::size_t active_flows() const { return active_; }
  /// Bytes every link has carried so far (by link id).
  const std::vector<double>& link_bytes() const { return link_bytes_; }
  /// Number of times rates were re-solved, and flows re-solved in total (for the benchmark).
  std::uint64_t solves() const { return solves_; }
  std::uint64_t flows_solved() const { return flows_solved_; }

 private:
  struct Flow {
    std::vector<std::uint32_t> owned;      // add_flow's copy of its path, or empty
    std::span<const std::uint32_t> path;  // `owned`, or the caller's (add_flow_on)
    double remaining = 0, rate = 0, cap = 0;
    bool active = false;
  };
  // flows_ grows by moving its Flows: `owned` keeps its buffer, so `path` stays valid.
  static_assert(std::is_nothrow_move_constructible_v<Flow>);
  void solve();
  std::vector<double> capacity_;
  std::vector<std::vector<FlowId>> link_flows_;  // may hold finished flows until compacted
  std::vector<Flow> flows_;
  std::vector<FlowId> active_ids_;               // may hold removed flows until take_finished
  bool active_ids_stale_ = false;                // remove_flow ran since active_ids_ was last compacted
  std::vector<FlowId> dirty_;                    // flows added, or neighbours of flows removed
  std::vector<FlowId> retiring_;                 // removed, still listed on links until the next solve
  std::vector<FlowId> free_;                     // slots of finished flows, reused by add_flow
  std::vector<std::uint32_t> dirty_links_;
  std::size_t active_ = 0;
  double busy_seconds_ = 0;  // time flows have been active without a pause (completion quantum)
  std::uint64_t solves_ = 0, flows_solved_ = 0;
  // scratch
  std::vector<std::uint32_t> link_mark_, flow_mark_;
  std::uint32_t epoch_ = 0;
  std::vector<double> link_left_;
  std::vector<int> link_unfrozen_;
  std::vector<double> link_bytes_;
};

}  // namespace gpuhours
