// The discrete-event engine: tasks on in-order streams of ranks, with dependencies.
//
// The engine knows tasks, streams, resources and time, nothing of what the tasks stand for: a task's
// category is an opaque number that the layer building the graph names (parallel/task_kinds.hpp).
//
// Model:
//  - Time is integer nanoseconds. Events are ordered by {time, insertion sequence}: ties break by
//    the order in which they were scheduled, so every run is deterministic.
//  - A stream belongs to one rank (GPU) and runs its tasks one at a time in the order they were
//    added, like a CUDA stream. Streams of one rank run concurrently.
//  - A task starts when the previous task of its stream has ended and every task it depends on
//    (on any stream of any rank) has ended.
//  - A task has `work`: its duration when it runs alone. A transfer task may declare the share of
//    the GPU's SMs its kernels occupy; while it runs, compute tasks on the same rank progress at
//    (1 - sum of running shares) of full speed, and their end is re-scheduled (DeepSeek-V3 §3.2.1:
//    20 of 132 SMs reserved for communication). Without shares, a task's duration is its work.
//  - A compute task on a fixed share of the SMs may also declare how much of its rate it loses while
//    transfers hold the SMs it leaves (set_slowdown_beside_transfers): those SMs, idle while it runs
//    alone, then draw power under the same cap and use the same memory.
//  - Transfers of one rank marked with share_rank_link share one link of the rank: while n of them
//    run, each progresses at 1/n of its speed alone (max-min fairness on the one shared link).
//  - External tasks (add_external_task) last as long as an ExternalModel says: the network plugs in
//    here, running collectives as flows that share the topology's links.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/units.hpp"

namespace gpuhours {

using TaskId = std::uint32_t;
using StreamId = std::uint32_t;

/// A min-heap over a fixed set of slots (one per stream), each holding at most one pending event,
/// keyed by {time, sequence}. Re-scheduling a slot moves its entry in place and gives it a new
/// sequence number, exactly as if the old event were cancelled and a new one pushed: no stale
/// events pile up when rates change.
class SlotQueue {
 public:
  explicit SlotQueue(std::size_t slots = 0) { resize(slots); }
  void resize(std::size_t slots);
  /// Schedules (or re-schedules) `slot` at `at`.
  void set(std::uint32_t slot, std::int64_t at);
  void erase(std::uint32_t slot);
  bool empty() const { return heap_.empty(); }
  std::uint32_t top_slot() const { return heap_.front(); }
  std::int64_t top_time() const { return at_[heap_.front()]; }
  bool scheduled(std::uint32_t slot) const { return pos_[slot] != kAbsent; }

 private:
  static constexpr std::uint32_t kAbsent = 0xffffffffu;
  bool before(std::uint32_t a, std::uint32_t b) const {
    return at_[a] != at_[b] ? at_[a] < at_[b] : seq_[a] < seq_[b];
  }
  void place(std::size_t i, std::uint32_t slot) {
    heap_[i] = slot;
    pos_[slot] = static_cast<std::uint32_t>(i);
  }
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);
  std::vector<std::uint32_t> heap_, pos_;
  std::vector<std::int64_t> at_;
  std::vector<std::uint64_t> seq_;
  std::uint64_t next_seq_ = 0;
};

/// How a task uses its GPU: compute runs on the SMs and slows while transfers hold some of them;
/// a transfer moves data and may hold a share of the SMs (its kernels').
enum class TaskUse : std::uint8_t { compute, transfer };
/// What a task stands for: opaque to the engine, named by the layer that builds the graph.
using TaskCategory = std::uint8_t;

/// Tasks whose duration another model decides while the simulation runs (the network: flows that
/// share links). The engine starts them, asks for the model's next event, and advances it to then.
class ExternalModel {
 public:
  virtual ~ExternalModel() = default;
  /// Task `task` starts operation `op` of the model at `now_ns`.
  virtual void start(std::uint32_t op, TaskId task, std::int64_t now_ns) = 0;
  /// The time of the model's next event, or -1 when it has none.
  virtual std::int64_t next_event_ns() = 0;
  /// Advances to `now_ns` and appends the tasks whose operation has ended.
  virtual void advance(std::int64_t now_ns, std::vector<TaskId>& finished) = 0;
};

/// A DAG of tasks on streams, built before the simulation runs.
class TaskGraph {
 public:
  StreamId add_stream(int rank, std::string name);
  /// Appends a task to the end of `stream`. `label` comes from intern(). `sm_share`: a transfer's
  /// share of its rank's SMs, taken from concurrent compute while it runs; a compute task's share
  /// left to the transfers for its whole run (a persistent kernel sized to the other SMs), so it
  /// runs at 1 - sm_share at most and slows further only when running transfers take more.
  TaskId add_task(StreamId stream, Time work, TaskUse use, TaskCategory category, std::uint32_t label,
                  double sm_share = 0.0);
  /// Appends a transfer whose duration the ExternalModel given to the Engine decides (its op `op`).
  TaskId add_external_task(StreamId stream, std::uint32_t op, TaskCategory category, std::uint32_t label,
                           double sm_share = 0.0);
  /// Marks a transfer as using its rank's one shared link: it shares it equally with the other
  /// marked transfers running on the rank (their durations stretch while they overlap).
  void share_rank_link(TaskId t);
  /// Compute task `t` runs at (1 - `fraction`) of the rate the SM shares give it while any transfer
  /// holding SMs runs on its rank (its neighbours' power draw and memory traffic), in [0, 1).
  void set_slowdown_beside_transfers(TaskId t, double fraction);
  /// `after` cannot start before `before` has ended.
  void add_dependency(TaskId before, TaskId after);
  /// Host `host` launches task `t`, taking `launch` of its time: each host launches its tasks one
  /// after another in the order of these calls, starting at time 0, and a task starts no earlier
  /// than its launch ends. With `sync_on`, the host launches `t` only after task `sync_on` has
  /// ended (it waits for a result on the CPU). Tasks without a host start when their dependencies
  /// allow.
  void set_launch(TaskId t, int host, Time launch, std::optional<TaskId> sync_on = std::nullopt);
  /// Room for `tasks` tasks and `edges` dependencies, so that a large graph is not copied as it grows.
  void reserve(std::size_t tasks, std::size_t edges);
  /// Stores a task name once and returns its index.
  std::uint32_t intern(const std::string& label);

  std::size_t task_count() const { return work_.size(); }
  std::size_t stream_count() const { return stream_rank_.size(); }
  int stream_rank(StreamId s) const { return stream_rank_[s]; }
  const std::string& stream_name(StreamId s) const { return stream_name_[s]; }
  StreamId task_stream(TaskId t) const { return stream_[t]; }
  TaskUse task_use(TaskId t) const { return use_[t]; }
  TaskCategory task_category(TaskId t) const { return category_[t]; }
  Time task_work(TaskId t) const { return Time::ns(work_[t]); }
  const std::string& task_label(TaskId t) const { return labels_[label_[t]]; }
  /// The host that launches `t` (set_launch), or -1, and its launch time.
  int task_host(TaskId t) const { return t < host_.size() && host_[t] != kNoHost ? static_cast<int>(host_[t]) : -1; }
  Time task_launch(TaskId t) const { return Time::ns(t < launch_.size() ? launch_[t] : 0); }
  /// Bytes of memory the graph holds per task (for the benchmark's report).
  std::size_t bytes_per_task() const;

 private:
  friend class Engine;
  std::vector<int> stream_rank_;
  std::vector<std::string> stream_name_;
  std::vector<TaskId> stream_last_;  // last task added to each stream, or kNone
  std::vector<std::int64_t> work_;
  std::vector<StreamId> stream_;
  std::vector<std::uint32_t> label_;
  std::vector<TaskUse> use_;
  std::vector<TaskCategory> category_;
  std::vector<double> sm_share_;
  std::vector<TaskId> next_on_stream_;
  std::vector<std::uint32_t> external_op_;  // op of an external task, or kNoOp
  std::vector<std::uint8_t> shares_link_;   // 1: shares the rank's link (share_rank_link)
  std::vector<float> slowdown_beside_;      // set_slowdown_beside_transfers; sized on first use
  std::vector<std::uint32_t> dep_count_;  // explicit deps + 1 if a stream predecessor exists
  std::vector<std::pair<TaskId, TaskId>> edges_;
  // Launches (set_launch): per task its host (or kNoHost), position in that host's order, launch
  // time and the task it waits for; per host its tasks in launch order. Sized on the first
  // set_launch: a graph without hosts holds none of it.
  static constexpr std::uint32_t kNoHost = 0xffffffffu;
  std::vector<std::uint32_t> host_, host_position_;
  std::vector<std::int64_t> launch_;
  std::vector<TaskId> sync_on_;
  std::vector<std::uint8_t> sync_target_;  // 1: some launch waits for this task to end
  std::vector<std::vector<TaskId>> host_order_;
  std::vector<std::string> labels_;
  std::map<std::string, std::uint32_t> label_index_;
};

/// Runs a TaskGraph to completion and keeps each task's start and end. External tasks are run by
/// `external` (required when the graph has any).
class Engine {
 public:
  explicit Engine(const TaskGraph& graph, ExternalModel* external = nullptr);
  /// Simulates every task; returns the time the last one ends. Asserts the graph is acyclic.
  Time run();
  Time start(TaskId t) const { return Time::ns(start_[t]); }
  Time end(TaskId t) const { return Time::ns(end_[t]); }
  /// When every dependency of `t` had ended (its start, unless it waited for its host's launch).
  Time ready(TaskId t) const { return Time::ns(ready_.empty() ? start_[t] : ready_[t]); }
  /// When its host finished launching `t` (0 for a task without a host).
  Time launched(TaskId t) const { return Time::ns(launched_.empty() ? 0 : launched_[t]); }
  std::uint64_t events_processed() const { return events_; }
  const TaskGraph& graph() const { return graph_; }

 private:
  struct Running {  // the task a stream is running now
    TaskId task = 0;
    bool busy = false;
    double remaining_ns = 0;  // work left at full speed
    double rate = 1.0;        // fraction of full speed
    std::int64_t since = 0;   // time `remaining_ns` was last updated
    bool deferred = false;    // `task` is ready and starts at the queued time (its launch's end)
  };
  void start_task(TaskId t);
  void ready_task(TaskId t);
  void start_when_launched(TaskId t);
  std::int64_t launch_end(TaskId t);
  void resume_host(std::uint32_t host);
  void finish_task(StreamId s);
  void release(TaskId t);
  void rerate_rank(int rank);
  double target_rate(TaskId t, int rank) const;
  void sync_external();
  void schedule_end(StreamId s);

  const TaskGraph& graph_;
  ExternalModel* external_;
  std::uint32_t external_slot_ = 0;
  SlotQueue queue_;  // one slot per stream: when its running task ends
  std::uint64_t events_ = 0;
  std::int64_t now_ = 0;
  std::vector<std::uint32_t> pending_;
  std::vector<std::uint32_t> succ_offset_;
  std::vector<TaskId> succ_;
  std::vector<Running> running_;
  std::vector<double> rank_share_;               // SM share taken by running comm tasks
  std::vector<int> rank_sm_transfers_;           // running comm tasks that hold SMs, per rank
  std::vector<int> rank_link_;                   // transfers sharing each rank's link, running
  std::vector<std::vector<StreamId>> rank_streams_;
  std::vector<std::int64_t> start_, end_, ready_, launched_;
  // Per host: the time its last launch ended, the position of its next launch, and the ready
  // tasks it has not launched yet (it waits for a sync).
  std::vector<std::int64_t> host_clock_;
  std::vector<std::size_t> host_next_;
  std::vector<std::vector<TaskId>> host_waiting_;
  std::vector<TaskId> host_blocked_on_;  // the task whose end the host waits for, or kNone
};


}  // namespace gpuhours
