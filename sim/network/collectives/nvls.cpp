// NVLink SHARP all-reduce inside one NVSwitch node: each GPU sends S into the switch and receives
// S (the reduction happens in the switch), at the measured NVLS fraction of line rate.
#include <algorithm>

#include "collective_algorithm.hpp"
#include "gpuhours/error.hpp"

namespace gpuhours {

namespace {

CollectiveOp nvls_plan(const CollectiveRequest& r) {
  const auto& [kind, S, ranks, topo, c, moe] = r;
  if (nodes_spanned(ranks, topo) > 1)
    throw InputError("the nvls algorithm runs inside one NVSwitch node; use ring or tree across nodes");
  if (!c.gpu.nvlink_sharp)
    throw InputError("the nvls algorithm needs NVLink SHARP, which the GPU file of " + c.gpu.name + " says it lacks; use ring");
  CollectiveOp op;
  Phase ph;
  // NCCL's NVLS latency (tuning.cc: baseLat 0, hwLat[NVLink][NVLS] 25 us).
  ph.latency_seconds = c.network.nvls_latency_seconds;
  // Links carry NVLink at the ring efficiency; NVLS moves S each way at its own measured fraction.
  const double wire = S * c.network.nvlink_efficiency / c.network.nvls_efficiency;
  for (int r : ranks) {
    ph.flows.push_back({{topo.gpu_to_switch(r)}, wire});
    ph.flows.push_back({{topo.switch_to_gpu(r)}, wire});
  }
  op.phases.push_back(std::move(ph));
  return op;
}

}  // namespace

Time nvls_all_reduce_time(double bytes, const ClusterSpec& c) {
  GPUHOURS_ASSERT(c.gpu.nvlink_sharp, "NVLS needs NVLink SHARP");
  return Time::from_seconds_ceil(c.network.nvls_latency_seconds) +
         Time::from_seconds_ceil(bytes / (c.gpu.nvlink_bytes_per_s * c.network.nvls_efficiency));
}

Time node_all_reduce_time(double bytes, int ranks, const ClusterSpec& c) {
  const Time ring = ring_collective_time(CollectiveKind::all_reduce, bytes, ranks, 1, c);
  return c.gpu.nvlink_sharp ? std::min(ring, nvls_all_reduce_time(bytes, c)) : ring;
}

CollectiveAlgorithm algorithm_nvls() {
  return {.implements = [](CollectiveKind k) { return k == CollectiveKind::all_reduce; },
          .automatic = [](CollectiveKind k, const ClusterSpec& c, int gpus) {
            return k == CollectiveKind::all_reduce && c.nodes == 1 && gpus > 1 && c.gpu.nvlink_sharp;
          },
          .plan = nvls_plan};
}

}  // namespace gpuhours
