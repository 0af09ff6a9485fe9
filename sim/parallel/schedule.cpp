// Pipeline schedules: the registry of schedules.def, the position maps of each placement, and
// make_schedule. Each schedule's own passes are in sim/parallel/schedules/<identifier>.cpp.
#include <algorithm>
#include <optional>

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

std::optional<std::string> schedule_problem(const ScheduleSpec& spec) {
  const ScheduleAlgorithm& a = algorithm(spec.kind);
  std::string why;
  if (spec.stages < 1) why = "needs at least 1 pipeline stage";
  else if (spec.microbatches < 1) why = "needs at least 1 micro-batch";
  else if (!a.uses_virtual_stages && spec.virtual_stages != 1)
    why = "virtual_stages (" + std::to_string(spec.virtual_stages) + ") applies to interleaved-1f1b only; leave it at 1";
  else if (spec.overlap_pairs && !a.pairs_steady_state)
    why = "the expert-parallel overlap (ep_comm_overlap) applies to 1f1b and interleaved-1f1b (DualPipe pairs its passes itself)";
  else if (a.validate) why = a.validate(spec);
  if (why.empty()) return std::nullopt;
  return std::string("pipeline schedule ") + to_string(spec.kind) + " with " + std::to_string(spec.stages) +
         " stages and " + std::to_string(spec.microbatches) + " micro-batches: " + why;
}

int chunks_per_rank(ScheduleKind kind, int virtual_stages) {
  switch (algorithm(kind).placement) {
    case Placement::one_chunk: return 1;
    case Placement::interleaved: return virtual_stages;
    case Placement::two_directions:
    case Placement::v_shape: return 2;
  }
  GPUHOURS_ASSERT(false, "unhandled placement");
}

int schedule_positions(ScheduleKind kind, int stages, int virtual_stages) {
  return algorithm(kind).placement == Placement::two_directions ? stages : stages * chunks_per_rank(kind, virtual_stages);
}

bool uses_virtual_stages(ScheduleKind kind) { return algorithm(kind).uses_virtual_stages; }

bool splits_backward(ScheduleKind kind) { return algorithm(kind).split_backward; }

int Schedule::direction(int microbatch) const {
  GPUHOURS_ASSERT(microbatch >= 0 && microbatch < spec.microbatches, "micro-batch out of range");
  if (placement(spec) != Placement::two_directions) return 0;
  return microbatch < spec.microbatches / 2 ? 0 : 1;
}

int Schedule::positions() const {
  return schedule_positions(spec.kind, spec.stages, spec.virtual_stages);
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
  if (auto problem = schedule_problem(spec)) throw InputError(*problem);
  const ScheduleAlgorithm& a = algorithm(spec.kind);
  Schedule s;
  s.spec = spec;
  s.chunks_per_rank = chunks_per_rank(spec.kind, spec.virtual_stages);
  s.split_backward = a.split_backward && spec.split_backward;
  for (int r = 0; r < spec.stages; ++r) {
    std::vector<StageOp> ops = a.rank_ops(spec, r);
    if (a.split_backward && !spec.split_backward) {  // each W's work moves into its B
      std::erase_if(ops, [](const StageOp& op) { return op.pass == Pass::W; });
      for (StageOp& op : ops) op.full_backward = op.full_backward || op.pass == Pass::B;
    }
    s.ops.push_back(std::move(ops));
  }
  return s;
}

}  // namespace gpuhours
