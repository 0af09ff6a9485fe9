// Layout search speed: 13,824 DeepSeek-V3 layouts (target: 10,000 in < 60 s on 2 cores) with and
// without the shape and program caches, and the 193,536-layout Llama 3 405B sweep of issue 11
// (target < 60 s on 2 cores; Calculon's analytic search does about 460 layouts/s on 2 cores).
//   build/bench_sweep [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "bench_util.hpp"
#include "gpuhours/allocator.hpp"
#include "gpuhours/sweep.hpp"

using namespace gpuhours;

namespace {

struct Timed {
  SweepResult result;
  double seconds = 0;
};

Timed run(const std::string& scenario, const std::vector<std::string>& vary, int threads, bool cache) {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const Scenario s = load_scenario(scenario, catalog);
  SweepOptions o;
  for (const auto& v : vary) o.axes.push_back(parse_sweep_axis(v, catalog));
  o.top = 100;
  o.threads = threads;
  o.cache = cache;
  SweepComm one;
  const auto t0 = std::chrono::steady_clock::now();
  Timed t{run_sweep(s, catalog, o, one), 0};
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

void print(const char* what, const Timed& t) {
  std::int64_t rejected = 0;
  for (const auto& [reason, n] : t.result.rejected) rejected += n;
  std::printf("%-34s %7lld layouts in %6.2f s (%7.0f layouts/s): rejected %lld, bounded %lld, pruned %lld, simulated %lld, "
              "repeated programs %lld; checks %.2f s, simulations %.2f s\n",
              what, static_cast<long long>(t.result.grid), t.seconds, static_cast<double>(t.result.grid) / t.seconds,
              static_cast<long long>(rejected), static_cast<long long>(t.result.bounded),
              static_cast<long long>(t.result.pruned), static_cast<long long>(t.result.simulated),
              static_cast<long long>(t.result.programs_reused), t.result.check_seconds, t.result.simulate_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  gpuhours::keep_freed_memory_for_reuse();
  const int threads = argc > 1 ? std::atoi(argv[1]) : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("threads: %d\n", threads);
  const std::vector<std::string> deepseek = {"gpus=1024,2048,4096", "pp=4,8,16", "ep=8,16,32,64", "tp=1,2", "zero=0,1,2,3",
                                             "micro_batch=1,2", "recompute=none,selective,full",
                                             "schedule=1f1b,zb-h1,dualpipe,dualpipev", "global_batch=7680,15360"};
  const Timed cached = run("deepseek-v3-claim", deepseek, threads, true);
  print("DeepSeek-V3, caches on", cached);
  const Timed uncached = run("deepseek-v3-claim", deepseek, threads, false);
  print("DeepSeek-V3, caches off", uncached);
  std::printf("cache speed-up: %.2fx (same top 100: %s)\n", uncached.seconds / cached.seconds,
              [&] {
                if (cached.result.top.size() != uncached.result.top.size()) return "no";
                for (std::size_t i = 0; i < cached.result.top.size(); ++i)
                  if (cached.result.top[i].index != uncached.result.top[i].index) return "no";
                return "yes";
              }());
  const std::vector<std::string> llama = {"gpus=2048,4096,8192,16384", "tp=1,2,4,8", "pp=1,2,4,8,16,32,64",
                                          "virtual_stages=1,2,4", "micro_batch=1,2,4,8", "recompute=none,selective,full",
                                          "zero=0,1,2,3", "schedule=1f1b,interleaved-1f1b,zb-h1,dualpipev",
                                          "global_batch=512,1024,2048"};
  print("Llama 3 405B (issue 11 grid)", run("llama-3-405b", llama, threads, true));
  std::printf("peak RSS: %.0f MiB\n", static_cast<double>(bench::peak_rss_kib()) / 1024.0);
  return 0;
}
