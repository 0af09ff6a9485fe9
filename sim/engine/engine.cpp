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

void TaskGraph::add_dependency(TaskId before, TaskId after) {
  GPUHOURS_ASSERT(before < work_.size() && after < work_.size(), "dependency on an unknown task");
  GPUHOURS_ASSERT(before != after, "a task cannot depend on itself");
  edges_.emplace_back(before, after);
  ++dep_count_[after];
}

std::uint32_t TaskGraph::intern(const std::string& label) {
  auto [it, inserted] = label_index_.try_emplace(label, static_cast<std::uint32_t>(labels_.size()));
  if (inserted) labels_.push_back(label);
  return it->second;
}

std::size_t TaskGraph::bytes_per_task() const {
  // Graph: work 8, stream 4, label 4, use 1, category 1, share 8, next 4, deps 4, external op 4, link 1; per edge 8 (+4 in CSR).
  // Engine: pending 4, CSR offset 4, start 8, end 8.
  const double edges = task_count() ? static_cast<double>(edges_.size()) / task_count() : 0.0;
  return static_cast<std::size_t>(39 + 24 + edges * 12);
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
  if (graph_.use_[t] == TaskUse::compute) return std::max(kMinComputeRate, 1.0 - rank_share_[rank]);
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
  if (comm && graph_.sm_share_[t] > 0.0) rank_share_[rank] += graph_.sm_share_[t];
  if ((comm && graph_.sm_share_[t] > 0.0) || (link && rank_link_[rank] > 1)) rerate_rank(rank);
}

void Engine::release(TaskId t) {
  if (--pending_[t] == 0) start_task(t);
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
  if (share > 0.0 && transfer) rank_share_[rank] = std::max(0.0, rank_share_[rank] - share);
  if ((share > 0.0 && transfer) || (link && rank_link_[rank] > 0)) rerate_rank(rank);
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
  for (TaskId t = 0; t < n; ++t)
    if (pending_[t] == 0) start_task(t);
  std::vector<TaskId> finished;
  while (!queue_.empty()) {
    const std::uint32_t slot = queue_.top_slot();
    now_ = queue_.top_time();
    queue_.erase(slot);
    ++events_;
    if (slot != external_slot_) {
      finish_task(slot);
      continue;
    }
    finished.clear();
    external_->advance(now_, finished);
    for (TaskId t : finished) finish_task(graph_.stream_[t]);
    sync_external();
  }
  for (TaskId t = 0; t < n; ++t)
    GPUHOURS_ASSERT(end_[t] >= 0, "every task ran: the dependencies form no cycle");
  return Time::ns(now_);
}

}  // namespace gpuhours
