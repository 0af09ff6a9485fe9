// Engine speed: builds a synthetic DAG of N tasks (default 10 million) on 256 ranks with a
// compute and a communication stream each; every 4th compute task waits for a communication task
// of the neighbouring rank (a cross-rank dependency), and communication tasks take SMs from
// compute. Prints events per second of the simulation loop and memory per task.
//   build/bench_engine [tasks]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "bench_util.hpp"
#include "gpuhours/allocator.hpp"
#include "gpuhours/engine.hpp"


int main(int argc, char** argv) {
  gpuhours::keep_freed_memory_for_reuse();
  using gpuhours::TaskId;
  using gpuhours::Time;
  const long tasks = argc > 1 ? std::atol(argv[1]) : 10'000'000;
  const int ranks = 256;
  const double share = argc > 2 ? std::atof(argv[2]) : 0.15;
  const auto t0 = std::chrono::steady_clock::now();
  gpuhours::TaskGraph g;
  const auto fwd = g.intern("compute"), comm = g.intern("all-reduce");
  std::vector<gpuhours::StreamId> cs(ranks), ms(ranks);
  for (int r = 0; r < ranks; ++r) {
    cs[r] = g.add_stream(r, "compute");
    ms[r] = g.add_stream(r, "comm");
  }
  std::vector<TaskId> last_comm(ranks, 0);
  std::vector<bool> has_comm(ranks, false);
  std::uint64_t x = 88172645463325252ull;  // xorshift: deterministic pseudo-random durations
  auto rnd = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (long i = 0; i < tasks; ++i) {
    const int r = static_cast<int>(i % ranks);
    const long k = i / ranks;
    if (k % 4 == 3) {
      const TaskId t = g.add_task(ms[r], Time::ns(1000 + rnd() % 5000), gpuhours::TaskUse::transfer, 0, comm, share);
      last_comm[r] = t;
      has_comm[r] = true;
    } else {
      const TaskId t = g.add_task(cs[r], Time::ns(2000 + rnd() % 20000), gpuhours::TaskUse::compute, 0, fwd);
      const int peer = (r + 1) % ranks;
      if (k % 4 == 0 && has_comm[peer]) g.add_dependency(last_comm[peer], t);
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  gpuhours::Engine e(g);
  const Time end = e.run();
  const auto t2 = std::chrono::steady_clock::now();
  const double build_s = std::chrono::duration<double>(t1 - t0).count();
  const double run_s = std::chrono::duration<double>(t2 - t1).count();
  std::printf("tasks                 %zu\n", g.task_count());
  std::printf("events processed      %llu\n", static_cast<unsigned long long>(e.events_processed()));
  std::printf("simulated makespan    %.6f s\n", end.seconds());
  std::printf("graph build           %.3f s\n", build_s);
  std::printf("simulation            %.3f s\n", run_s);
  std::printf("events per second     %.2f M (target >= 5 M on one core)\n", e.events_processed() / run_s / 1e6);
  std::printf("memory per task       %zu B (data structures), %.0f B (peak RSS / tasks)\n", g.bytes_per_task(),
              gpuhours::bench::peak_rss_kib() * 1024.0 / static_cast<double>(g.task_count()));
  return 0;
}
