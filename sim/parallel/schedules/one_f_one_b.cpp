// 1F1B: PipeDream-Flush as in Megatron-LM (Narayanan et al. 2021, §2.2.1).
#include <algorithm>

#include "schedule_algorithm.hpp"

namespace gpuhours {

namespace {
// 1F1B (PipeDream-Flush): (stages - rank - 1) warm-up forwards, one forward and one backward at a
// time, then the remaining backwards.
std::vector<StageOp> one_f_one_b_rank(const ScheduleSpec& s, int rank) {
  const int stages = s.stages, microbatches = s.microbatches;
  const int warmup = one_f_one_b_warmup(s, std::min(stages - rank - 1, microbatches), microbatches);
  std::vector<StageOp> ops;
  for (int m = 0; m < warmup; ++m) ops.push_back({Pass::F, m, 0});
  for (int i = 0; warmup + i < microbatches; ++i)
    one_f_one_b_step(s, ops, {Pass::F, warmup + i, 0}, {Pass::B, i, 0, -1, -1, true});
  for (int m = microbatches - warmup; m < microbatches; ++m) ops.push_back({Pass::B, m, 0, -1, -1, true});
  return ops;
}

// Megatron-Core overlaps the expert all-to-all of pipelined 1F1B only with virtual stages.
std::string validate_one_f_one_b(const ScheduleSpec& s) {
  if (s.overlap_pairs && s.stages > 1)
    return "the expert-parallel overlap (ep_comm_overlap) needs interleaved-1f1b when pipelined (Megatron-Core)";
  return {};
}

}  // namespace

ScheduleAlgorithm schedule_one_f_one_b() {
  return {.placement = Placement::one_chunk, .pairs_steady_state = true, .validate = validate_one_f_one_b,
          .rank_ops = one_f_one_b_rank};
}

}  // namespace gpuhours
