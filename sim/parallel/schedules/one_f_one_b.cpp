// 1F1B: PipeDream-Flush as in Megatron-LM (Narayanan et al. 2021, §2.2.1).
#include <algorithm>

#include "schedule_algorithm.hpp"

namespace gpuhours {

namespace {
// 1F1B (PipeDream-Flush): (stages - rank - 1) warm-up forwards, one forward and one backward at a
// time, then the remaining backwards.
std::vector<StageOp> one_f_one_b_rank(const ScheduleSpec& s, int rank) {
  const int stages = s.stages, microbatches = s.microbatches;
  const int warmup = std::min(stages - rank - 1, microbatches);
  std::vector<StageOp> ops;
  for (int m = 0; m < warmup; ++m) ops.push_back({Pass::F, m, 0});
  for (int i = 0; warmup + i < microbatches; ++i) {
    ops.push_back({Pass::F, warmup + i, 0});
    ops.push_back({Pass::B, i, 0, -1, -1, true});
  }
  for (int m = microbatches - warmup; m < microbatches; ++m) ops.push_back({Pass::B, m, 0, -1, -1, true});
  return ops;
}

}  // namespace

ScheduleAlgorithm schedule_one_f_one_b() { return {.placement = Placement::one_chunk, .rank_ops = one_f_one_b_rank}; }

}  // namespace gpuhours
