// Pipeline schedules: for each pipeline rank, the order of its forward and backward passes over
// micro-batches and model chunks. Pure functions; the step program turns them into engine tasks.
//
// Schedules (ScheduleKind):
//  - gpipe: every forward, then every backward in reverse micro-batch order (Huang et al. 2019).
//  - 1f1b: PipeDream-Flush as in Megatron-LM: rank r runs (stages - r - 1) warm-up forwards, then
//    alternates one forward and one backward, then drains the remaining backwards
//    (Narayanan et al. 2021, §2.2.1).
//  - interleaved-1f1b: Megatron-LM's interleaved schedule with `virtual_stages` chunks per rank;
//    chunk c of rank r is pipeline position c*stages + r (Narayanan et al. 2021, §2.2.2).
//  - zb-h1: ZB-H1 of Qi et al. 2023, "Zero Bubble Pipeline Parallelism": backward split into
//    B (input gradient) and W (weight gradient); same warm-up as 1F1B (same peak activations), rank
//    r defers its first r W passes and runs them at the end, where 1F1B has its cool-down bubble.
//    The op order is the one of the authors' DeepSpeed ZB-H1 schedule (ZeroBubbleH1Pipeline).
//  - dualpipe: DeepSeek-V3 §3.2.1 and deepseek-ai/DualPipe (dualpipe/dualpipe.py). Two directions:
//    micro-batches [0, M/2) enter at rank 0 and use chunk 0 of each rank (position = rank);
//    micro-batches [M/2, M) enter at rank stages-1 and use chunk 1 (position = stages-1-rank).
//  - dualpipev: deepseek-ai/DualPipe dualpipe/dualpipev.py ("cut-in-half" DualPipe): one direction,
//    V shape over 2*stages positions; rank r holds positions r (chunk 0) and 2*stages-1-r (chunk 1).
//
// DualPipe and DualPipeV follow the eight steps of the reference implementation per rank: warm-up
// forwards, forwards of both chunks, B/W/F with zero bubble, the main overlapped F&B steps
// (Pass::FB), B + F&B, backwards of both chunks (the second half of them split into B and W),
// W + B, and the remaining W. Where the reference runs a backward whole (enable_zb off, and the
// backward half of every overlapped F&B) the op has full_backward = true and no W op follows for it.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpuhours/enums.hpp"

namespace gpuhours {

/// The schedules of schedules.def.
enum class ScheduleKind {
#define GPUHOURS_SCHEDULE(id, name) id,
#include "gpuhours/schedules.def"
#undef GPUHOURS_SCHEDULE
};
template <>
struct EnumTable<ScheduleKind> {
  static constexpr std::array names{
#define GPUHOURS_SCHEDULE(id, name) EnumName<ScheduleKind>{ScheduleKind::id, name},
#include "gpuhours/schedules.def"
#undef GPUHOURS_SCHEDULE
  };
};
/// "gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "dualpipe", "dualpipev"; throws InputError
/// listing the choices.
inline ScheduleKind parse_schedule(const std::string& s) { return parse_enum<ScheduleKind>(s, "pipeline schedule"); }
inline const char* to_string(ScheduleKind k) { return name_of(k); }

/// F: forward of one chunk. B: backward of one chunk; a full backward (input and weight gradients)
/// when StageOp::full_backward, else the input-gradient backward only, whose weight gradient is a
/// later W op of the same rank. W: weight-gradient backward. FB: DualPipe's overlapped pair, one op
/// that runs the forward of (microbatch, chunk) together with the backward of (microbatch2, chunk2).
enum class Pass : std::uint8_t { F, B, W, FB };
template <>
struct EnumTable<Pass> {
  static constexpr std::array<EnumName<Pass>, 4> names{{{Pass::F, "F"}, {Pass::B, "B"}, {Pass::W, "W"}, {Pass::FB, "F&B"}}};
};
inline const char* to_string(Pass p) { return name_of(p); }

struct StageOp {
  Pass pass;
  int microbatch;
  int chunk;
  int microbatch2 = -1;  // FB only: the backward part
  int chunk2 = -1;
  /// B, and the backward part of FB: true when the op computes the weight gradient too (no W op
  /// follows for it). Always true in gpipe, 1f1b and interleaved-1f1b; false in zb-h1; mixed in
  /// dualpipe / dualpipev, as in the reference (FB's backward part is always full).
  bool full_backward = false;
  friend bool operator==(const StageOp&, const StageOp&) = default;
};

struct ScheduleSpec {
  ScheduleKind kind;
  int stages;        // pipeline ranks
  int microbatches;  // per step (per data-parallel rank)
  int virtual_stages = 1;  // chunks per rank, interleaved-1f1b only
  bool split_backward = true;  // false: every B is whole and no W follows (weight gradients not deferred)
  /// 1f1b (one stage) and interleaved-1f1b: Megatron-Core's expert-parallel all-to-all overlap
  /// (--overlap-moe-expert-parallel-comm, schedules.py's combined 1F1B): one more warm-up forward,
  /// then each steady-state forward and backward run as one overlapped F&B op.
  bool overlap_pairs = false;
};

struct Schedule {
  ScheduleSpec spec;
  std::vector<std::vector<StageOp>> ops;  // ops[rank] in execution order
  int chunks_per_rank = 1;  // 1 (gpipe, 1f1b, zb-h1), virtual_stages (interleaved), 2 (dualpipe, dualpipev)
  bool split_backward = false;  // whether the schedule has W ops (zb-h1, dualpipe, dualpipev)

  /// Position of (rank, chunk) along a micro-batch's forward path, 0 .. positions()-1. Forward of
  /// position p needs forward of p-1 (same micro-batch); backward of p needs backward of p+1 and
  /// forward of p; W of p needs B of p.
  int position(int rank, int chunk, int microbatch) const;
  /// stages * chunks_per_rank, except dualpipe (= stages: each micro-batch uses the `stages`
  /// positions of its direction).
  int positions() const;
  int rank_of(int position, int microbatch) const;
  int chunk_of(int position, int microbatch) const;
  /// DualPipe: 0 for micro-batches [0, M/2) (enter at rank 0), 1 for the rest; 0 otherwise.
  int direction(int microbatch) const;

  /// Most chunk-activation sets `rank` holds at once, in units of one chunk's activations for one
  /// micro-batch, counted along the rank's op order: +1 at each forward, -1 at each backward (B or
  /// FB's backward part); an FB op peaks with its forward's activations before its backward frees
  /// its own. W ops are not counted (the paper's convention: ZB-H1 has the peak of 1F1B).
  int max_in_flight_chunks(int rank) const;
  /// The maximum over ranks.
  int max_in_flight_chunks() const;
};

/// Builds the schedule. Throws InputError on an invalid spec: stages < 1, microbatches < 1,
/// virtual_stages != 1 outside interleaved-1f1b; interleaved-1f1b needs virtual_stages >= 2 and
/// microbatches % stages == 0 (Megatron-LM); dualpipe needs even stages, even microbatches and
/// microbatches >= 2*stages (the asserts of DualPipe.step); dualpipev needs
/// microbatches >= 2*stages (DualPipeV.step).
Schedule make_schedule(const ScheduleSpec& spec);
/// Why make_schedule would refuse `spec` (the message it throws), or nothing.
std::optional<std::string> schedule_problem(const ScheduleSpec& spec);
/// Model chunks each pipeline rank holds under `kind`.
int chunks_per_rank(ScheduleKind kind, int virtual_stages);
/// Pipeline positions (model parts) of `kind` over `stages` ranks: Schedule::positions().
int schedule_positions(ScheduleKind kind, int stages, int virtual_stages);
/// Whether `kind` interleaves virtual stages (virtual_stages != 1 allowed).
bool uses_virtual_stages(ScheduleKind kind);
/// Whether `kind` can defer weight gradients to W passes (zb-h1, dualpipe, dualpipev).
bool splits_backward(ScheduleKind kind);

}  // namespace gpuhours
