// Pipeline schedules: the registry of schedules.def, the position maps of each placement, and
// make_schedule. Each schedule's own passes are in sim/parallel/schedules/<identifier>.cpp.
#include <algorithm>

#include "gpuhours/error.hpp"
#include "gpuhours/schedule.hpp"
#include "schedules/schedule_algorithm.hpp"

namespace gpuhours {

namespace {

const ScheduleAlgorithm& algorithm(ScheduleKind kind) {
  static const ScheduleAlgorithm table[] = {
#define GPUHOURS_SCHEDULE(id, name) schedule_##id(),
#include "gpuhours/schedules.def"
#undef GPUHOURS_SCHEDULE
  };
  return table[static_cast<int>(kind)];
}

Placement placement(const ScheduleSpec& spec) { return algorithm(spec.kind).placement; }

}  // namespace

void invalid_schedule(const ScheduleSpec& s, const std::string& why) {
  throw InputError(std::string("pipeline schedule ") + to_string(s.kind) + " with " + std::to_string(s.stages) +
                   " stages and " + std::to_string(s.microbatches) + " micro-batches: " + why);
}

int Schedule::direction(int microbatch) const {
  GPUHOURS_ASSERT(microbatch >= 0 && microbatch < spec.microbatches, "micro-batch out of range");
  if (placement(spec) != Placement::two_directions) return 0;
  return microbatch < spec.microbatches / 2 ? 0 : 1;
}

int Schedule::positions() const {
  return placement(spec) == Placement::two_directions ? spec.stages : spec.stages * chunks_per_rank;
}

int Schedule::position(int rank, int chunk, int microbatch) const {
  GPUHOURS_ASSERT(rank >= 0 && rank < spec.stages, "rank out of range");
  GPUHOURS_ASSERT(chunk >= 0 && chunk < chunks_per_rank, "chunk out of range");
  const int S = spec.stages;
  switch (placement(spec)) {
    case Placement::interleaved:
      return chunk * S + rank;
    case Placement::two_directions:
      GPUHOURS_ASSERT(chunk == direction(microbatch), "a DualPipe micro-batch uses the chunk of its direction");
      return chunk == 0 ? rank : S - 1 - rank;
    case Placement::v_shape:
      return chunk == 0 ? rank : 2 * S - 1 - rank;
    case Placement::one_chunk:
      return rank;
  }
  GPUHOURS_ASSERT(false, "unhandled placement");
}

int Schedule::rank_of(int position, int microbatch) const {
  GPUHOURS_ASSERT(position >= 0 && position < positions(), "position out of range");
  const int S = spec.stages;
  switch (placement(spec)) {
    case Placement::interleaved: return position % S;
    case Placement::two_directions: return direction(microbatch) == 0 ? position : S - 1 - position;
    case Placement::v_shape: return position < S ? position : 2 * S - 1 - position;
    case Placement::one_chunk:
      return position;
  }
  GPUHOURS_ASSERT(false, "unhandled placement");
}

int Schedule::chunk_of(int position, int microbatch) const {
  GPUHOURS_ASSERT(position >= 0 && position < positions(), "position out of range");
  switch (placement(spec)) {
    case Placement::interleaved: return position / spec.stages;
    case Placement::two_directions: return direction(microbatch);
    case Placement::v_shape: return position < spec.stages ? 0 : 1;
    case Placement::one_chunk:
      return 0;
  }
  GPUHOURS_ASSERT(false, "unhandled placement");
}

int Schedule::max_in_flight_chunks(int rank) const {
  GPUHOURS_ASSERT(rank >= 0 && rank < static_cast<int>(ops.size()), "rank out of range");
  int held = 0, peak = 0;
  for (const StageOp& op : ops[rank]) {
    if (op.pass == Pass::F || op.pass == Pass::FB) peak = std::max(peak, ++held);
    if (op.pass == Pass::B || op.pass == Pass::FB) --held;
  }
  GPUHOURS_ASSERT(held == 0, "every forward's activations are freed by its backward");
  return peak;
}

int Schedule::max_in_flight_chunks() const {
  int peak = 0;
  for (int r = 0; r < static_cast<int>(ops.size()); ++r) peak = std::max(peak, max_in_flight_chunks(r));
  return peak;
}

Schedule make_schedule(const ScheduleSpec& spec) {
  const ScheduleAlgorithm& a = algorithm(spec.kind);
  if (spec.stages < 1) invalid_schedule(spec, "needs at least 1 pipeline stage");
  if (spec.microbatches < 1) invalid_schedule(spec, "needs at least 1 micro-batch");
  if (!a.uses_virtual_stages && spec.virtual_stages != 1)
    invalid_schedule(spec, "virtual_stages (" + std::to_string(spec.virtual_stages) + ") applies to interleaved-1f1b only; leave it at 1");
  if (a.validate) a.validate(spec);
  Schedule s;
  s.spec = spec;
  switch (a.placement) {
    case Placement::one_chunk: s.chunks_per_rank = 1; break;
    case Placement::interleaved: s.chunks_per_rank = spec.virtual_stages; break;
    case Placement::two_directions:
    case Placement::v_shape: s.chunks_per_rank = 2; break;
  }
  s.split_backward = a.split_backward;
  for (int r = 0; r < spec.stages; ++r) s.ops.push_back(a.rank_ops(spec, r));
  return s;
}

}  // namespace gpuhours
