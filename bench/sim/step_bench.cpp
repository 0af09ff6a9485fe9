// Whole-step simulation speed and memory: the DeepSeek-V3 claim step (2,048 H800) and the Llama 3
// 405B step (16,384 H100), then Llama 3 405B's step from 256 to 16,384 GPUs (data parallelism
// grows; one rank per pipeline stage is simulated, so the cost follows the micro-batch count).
// Targets: each preset step < 2 s on one core and < 2 GiB; with flows (issue 17): DeepSeek-V3 < 1 s,
// Llama 3 405B < 0.5 s.
//   build/bench_step
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "bench_util.hpp"
#include "gpuhours/allocator.hpp"
#include "gpuhours/step.hpp"

using namespace gpuhours;

namespace {
double timed(const Scenario& s, StepResult& r) {
  const auto t0 = std::chrono::steady_clock::now();
  r = simulate_step(s);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main() {
  gpuhours::keep_freed_memory_for_reuse();
  const Catalog catalog(GPUHOURS_DATA_DIR);
  // Closed-form transfers, then data- and pipeline-parallel transfers as flows on the topology.
  for (const bool flows : {false, true})
    for (const char* name : {"deepseek-v3-claim", "llama-3-405b"}) {
      Scenario s = load_scenario(name, catalog);
      s.cluster.flows = flows;
      StepResult r;
      const double t = timed(s, r);
      std::fflush(stdout);
      std::printf("%-20s %6d GPUs%s: %.3f s to simulate, %zu tasks, peak RSS %.0f MiB; step %.3f s, MFU %.1f%%\n", name,
                  s.cluster.gpus(), flows ? ", flows" : "", t, r.tasks, bench::peak_rss_kib() / 1024.0, r.seconds,
                  100 * r.mfu);
    }
  std::printf("\nLlama 3 405B, TP8 PP16, 16M-token batches, full recomputation, growing data parallelism:\n");
  for (int gpus : {256, 1024, 4096, 16384}) {
    Scenario s = load_scenario("llama-3-405b", catalog);
    s.cluster.nodes = gpus / 8;
    s.parallel.recompute = Recompute::full;
    StepResult r;
    const double t = timed(s, r);
    std::printf("  %6d GPUs: dp %4d, %4d micro-batches per pipeline: %.3f s to simulate, %zu tasks; step %.2f s\n", gpus,
                r.dp, r.micro_batches, t, r.tasks, r.seconds);
  }
  return 0;
}
