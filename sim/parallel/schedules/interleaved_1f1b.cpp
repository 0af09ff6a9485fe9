// Megatron-LM's interleaved 1F1B with `virtual_stages` chunks per rank (Narayanan et al. 2021, §2.2.2).
#include <algorithm>
#include <string>

#include "schedule_algorithm.hpp"

namespace gpuhours {

namespace {

std::string validate_interleaved(const ScheduleSpec& s) {
  // Megatron-LM's interleaved schedule runs the micro-batches in groups of `stages`.
  if (s.virtual_stages < 2)
    return "interleaved-1f1b needs virtual_stages >= 2 (got " + std::to_string(s.virtual_stages) + "); with 1 use 1f1b";
  if (s.microbatches % s.stages != 0)
    return "interleaved-1f1b needs the micro-batches to be a multiple of the stages";
  return {};
}

// Megatron-LM's interleaved 1F1B. The k-th forward of a rank runs chunk (k mod (S*V)) / S of
// micro-batch (k / (S*V)) * S + k mod S: micro-batches go through the chunks in groups of S. The
// k-th backward takes the chunks in reverse. Warm-up: (S - rank - 1) * 2 + (V - 1) * S forwards,
// or every forward when M == S.
std::vector<StageOp> interleaved_rank(const ScheduleSpec& s, int rank) {
  const int stages = s.stages, microbatches = s.microbatches, virtual_stages = s.virtual_stages;
  const int group = stages * virtual_stages;
  const int total = microbatches * virtual_stages;
  const int warmup = microbatches == stages
                         ? total
                         : one_f_one_b_warmup(s, (stages - rank - 1) * 2 + (virtual_stages - 1) * stages, total);
  auto microbatch = [&](int k) { return (k / group) * stages + k % stages; };
  auto chunk = [&](int k, bool forward) {
    const int c = (k % group) / stages;
    return forward ? c : virtual_stages - 1 - c;
  };
  auto forward = [&](int k) { return StageOp{Pass::F, microbatch(k), chunk(k, true)}; };
  auto backward = [&](int k) { return StageOp{Pass::B, microbatch(k), chunk(k, false), -1, -1, true}; };
  std::vector<StageOp> ops;
  for (int k = 0; k < warmup; ++k) ops.push_back(forward(k));
  for (int k = 0; warmup + k < total; ++k) one_f_one_b_step(s, ops, forward(warmup + k), backward(k));
  for (int k = total - warmup; k < total; ++k) ops.push_back(backward(k));
  return ops;
}

}  // namespace

ScheduleAlgorithm schedule_interleaved_1f1b() {
  return {.placement = Placement::interleaved,
          .uses_virtual_stages = true,
          .pairs_steady_state = true,
          .validate = validate_interleaved,
          .rank_ops = interleaved_rank};
}

}  // namespace gpuhours
