// DualPipe and DualPipeV share the eight steps of deepseek-ai/DualPipe's step() per rank.
#pragma once
#include <deque>
#include <utility>
#include <vector>

#include "gpuhours/error.hpp"
#include "gpuhours/schedule.hpp"

namespace gpuhours::detail {

// Appends one DualPipe / DualPipeV rank's ops. Each chunk numbers its micro-batches in the order
// it runs their forwards (the reference's current_f_chunk_id / current_b_chunk_id); chunk 1's
// micro-batch numbers start at `chunk1_first`. Backwards split into B + W keep their W in a FIFO
// (the reference's WeightGradStore).
class DualRankOps {
 public:
  explicit DualRankOps(int chunk1_first) : first_{0, chunk1_first} {}

  void forward(int c) { ops_.push_back({Pass::F, first_[c] + next_f_[c]++, c}); }
  void backward(int c, bool split) {
    const int m = first_[c] + next_b_[c]++;
    ops_.push_back({Pass::B, m, c, -1, -1, !split});
    if (split) deferred_.emplace_back(m, c);
  }
  void weight() {
    GPUHOURS_ASSERT(!deferred_.empty(), "a W pass needs an earlier split backward");
    const auto [m, c] = deferred_.front();
    deferred_.pop_front();
    ops_.push_back({Pass::W, m, c});
  }
  // Forward of chunk `fc` overlapped with the (full) backward of chunk `bc`.
  void overlapped(int fc, int bc) {
    const int fm = first_[fc] + next_f_[fc]++;
    const int bm = first_[bc] + next_b_[bc]++;
    ops_.push_back({Pass::FB, fm, fc, bm, bc, true});
  }
  std::vector<StageOp> finish(int per_chunk) {
    GPUHOURS_ASSERT(next_f_[0] == per_chunk && next_f_[1] == per_chunk, "every forward runs once");
    GPUHOURS_ASSERT(next_b_[0] == per_chunk && next_b_[1] == per_chunk, "every backward runs once");
    GPUHOURS_ASSERT(deferred_.empty(), "every deferred W runs");
    return std::move(ops_);
  }

 private:
  int first_[2];
  int next_f_[2] = {0, 0}, next_b_[2] = {0, 0};
  std::deque<std::pair<int, int>> deferred_;
  std::vector<StageOp> ops_;
};

// The eight steps of DualPipe.step / DualPipeV.step for one rank. DualPipe: n = stages / 2,
// h = min(rank, stages - 1 - rank), per_chunk = M / 2. DualPipeV: n = stages, h = rank,
// per_chunk = M (it is the first half of a DualPipe over 2 * stages ranks). `a` is the chunk the
// reference calls phase 0 on this rank (the one its warm-up feeds), b = 1 - a phase 1. The rank
// with h == n - 1 is where the two directions (or the V) fold over.
void dual_steps(DualRankOps& r, int n, int h, int per_chunk, int a);

}  // namespace gpuhours::detail
