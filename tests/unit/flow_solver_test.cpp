// Max-min fairness, each case derived by hand (System / Expectations, as SimGrid's maxmin tests).
#include <doctest/doctest.h>

#include "gpuhours/flow.hpp"

using namespace gpuhours;

TEST_CASE("two flows on one link share it equally") {
  // Link L0: 100 B/s. f0, f1 both on L0 -> 50 each.
  FlowSolver s({100.0});
  const FlowId a = s.add_flow({0}, 1000), b = s.add_flow({0}, 1000);
  CHECK(s.rate(a) == doctest::Approx(50));
  CHECK(s.rate(b) == doctest::Approx(50));
}

TEST_CASE("max-min: the flow held back elsewhere leaves its share to the others") {
  // L0 = 100, L1 = 30. f0 on L0+L1, f1 on L0, f2 on L1.
  // Filling: L1 saturates first (2 flows, 15 each): f0 = f2 = 15; L0 left 85 for f1 -> f1 = 85.
  FlowSolver s({100.0, 30.0});
  const FlowId f0 = s.add_flow({0, 1}, 1e6), f1 = s.add_flow({0}, 1e6), f2 = s.add_flow({1}, 1e6);
  CHECK(s.rate(f0) == doctest::Approx(15));
  CHECK(s.rate(f2) == doctest::Approx(15));
  CHECK(s.rate(f1) == doctest::Approx(85));
}

TEST_CASE("a capped flow frees bandwidth for the rest") {
  // L0 = 100; f0 capped at 20 -> f1 = 80.
  FlowSolver s({100.0});
  const FlowId f0 = s.add_flow({0}, 1e6, 20.0), f1 = s.add_flow({0}, 1e6);
  CHECK(s.rate(f0) == doctest::Approx(20));
  CHECK(s.rate(f1) == doctest::Approx(80));
}

TEST_CASE("flows finish in order and the survivor speeds up") {
  // L0 = 100; f0 100 B, f1 300 B. Both at 50: f0 ends at t = 2 s (f1 has 200 left), then f1 at
  // 100 B/s ends at t = 4 s.
  FlowSolver s({100.0});
  const FlowId f0 = s.add_flow({0}, 100), f1 = s.add_flow({0}, 300);
  double t = s.time_to_next_completion();
  CHECK(t == doctest::Approx(2.0));
  s.advance(t);
  const auto done = s.take_finished();
  REQUIRE(done.size() == 1);
  CHECK(done[0] == f0);
  CHECK(s.remaining_bytes(f1) == doctest::Approx(200));
  t = s.time_to_next_completion();
  CHECK(t == doctest::Approx(2.0));
  CHECK(s.rate(f1) == doctest::Approx(100));
}

TEST_CASE("re-solving touches only the component that changed") {
  // Two independent links; adding a flow on L1 re-solves only L1's flows.
  FlowSolver s({100.0, 100.0});
  const FlowId a = s.add_flow({0}, 1e6);
  s.add_flow({1}, 1e6);
  CHECK(s.rate(a) == doctest::Approx(100));
  const auto before = s.flows_solved();
  const FlowId c = s.add_flow({1}, 1e6);
  CHECK(s.rate(c) == doctest::Approx(50));
  CHECK(s.flows_solved() - before == 2);  // the two flows on L1, not the one on L0
  CHECK(s.rate(a) == doctest::Approx(100));
}
