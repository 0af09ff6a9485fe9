// Pipeline schedules: op lists, positions, activation peaks, and the bubble of each schedule run on
// the engine, against the table of the deepseek-ai/DualPipe README.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gpuhours/engine.hpp"
#include "gpuhours/error.hpp"
#include "gpuhours/schedule.hpp"

using namespace gpuhours;

namespace {

// Op times (ns) in the README's terms: F a forward chunk, B a full backward chunk, W its
// "backward for weights" part (so an input-gradient-only B takes B - W), and F&B the overlapped
// forward + backward pair. Convention: no overlap gain, F&B = F + B (the backward half of an F&B
// is a full backward in DualPipe). F = 4, B = 7, W = 3: distinct, and B - W = F, W <= F (see the
// DualPipe test for why).
struct Costs {
  std::int64_t F, B, W;
};
constexpr Costs kCosts{4, 7, 3};

std::int64_t op_time(const StageOp& op, Costs c) {
  const std::int64_t backward = op.full_backward ? c.B : c.B - c.W;
  switch (op.pass) {
    case Pass::F: return c.F;
    case Pass::B: return backward;
    case Pass::W: return c.W;
    case Pass::FB: return c.F + backward;
  }
  return 0;
}

struct Run {
  std::int64_t makespan = 0;
  std::vector<std::int64_t> idle;  // per rank: makespan - busy time of the rank
};

// One stream per rank, one task per op in the rank's order; F of position p waits for F of p-1,
// B of p for F of p and B of p+1, W of p for B of p (same micro-batch); send/recv are free.
Run simulate(const Schedule& s, Costs c) {
  TaskGraph g;
  const std::uint32_t label = g.intern("op");
  using Key = std::tuple<Pass, int, int>;  // (F | B | W, micro-batch, position)
  std::map<Key, TaskId> task_of;
  struct Placed {
    TaskId task;
    int rank;
    StageOp op;
  };
  std::vector<Placed> placed;
  Run run;
  std::vector<std::int64_t> busy(s.spec.stages, 0);
  for (int r = 0; r < s.spec.stages; ++r) {
    const StreamId stream = g.add_stream(r, "compute");
    for (const StageOp& op : s.ops[r]) {
      const TaskId t = g.add_task(stream, Time::ns(op_time(op, c)), TaskUse::compute, 0, label);
      busy[r] += op_time(op, c);
      placed.push_back({t, r, op});
      auto record = [&](Pass p, int mb, int chunk) {
        const bool fresh = task_of.emplace(Key{p, mb, s.position(r, chunk, mb)}, t).second;
        REQUIRE(fresh);
      };
      if (op.pass == Pass::FB) {
        record(Pass::F, op.microbatch, op.chunk);
        record(Pass::B, op.microbatch2, op.chunk2);
      } else {
        record(op.pass, op.microbatch, op.chunk);
      }
    }
  }
  for (const Placed& p : placed) {
    auto need = [&](Pass pass, int mb, int pos) {
      const auto it = task_of.find(Key{pass, mb, pos});
      REQUIRE(it != task_of.end());
      if (it->second != p.task) g.add_dependency(it->second, p.task);
    };
    auto forward = [&](int mb, int chunk) {
      const int pos = s.position(p.rank, chunk, mb);
      if (pos > 0) need(Pass::F, mb, pos - 1);
    };
    auto backward = [&](int mb, int chunk) {
      const int pos = s.position(p.rank, chunk, mb);
      need(Pass::F, mb, pos);
      if (pos + 1 < s.positions()) need(Pass::B, mb, pos + 1);
    };
    switch (p.op.pass) {
      case Pass::F: forward(p.op.microbatch, p.op.chunk); break;
      case Pass::B: backward(p.op.microbatch, p.op.chunk); break;
      case Pass::W: need(Pass::B, p.op.microbatch, s.position(p.rank, p.op.chunk, p.op.microbatch)); break;
      case Pass::FB:
        forward(p.op.microbatch, p.op.chunk);
        backward(p.op.microbatch2, p.op.chunk2);
        break;
    }
  }
  Engine e(g);
  run.makespan = e.run().count_ns();
  for (std::int64_t b : busy) run.idle.push_back(run.makespan - b);
  return run;
}

std::vector<std::int64_t> same(int stages, std::int64_t v) { return std::vector<std::int64_t>(stages, v); }

std::string text(const std::vector<StageOp>& ops) {
  std::string out;
  for (const StageOp& op : ops) {
    if (!out.empty()) out += ' ';
    out += to_string(op.pass);
    out += std::to_string(op.microbatch);
    if (op.pass == Pass::FB) {
      out += '/';
      out += std::to_string(op.microbatch2);
    }
  }
  return out;
}

// Specs covering every kind, for the structural checks.
std::vector<ScheduleSpec> sample_specs() {
  std::vector<ScheduleSpec> out;
  for (int S : {1, 2, 3, 4, 8})
    for (int M : {1, S, 2 * S + 1, 3 * S}) {
      out.push_back({ScheduleKind::gpipe, S, M});
      out.push_back({ScheduleKind::one_f_one_b, S, M});
      out.push_back({ScheduleKind::zb_h1, S, M});
    }
  for (int S : {1, 2, 3, 4})
    for (int V : {2, 3})
      for (int M : {S, 2 * S, 4 * S}) out.push_back({ScheduleKind::interleaved_1f1b, S, M, V});
  for (int S : {2, 4, 6, 8})
    for (int M : {2 * S, 2 * S + 2, 20, 6 * S}) out.push_back({ScheduleKind::dualpipe, S, M});
  for (int S : {1, 2, 3, 4, 5})
    for (int M : {2 * S, 2 * S + 1, 20, 5 * S}) out.push_back({ScheduleKind::dualpipev, S, M});
  return out;
}

}  // namespace

TEST_CASE("schedule: names parse and print, unknown names list the choices") {
  for (const char* name : {"gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "dualpipe", "dualpipev"})
    CHECK(std::string(to_string(parse_schedule(name))) == name);
  CHECK(parse_schedule("zb-h1") == ScheduleKind::zb_h1);
  try {
    parse_schedule("zb-v");
    FAIL("no exception");
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("'zb-v'") != std::string::npos);
    CHECK(msg.find("gpipe 1f1b interleaved-1f1b zb-h1 dualpipe dualpipev") != std::string::npos);
  }
  CHECK(std::string(to_string(Pass::FB)) == "F&B");
}

TEST_CASE("schedule: invalid specs throw InputError") {
  using K = ScheduleKind;
  CHECK_THROWS_AS(make_schedule({K::one_f_one_b, 0, 4}), InputError);
  CHECK_THROWS_AS(make_schedule({K::one_f_one_b, 4, 0}), InputError);
  CHECK_THROWS_AS(make_schedule({K::gpipe, 4, 8, 2}), InputError);  // virtual stages: interleaved only
  CHECK_THROWS_AS(make_schedule({K::interleaved_1f1b, 4, 8, 1}), InputError);
  CHECK_THROWS_AS(make_schedule({K::interleaved_1f1b, 4, 6, 2}), InputError);  // 6 % 4 != 0
  CHECK_THROWS_AS(make_schedule({K::dualpipe, 3, 12}), InputError);            // odd stages
  CHECK_THROWS_AS(make_schedule({K::dualpipe, 4, 9}), InputError);             // odd micro-batches
  CHECK_THROWS_AS(make_schedule({K::dualpipe, 4, 6}), InputError);             // < 2 x stages
  CHECK_THROWS_AS(make_schedule({K::dualpipev, 4, 7}), InputError);            // < 2 x stages
  CHECK_NOTHROW(make_schedule({K::dualpipe, 4, 8}));
  CHECK_NOTHROW(make_schedule({K::dualpipev, 4, 9}));
  CHECK_NOTHROW(make_schedule({K::interleaved_1f1b, 4, 8, 2}));
  try {
    make_schedule({K::dualpipe, 4, 6});
    FAIL("no exception");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("2 x stages") != std::string::npos);
  }
}

TEST_CASE("schedule: 1f1b and zb-h1 op orders") {
  const Schedule a = make_schedule({ScheduleKind::one_f_one_b, 3, 4});
  CHECK(text(a.ops[0]) == "F0 F1 F2 B0 F3 B1 B2 B3");
  CHECK(text(a.ops[1]) == "F0 F1 B0 F2 B1 F3 B2 B3");
  CHECK(text(a.ops[2]) == "F0 B0 F1 B1 F2 B2 F3 B3");
  const Schedule g = make_schedule({ScheduleKind::gpipe, 2, 3});
  CHECK(text(g.ops[1]) == "F0 F1 F2 B2 B1 B0");
  const Schedule z = make_schedule({ScheduleKind::zb_h1, 3, 4});
  CHECK(text(z.ops[0]) == "F0 F1 F2 B0 W0 F3 B1 W1 B2 W2 B3 W3");
  CHECK(text(z.ops[1]) == "F0 F1 B0 F2 B1 W0 F3 B2 W1 B3 W2 W3");
  CHECK(text(z.ops[2]) == "F0 B0 F1 B1 F2 B2 W0 F3 B3 W1 W2 W3");
  const Schedule i = make_schedule({ScheduleKind::interleaved_1f1b, 2, 4, 2});
  // Rank 0: warm-up (2-0-1)*2 + (2-1)*2 = 4 forwards: micro-batches 0, 1 on chunk 0, then on chunk 1.
  CHECK(text(i.ops[0]) == "F0 F1 F0 F1 F2 B0 F3 B1 F2 B0 F3 B1 B2 B3 B2 B3");
  CHECK(i.ops[0][2].chunk == 1);
  CHECK(i.ops[0][5].chunk == 1);  // the first backward runs the last chunk
}

TEST_CASE("schedule: the expert all-to-all overlap pairs each steady-state forward with a backward (Megatron-Core combined 1F1B)") {
  // Megatron-Core schedules.py with overlap_moe_expert_parallel_comm: one more warm-up forward, then
  // each steady-state forward and backward as one F&B op. Interleaved, 2 ranks, 2 chunks, 4
  // micro-batches: rank 0 warms up with (2-0-1)*2 + (2-1)*2 + 1 = 5 forwards, rank 1 with 3.
  ScheduleSpec spec{ScheduleKind::interleaved_1f1b, 2, 4, 2};
  spec.overlap_pairs = true;
  const Schedule i = make_schedule(spec);
  CHECK(text(i.ops[0]) == "F0 F1 F0 F1 F2 F&B3/0 F&B2/1 F&B3/0 B1 B2 B3 B2 B3");
  CHECK(text(i.ops[1]) == "F0 F1 F0 F&B1/0 F&B2/1 F&B3/0 F&B2/1 F&B3/2 B3 B2 B3");
  CHECK(i.ops[0][5].chunk == 0);   // forward of micro-batch 3 on chunk 0
  CHECK(i.ops[0][5].chunk2 == 1);  // beside the backward of micro-batch 0 on the last chunk
  CHECK(i.ops[0][5].full_backward);
  // The extra warm-up forward holds one more chunk of activations.
  CHECK(i.max_in_flight_chunks(0) == make_schedule({ScheduleKind::interleaved_1f1b, 2, 4, 2}).max_in_flight_chunks(0) + 1);
  // Without pipelining (1F1B on one stage): F0, then F&B pairs, then the last backward.
  ScheduleSpec one{ScheduleKind::one_f_one_b, 1, 4};
  one.overlap_pairs = true;
  CHECK(text(make_schedule(one).ops[0]) == "F0 F&B1/0 F&B2/1 F&B3/2 B3");
  // Every pass runs once where it should, and the pairs never wait on each other.
  for (int S : {2, 4})
    for (int V : {2, 3})
      for (int M : {S, 2 * S, 4 * S}) {
        ScheduleSpec x{ScheduleKind::interleaved_1f1b, S, M, V};
        x.overlap_pairs = true;
        CAPTURE(S);
        CAPTURE(V);
        CAPTURE(M);
        CHECK(simulate(make_schedule(x), kCosts).makespan > 0);
      }
  // Megatron-Core needs virtual stages when pipelined; DualPipe pairs its passes itself.
  ScheduleSpec bad{ScheduleKind::one_f_one_b, 2, 4};
  bad.overlap_pairs = true;
  CHECK_THROWS_WITH_AS(make_schedule(bad), doctest::Contains("interleaved-1f1b"), InputError);
  ScheduleSpec dual{ScheduleKind::dualpipe, 4, 8};
  dual.overlap_pairs = true;
  CHECK_THROWS_WITH_AS(make_schedule(dual), doctest::Contains("1f1b and interleaved-1f1b"), InputError);
}

TEST_CASE("schedule: dualpipe and dualpipev follow the reference's steps") {
  // DualPipeV on 2 ranks, 4 micro-batches. Rank 1 (the fold of the V): F0 F1 on both chunks,
  // then its first F(chunk 0) and B(chunk 1) apart, the rest overlapped.
  const Schedule v = make_schedule({ScheduleKind::dualpipev, 2, 4});
  CHECK(text(v.ops[0]) == "F0 F1 F2 F0 B0 W0 F1 F&B3/1 F&B2/0 B2 F&B3/1 B3 B2 W2 B3 W3");
  CHECK(text(v.ops[1]) == "F0 F0 F1 F1 F2 B0 F&B2/0 F&B3/1 F&B3/1 B2 B2 B3 B3 W3 W3");
  // The backward halves of F&B are whole backwards; chunk numbers per op.
  for (const StageOp& op : v.ops[1])
    if (op.pass == Pass::FB) CHECK(op.full_backward);
  CHECK(v.ops[0][3].chunk == 1);
  CHECK(v.ops[0][4].pass == Pass::B);
  CHECK(v.ops[0][4].chunk == 1);
  CHECK_FALSE(v.ops[0][4].full_backward);  // step 3 splits B and W
  // DualPipe: the second half of the micro-batches starts at the last rank on chunk 1.
  const Schedule d = make_schedule({ScheduleKind::dualpipe, 4, 8});
  CHECK(d.ops[0][0].microbatch == 0);
  CHECK(d.ops[0][0].chunk == 0);
  CHECK(d.ops[3][0].microbatch == 4);
  CHECK(d.ops[3][0].chunk == 1);
  CHECK(d.position(3, 1, 4) == 0);
  CHECK(d.position(0, 1, 4) == 3);
  CHECK(d.rank_of(0, 4) == 3);
  CHECK(d.rank_of(0, 3) == 0);
}

namespace {

std::string fmt_op(char pass, int microbatch, int chunk) {
  return pass + std::to_string(microbatch) + "/" + std::to_string(chunk);
}

// One op as "F<mb>/<chunk>", "B<mb>/<chunk>" (with "i" when it computes the input gradient only,
// a W following later), "W<mb>/<chunk>", or "F<mb>/<chunk>&B<mb>/<chunk>" for an overlapped pair.
std::string full_text(const std::vector<StageOp>& ops) {
  std::string out;
  for (const StageOp& op : ops) {
    if (!out.empty()) out += ' ';
    switch (op.pass) {
      case Pass::F: out += fmt_op('F', op.microbatch, op.chunk); break;
      case Pass::B: out += fmt_op('B', op.microbatch, op.chunk) + (op.full_backward ? "" : "i"); break;
      case Pass::W: out += fmt_op('W', op.microbatch, op.chunk); break;
      case Pass::FB:
        out += fmt_op('F', op.microbatch, op.chunk) + "&" + fmt_op('B', op.microbatch2, op.chunk2) + (op.full_backward ? "" : "i");
        break;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("schedule: dualpipe and dualpipev run every op of every rank in the reference's order") {
  // Expected: deepseek-ai/DualPipe at 3da1bbe, DualPipe.step (dualpipe/dualpipe.py) and
  // DualPipeV.step (dualpipe/dualpipev.py), steps 1-8 executed with their op calls recorded:
  // _forward_chunk(phase), _backward_chunk(phase, enable_zb), _forward_backward_chunk(phase0,
  // phase1) and _weight_chunk() (FIFO over the zero-bubble backwards). A phase's micro-batch is its
  // own counter (current_f/b_chunk_id[phase]); in DualPipe the second half of the ranks swaps the
  // phases (phase ^= is_in_second_half) and micro-batch c of direction 1 is M/2 + c here. The
  // middle ranks (DualPipe) and the last rank (DualPipeV) run the first main-step pair as F, then B.
  struct Case {
    ScheduleSpec spec;
    std::vector<std::string> ranks;
  };
  const std::vector<Case> cases = {
      {{ScheduleKind::dualpipe, 4, 8},
       {
        "F0/0 F1/0 F2/0 F4/1 B4/1i W4/1 F5/1 F3/0&B5/1 F6/1&B0/0 B6/1 F7/1&B1/0 B7/1 B2/0i W2/0 B3/0i W3/0",
        "F0/0 F4/1 F1/0 F5/1 F2/0 B4/1 F6/1&B0/0 F3/0&B5/1 F7/1&B1/0 B6/1 B2/0 B7/1i B3/0i W7/1 W3/0",
        "F4/1 F0/0 F5/1 F1/0 F6/1 B0/0 F2/0&B4/1 F7/1&B1/0 F3/0&B5/1 B2/0 B6/1 B3/0i B7/1i W3/0 W7/1",
        "F4/1 F5/1 F6/1 F0/0 B0/0i W0/0 F1/0 F7/1&B1/0 F2/0&B4/1 B2/0 F3/0&B5/1 B3/0 B6/1i W6/1 B7/1i W7/1"}},
      {{ScheduleKind::dualpipe, 4, 10},
       {
        "F0/0 F1/0 F2/0 F5/1 B5/1i W5/1 F6/1 F3/0&B6/1 F7/1&B0/0 F4/0&B7/1 F8/1&B1/0 B8/1 F9/1&B2/0 B9/1 B3/0i W3/0 B4/0i W4/0",
        "F0/0 F5/1 F1/0 F6/1 F2/0 B5/1 F7/1&B0/0 F3/0&B6/1 F8/1&B1/0 F4/0&B7/1 F9/1&B2/0 B8/1 B3/0 B9/1i B4/0i W9/1 W4/0",
        "F5/1 F0/0 F6/1 F1/0 F7/1 B0/0 F2/0&B5/1 F8/1&B1/0 F3/0&B6/1 F9/1&B2/0 F4/0&B7/1 B3/0 B8/1 B4/0i B9/1i W4/0 W9/1",
        "F5/1 F6/1 F7/1 F0/0 B0/0i W0/0 F1/0 F8/1&B1/0 F2/0&B5/1 F9/1&B2/0 F3/0&B6/1 B3/0 F4/0&B7/1 B4/0 B8/1i W8/1 B9/1i W9/1"}},
      {{ScheduleKind::dualpipe, 6, 12},
       {
        "F0/0 F1/0 F2/0 F3/0 F4/0 F6/1 B6/1i W6/1 F7/1 B7/1i W7/1 F8/1 F5/0&B8/1 F9/1&B0/0 B9/1 F10/1&B1/0 B10/1 F11/1&B2/0 B11/1 B3/0i W3/0 B4/0i W4/0 B5/0i W5/0",
        "F0/0 F1/0 F2/0 F6/1 F3/0 F7/1 B6/1i W6/1 F8/1 F4/0&B7/1 F9/1&B0/0 F5/0&B8/1 F10/1&B1/0 B9/1 F11/1&B2/0 B10/1 B3/0 B11/1i B4/0i W11/1 B5/0i W4/0 W5/0",
        "F0/0 F6/1 F1/0 F7/1 F2/0 F8/1 F3/0 B6/1 F9/1&B0/0 F4/0&B7/1 F10/1&B1/0 F5/0&B8/1 F11/1&B2/0 B9/1 B3/0 B10/1 B4/0i B11/1i B5/0i W4/0 W11/1 W5/0",
        "F6/1 F0/0 F7/1 F1/0 F8/1 F2/0 F9/1 B0/0 F3/0&B6/1 F10/1&B1/0 F4/0&B7/1 F11/1&B2/0 F5/0&B8/1 B3/0 B9/1 B4/0 B10/1i B5/0i B11/1i W10/1 W5/0 W11/1",
        "F6/1 F7/1 F8/1 F0/0 F9/1 F1/0 B0/0i W0/0 F2/0 F10/1&B1/0 F3/0&B6/1 F11/1&B2/0 F4/0&B7/1 B3/0 F5/0&B8/1 B4/0 B9/1 B5/0i B10/1i W5/0 B11/1i W10/1 W11/1",
        "F6/1 F7/1 F8/1 F9/1 F10/1 F0/0 B0/0i W0/0 F1/0 B1/0i W1/0 F2/0 F11/1&B2/0 F3/0&B6/1 B3/0 F4/0&B7/1 B4/0 F5/0&B8/1 B5/0 B9/1i W9/1 B10/1i W10/1 B11/1i W11/1"}},
      {{ScheduleKind::dualpipe, 8, 20},
       {
        "F0/0 F1/0 F2/0 F3/0 F4/0 F5/0 F6/0 F10/1 B10/1i W10/1 F11/1 B11/1i W11/1 F12/1 B12/1i W12/1 F13/1 F7/0&B13/1 F14/1&B0/0 F8/0&B14/1 F15/1&B1/0 F9/0&B15/1 F16/1&B2/0 B16/1 F17/1&B3/0 B17/1 F18/1&B4/0 B18/1 F19/1&B5/0 B19/1 B6/0i W6/0 B7/0i W7/0 B8/0i W8/0 B9/0i W9/0",
        "F0/0 F1/0 F2/0 F3/0 F4/0 F10/1 F5/0 F11/1 B10/1i W10/1 F12/1 B11/1i W11/1 F13/1 F6/0&B12/1 F14/1&B0/0 F7/0&B13/1 F15/1&B1/0 F8/0&B14/1 F16/1&B2/0 F9/0&B15/1 F17/1&B3/0 B16/1 F18/1&B4/0 B17/1 F19/1&B5/0 B18/1 B6/0 B19/1i B7/0i W19/1 B8/0i W7/0 B9/0i W8/0 W9/0",
        "F0/0 F1/0 F2/0 F10/1 F3/0 F11/1 F4/0 F12/1 B10/1i W10/1 F13/1 F5/0&B11/1 F14/1&B0/0 F6/0&B12/1 F15/1&B1/0 F7/0&B13/1 F16/1&B2/0 F8/0&B14/1 F17/1&B3/0 F9/0&B15/1 F18/1&B4/0 B16/1 F19/1&B5/0 B17/1 B6/0 B18/1 B7/0i B19/1i B8/0i W7/0 B9/0i W19/1 W8/0 W9/0",
        "F0/0 F10/1 F1/0 F11/1 F2/0 F12/1 F3/0 F13/1 F4/0 B10/1 F14/1&B0/0 F5/0&B11/1 F15/1&B1/0 F6/0&B12/1 F16/1&B2/0 F7/0&B13/1 F17/1&B3/0 F8/0&B14/1 F18/1&B4/0 F9/0&B15/1 F19/1&B5/0 B16/1 B6/0 B17/1 B7/0 B18/1i B8/0i B19/1i B9/0i W18/1 W8/0 W19/1 W9/0",
        "F10/1 F0/0 F11/1 F1/0 F12/1 F2/0 F13/1 F3/0 F14/1 B0/0 F4/0&B10/1 F15/1&B1/0 F5/0&B11/1 F16/1&B2/0 F6/0&B12/1 F17/1&B3/0 F7/0&B13/1 F18/1&B4/0 F8/0&B14/1 F19/1&B5/0 F9/0&B15/1 B6/0 B16/1 B7/0 B17/1 B8/0i B18/1i B9/0i B19/1i W8/0 W18/1 W9/0 W19/1",
        "F10/1 F11/1 F12/1 F0/0 F13/1 F1/0 F14/1 F2/0 B0/0i W0/0 F3/0 F15/1&B1/0 F4/0&B10/1 F16/1&B2/0 F5/0&B11/1 F17/1&B3/0 F6/0&B12/1 F18/1&B4/0 F7/0&B13/1 F19/1&B5/0 F8/0&B14/1 B6/0 F9/0&B15/1 B7/0 B16/1 B8/0 B17/1i B9/0i B18/1i W17/1 B19/1i W9/0 W18/1 W19/1",
        "F10/1 F11/1 F12/1 F13/1 F14/1 F0/0 F15/1 F1/0 B0/0i W0/0 F2/0 B1/0i W1/0 F3/0 F16/1&B2/0 F4/0&B10/1 F17/1&B3/0 F5/0&B11/1 F18/1&B4/0 F6/0&B12/1 F19/1&B5/0 F7/0&B13/1 B6/0 F8/0&B14/1 B7/0 F9/0&B15/1 B8/0 B16/1 B9/0i B17/1i W9/0 B18/1i W17/1 B19/1i W18/1 W19/1",
        "F10/1 F11/1 F12/1 F13/1 F14/1 F15/1 F16/1 F0/0 B0/0i W0/0 F1/0 B1/0i W1/0 F2/0 B2/0i W2/0 F3/0 F17/1&B3/0 F4/0&B10/1 F18/1&B4/0 F5/0&B11/1 F19/1&B5/0 F6/0&B12/1 B6/0 F7/0&B13/1 B7/0 F8/0&B14/1 B8/0 F9/0&B15/1 B9/0 B16/1i W16/1 B17/1i W17/1 B18/1i W18/1 B19/1i W19/1"}},
      {{ScheduleKind::dualpipev, 2, 4},
       {
        "F0/0 F1/0 F2/0 F0/1 B0/1i W0/1 F1/1 F3/0&B1/1 F2/1&B0/0 B2/1 F3/1&B1/0 B3/1 B2/0i W2/0 B3/0i W3/0",
        "F0/0 F0/1 F1/0 F1/1 F2/0 B0/1 F2/1&B0/0 F3/0&B1/1 F3/1&B1/0 B2/1 B2/0 B3/1i B3/0i W3/1 W3/0"}},
      {{ScheduleKind::dualpipev, 3, 7},
       {
        "F0/0 F1/0 F2/0 F3/0 F4/0 F0/1 B0/1i W0/1 F1/1 B1/1i W1/1 F2/1 F5/0&B2/1 F3/1&B0/0 F6/0&B3/1 F4/1&B1/0 B4/1 F5/1&B2/0 B5/1 F6/1&B3/0 B6/1 B4/0i W4/0 B5/0i W5/0 B6/0i W6/0",
        "F0/0 F1/0 F2/0 F0/1 F3/0 F1/1 B0/1i W0/1 F2/1 F4/0&B1/1 F3/1&B0/0 F5/0&B2/1 F4/1&B1/0 F6/0&B3/1 F5/1&B2/0 B4/1 F6/1&B3/0 B5/1 B4/0 B6/1i B5/0i W6/1 B6/0i W5/0 W6/0",
        "F0/0 F0/1 F1/0 F1/1 F2/0 F2/1 F3/0 B0/1 F3/1&B0/0 F4/0&B1/1 F4/1&B1/0 F5/0&B2/1 F5/1&B2/0 F6/0&B3/1 F6/1&B3/0 B4/1 B4/0 B5/1 B5/0i B6/1i B6/0i W5/0 W6/1 W6/0"}},
      {{ScheduleKind::dualpipev, 4, 8},
       {
        "F0/0 F1/0 F2/0 F3/0 F4/0 F5/0 F6/0 F0/1 B0/1i W0/1 F1/1 B1/1i W1/1 F2/1 B2/1i W2/1 F3/1 F7/0&B3/1 F4/1&B0/0 B4/1 F5/1&B1/0 B5/1 F6/1&B2/0 B6/1 F7/1&B3/0 B7/1 B4/0i W4/0 B5/0i W5/0 B6/0i W6/0 B7/0i W7/0",
        "F0/0 F1/0 F2/0 F3/0 F4/0 F0/1 F5/0 F1/1 B0/1i W0/1 F2/1 B1/1i W1/1 F3/1 F6/0&B2/1 F4/1&B0/0 F7/0&B3/1 F5/1&B1/0 B4/1 F6/1&B2/0 B5/1 F7/1&B3/0 B6/1 B4/0 B7/1i B5/0i W7/1 B6/0i W5/0 B7/0i W6/0 W7/0",
        "F0/0 F1/0 F2/0 F0/1 F3/0 F1/1 F4/0 F2/1 B0/1i W0/1 F3/1 F5/0&B1/1 F4/1&B0/0 F6/0&B2/1 F5/1&B1/0 F7/0&B3/1 F6/1&B2/0 B4/1 F7/1&B3/0 B5/1 B4/0 B6/1 B5/0i B7/1i B6/0i W5/0 B7/0i W7/1 W6/0 W7/0",
        "F0/0 F0/1 F1/0 F1/1 F2/0 F2/1 F3/0 F3/1 F4/0 B0/1 F4/1&B0/0 F5/0&B1/1 F5/1&B1/0 F6/0&B2/1 F6/1&B2/0 F7/0&B3/1 F7/1&B3/0 B4/1 B4/0 B5/1 B5/0 B6/1i B6/0i B7/1i B7/0i W6/1 W6/0 W7/1 W7/0"}},
      {{ScheduleKind::dualpipev, 4, 11},
       {
        "F0/0 F1/0 F2/0 F3/0 F4/0 F5/0 F6/0 F0/1 B0/1i W0/1 F1/1 B1/1i W1/1 F2/1 B2/1i W2/1 F3/1 F7/0&B3/1 F4/1&B0/0 F8/0&B4/1 F5/1&B1/0 F9/0&B5/1 F6/1&B2/0 F10/0&B6/1 F7/1&B3/0 B7/1 F8/1&B4/0 B8/1 F9/1&B5/0 B9/1 F10/1&B6/0 B10/1 B7/0i W7/0 B8/0i W8/0 B9/0i W9/0 B10/0i W10/0",
        "F0/0 F1/0 F2/0 F3/0 F4/0 F0/1 F5/0 F1/1 B0/1i W0/1 F2/1 B1/1i W1/1 F3/1 F6/0&B2/1 F4/1&B0/0 F7/0&B3/1 F5/1&B1/0 F8/0&B4/1 F6/1&B2/0 F9/0&B5/1 F7/1&B3/0 F10/0&B6/1 F8/1&B4/0 B7/1 F9/1&B5/0 B8/1 F10/1&B6/0 B9/1 B7/0 B10/1i B8/0i W10/1 B9/0i W8/0 B10/0i W9/0 W10/0",
        "F0/0 F1/0 F2/0 F0/1 F3/0 F1/1 F4/0 F2/1 B0/1i W0/1 F3/1 F5/0&B1/1 F4/1&B0/0 F6/0&B2/1 F5/1&B1/0 F7/0&B3/1 F6/1&B2/0 F8/0&B4/1 F7/1&B3/0 F9/0&B5/1 F8/1&B4/0 F10/0&B6/1 F9/1&B5/0 B7/1 F10/1&B6/0 B8/1 B7/0 B9/1 B8/0i B10/1i B9/0i W8/0 B10/0i W10/1 W9/0 W10/0",
        "F0/0 F0/1 F1/0 F1/1 F2/0 F2/1 F3/0 F3/1 F4/0 B0/1 F4/1&B0/0 F5/0&B1/1 F5/1&B1/0 F6/0&B2/1 F6/1&B2/0 F7/0&B3/1 F7/1&B3/0 F8/0&B4/1 F8/1&B4/0 F9/0&B5/1 F9/1&B5/0 F10/0&B6/1 F10/1&B6/0 B7/1 B7/0 B8/1 B8/0 B9/1i B9/0i B10/1i B10/0i W9/1 W9/0 W10/1 W10/0"}}};
  for (const Case& c : cases) {
    CAPTURE(to_string(c.spec.kind));
    CAPTURE(c.spec.stages);
    CAPTURE(c.spec.microbatches);
    const Schedule s = make_schedule(c.spec);
    REQUIRE(s.ops.size() == c.ranks.size());
    for (std::size_t r = 0; r < c.ranks.size(); ++r) {
      CAPTURE(r);
      CHECK(full_text(s.ops[r]) == c.ranks[r]);
    }
  }
}

TEST_CASE("schedule: every micro-batch runs F and B once at each position, and W once per split B") {
  for (const ScheduleSpec& spec : sample_specs()) {
    const Schedule s = make_schedule(spec);
    CAPTURE(to_string(spec.kind));
    CAPTURE(spec.stages);
    CAPTURE(spec.microbatches);
    REQUIRE(static_cast<int>(s.ops.size()) == spec.stages);
    const int P = s.positions();
    const int M = spec.microbatches;
    // count[pass][mb][pos]; full[mb][pos]: the backward there was full.
    std::vector<std::vector<std::vector<int>>> count(3, std::vector<std::vector<int>>(M, std::vector<int>(P, 0)));
    std::vector<std::vector<int>> full(M, std::vector<int>(P, 0));
    for (int r = 0; r < spec.stages; ++r) {
      std::map<std::pair<int, int>, bool> b_seen;  // this rank's backwards so far (mb, pos)
      int forwards = 0, backwards = 0, weights = 0, pairs = 0;
      auto add = [&](Pass p, int mb, int chunk, bool whole) {
        REQUIRE(mb >= 0);
        REQUIRE(mb < M);
        REQUIRE(chunk >= 0);
        REQUIRE(chunk < s.chunks_per_rank);
        const int pos = s.position(r, chunk, mb);
        CHECK(s.rank_of(pos, mb) == r);
        CHECK(s.chunk_of(pos, mb) == chunk);
        ++count[static_cast<int>(p)][mb][pos];
        if (p == Pass::B) {
          full[mb][pos] = whole;
          b_seen[{mb, pos}] = true;
          ++backwards;
        }
        if (p == Pass::F) ++forwards;
        if (p == Pass::W) {
          CHECK(b_seen.count({mb, pos}) == 1);  // W after its B, on the same rank
          ++weights;
        }
      };
      for (const StageOp& op : s.ops[r]) {
        if (op.pass == Pass::FB) {
          ++pairs;
          add(Pass::F, op.microbatch, op.chunk, false);
          add(Pass::B, op.microbatch2, op.chunk2, op.full_backward);
          CHECK(op.full_backward);
        } else {
          add(op.pass, op.microbatch, op.chunk, op.full_backward);
        }
      }
      CHECK(forwards == M * P / spec.stages);
      CHECK(backwards == M * P / spec.stages);
      CHECK(static_cast<int>(s.ops[r].size()) == forwards + backwards + weights - pairs);
      // Ops per rank.
      const int M2 = M / 2;
      switch (spec.kind) {
        case ScheduleKind::gpipe:
        case ScheduleKind::one_f_one_b: CHECK(s.ops[r].size() == 2u * M); break;
        case ScheduleKind::interleaved_1f1b: CHECK(s.ops[r].size() == 2u * M * spec.virtual_stages); break;
        case ScheduleKind::zb_h1: CHECK(s.ops[r].size() == 3u * M); break;
        case ScheduleKind::dualpipe:
        case ScheduleKind::dualpipev: {
          // n ranks per half (DualPipe) or per V leg (DualPipeV), h this rank's distance from the
          // end, C micro-batches per chunk: 2n-h-1 split backwards; F&B pairs: 2(C-2n+h+1) in the
          // main steps (less one at the fold rank h = n-1) and n-h-1 after them.
          const bool dp = spec.kind == ScheduleKind::dualpipe;
          const int n = dp ? spec.stages / 2 : spec.stages;
          const int h = dp ? std::min(r, spec.stages - 1 - r) : r;
          const int C = dp ? M2 : M;
          CHECK(weights == 2 * n - h - 1);
          CHECK(pairs == 2 * (C - 2 * n + h + 1) - (h == n - 1 ? 1 : 0) + (n - h - 1));
          CHECK(s.ops[r].size() == static_cast<std::size_t>(4 * C + weights - pairs));
          break;
        }
        default: break;  // a schedule added later: its op count in a test of its own
      }
    }
    for (int mb = 0; mb < M; ++mb) {
      // DualPipe: a micro-batch uses all positions of its direction, each once.
      for (int pos = 0; pos < P; ++pos) {
        CHECK(count[0][mb][pos] == 1);  // F
        CHECK(count[1][mb][pos] == 1);  // B
        CHECK(count[2][mb][pos] == (full[mb][pos] ? 0 : 1));  // W
        const int chunk = s.chunk_of(pos, mb);
        CHECK(s.position(s.rank_of(pos, mb), chunk, mb) == pos);
      }
    }
    CHECK(s.split_backward == (spec.kind == ScheduleKind::zb_h1 || spec.kind == ScheduleKind::dualpipe ||
                               spec.kind == ScheduleKind::dualpipev));
  }
}

TEST_CASE("schedule: activations held at the peak") {
  for (int S : {1, 2, 4, 8})
    for (int M : {S, 3 * S + 1}) {
      const Schedule a = make_schedule({ScheduleKind::one_f_one_b, S, M});
      const Schedule z = make_schedule({ScheduleKind::zb_h1, S, M});
      const Schedule g = make_schedule({ScheduleKind::gpipe, S, M});
      for (int r = 0; r < S; ++r) {
        CHECK(a.max_in_flight_chunks(r) == std::min(S - r, M));  // rank 0 holds `stages`
        CHECK(z.max_in_flight_chunks(r) == std::min(S - r, M));  // ZB-H1: the peak of 1F1B
        CHECK(g.max_in_flight_chunks(r) == M);
      }
      CHECK(a.max_in_flight_chunks() == std::min(S, M));
    }
  // Interleaved: the warm-up forwards plus one, in chunk units (M > S).
  const Schedule i = make_schedule({ScheduleKind::interleaved_1f1b, 4, 8, 2});
  for (int r = 0; r < 4; ++r) CHECK(i.max_in_flight_chunks(r) == (4 - r - 1) * 2 + 4 + 1);
  // DualPipe README: activation PP+1 (chunks of 1/PP of the model); DualPipeV: PP = 2 x ranks.
  for (int S : {2, 4, 8}) {
    const Schedule d = make_schedule({ScheduleKind::dualpipe, S, 4 * S});
    for (int r = 0; r < S; ++r) CHECK(d.max_in_flight_chunks(r) == S + 1);
  }
  for (int S : {1, 2, 4}) {
    const Schedule v = make_schedule({ScheduleKind::dualpipev, S, 4 * S});
    for (int r = 0; r < S; ++r) CHECK(v.max_in_flight_chunks(r) == 2 * S + 1);
  }
}

// The bubble of the README table is per device: the step's makespan minus the device's busy time.
// (Not the idle time between a rank's own first and last op: in 1F1B the last rank has none.)

TEST_CASE("schedule: 1F1B and GPipe bubble is (PP-1)(F+B) on every rank") {
  for (const Costs c : {kCosts, Costs{5, 11, 4}})
    for (int S : {1, 2, 4, 8})
      for (int M : {S, 2 * S, 3 * S + 1, 20}) {
        CAPTURE(S);
        CAPTURE(M);
        CHECK(simulate(make_schedule({ScheduleKind::one_f_one_b, S, M}), c).idle == same(S, (S - 1) * (c.F + c.B)));
        CHECK(simulate(make_schedule({ScheduleKind::gpipe, S, M}), c).idle == same(S, (S - 1) * (c.F + c.B)));
      }
  // 8 stages, 20 micro-batches: makespan (M + PP - 1)(F + B).
  CHECK(simulate(make_schedule({ScheduleKind::one_f_one_b, 8, 20}), kCosts).makespan == 27 * 11);
}

TEST_CASE("schedule: interleaved 1F1B bubble is (PP-1)(F+B) in chunk op times") {
  // Narayanan et al. 2021 §2.2.2: (p-1)(t_f+t_b)/v with t_f, t_b a whole rank's times, i.e.
  // (p-1)(F+B) with F, B the times of one chunk.
  for (int S : {2, 4, 8})
    for (int V : {2, 3})
      for (int M : {S, 2 * S, 5 * S}) {
        CAPTURE(S);
        CAPTURE(V);
        CAPTURE(M);
        CHECK(simulate(make_schedule({ScheduleKind::interleaved_1f1b, S, M, V}), kCosts).idle ==
              same(S, (S - 1) * (kCosts.F + kCosts.B)));
      }
}

TEST_CASE("schedule: ZB-H1 bubble is the README's ZB1P (PP-1)(F+B-2W)") {
  for (const Costs c : {kCosts, Costs{5, 11, 4}, Costs{2, 3, 1}})
    for (int S : {1, 2, 4, 8})
      for (int M : {S, 2 * S, 3 * S + 1, 20}) {
        CAPTURE(S);
        CAPTURE(M);
        CHECK(simulate(make_schedule({ScheduleKind::zb_h1, S, M}), c).idle == same(S, (S - 1) * (c.F + c.B - 2 * c.W)));
      }
}

// DualPipe and DualPipeV meet the README's (PP/2-1)(F&B+B-3W) exactly when the input-gradient
// backward takes as long as the forward (B - W = F) and W <= F, the regime of the README's figure;
// with other times the simulated bubble departs from the table (the step shapes differ).
TEST_CASE("schedule: DualPipe bubble is (PP/2-1)(F&B+B-3W)") {
  const std::int64_t FB = kCosts.F + kCosts.B;
  for (const Costs c : {kCosts, Costs{5, 8, 3}, Costs{3, 4, 1}})
    for (int S : {2, 4, 6, 8})
      for (int M : {2 * S, 2 * S + 2, 20, 6 * S}) {
        if (M < 2 * S) continue;
        CAPTURE(S);
        CAPTURE(M);
        const std::int64_t fb = c.F + c.B;
        CHECK(simulate(make_schedule({ScheduleKind::dualpipe, S, M}), c).idle == same(S, (S / 2 - 1) * (fb + c.B - 3 * c.W)));
      }
  // The README's example: 8 ranks, 20 micro-batches.
  CHECK(simulate(make_schedule({ScheduleKind::dualpipe, 8, 20}), kCosts).idle == same(8, 3 * (FB + kCosts.B - 3 * kCosts.W)));
}

TEST_CASE("schedule: DualPipeV bubble is (PP/2-1)(F&B+B-3W) with PP = 2 x ranks") {
  for (const Costs c : {kCosts, Costs{5, 8, 3}, Costs{3, 4, 1}})
    for (int ranks : {1, 2, 3, 4, 5})
      for (int M : {2 * ranks, 2 * ranks + 1, 20, 5 * ranks}) {
        CAPTURE(ranks);
        CAPTURE(M);
        const int PP = 2 * ranks;
        const std::int64_t fb = c.F + c.B;
        CHECK(simulate(make_schedule({ScheduleKind::dualpipev, ranks, M}), c).idle ==
              same(ranks, (PP / 2 - 1) * (fb + c.B - 3 * c.W)));
      }
}
