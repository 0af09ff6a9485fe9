#include <doctest/doctest.h>

#include "gpuhours/network.hpp"

using namespace gpuhours;

namespace {
ClusterSpec node() {
  ClusterSpec c;
  c.gpu.nvlink_bytes_per_s = 450e9;
  c.nodes = 1;
  c.gpus_per_node = 8;
  c.network.kind = "nvswitch";
  c.network.nvlink_efficiency = 0.8;
  c.network.base_latency_seconds = 8.4e-6;
  c.network.nvlink_step_latency_seconds = 3.4e-6;
  return c;
}
}  // namespace

TEST_CASE("an uncontended ring all-reduce takes 2(n-1)/n S/B plus its latency terms") {
  // n = 8, S = 1 GiB, B = 450 GB/s * 0.8 = 360 GB/s:
  // 14/8 * 1073741824 / 360e9 = 5.2196 ms; latency 8.4 us + 14 * 3.4 us = 56 us.
  const double S = 1073741824.0;
  const double expected = 14.0 / 8.0 * S / 360e9 + 8.4e-6 + 14 * 3.4e-6;
  const Time t = ring_collective_time(CollectiveKind::all_reduce, S, {8, false}, node());
  CHECK(t == Time::from_seconds_ceil(expected));
  // Reduce-scatter and all-gather each move half of it over n-1 steps.
  const double half = 7.0 / 8.0 * S / 360e9 + 8.4e-6 + 7 * 3.4e-6;
  CHECK(ring_collective_time(CollectiveKind::reduce_scatter, S, {8, false}, node()) ==
        Time::from_seconds_ceil(half));
  CHECK(ring_collective_time(CollectiveKind::all_gather, S, {1, false}, node()).count_ns() == 0);
}

TEST_CASE("a ring across nodes is limited by the NIC") {
  ClusterSpec c = node();
  c.nodes = 2;
  c.network.kind = "fat-tree";
  c.network.nic_bytes_per_s_per_gpu = 50e9;
  c.network.nic_efficiency = 0.94;
  c.network.net_step_latency_seconds = 3.7e-6;
  CHECK(ring_bandwidth_bytes_per_s({16, true}, c) == doctest::Approx(47e9));
  CHECK(ring_bandwidth_bytes_per_s({8, false}, c) == doctest::Approx(360e9));
}
