// Collective timing on the cluster. This first model is NCCL's ring algorithm in closed form
// (the flow-level network of issue 4 replaces it):
//   all-reduce      t = base + 2(n-1) * step + 2(n-1)/n * S / B
//   reduce-scatter  t = base +  (n-1) * step +  (n-1)/n * S / B
//   all-gather      t = base +  (n-1) * step +  (n-1)/n * S / B
// S: bytes per rank (the full buffer), B: the slowest link a ring step crosses per GPU and
// direction (NVLink inside a node, the GPU's NIC across nodes) times its achievable efficiency,
// base: NCCL's per-collective latency, step: its per-step hardware latency (NCCL tuning.cc
// baseLat/hwLat; Thakur et al. 2005 for the ring; nccl-tests doc/PERFORMANCE.md for busbw).
#pragma once
#include "gpuhours/scenario.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

enum class CollectiveKind { all_reduce, reduce_scatter, all_gather };
const char* to_string(CollectiveKind k);

struct CollectiveGroup {
  int ranks = 1;             // GPUs in the communicator
  bool spans_nodes = false;  // whether the ring leaves the node
};

/// Time of one ring collective over `bytes` per rank; zero for a group of one.
Time ring_collective_time(CollectiveKind kind, double bytes, const CollectiveGroup& group,
                          const ClusterSpec& cluster);

/// Per-GPU, per-direction bandwidth a ring over `group` achieves (B above).
double ring_bandwidth_bytes_per_s(const CollectiveGroup& group, const ClusterSpec& cluster);

}  // namespace gpuhours
