// Pipeline schedules as per-rank op lists (include/gpuhours/schedule.hpp).
#include <algorithm>
#include <deque>
#include <string>
#include <utility>

#include "gpuhours/error.hpp"
#include "gpuhours/schedule.hpp"

namespace gpuhours {

namespace {

struct KindName {
  ScheduleKind kind;
  const char* name;
};
constexpr KindName kKindNames[] = {
    {ScheduleKind::gpipe, "gpipe"},
    {ScheduleKind::one_f_one_b, "1f1b"},
    {ScheduleKind::interleaved_1f1b, "interleaved-1f1b"},
    {ScheduleKind::zb_h1, "zb-h1"},
    {ScheduleKind::dualpipe, "dualpipe"},
    {ScheduleKind::dualpipev, "dualpipev"},
};

[[noreturn]] void invalid(const ScheduleSpec& s, const std::string& why) {
  throw InputError(std::string("pipeline schedule ") + to_string(s.kind) + " with " +
                   std::to_string(s.stages) + " stages and " + std::to_string(s.microbatches) +
                   " micro-batches: " + why);
}

void validate(const ScheduleSpec& s) {
  if (s.stages < 1) invalid(s, "needs at least 1 pipeline stage");
  if (s.microbatches < 1) invalid(s, "needs at least 1 micro-batch");
  if (s.kind != ScheduleKind::interleaved_1f1b && s.virtual_stages != 1)
    invalid(s, "virtual_stages (" + std::to_string(s.virtual_stages) +
                   ") applies to interleaved-1f1b only; leave it at 1");
  switch (s.kind) {
    case ScheduleKind::gpipe:
    case ScheduleKind::one_f_one_b:
    case ScheduleKind::zb_h1:
      return;
    case ScheduleKind::interleaved_1f1b:
      // Megatron-LM's interleaved schedule runs the micro-batches in groups of `stages`.
      if (s.virtual_stages < 2)
        invalid(s, "interleaved-1f1b needs virtual_stages >= 2 (got " +
                       std::to_string(s.virtual_stages) + "); with 1 use 1f1b");
      if (s.microbatches % s.stages != 0)
        invalid(s, "interleaved-1f1b needs the micro-batches to be a multiple of the stages");
      return;
    case ScheduleKind::dualpipe:
      // deepseek-ai/DualPipe, DualPipe.step: num_ranks % 2 == 0, num_chunks % 2 == 0 and
      // num_chunks >= 2 * num_ranks (each direction gets half of the micro-batches).
      if (s.stages % 2 != 0) invalid(s, "dualpipe needs an even number of stages");
      if (s.microbatches % 2 != 0) invalid(s, "dualpipe needs an even number of micro-batches (half per direction)");
      if (s.microbatches < 2 * s.stages) invalid(s, "dualpipe needs at least 2 x stages micro-batches");
      return;
    case ScheduleKind::dualpipev:
      // deepseek-ai/DualPipe, DualPipeV.step: num_chunks >= 2 * num_ranks.
      if (s.microbatches < 2 * s.stages) invalid(s, "dualpipev needs at least 2 x stages micro-batches");
      return;
  }
  GPUHOURS_ASSERT(false, "unhandled schedule kind");
}

// gpipe: all forwards, then all backwards, last micro-batch first.
std::vector<StageOp> gpipe_rank(int microbatches) {
  std::vector<StageOp> ops;
  for (int m = 0; m < microbatches; ++m) ops.push_back({Pass::F, m, 0});
  for (int m = microbatches - 1; m >= 0; --m) ops.push_back({Pass::B, m, 0, -1, -1, true});
  return ops;
}

// 1F1B (PipeDream-Flush): (stages - rank - 1) warm-up forwards, one forward and one backward at a
// time, then the remaining backwards.
std::vector<StageOp> one_f_one_b_rank(int stages, int microbatches, int rank) {
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

// Megatron-LM's interleaved 1F1B. The k-th forward of a rank runs chunk (k mod (S*V)) / S of
// micro-batch (k / (S*V)) * S + k mod S: micro-batches go through the chunks in groups of S. The
// k-th backward takes the chunks in reverse. Warm-up: (S - rank - 1) * 2 + (V - 1) * S forwards,
// or every forward when M == S.
std::vector<StageOp> interleaved_rank(int stages, int microbatches, int virtual_stages, int rank) {
  const int group = stages * virtual_stages;
  const int total = microbatches * virtual_stages;
  const int warmup = microbatches == stages
                         ? total
                         : std::min((stages - rank - 1) * 2 + (virtual_stages - 1) * stages, total);
  auto microbatch = [&](int k) { return (k / group) * stages + k % stages; };
  auto chunk = [&](int k, bool forward) {
    const int c = (k % group) / stages;
    return forward ? c : virtual_stages - 1 - c;
  };
  auto forward = [&](int k) { return StageOp{Pass::F, microbatch(k), chunk(k, true)}; };
  auto backward = [&](int k) { return StageOp{Pass::B, microbatch(k), chunk(k, false), -1, -1, true}; };
  std::vector<StageOp> ops;
  for (int k = 0; k < warmup; ++k) ops.push_back(forward(k));
  for (int k = 0; warmup + k < total; ++k) {
    ops.push_back(forward(warmup + k));
    ops.push_back(backward(k));
  }
  for (int k = total - warmup; k < total; ++k) ops.push_back(backward(k));
  return ops;
}

// ZB-H1 (Qi et al. 2023), in the op order of the authors' DeepSpeed schedule: the 1F1B warm-up;
// then `rank` steps of F + B whose W are deferred; then F + B + W (W of the oldest deferred
// micro-batch); then B + W; then the `rank` deferred W passes, which fill the cool-down bubble.
std::vector<StageOp> zb_h1_rank(int stages, int microbatches, int rank) {
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
void dual_steps(DualRankOps& r, int n, int h, int per_chunk, int a) {
  const int b = 1 - a;
  const int rest = n - h - 1;
  // 1. warm-up forwards of chunk a.
  for (int i = 0; i < 2 * rest; ++i) r.forward(a);
  // 2. forwards of both chunks.
  for (int i = 0; i <= h; ++i) {
    r.forward(a);
    r.forward(b);
  }
  // 3. split backward of chunk b, the W just deferred, a forward of chunk b.
  for (int i = 0; i < rest; ++i) {
    r.backward(b, true);
    r.weight();
    r.forward(b);
  }
  // 4. main steps: F(a)&B(b), then F(b)&B(a). The fold rank runs its first pair one after the
  //    other (the reference does not overlap them, to shorten the bubble).
  const int main_steps = per_chunk - 2 * n + h + 1;
  for (int i = 0; i < main_steps; ++i) {
    if (i == 0 && h == n - 1) {
      r.forward(a);
      r.backward(b, false);
    } else {
      r.overlapped(a, b);
    }
    r.overlapped(b, a);
  }
  // 5. a full backward of chunk b, then F(b)&B(a).
  for (int i = 0; i < rest; ++i) {
    r.backward(b, false);
    r.overlapped(b, a);
  }
  // 6. backwards of both chunks; from the middle one on they are split into B and a deferred W
  //    (for odd h the switch comes before the chunk-b backward of that step, for even h after it).
  bool split = false;
  for (int i = 0; i <= h; ++i) {
    if (i == (h + 1) / 2 && h % 2 == 1) split = true;
    r.backward(b, split);
    if (i == (h + 1) / 2 && h % 2 == 0) split = true;
    r.backward(a, split);
  }
  // 7. a deferred W, then a split backward of chunk a.
  for (int i = 0; i < rest; ++i) {
    r.weight();
    r.backward(a, true);
  }
  // 8. the remaining deferred W.
  for (int i = 0; i <= h; ++i) r.weight();
}

std::vector<StageOp> dualpipe_rank(int stages, int microbatches, int rank) {
  const int n = stages / 2, per_chunk = microbatches / 2;
  DualRankOps r(per_chunk);
  // The first half of the ranks feed direction 0 (chunk 0) in their warm-up, the second half
  // direction 1 (chunk 1).
  dual_steps(r, n, std::min(rank, stages - 1 - rank), per_chunk, rank < n ? 0 : 1);
  return r.finish(per_chunk);
}

std::vector<StageOp> dualpipev_rank(int stages, int microbatches, int rank) {
  DualRankOps r(0);
  dual_steps(r, stages, rank, microbatches, 0);
  return r.finish(microbatches);
}

}  // namespace

ScheduleKind parse_schedule(const std::string& s) {
  for (const auto& k : kKindNames)
    if (s == k.name) return k.kind;
  std::string msg = "unknown pipeline schedule '" + s + "' (one of:";
  for (const auto& k : kKindNames) msg += std::string(" ") + k.name;
  throw InputError(msg + ")");
}

const char* to_string(ScheduleKind k) {
  for (const auto& n : kKindNames)
    if (n.kind == k) return n.name;
  return "?";
}

const char* to_string(Pass p) {
  switch (p) {
    case Pass::F: return "F";
    case Pass::B: return "B";
    case Pass::W: return "W";
    case Pass::FB: return "F&B";
  }
  return "?";
}

int Schedule::direction(int microbatch) const {
  GPUHOURS_ASSERT(microbatch >= 0 && microbatch < spec.microbatches, "micro-batch out of range");
  if (spec.kind != ScheduleKind::dualpipe) return 0;
  return microbatch < spec.microbatches / 2 ? 0 : 1;
}

int Schedule::positions() const {
  return spec.kind == ScheduleKind::dualpipe ? spec.stages : spec.stages * chunks_per_rank;
}

int Schedule::position(int rank, int chunk, int microbatch) const {
  GPUHOURS_ASSERT(rank >= 0 && rank < spec.stages, "rank out of range");
  GPUHOURS_ASSERT(chunk >= 0 && chunk < chunks_per_rank, "chunk out of range");
  const int S = spec.stages;
  switch (spec.kind) {
    case ScheduleKind::interleaved_1f1b:
      return chunk * S + rank;
    case ScheduleKind::dualpipe:
      GPUHOURS_ASSERT(chunk == direction(microbatch), "a DualPipe micro-batch uses the chunk of its direction");
      return chunk == 0 ? rank : S - 1 - rank;
    case ScheduleKind::dualpipev:
      return chunk == 0 ? rank : 2 * S - 1 - rank;
    case ScheduleKind::gpipe:
    case ScheduleKind::one_f_one_b:
    case ScheduleKind::zb_h1:
      return rank;
  }
  GPUHOURS_ASSERT(false, "unhandled schedule kind");
}

int Schedule::rank_of(int position, int microbatch) const {
  GPUHOURS_ASSERT(position >= 0 && position < positions(), "position out of range");
  const int S = spec.stages;
  switch (spec.kind) {
    case ScheduleKind::interleaved_1f1b: return position % S;
    case ScheduleKind::dualpipe: return direction(microbatch) == 0 ? position : S - 1 - position;
    case ScheduleKind::dualpipev: return position < S ? position : 2 * S - 1 - position;
    case ScheduleKind::gpipe:
    case ScheduleKind::one_f_one_b:
    case ScheduleKind::zb_h1:
      return position;
  }
  GPUHOURS_ASSERT(false, "unhandled schedule kind");
}

int Schedule::chunk_of(int position, int microbatch) const {
  GPUHOURS_ASSERT(position >= 0 && position < positions(), "position out of range");
  switch (spec.kind) {
    case ScheduleKind::interleaved_1f1b: return position / spec.stages;
    case ScheduleKind::dualpipe: return direction(microbatch);
    case ScheduleKind::dualpipev: return position < spec.stages ? 0 : 1;
    case ScheduleKind::gpipe:
    case ScheduleKind::one_f_one_b:
    case ScheduleKind::zb_h1:
      return 0;
  }
  GPUHOURS_ASSERT(false, "unhandled schedule kind");
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
  validate(spec);
  Schedule s;
  s.spec = spec;
  const int S = spec.stages, M = spec.microbatches;
  switch (spec.kind) {
    case ScheduleKind::gpipe:
    case ScheduleKind::one_f_one_b:
    case ScheduleKind::zb_h1:
      s.chunks_per_rank = 1;
      break;
    case ScheduleKind::interleaved_1f1b:
      s.chunks_per_rank = spec.virtual_stages;
      break;
    case ScheduleKind::dualpipe:
    case ScheduleKind::dualpipev:
      s.chunks_per_rank = 2;
      break;
  }
  s.split_backward = spec.kind == ScheduleKind::zb_h1 || spec.kind == ScheduleKind::dualpipe ||
                     spec.kind == ScheduleKind::dualpipev;
  for (int r = 0; r < S; ++r) {
    switch (spec.kind) {
      case ScheduleKind::gpipe: s.ops.push_back(gpipe_rank(M)); break;
      case ScheduleKind::one_f_one_b: s.ops.push_back(one_f_one_b_rank(S, M, r)); break;
      case ScheduleKind::interleaved_1f1b: s.ops.push_back(interleaved_rank(S, M, spec.virtual_stages, r)); break;
      case ScheduleKind::zb_h1: s.ops.push_back(zb_h1_rank(S, M, r)); break;
      case ScheduleKind::dualpipe: s.ops.push_back(dualpipe_rank(S, M, r)); break;
      case ScheduleKind::dualpipev: s.ops.push_back(dualpipev_rank(S, M, r)); break;
    }
  }
  return s;
}

}  // namespace gpuhours
