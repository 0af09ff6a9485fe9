// GPipe (Huang et al. 2019): every forward, then every backward in reverse micro-batch order.
#include "schedule_algorithm.hpp"

namespace gpuhours {

namespace {
// gpipe: all forwards, then all backwards, last micro-batch first.
std::vector<StageOp> gpipe_rank(const ScheduleSpec& s, int) {
  const int microbatches = s.microbatches;
  std::vector<StageOp> ops;
  for (int m = 0; m < microbatches; ++m) ops.push_back({Pass::F, m, 0});
  for (int m = microbatches - 1; m >= 0; --m) ops.push_back({Pass::B, m, 0, -1, -1, true});
  return ops;
}

}  // namespace

ScheduleAlgorithm schedule_gpipe() { return {.placement = Placement::one_chunk, .rank_ops = gpipe_rank}; }

}  // namespace gpuhours
