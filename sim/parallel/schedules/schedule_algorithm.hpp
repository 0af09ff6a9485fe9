// What one pipeline schedule file defines (schedules.def lists them): where a micro-batch's path
// runs through the ranks' chunks, whether the backward is split into B and W, the checks its
// spec must pass, and the order of each rank's passes.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "gpuhours/schedule.hpp"

namespace gpuhours {

/// How pipeline positions map to (rank, chunk): the maps Schedule::position, rank_of and
/// chunk_of implement, and the chunks each rank holds.
enum class Placement {
  one_chunk,       // position = rank, one chunk per rank
  interleaved,     // virtual_stages chunks per rank, position = chunk * stages + rank
  two_directions,  // DualPipe: chunk 0 carries micro-batches [0, M/2) from rank 0, chunk 1 the rest from the last rank
  v_shape,         // DualPipeV: rank r holds positions r (chunk 0) and 2 * stages - 1 - r (chunk 1)
};

struct ScheduleAlgorithm {
  Placement placement = Placement::one_chunk;
  bool split_backward = false;       // the schedule has W passes
  bool uses_virtual_stages = false;  // virtual_stages != 1 is allowed
  bool pairs_steady_state = false;   // ScheduleSpec::overlap_pairs is allowed
  /// Checks beyond stages >= 1 and micro-batches >= 1: why the schedule cannot run `spec`, or empty.
  std::string (*validate)(const ScheduleSpec& spec) = nullptr;
  /// The passes of pipeline rank `rank`, in execution order.
  std::vector<StageOp> (*rank_ops)(const ScheduleSpec& spec, int rank) = nullptr;
};

/// A steady-state step of a 1F1B schedule: the forward `f`, then the backward `b`; with
/// spec.overlap_pairs both as one overlapped F&B op (its backward whole).
inline void one_f_one_b_step(const ScheduleSpec& spec, std::vector<StageOp>& ops, const StageOp& f, const StageOp& b) {
  if (spec.overlap_pairs) {
    ops.push_back({Pass::FB, f.microbatch, f.chunk, b.microbatch, b.chunk, true});
  } else {
    ops.push_back(f);
    ops.push_back(b);
  }
}
/// Warm-up forwards of a 1F1B schedule: `warmup`, one more with spec.overlap_pairs so that the
/// forward and backward of each F&B pair are independent (Megatron-Core schedules.py), at most `total`.
inline int one_f_one_b_warmup(const ScheduleSpec& spec, int warmup, int total) {
  return std::min(warmup + (spec.overlap_pairs ? 1 : 0), total);
}

#define GPUHOURS_SCHEDULE(id, name) ScheduleAlgorithm schedule_##id();
#include "gpuhours/schedules.def"
#undef GPUHOURS_SCHEDULE


}  // namespace gpuhours
