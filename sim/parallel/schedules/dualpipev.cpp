// DualPipeV (deepseek-ai/DualPipe dualpipe/dualpipev.py, "cut-in-half" DualPipe): one direction,
// V shape over 2*stages positions; rank r holds positions r (chunk 0) and 2*stages-1-r (chunk 1).
#include "dual_steps.hpp"
#include <string>

#include "schedule_algorithm.hpp"

namespace gpuhours {

namespace {

std::string validate_dualpipev(const ScheduleSpec& s) {
  // deepseek-ai/DualPipe, DualPipeV.step: num_chunks >= 2 * num_ranks.
  if (s.microbatches < 2 * s.stages) return "dualpipev needs at least 2 x stages micro-batches";
  return {};
}

// DualPipeV is the first half of a DualPipe over 2 * stages ranks: rank r runs its steps with
// h = r, all micro-batches on one chunk numbering.
std::vector<StageOp> dualpipev_rank(const ScheduleSpec& s, int rank) {
  detail::DualRankOps ops(0);
  detail::dual_steps(ops, s.stages, rank, s.microbatches, 0);
  return ops.finish(s.microbatches);
}

}  // namespace

ScheduleAlgorithm schedule_dualpipev() {
  return {.placement = Placement::v_shape, .split_backward = true, .validate = validate_dualpipev,
          .rank_ops = dualpipev_rank};
}

}  // namespace gpuhours
