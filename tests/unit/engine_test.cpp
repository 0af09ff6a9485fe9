// Engine semantics, each against a timeline derived by hand.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "gpuhours/engine.hpp"
#include "gpuhours/task_kinds.hpp"
#include "gpuhours/trace.hpp"

using namespace gpuhours;

namespace {
TaskId task(TaskGraph& g, StreamId s, std::int64_t ns, TaskKind k = TaskKind::compute, double share = 0) {
  return add_task(g, s, Time::ns(ns), k, g.intern("t"), share);
}
}  // namespace

TEST_CASE("tasks on one stream run in order, one at a time") {
  TaskGraph g;
  const StreamId s = g.add_stream(0, "compute");
  const TaskId a = task(g, s, 10), b = task(g, s, 5), c = task(g, s, 7);
  Engine e(g);
  CHECK(e.run().count_ns() == 22);
  CHECK(e.start(a).count_ns() == 0);
  CHECK(e.start(b).count_ns() == 10);
  CHECK(e.start(c).count_ns() == 15);
  CHECK(e.end(c).count_ns() == 22);
}

TEST_CASE("the event queue pops by time, and ties by insertion order") {
  SlotQueue q(6);
  q.set(1, 30);
  q.set(2, 10);
  q.set(3, 20);
  q.set(4, 10);  // same time as slot 2, scheduled later
  q.set(5, 10);
  std::vector<std::uint32_t> order;
  while (!q.empty()) {
    order.push_back(q.top_slot());
    q.erase(q.top_slot());
  }
  CHECK(order == std::vector<std::uint32_t>{2, 4, 5, 3, 1});
}

TEST_CASE("re-scheduling an event moves it and counts as a new insertion") {
  SlotQueue q(4);
  q.set(0, 10);
  q.set(1, 10);
  q.set(2, 5);
  q.set(0, 10);  // re-scheduled at the same time: now after slot 1
  q.set(2, 40);  // moved later
  std::vector<std::uint32_t> order;
  std::vector<std::int64_t> times;
  while (!q.empty()) {
    order.push_back(q.top_slot());
    times.push_back(q.top_time());
    q.erase(q.top_slot());
  }
  CHECK(order == std::vector<std::uint32_t>{1, 0, 2});
  CHECK(times == std::vector<std::int64_t>{10, 10, 40});
  CHECK_FALSE(q.scheduled(0));
}

TEST_CASE("equal-time events are processed in scheduling order") {
  // a (stream 0) and b (stream 1) both end at 4. c waits for both on stream 2; the engine must
  // process a's end first (scheduled first), then b's, so c starts at 4 exactly once.
  TaskGraph g;
  const StreamId s0 = g.add_stream(0, "0"), s1 = g.add_stream(1, "1"), s2 = g.add_stream(2, "2");
  const TaskId a = task(g, s0, 4), b = task(g, s1, 4), c = task(g, s2, 1);
  g.add_dependency(a, c);
  g.add_dependency(b, c);
  Engine e(g);
  CHECK(e.run().count_ns() == 5);
  CHECK(e.start(c).count_ns() == 4);
  CHECK(e.events_processed() == 3);
}

TEST_CASE("two streams of one GPU overlap") {
  TaskGraph g;
  const StreamId comp = g.add_stream(0, "compute"), comm = g.add_stream(0, "comm");
  task(g, comp, 100);
  task(g, comm, 60, TaskKind::comm_dp);
  Engine e(g);
  CHECK(e.run().count_ns() == 100);  // not 160
}

TEST_CASE("a cross-rank dependency delays the dependent rank") {
  // rank 0: send [0, 30); rank 1: x [0, 10), then y waits for the send: y [30, 50).
  TaskGraph g;
  const StreamId r0 = g.add_stream(0, "pp"), r1 = g.add_stream(1, "compute");
  const TaskId send = task(g, r0, 30, TaskKind::comm_pp);
  task(g, r1, 10);
  const TaskId y = task(g, r1, 20);
  g.add_dependency(send, y);
  Engine e(g);
  CHECK(e.run().count_ns() == 50);
  CHECK(e.start(y).count_ns() == 30);
}

TEST_CASE("a small DAG's makespan equals its critical path") {
  // Diamond on three streams of rank 0:       A(3) -> B(4) -> D(2)
  //                                            A(3) -> C(6) -> D(2)
  // with C on its own stream and E(5) after B on B's stream.
  // A [0,3); B [3,7); C [3,9); E [7,12); D waits B, C: [9,11). Makespan 12 (A-B-E).
  TaskGraph g;
  const StreamId s0 = g.add_stream(0, "s0"), s1 = g.add_stream(0, "s1"), s2 = g.add_stream(0, "s2");
  const TaskId A = task(g, s0, 3), B = task(g, s1, 4), C = task(g, s2, 6);
  const TaskId E = task(g, s1, 5), D = task(g, s0, 2);
  g.add_dependency(A, B);
  g.add_dependency(A, C);
  g.add_dependency(B, D);
  g.add_dependency(C, D);
  Engine e(g);
  CHECK(e.run().count_ns() == 12);
  CHECK(e.start(D).count_ns() == 9);
  CHECK(e.end(D).count_ns() == 11);
  CHECK(e.start(E).count_ns() == 7);
}

TEST_CASE("communication kernels slow concurrent compute by their SM share") {
  // Compute of 100 ns work; a comm task taking 20% of SMs runs [0, 50). During it compute
  // progresses at 0.8: 40 ns of work by t = 50; the remaining 60 run at full speed: ends at 110.
  TaskGraph g;
  const StreamId comp = g.add_stream(0, "compute"), comm = g.add_stream(0, "comm");
  const TaskId c = task(g, comp, 100);
  task(g, comm, 50, TaskKind::comm_dp, 0.2);
  Engine e(g);
  CHECK(e.run().count_ns() == 110);
  CHECK(e.end(c).count_ns() == 110);
}

TEST_CASE("a compute task sized to the SMs communication leaves runs at that share throughout") {
  // A persistent GEMM of 80 ns work on 80% of the SMs (sm_share 0.2 left to communication) runs at
  // 0.8 from start to end: 100 ns alone. A transfer taking those same 20% [0, 50) does not slow it
  // (100 ns); one taking 50% [0, 40) does: 20 ns of work by t = 40, the other 60 at 0.8 take 75
  // more, so it ends at 115.
  struct Case {
    double comm_share;
    std::int64_t comm_ns, end_ns;
  };
  for (const Case& k : {Case{0.0, 0, 100}, Case{0.2, 50, 100}, Case{0.5, 40, 115}}) {
    CAPTURE(k.comm_share);
    TaskGraph g;
    const StreamId comp = g.add_stream(0, "compute"), comm = g.add_stream(0, "comm");
    const TaskId c = task(g, comp, 80, TaskKind::compute, 0.2);
    if (k.comm_ns > 0) task(g, comm, k.comm_ns, TaskKind::comm_ep, k.comm_share);
    Engine e(g);
    e.run();
    CHECK(e.end(c).count_ns() == k.end_ns);
  }
}

TEST_CASE("a compute task on an SM partition loses its slowdown only while transfers hold SMs beside it") {
  // The persistent GEMM above (80 ns work, 0.2 of the SMs left) with a slowdown of 0.1 beside
  // transfers: beside one holding those 20% [0, 50) it runs at 0.8 x 0.9 = 0.72, 36 ns of work by
  // t = 50, the other 44 at 0.8 take 55 more: it ends at 105. A transfer that holds no SMs (a copy
  // engine's) leaves it at 0.8: 100. Without a slowdown, 100 (the case above).
  struct Case {
    double slowdown, comm_share;
    std::int64_t end_ns;
  };
  for (const Case& k : {Case{0.1, 0.2, 105}, Case{0.1, 0.0, 100}, Case{0.0, 0.2, 100}}) {
    CAPTURE(k.slowdown);
    CAPTURE(k.comm_share);
    TaskGraph g;
    const StreamId comp = g.add_stream(0, "compute"), comm = g.add_stream(0, "comm");
    const TaskId c = task(g, comp, 80, TaskKind::compute, 0.2);
    if (k.slowdown > 0) g.set_slowdown_beside_transfers(c, k.slowdown);
    task(g, comm, 50, TaskKind::comm_ep, k.comm_share);
    Engine e(g);
    e.run();
    CHECK(e.end(c).count_ns() == k.end_ns);
  }
}

TEST_CASE("the slowdown beside transfers lasts while any transfer holding SMs runs, not only the first") {
  // 100 ns of work on 0.8 of the SMs, slowdown 0.5. Transfer A holds 0.5 of the SMs [0, 20), B 0.2
  // [0, 60): together 0.7, rate (1 - 0.7) x 0.5 = 0.15, 3 ns of work by t = 20; B alone, (1 - 0.2) x
  // 0.5 = 0.4 for 40 ns, 16 more. Then 81 at 0.8: 101.25 ns, ending at 161.25 (162). Without B:
  // (1 - 0.5) x 0.5 = 0.25 for 20 ns, 5 of work; the last 95 at 0.8 from t = 20: 138.75 (139).
  for (const bool b : {true, false}) {
    CAPTURE(b);
    TaskGraph g;
    const StreamId comp = g.add_stream(0, "compute"), comm_a = g.add_stream(0, "a"), comm_b = g.add_stream(0, "b");
    const TaskId c = task(g, comp, 100, TaskKind::compute, 0.2);
    g.set_slowdown_beside_transfers(c, 0.5);
    task(g, comm_a, 20, TaskKind::comm_ep, 0.5);
    if (b) task(g, comm_b, 60, TaskKind::comm_dp, 0.2);
    Engine e(g);
    e.run();
    CHECK(e.end(c).count_ns() == (b ? 162 : 139));
  }
}

TEST_CASE("the Chrome trace is valid trace-event JSON with one track per stream") {
  TaskGraph g;
  const StreamId comp = g.add_stream(0, "compute"), comm = g.add_stream(0, "dp-comm");
  const TaskId a = add_task(g, comp, Time::ns(1500), TaskKind::compute, g.intern("qkv_proj"));
  const TaskId b = add_task(g, comm, Time::ns(700), TaskKind::comm_dp, g.intern("all-reduce"));
  g.add_dependency(a, b);
  Engine e(g);
  e.run();
  std::ostringstream out;
  write_chrome_trace(e, {"rank 0"}, out);
  const auto j = nlohmann::json::parse(out.str());
  REQUIRE(j.contains("traceEvents"));
  int complete = 0, threads = 0;
  for (const auto& ev : j["traceEvents"]) {
    if (ev["ph"] == "X") {
      ++complete;
      CHECK(ev.contains("ts"));
      CHECK(ev.contains("dur"));
      if (ev["name"] == "all-reduce") {
        CHECK(ev["ts"].get<double>() == doctest::Approx(1.5));
        CHECK(ev["dur"].get<double>() == doctest::Approx(0.7));
      }
    }
    if (ev["ph"] == "M" && ev["name"] == "thread_name") ++threads;
  }
  CHECK(complete == 2);
  CHECK(threads == 2);
}

TEST_CASE("scale-out transfers of one rank share its NIC") {
  // Two 100 ns transfers on two streams of rank 0, both crossing the NIC: together they run at
  // half speed and both end at 200. A third, on rank 1, is not slowed.
  TaskGraph g;
  const StreamId a = g.add_stream(0, "ep"), b = g.add_stream(0, "dp"), c = g.add_stream(1, "dp");
  const TaskId x = task(g, a, 100, TaskKind::comm_ep), y = task(g, b, 100, TaskKind::comm_dp),
               z = task(g, c, 100, TaskKind::comm_dp);
  for (TaskId t : {x, y, z}) g.share_rank_link(t);
  Engine e(g);
  CHECK(e.run().count_ns() == 200);
  CHECK(e.end(x).count_ns() == 200);
  CHECK(e.end(y).count_ns() == 200);
  CHECK(e.end(z).count_ns() == 100);
  // One transfer of 100 and one of 300: both at half speed until 200, then the second alone:
  // it has 200 left at t = 200 and ends at 400.
  TaskGraph h;
  const StreamId p = h.add_stream(0, "ep"), q = h.add_stream(0, "dp");
  const TaskId u = task(h, p, 100, TaskKind::comm_ep), v = task(h, q, 300, TaskKind::comm_dp);
  h.share_rank_link(u);
  h.share_rank_link(v);
  Engine f(h);
  f.run();
  CHECK(f.end(u).count_ns() == 200);
  CHECK(f.end(v).count_ns() == 400);
}
