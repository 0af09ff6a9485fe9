// The layout sweep: exact top K and Pareto front with pruning, determinism across threads and
// shards, deadline, counts, and bad input.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <algorithm>
#include <utility>

#include "gpuhours/run.hpp"
#include "gpuhours/sweep.hpp"
#include "test_util.hpp"

using namespace gpuhours;
using test::cli;
using test::preset;

namespace {

const std::vector<std::string> kGrid = {"--vary", "gpus=1024,2048", "--vary", "tp=4,8", "--vary", "pp=4,8,16",
                                        "--vary", "micro_batch=1,2", "--vary", "recompute=none,selective,full",
                                        "--vary", "zero=1,2,3", "--vary", "schedule=1f1b,zb-h1,interleaved-1f1b,dualpipev",
                                        "--vary", "global_batch=256,512"};

nlohmann::json sweep_json(std::vector<std::string> extra) {
  std::vector<std::string> args = {"sweep", "llama-3-405b", "--top", "20", "--json"};
  args.insert(args.end(), kGrid.begin(), kGrid.end());
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = cli(args);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  return nlohmann::json::parse(r.out);
}

std::vector<std::int64_t> indices(const nlohmann::json& points) {
  std::vector<std::int64_t> out;
  for (const auto& p : points) out.push_back(p["index"].get<std::int64_t>());
  return out;
}

}  // namespace

TEST_CASE("sweep: pruning by the bound keeps exactly the top K and the Pareto front of the exhaustive search") {
  const auto pruned = sweep_json({});
  const auto full = sweep_json({"--no-prune"});
  const auto& lp = pruned["layouts"];
  const auto& lf = full["layouts"];
  CHECK(lp["grid"].get<int>() == 2 * 2 * 3 * 2 * 3 * 3 * 4 * 2);
  CHECK(lf["pruned_by_bound"].get<int>() == 0);
  CHECK(lp["pruned_by_bound"].get<int>() > 0);
  CHECK(lp["simulated"].get<int>() * 2 < lf["simulated"].get<int>());
  REQUIRE(pruned["top"].size() == 20);
  CHECK(indices(pruned["top"]) == indices(full["top"]));
  CHECK(indices(pruned["pareto"]) == indices(full["pareto"]));
  CHECK(pruned["top"] == full["top"]);
  // Every layout is accounted for once: rejected (with a reason) or bounded; every bounded one
  // pruned, simulated or a repeat of a program simulated.
  std::int64_t rejected = 0;
  for (const auto& [reason, n] : lp["rejected"].items()) rejected += n.get<std::int64_t>();
  CHECK(rejected + lp["bounded"].get<std::int64_t>() == lp["evaluated"].get<std::int64_t>());
  CHECK(lp["pruned_by_bound"].get<std::int64_t>() + lp["simulated"].get<std::int64_t>() +
            lp["programs_reused"].get<std::int64_t>() ==
        lp["bounded"].get<std::int64_t>());
  CHECK(lp["rejected"].contains("out of memory"));
  // Best first; each layout's bound below its simulated step.
  double previous = 0;
  for (const auto& p : pruned["top"]) {
    CHECK(p["cost_usd"].get<double>() >= previous);
    previous = p["cost_usd"].get<double>();
    CHECK(p["bound_seconds"].get<double>() <= p["step_seconds"].get<double>());
  }
  // The front: fewer days cost more.
  for (std::size_t i = 1; i < pruned["pareto"].size(); ++i) {
    CHECK(pruned["pareto"][i]["wall_clock_days"].get<double>() > pruned["pareto"][i - 1]["wall_clock_days"].get<double>());
    CHECK(pruned["pareto"][i]["cost_usd"].get<double>() < pruned["pareto"][i - 1]["cost_usd"].get<double>());
  }
}

TEST_CASE("sweep: the same result for 1 and 2 threads, and from 3 shards merged") {
  const auto one = sweep_json({"--threads", "1"});
  const auto two = sweep_json({"--threads", "2"});
  CHECK(one == two);
  std::vector<std::string> files;
  for (int i = 0; i < 3; ++i) {
    const auto shard = sweep_json({"--shard", std::to_string(i) + "/3"});
    files.push_back(test::write_temp("shard" + std::to_string(i) + ".json", shard.dump()));
  }
  std::vector<std::string> merge = {"merge", "--json"};
  merge.insert(merge.end(), files.begin(), files.end());
  const auto m = cli(merge);
  REQUIRE_MESSAGE(m.code == 0, m.err);
  const auto merged = nlohmann::json::parse(m.out);
  CHECK(merged["top"] == one["top"]);
  CHECK(merged["pareto"] == one["pareto"]);
  CHECK(merged["layouts"]["evaluated"] == one["layouts"]["evaluated"]);
  CHECK(merged["layouts"]["rejected"] == one["layouts"]["rejected"]);
  // A missing shard is an error.
  const auto missing = cli({"merge", files[0], files[1]});
  CHECK(missing.code == 1);
  CHECK(missing.err.find("shard 2/3 is missing") != std::string::npos);
}

TEST_CASE("sweep: a deadline rejects the layouts that finish later") {
  const auto all = sweep_json({});
  const double fastest = all["pareto"][all["pareto"].size() - 1]["wall_clock_days"].get<double>();
  const double deadline = fastest * 1.5;
  const auto r = sweep_json({"--deadline-days", std::to_string(deadline)});
  REQUIRE(!r["top"].empty());
  for (const auto& p : r["top"]) CHECK(p["wall_clock_days"].get<double>() <= deadline);
  bool counted = false;
  for (const auto& [reason, n] : r["layouts"]["rejected"].items())
    if (reason.rfind("deadline", 0) == 0 && n.get<int>() > 0) counted = true;
  CHECK(counted);
}

TEST_CASE("sweep: bad input is named and exits 1") {
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"sweep", "llama-3-405b"});
    return cli(args);
  };
  auto r = run({});
  CHECK(r.code == 1);
  CHECK(r.err.find("--vary") != std::string::npos);
  r = run({"--vary", "tensor=1,2"});
  CHECK(r.code == 1);
  CHECK(r.err.find("unknown key 'tensor'") != std::string::npos);
  r = run({"--vary", "tpp=1,2"});
  CHECK(r.err.find("did you mean 'tp'") != std::string::npos);
  r = run({"--vary", "tp="});
  CHECK(r.code == 1);
  CHECK(r.err.find("no values") != std::string::npos);
  r = run({"--vary", "tp=two"});
  CHECK(r.code == 1);
  CHECK(r.err.find("'two' is not a positive whole number") != std::string::npos);
  r = run({"--vary", "schedule=1f1b,gpipe2"});
  CHECK(r.code == 1);
  CHECK(r.err.find("gpipe2") != std::string::npos);
  r = run({"--vary", "gpu=h100-sxn"});
  CHECK(r.code == 1);
  CHECK(r.err.find("h100-sxm") != std::string::npos);
  for (const std::string shard : {"3/2", "a/b", "1", "1/0", "-1/2"}) {
    CAPTURE(shard);
    r = run({"--vary", "tp=4,8", "--shard", shard});
    CHECK(r.code == 1);
    CHECK(r.err.find("--shard") != std::string::npos);
  }
  // A grid of 10^8 layouts is refused before any layout is checked, with the shards it needs.
  std::string hundred;
  for (int v = 1; v <= 100; ++v) hundred += (v > 1 ? "," : "") + std::to_string(v);
  r = run({"--vary", "tp=" + hundred, "--vary", "pp=" + hundred, "--vary", "micro_batch=" + hundred, "--vary",
           "global_batch=" + hundred, "--threads", "1"});
  CHECK(r.code == 1);
  CHECK(r.err.find("sweep: 100000000 layouts for this process, more than the 2000000 one process checks") !=
        std::string::npos);
  CHECK(r.err.find("--shard I/50 (I = 0..49") != std::string::npos);
  const auto bad = test::write_temp("not-a-sweep.json", "{\"scenario\": 1}");
  r = cli({"merge", bad});
  CHECK(r.code == 1);
  CHECK(r.err.find("not-a-sweep.json") != std::string::npos);
}

TEST_CASE("sweep: varying the GPU picks its calibration profile, or the roofline") {
  Scenario s = preset("llama-3-8b-8gpu-dp");
  SweepOptions o;
  const Catalog catalog(GPUHOURS_DATA_DIR);
  o.axes = {parse_sweep_axis("gpu=h100-sxm,h800-sxm,a100-sxm-80gb", catalog)};
  o.top = 3;
  SweepComm one;
  const SweepResult r = run_sweep(s, catalog, o, one);
  REQUIRE(r.top.size() == 3);
  CHECK(r.simulated == 3);
  // The A100 (no profile, roofline from its lower peaks) is the slowest.
  CHECK(r.top.back().values[0] == "a100-sxm-80gb");
  // Ranked by owned cost: each GPU at its own catalogue price (Epoch AI's method).
  o.objective = SweepObjective::owned_cost;
  const SweepResult owned = run_sweep(s, catalog, o, one);
  REQUIRE(owned.top.size() == 3);
  for (std::size_t i = 0; i < owned.top.size(); ++i) {
    const SweepPoint& p = owned.top[i];
    Scenario with = s;
    with.cluster.gpu = load_gpu_preset(p.values[0], catalog);
    with.cost.owned.gpu_price_usd = with.cluster.gpu.price_usd;
    CAPTURE(p.values[0]);
    CHECK(p.owned_cost_usd == doctest::Approx(p.gpu_hours * owned_usd_per_gpu_hour(with)));
    CHECK(p.cost_usd == doctest::Approx(p.gpu_hours * s.cost.gpu_hour_usd));
    if (i > 0) CHECK(p.owned_cost_usd >= owned.top[i - 1].owned_cost_usd);
  }
}

TEST_CASE("sweep: its first lines say what its GPU-hours cover") {
  const auto r = cli({"sweep", "llama-3-8b-8gpu-dp", "--vary", "tp=1,2", "--top", "2"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string head = r.out.substr(0, r.out.find("rejected"));
  CHECK(head.find("GPU-hours, days and costs cover the main pre-training phase at its final batch") != std::string::npos);
}

namespace {

/// Pruning is exact for every objective on `grid` over `name`: the top K of each pruned sweep is
/// the exhaustive sweep's feasible layouts sorted by that objective (ties by grid index), and the
/// Pareto front is the exhaustive one. Returns the layouts pruned, over all objectives.
std::int64_t check_pruning_exact(const std::string& name, const std::vector<std::string>& grid) {
  const Scenario s = preset(name);
  const Catalog catalog(GPUHOURS_DATA_DIR);
  SweepComm one;
  SweepOptions all;
  for (const auto& g : grid) all.axes.push_back(parse_sweep_axis(g, catalog));
  all.top = 1000000;  // every feasible layout kept
  all.prune = false;
  all.threads = 2;
  const SweepResult exhaustive = run_sweep(s, catalog, all, one);
  REQUIRE(exhaustive.pruned == 0);
  REQUIRE(exhaustive.top.size() > 5);
  std::int64_t pruned = 0;
  for (const SweepObjective o : {SweepObjective::cost, SweepObjective::owned_cost, SweepObjective::gpu_hours, SweepObjective::days}) {
    CAPTURE(to_string(o));
    SweepOptions opt = all;
    opt.top = 3;
    opt.prune = true;
    opt.objective = o;
    const SweepResult r = run_sweep(s, catalog, opt, one);
    pruned += r.pruned;
    // By hand: sort every feasible layout of the exhaustive search by the objective.
    std::vector<SweepPoint> expected = exhaustive.top;
    const auto metric = [o](const SweepPoint& p) {
      switch (o) {
        case SweepObjective::cost: return p.cost_usd;
        case SweepObjective::owned_cost: return p.owned_cost_usd;
        case SweepObjective::gpu_hours: return p.gpu_hours;
        case SweepObjective::days: return p.days;
      }
      return 0.0;
    };
    std::sort(expected.begin(), expected.end(), [&](const SweepPoint& a, const SweepPoint& b) {
      return std::pair(metric(a), a.index) < std::pair(metric(b), b.index);
    });
    expected.resize(3);
    REQUIRE(r.top.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(r.top[i].index == expected[i].index);
      CHECK(r.top[i].step_seconds == expected[i].step_seconds);
      CHECK(metric(r.top[i]) == metric(expected[i]));
    }
    REQUIRE(r.pareto.size() == exhaustive.pareto.size());
    for (std::size_t i = 0; i < r.pareto.size(); ++i) CHECK(r.pareto[i].index == exhaustive.pareto[i].index);
    // Every layout accounted for, the same feasibility as the exhaustive search.
    CHECK(r.rejected == exhaustive.rejected);
    CHECK(r.pruned + r.simulated + r.programs_reused == r.bounded);
  }
  return pruned;
}

}  // namespace

TEST_CASE("sweep: pruning is exact on a MoE grid (expert parallelism) for every objective") {
  const auto pruned = check_pruning_exact(
      "deepseek-v2-vs-67b", {"ep=4,8,16", "pp=8,16", "micro_batch=1,2", "recompute=selective,full", "schedule=1f1b,zb-h1,dualpipev"});
  CHECK(pruned > 0);  // the bound did prune: the comparison is not vacuous
}

TEST_CASE("sweep: pruning is exact on a context-parallel grid for every objective") {
  const auto pruned = check_pruning_exact(
      "llama-3-405b", {"cp=1,2,4", "tp=4,8", "pp=8,16", "micro_batch=1,2", "schedule=1f1b,zb-h1", "seq_len=8192,32768"});
  CHECK(pruned > 0);
}
