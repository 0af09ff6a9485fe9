// DualPipe (DeepSeek-V3 §3.2.1; deepseek-ai/DualPipe dualpipe/dualpipe.py): two directions,
// micro-batches [0, M/2) enter at rank 0 on chunk 0, [M/2, M) at rank stages-1 on chunk 1.
#include <algorithm>

#include "dual_steps.hpp"
#include <string>

#include "schedule_algorithm.hpp"

namespace gpuhours {

namespace {

std::string validate_dualpipe(const ScheduleSpec& s) {
  // deepseek-ai/DualPipe, DualPipe.step: num_ranks % 2 == 0, num_chunks % 2 == 0 and
  // num_chunks >= 2 * num_ranks (each direction gets half of the micro-batches).
  if (s.stages % 2 != 0) return "dualpipe needs an even number of stages";
  if (s.microbatches % 2 != 0) return "dualpipe needs an even number of micro-batches (half per direction)";
  if (s.microbatches < 2 * s.stages) return "dualpipe needs at least 2 x stages micro-batches";
  return {};
}

// Each direction gets half of the micro-batches; the first half of the ranks feed direction 0
// (chunk 0) in their warm-up, the second half direction 1 (chunk 1).
std::vector<StageOp> dualpipe_rank(const ScheduleSpec& s, int rank) {
  const int half = s.stages / 2, per_chunk = s.microbatches / 2;
  detail::DualRankOps ops(per_chunk);
  detail::dual_steps(ops, half, std::min(rank, s.stages - 1 - rank), per_chunk, rank < half ? 0 : 1);
  return ops.finish(per_chunk);
}

}  // namespace

ScheduleAlgorithm schedule_dualpipe() {
  return {.placement = Placement::two_directions, .split_backward = true, .validate = validate_dualpipe,
          .rank_ops = dualpipe_rank};
}

}  // namespace gpuhours
