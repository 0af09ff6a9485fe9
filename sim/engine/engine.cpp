#include "gpuhours/engine.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gpuhours/error.hpp"

namespace gpuhours {

namespace {
constexpr TaskId kNone = std::numeric_limits<TaskId>::max();
constexpr std::uint32_t kNoOp = std::numeric_limits<std::uint32_t>::max();
// Compute never runs slower than this fraction, whatever the communication kernels take: a floor
// (assumed) under the linear SM-share rule, reached only when several transfers hold most SMs.
constexpr double kMinComputeRate = 0.05;
}  // namespace

StreamId TaskGraph::add_stream(int rank, std::string name) {
  GPUHOURS_ASSERT(rank >= 0, "ranks are numbered from zero");
  stream_rank_.push_back(rank);
  stream_name_.push_back(std::move(name));
  stream_last_.push_back(kNone);
  return static_cast<StreamId>(stream_rank_.size() - 1);
}

TaskId TaskGraph::add_task(StreamId stream, Time work, TaskUse use, TaskCategory category, std::uint32_t label,
                           double sm_share) {
  GPUHOURS_ASSERT(stream < stream_rank_.size(), "task on an unknown stream");
  GPUHOURS_ASSERT(work.count_ns() >= 0, "task work is non-negative");
  GPUHOURS_ASSERT(sm_share >= 0.0 && sm_share < 1.0, "an SM share is in [0, 1)");
  GPUHOURS_ASSERT(label < labels_.size(), "label comes from intern()");
  GPUHOURS_ASSERT(work_.size() < kNone - 1, "too many tasks");
  const auto id = static_cast<TaskId>(work_.size());
  work_.push_back(work.count_ns());
  stream_.push_back(stream);
  label_.push_back(label);
  use_.push_back(use);
  category_.push_back(category);
  sm_share_.push_back(sm_share);
  next_on_stream_.push_back(kNone);
  external_op_.push_back(kNoOp);
  shares_link_.push_back(0);
  const TaskId prev = stream_last_[stream];
  dep_count_.push_back(prev == kNone ? 0 : 1);
  if (prev != kNone) next_on_stream_[prev] = id;
  stream_last_[stream] = id;
  return id;
}

TaskId TaskGraph::add_external_task(StreamId stream, std::uint32_t op, TaskCategory category, std::uint32_t label,
                                    double sm_share) {
  const TaskId t = add_task(stream, Time::ns(0), TaskUse::transfer, category, label, sm_share);
  external_op_[t] = op;
  return t;
}

void TaskGraph::share_rank_link(TaskId t) {
  GPUHOURS_ASSERT(t < work_.size() && use_[t] == TaskUse::transfer, "only transfers use a link");
  shares_link_[t] = 1;
}

void TaskGraph::set_slowdown_beside_transfers(TaskId t, double fraction) {
  GPUHOURS_ASSERT(t < work_.size() && use_[t] == TaskUse::compute, "only compute slows beside transfers");
  GPUHOURS_ASSERT(fraction >= 0.0 && fraction < 1.0, "a slowdown is a fraction of the rate in [0, 1)");
  if (slowdown_beside_.size() < work_.size()) slowdown_beside_.resize(work_.size(), 0.0f);
  slowdown_beside_[t] = static_cast<float>(fraction);
}

void TaskGraph::add_dependency(TaskId before, TaskId after) {
  GPUHOURS_ASSERT(before < work_.size() && after < work_.size(), "dependency on an unknown task");
  GPUHOURS_ASSERT(before != after, "a task cannot depend on itself");
  edges_.emplace_back(before, after);
  ++dep_count_[after];
}

void TaskGraph::reserve(std::size_t tasks, std::size_t edges) {
  for (auto* v : {&work_, &launch_}) v->reserve(tasks);
  for (auto* v : {&stream_, &label_, &external_op_, &dep_count_, &host_, &host_position_, &next_on_stream_, &sync_on_})
    v->reserve(tasks);
  use_.reserve(tasks);
  category_.reserve(tasks);
  sm_share_.reserve(tasks);
  shares_link_.reserve(tasks);
  sync_target_.reserve(tasks);
  edges_.reserve(edges);
}

void TaskGraph::set_launch(TaskId t, int host, Time launch, std::optional<TaskId> sync_on) {
  GPUHOURS_ASSERT(t < work_.size() && host >= 0, "a launch of a known task by a host");
  GPUHOURS_ASSERT(launch.count_ns() >= 0, "a launch takes non-negative time");
  GPUHOURS_ASSERT(!sync_on || (*sync_on < work_.size() && *sync_on != t), "a launch waits for another known task");
  const std::size_t n = work_.size();
  if (host_.size() < n) {
    host_.resize(n, kNoHost);
    host_position_.resize(n, 0);
    launch_.resize(n, 0);
    sync_on_.resize(n, kNone);
    sync_target_.resize(n, 0);
  }
  GPUHOURS_ASSERT(host_[t] == kNoHost, "a task is launched once");
  if (host_order_.size() <= static_cast<std::size_t>(host)) host_order_.resize(static_cast<std::size_t>(host) + 1);
  host_[t] = static_cast<std::uint32_t>(host);
  host_position_[t] = static_cast<std::uint32_t>(host_order_[host].size());
  host_order_[host].push_back(t);
  launch_[t] = launch.count_ns();
  if (sync_on) {
    // A launch cannot wait for a task its own host launches later: the host would never get there.
    GPUHOURS_ASSERT(host_[*sync_on] != static_cast<std::uint32_t>(host) || host_position_[*sync_on] < host_position_[t],
                    "a launch waits for a task its host launched before");
    sync_on_[t] = *sync_on;
    sync_target_[*sync_on] = 1;
  }
}

std::uint32_t TaskGraph::intern(const std::string& label) {
  auto [it, inserted] = label_index_.try_emplace(label, static_cast<std::uint32_t>(labels_.size()));
  if (inserted) labels_.push_back(label);
  return it->second;
}

std::size_t TaskGraph::bytes_per_task() const {
  // Graph: work 8, stream 4, label 4, use 1, category 1, share 8, next 4, deps 4, external op 4, link 1; per edge 8 (+4 in CSR).
  // Slowdowns beside transfers (set_slowdown_beside_transfers): 4, once any is set.
  // Engine: pending 4, CSR offset 4, start 8, end 8.
  // Launches (set_launch): host 4, position 4, launch 8, sync 4, sync target 1, host order 4;
  // engine: ready 8, launched 8.
  const double edges = task_count() ? static_cast<double>(edges_.size()) / task_count() : 0.0;
  return static_cast<std::size_t>(39 + 24 + edges * 12 + (host_.empty() ? 0 : 25 + 16) + (slowdown_beside_.empty() ? 0 : 4));
}

Engine::Engine(const TaskGraph& graph, ExternalModel* external) : graph_(graph), external_(external) {}

void Engine::sync_external() {
  if (!external_) return;
  const std::int64_t at = external_->next_event_ns();
  if (at >= 0) queue_.set(external_slot_, std::max(at, now_));
  else if (queue_.scheduled(external_slot_)) queue_.erase(external_slot_);
}

void SlotQueue::resize(std::size_t slots) {
  heap_.clear();
  heap_.reserve(slots);
  pos_.assign(slots, kAbsent);
  at_.assign(slots, 0);
  seq_.assign(slots, 0);
}

void SlotQueue::sift_up(std::size_t i) {
  const std::uint32_t slot = heap_[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!before(slot, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, slot);
}

void SlotQueue::sift_down(std::size_t i) {
  const std::uint32_t slot = heap_[i];
  const std::size_t n = heap_.size();
  while (true) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], slot)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, slot);
}

void SlotQueue::set(std::uint32_t slot, std::int64_t at) {
  at_[slot] = at;
  seq_[slot] = next_seq_++;
  if (pos_[slot] == kAbsent) {
    heap_.push_back(slot);
    sift_up(heap_.size() - 1);
    return;
  }
  // The new key is either earlier or later than the old one; one of the two sifts is a no-op.
  const std::size_t i = pos_[slot];
  sift_up(i);
  sift_down(pos_[slot]);
}

void SlotQueue::erase(std::uint32_t slot) {
  const std::uint32_t i = pos_[slot];
  GPUHOURS_ASSERT(i != kAbsent, "erase of an unscheduled slot");
  pos_[slot] = kAbsent;
  const std::uint32_t last = heap_.back();
  heap_.pop_back();
  if (last == slot) return;
  place(i, last);
  sift_up(i);
  sift_down(pos_[last]);
}

void Engine::schedule_end(StreamId s) {
  const Running& r = running_[s];
  const double dt = r.remaining_ns / r.rate;
  const std::int64_t at = now_ + static_cast<std::int64_t>(std::ceil(dt - 1e-6));
  GPUHOURS_ASSERT(at >= now_, "an event cannot be scheduled in the past");
  queue_.set(s, at);
}

double Engine::target_rate(TaskId t, int rank) const {
  if (graph_.use_[t] == TaskUse::compute) {
    const double rate = std::max(kMinComputeRate, 1.0 - std::max(graph_.sm_share_[t], rank_share_[rank]));
    const bool beside = rank_sm_transfers_[rank] > 0 && t < graph_.slowdown_beside_.size();
    return beside ? rate * (1.0 - graph_.slowdown_beside_[t]) : rate;
  }
  // Scale-out transfers of one rank share its NIC equally (max-min on one bottleneck link).
  if (graph_.shares_link_[t] && rank_link_[rank] > 1) return 1.0 / rank_link_[rank];
  return 1.0;
}

void Engine::rerate_rank(int rank) {
  for (StreamId s : rank_streams_[rank]) {
    Running& r = running_[s];
    if (!r.busy || graph_.external_op_[r.task] != kNoOp) continue;
    const double rate = target_rate(r.task, rank);
    if (r.rate == rate) continue;
    r.remaining_ns = std::max(0.0, r.remaining_ns - static_cast<double>(now_ - r.since) * r.rate);
    r.since = now_;
    r.rate = rate;
    schedule_end(s);
  }
}

void Engine::start_task(TaskId t) {
  const StreamId s = graph_.stream_[t];
  Running& r = running_[s];
  GPUHOURS_ASSERT(!r.busy, "a stream runs one task at a time");
  r.task = t;
  r.busy = true;
  r.remaining_ns = static_cast<double>(graph_.work_[t]);
  r.since = now_;
  start_[t] = now_;
  const int rank = graph_.stream_rank_[s];
  const bool comm = graph_.use_[t] == TaskUse::transfer;
  const bool link = graph_.shares_link_[t] && graph_.external_op_[t] == kNoOp;
  if (link) ++rank_link_[rank];
  r.rate = target_rate(t, rank);
  if (graph_.external_op_[t] != kNoOp) {
    GPUHOURS_ASSERT(external_ != nullptr, "a graph with external tasks needs an external model");
    external_->start(graph_.external_op_[t], t, now_);
    sync_external();
  } else if (r.rate == 1.0) {
    queue_.set(s, now_ + graph_.work_[t]);
  } else {
    schedule_end(s);
  }
  if (comm && graph_.sm_share_[t] > 0.0) {
    rank_share_[rank] += graph_.sm_share_[t];
    ++rank_sm_transfers_[rank];
  }
  if ((comm && graph_.sm_share_[t] > 0.0) || (link && rank_link_[rank] > 1)) rerate_rank(rank);
}

void Engine::release(TaskId t) {
  if (--pending_[t] == 0) ready_task(t);
}

// A task whose dependencies have ended starts now, or when its host has launched it.
void Engine::ready_task(TaskId t) {
  if (graph_.task_host(t) < 0) {
    start_task(t);
    return;
  }
  ready_[t] = now_;
  start_when_launched(t);
}

// Starts ready task `t` now if its host has launched it, at the end of its launch if that is later,
// or leaves it waiting while its host waits for a result.
void Engine::start_when_launched(TaskId t) {
  const std::int64_t at = launch_end(t);
  if (at < 0) {
    host_waiting_[graph_.host_[t]].push_back(t);
  } else if (at <= now_) {
    start_task(t);
  } else {
    Running& r = running_[graph_.stream_[t]];
    GPUHOURS_ASSERT(!r.busy && !r.deferred, "a ready task's stream is free");
    r.task = t;
    r.deferred = true;
    queue_.set(graph_.stream_[t], at);
  }
}

// When the host has launched `t`: it launches in order, each launch after the previous one and
// after the task it waits for; -1 while that task is still running (the host is blocked).
std::int64_t Engine::launch_end(TaskId t) {
  const std::uint32_t h = graph_.host_[t];
  const auto& order = graph_.host_order_[h];
  while (host_next_[h] <= graph_.host_position_[t]) {
    const TaskId j = order[host_next_[h]];
    std::int64_t from = host_clock_[h];
    if (const TaskId w = graph_.sync_on_[j]; w != kNone) {
      if (end_[w] < 0) {
        host_blocked_on_[h] = w;
        return -1;
      }
      from = std::max(from, end_[w]);
    }
    host_clock_[h] = from + graph_.launch_[j];
    launched_[j] = host_clock_[h];
    ++host_next_[h];
  }
  return launched_[t];
}

// Task `host_blocked_on_[h]` has ended: the ready tasks the host had not launched go on.
void Engine::resume_host(std::uint32_t h) {
  host_blocked_on_[h] = kNone;
  std::vector<TaskId> waiting;
  waiting.swap(host_waiting_[h]);
  for (TaskId t : waiting) start_when_launched(t);
}

void Engine::finish_task(StreamId s) {
  Running& r = running_[s];
  const TaskId t = r.task;
  r.busy = false;
  end_[t] = now_;
  const double share = graph_.sm_share_[t];
  const int rank = graph_.stream_rank_[s];
  const bool link = graph_.shares_link_[t] && graph_.external_op_[t] == kNoOp;
  if (link) --rank_link_[rank];
  const bool transfer = graph_.use_[t] == TaskUse::transfer;
  if (share > 0.0 && transfer) {
    rank_share_[rank] = std::max(0.0, rank_share_[rank] - share);
    --rank_sm_transfers_[rank];
  }
  if ((share > 0.0 && transfer) || (link && rank_link_[rank] > 0)) rerate_rank(rank);
  if (t < graph_.sync_target_.size() && graph_.sync_target_[t])
    for (std::uint32_t h = 0; h < host_blocked_on_.size(); ++h)
      if (host_blocked_on_[h] == t) resume_host(h);
  for (std::uint32_t i = succ_offset_[t]; i < succ_offset_[t + 1]; ++i) release(succ_[i]);
  if (graph_.next_on_stream_[t] != kNone) release(graph_.next_on_stream_[t]);
}

Time Engine::run() {
  const std::size_t n = graph_.task_count();
  pending_ = graph_.dep_count_;
  start_.assign(n, -1);
  end_.assign(n, -1);
  running_.assign(graph_.stream_count(), Running{});
  int ranks = 0;
  for (int r : graph_.stream_rank_) ranks = std::max(ranks, r + 1);
  rank_share_.assign(ranks, 0.0);
  rank_sm_transfers_.assign(ranks, 0);
  rank_link_.assign(ranks, 0);
  rank_streams_.assign(ranks, {});
  for (StreamId s = 0; s < graph_.stream_count(); ++s)
    rank_streams_[graph_.stream_rank_[s]].push_back(s);
  // Successors in compressed rows, in the order the dependencies were added.
  succ_offset_.assign(n + 1, 0);
  for (const auto& e : graph_.edges_) ++succ_offset_[e.first + 1];
  for (std::size_t i = 0; i < n; ++i) succ_offset_[i + 1] += succ_offset_[i];
  succ_.assign(graph_.edges_.size(), 0);
  {
    std::vector<std::uint32_t> fill(succ_offset_.begin(), succ_offset_.end() - 1);
    for (const auto& e : graph_.edges_) succ_[fill[e.first]++] = e.second;
  }
  external_slot_ = static_cast<std::uint32_t>(graph_.stream_count());
  queue_.resize(graph_.stream_count() + 1);
  now_ = 0;
  const std::size_t hosts = graph_.host_order_.size();
  if (hosts > 0) {
    ready_.assign(n, -1);
    launched_.assign(n, 0);
  }
  host_clock_.assign(hosts, 0);
  host_next_.assign(hosts, 0);
  host_waiting_.assign(hosts, {});
  host_blocked_on_.assign(hosts, kNone);
  for (TaskId t = 0; t < n; ++t)
    if (pending_[t] == 0) ready_task(t);
  std::vector<TaskId> finished;
  while (!queue_.empty()) {
    const std::uint32_t slot = queue_.top_slot();
    now_ = queue_.top_time();
    queue_.erase(slot);
    ++events_;
    if (slot != external_slot_) {
      if (Running& r = running_[slot]; r.deferred) {  // its launch has ended: it starts now
        r.deferred = false;
        start_task(r.task);
      } else {
        finish_task(slot);
      }
      continue;
    }
    finished.clear();
    external_->advance(now_, finished);
    for (TaskId t : finished) finish_task(graph_.stream_[t]);
    sync_external();
  }
  for (TaskId t = 0; t < n; ++t)
    GPUHOURS_ASSERT(end_[t] >= 0, "every task ran: the dependencies form no cycle (nor a launch order against them)");
  if (hosts > 0)
    for (TaskId t = 0; t < n; ++t)
      if (ready_[t] < 0) ready_[t] = start_[t];
  return Time::ns(now_);
}

}  // namespace gpuhours
