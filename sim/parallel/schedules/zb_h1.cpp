// ZB-H1 of Qi et al. 2023, "Zero Bubble Pipeline Parallelism" (DeepSpeed ZeroBubbleH1Pipeline).
#include "schedule_algorithm.hpp"

namespace gpuhours {

namespace {
// ZB-H1 (Qi et al. 2023), in the op order of the authors' DeepSpeed schedule: the 1F1B warm-up;
// then `rank` steps of F + B whose W are deferred; then F + B + W (W of the oldest deferred
// micro-batch); then B + W; then the `rank` deferred W passes, which fill the cool-down bubble.
std::vector<StageOp> zb_h1_rank(const ScheduleSpec& s, int rank) {
  const int stages = s.stages, microbatches = s.microbatches;
  std::vector<StageOp> ops;
  int f = 0, b = 0, w = 0;
  auto forward = [&] { ops.push_back({Pass::F, f++, 0}); };
  auto backward = [&] { ops.push_back({Pass::B, b++, 0}); };
  auto weight = [&] { ops.push_back({Pass::W, w++, 0}); };
  for (int i = 0; i < stages - rank - 1 && f < microbatches; ++i) forward();
  for (int i = 0; i < rank && f < microbatches; ++i) {
    forward();
    backward();
  }
  while (f < microbatches) {
    forward();
    backward();
    weight();
  }
  while (b < microbatches) {
    backward();
    weight();
  }
  while (w < microbatches) weight();
  return ops;
}

}  // namespace

ScheduleAlgorithm schedule_zb_h1() {
  return {.placement = Placement::one_chunk, .split_backward = true, .rank_ops = zb_h1_rank};
}

}  // namespace gpuhours
