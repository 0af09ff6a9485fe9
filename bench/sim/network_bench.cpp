// Network simulation speed: an all-reduce over 16,384 GPUs (2,048 nodes, rail-optimised fat tree)
// and an EP64 all-to-all run by all 32 EP groups of a 2,048-GPU cluster at once (DeepSeek's
// multi-plane network), each simulated through flows and max-min sharing. Target: < 1 s each.
//   build/bench_network
#include <chrono>
#include <cstdio>

#include "gpuhours/allocator.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/topology.hpp"
#include "gpuhours/yaml.hpp"

using namespace gpuhours;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main() {
  gpuhours::keep_freed_memory_for_reuse();
  const Catalog catalog(GPUHOURS_DATA_DIR);
  {
    const auto t0 = std::chrono::steady_clock::now();
    ClusterSpec c;
    c.gpu = load_gpu_preset("h100-sxm", catalog);
    c.nodes = 2048;
    c.gpus_per_node = 8;
    c.network = load_network_preset("ib-ndr-rail-fat-tree-3tier", catalog);
    const Topology topo = Topology::build(c);
    const double build = seconds_since(t0);
    const auto r = simulate_collective(CollectiveKind::all_reduce, Algorithm::automatic, 1073741824.0, topo, c);
    std::printf("all-reduce 1 GiB, 16,384 H100 (3-tier fat tree), ring and tree: %.3f s to simulate (topology %.3f s), "
                "simulated %.3f ms (%s), busbw %.1f GB/s, %zu links\n",
                seconds_since(t0), build, r.time.seconds() * 1e3, to_string(r.algorithm), r.busbw_bytes_per_s / 1e9, topo.link_count());
  }
  {
    const auto t0 = std::chrono::steady_clock::now();
    ClusterSpec c;
    c.gpu = load_gpu_preset("h800-sxm", catalog);
    c.nodes = 256;
    c.gpus_per_node = 8;
    c.network = load_network_preset("deepseek-multi-plane", catalog);
    const Topology topo = Topology::build(c);
    NetworkModel net(topo);
    TaskGraph g;
    const double bytes = 4096.0 * 7168;  // one micro-batch of tokens per GPU, FP8
    for (int group = 0; group < 32; ++group) {
      std::vector<int> ranks;
      for (int i = 0; i < 64; ++i) ranks.push_back(group * 64 + i);
      const StreamId s = g.add_stream(group, "ep");
      g.add_external_task(s, net.add_op(make_collective(CollectiveKind::all_to_all, Algorithm::direct, bytes, ranks, topo, c)),
                          0, g.intern("all-to-all"));
    }
    const double built = seconds_since(t0);
    Engine e(g, &net);
    const Time t = e.run();
    std::printf("EP64 all-to-all x 32 groups, 2,048 H800 (multi-plane): %.3f s to simulate (routing %.3f s), "
                "simulated %.3f ms, %llu flow re-solves, %llu flow rates solved\n",
                seconds_since(t0), built, t.seconds() * 1e3, static_cast<unsigned long long>(net.solver().solves()),
                static_cast<unsigned long long>(net.solver().flows_solved()));
  }
  return 0;
}
