// What the step program's tasks stand for: the engine's opaque task categories, named here.
#pragma once
#include <array>

#include "gpuhours/engine.hpp"
#include "gpuhours/enums.hpp"

namespace gpuhours {

/// Compute, the optimizer step, and communication of each kind of parallelism.
enum class TaskKind : std::uint8_t { compute, optimizer, comm_tp, comm_ep, comm_pp, comm_dp };
template <>
struct EnumTable<TaskKind> {
  static constexpr std::array<EnumName<TaskKind>, 6> names{{{TaskKind::compute, "compute"},
                                                            {TaskKind::optimizer, "optimizer"},
                                                            {TaskKind::comm_tp, "tp"},
                                                            {TaskKind::comm_ep, "ep"},
                                                            {TaskKind::comm_pp, "pp"},
                                                            {TaskKind::comm_dp, "dp"}}};
};
inline const char* to_string(TaskKind k) { return name_of(k); }
inline bool is_communication(TaskKind k) { return k != TaskKind::compute && k != TaskKind::optimizer; }
/// Compute and the optimizer run on the SMs; communication transfers.
inline TaskUse use_of(TaskKind k) { return is_communication(k) ? TaskUse::transfer : TaskUse::compute; }
inline TaskKind task_kind(const TaskGraph& g, TaskId t) { return static_cast<TaskKind>(g.task_category(t)); }
/// Appends a task of kind `k` to `stream` (TaskGraph::add_task).
inline TaskId add_task(TaskGraph& g, StreamId stream, Time work, TaskKind k, std::uint32_t label,
                       double sm_share = 0.0) {
  return g.add_task(stream, work, use_of(k), static_cast<TaskCategory>(k), label, sm_share);
}

}  // namespace gpuhours
