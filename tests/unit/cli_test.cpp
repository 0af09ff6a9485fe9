// The command line end to end: the JSON contract, determinism, traces, presets, exit codes.
#include <doctest/doctest.h>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <set>

#include "gpuhours/scenario.hpp"
#include "test_util.hpp"

using namespace gpuhours;
using gpuhours::test::cli;

TEST_CASE("run --json on the 1-GPU preset prints every contract field") {
  const auto r = cli({"run", "scenarios/h100-1gpu-llama-1b.yaml", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["scenario"] == "h100-1gpu-llama-1b");
  CHECK(j["gpus"] == 1);
  for (const char* k : {"params_total", "params_active", "flops_per_token"}) CHECK(j["model"].contains(k));
  for (const char* k : {"seconds", "tokens", "tokens_per_gpu_second", "model_flops_per_token", "mfu",
                        "peak_memory_bytes", "breakdown_seconds"})
    CHECK(j["step"].contains(k));
  for (const char* k : {"compute", "exposed_communication", "bubble"})
    CHECK(j["step"]["breakdown_seconds"].contains(k));
  for (const char* k : {"gpu_hours", "wall_clock_days", "cost_usd", "energy_mwh"}) CHECK(j["run"].contains(k));
  for (const char* k : {"gpu_hours", "ratio", "required_mfu"}) CHECK(j["claim"].contains(k));
  CHECK(j["assumptions"].size() >= 2);
  CHECK(j["model"]["params_total"] == 1104218112);
  // The breakdown sums to the step time.
  const auto& b = j["step"]["breakdown_seconds"];
  const double sum = b["compute"].get<double>() + b["exposed_communication"].get<double>() +
                     b["bubble"].get<double>() + b["optimizer"].get<double>();
  CHECK(sum == doctest::Approx(j["step"]["seconds"].get<double>()).epsilon(1e-9));
  // Run accounting: useful GPU-hours = tokens / tokens per step x step time x GPUs / 3600; with
  // interruptions, divided by the goodput; cost = x $2 exactly.
  const double steps = 22e9 / (2048.0 * 4);
  const double useful = steps * j["step"]["seconds"].get<double>() / 3600.0;
  CHECK(j["run"]["useful_gpu_hours"].get<double>() == doctest::Approx(useful).epsilon(1e-12));
  const double gpu_hours = j["run"]["gpu_hours"].get<double>();
  CHECK(gpu_hours == doctest::Approx(useful / j["run"]["goodput"].get<double>()).epsilon(1e-12));
  CHECK(j["run"]["cost_usd"].get<double>() == 2.0 * gpu_hours);
  // Energy by hand: 700 W x 0.75 average power x 1.82 server overhead x PUE 1.25, in MWh.
  CHECK(j["run"]["energy_mwh"].get<double>() == doctest::Approx(gpu_hours * 0.7 * 0.75 * 1.82 * 1.25 / 1000).epsilon(1e-12));
  // MFU = FLOPs/token x tokens/s/GPU / 989.4e12.
  CHECK(j["step"]["mfu"].get<double>() ==
        doctest::Approx(j["model"]["flops_per_token"].get<double>() *
                        j["step"]["tokens_per_gpu_second"].get<double>() / 989.4e12));
}

TEST_CASE("a 1-GPU scenario written inline runs") {
  const auto path = test::write_temp("inline.yaml", test::inline_scenario());
  const auto r = cli({"run", path, "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["scenario"] == "inline-tiny");
  CHECK(j["step"]["seconds"].get<double>() > 0);
  CHECK(j["claim"]["ratio"].is_null());
}

TEST_CASE("the same input gives byte-identical JSON") {
  const auto a = cli({"run", "llama-3-8b-8gpu-dp", "--json"});
  const auto b = cli({"run", "llama-3-8b-8gpu-dp", "--json"});
  REQUIRE(a.code == 0);
  CHECK(a.out == b.out);
  CHECK(a.out.size() > 500);
}

TEST_CASE("data parallelism over 8 GPUs reduces gradients beside the backward pass") {
  const auto r = cli({"run", "llama-3-8b-8gpu-dp", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["gpus"] == 8);
  CHECK(j["step"]["dp"] == 8);
  CHECK(j["step"]["micro_batches"] == 8);  // 64 sequences / (8 ranks x 1)
  const auto& streams = j["step"]["streams"];
  REQUIRE(streams.size() == 5);
  CHECK(streams[4]["stream"] == "dp-comm");
  const double comm_busy = streams[4]["busy_seconds"].get<double>();
  const double exposed = j["step"]["breakdown_seconds"]["exposed_communication"].get<double>();
  CHECK(comm_busy > 0);
  CHECK(exposed < comm_busy);  // most of the reduce-scatter hides behind backward compute
}

TEST_CASE("--trace writes a Chrome trace of the step") {
  const auto path = test::write_temp("trace.json", "");
  const auto r = cli({"run", "h100-1gpu-llama-1b", "--trace", path});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  REQUIRE(j["traceEvents"].is_array());
  CHECK(j["traceEvents"].size() > 100);
}

TEST_CASE("--csv prints a header and one row") {
  const auto r = cli({"run", "h100-1gpu-llama-1b", "--csv"});
  REQUIRE(r.code == 0);
  CHECK(r.out.rfind("scenario,gpus,step_seconds", 0) == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
}

TEST_CASE("list shows every preset with its title") {
  const auto r = cli({"list"});
  REQUIRE(r.code == 0);
  CHECK(r.out.find("h100-1gpu-llama-1b") != std::string::npos);
  CHECK(r.out.find("Llama 3 8B, 100B tokens") != std::string::npos);
  CHECK(r.out.find("llama-3-70b") != std::string::npos);
  CHECK(r.out.find("NVIDIA H800 SXM5 80GB") != std::string::npos);
}

TEST_CASE("every preset scenario runs and is listed with its title") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const auto names = catalog.names("scenarios");
  CHECK(names.size() >= 4);
  const auto list = cli({"list"});
  for (const auto& name : names) {
    CAPTURE(name);
    const auto r = cli({"run", name, "--json"});
    CHECK_MESSAGE(r.code == 0, r.err);
    CHECK(list.out.find(name) != std::string::npos);
    CHECK(list.out.find(nlohmann::json::parse(r.out)["title"].get<std::string>()) != std::string::npos);
  }
}

TEST_CASE("a layout that does not fit in memory exits 2 and says what takes the memory") {
  // Llama 3 70B on one GPU: 16 bytes/parameter alone is 1.1 TB.
  const auto big = test::write_temp("oom70.yaml", R"(name: oom
title: 70B on one GPU
model: llama-3-70b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 1, network: nvswitch-node}
training: {precision: bf16, seq_len: 8192, global_batch: 1, tokens: 1e9}
cost: {gpu_hour_usd: 2}
)");
  const auto r = cli({"run", big});
  CHECK(r.code == 2);
  CHECK(r.err.find("out of memory on pipeline stage 0 of 1") != std::string::npos);
  CHECK(r.err.find("optimizer states") != std::string::npos);
  CHECK(r.err.find("bytes) over") != std::string::npos);
}

TEST_CASE("a global batch that data parallelism cannot split exits 2") {
  const auto path = test::write_temp("split.yaml", R"(name: split
title: bad split
model: ref-llama-1b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node}
training: {precision: bf16, seq_len: 2048, global_batch: 12, tokens: 1e9}
cost: {gpu_hour_usd: 2}
)");
  const auto r = cli({"run", path});
  CHECK(r.code == 2);
  CHECK(r.err.find("global_batch 12 is not a multiple of dp (8)") != std::string::npos);
}

TEST_CASE("DeepSeek-V3 claim: JSON has tokens/s/GPU and MFU, and the trace has a track per stream per rank") {
  auto r = cli({"run", "deepseek-v3-claim", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["gpus"] == 2048);
  CHECK(j["step"]["tokens_per_gpu_second"].get<double>() > 0);
  CHECK(j["step"]["mfu"].get<double>() > 0.05);
  CHECK(j["step"]["mfu"].get<double>() < 0.6);
  CHECK(j["claim"]["gpu_hours"].get<double>() == 2.788e6);
  CHECK(j["claim"]["ratio"].get<double>() == doctest::Approx(2.788e6 / j["run"]["gpu_hours"].get<double>()));
  const auto& b = j["step"]["breakdown_seconds"];
  CHECK(b["compute"].get<double>() + b["exposed_communication"].get<double>() + b["bubble"].get<double>() +
            b["optimizer"].get<double>() ==
        doctest::Approx(j["step"]["seconds"].get<double>()).epsilon(1e-9));
  // A smaller batch (32 micro-batches per pipeline) keeps the trace small.
  std::ifstream in(std::string(GPUHOURS_DATA_DIR) + "/scenarios/deepseek-v3-claim.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  yaml.replace(yaml.find("global_batch: 15360"), 19, "global_batch: 4096");
  const auto path = test::write_temp("dsv3-small.yaml", yaml);
  const auto trace = test::write_temp("dsv3-trace.json", "");
  r = cli({"run", path, "--trace", trace});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  std::ifstream tin(trace);
  const auto t = nlohmann::json::parse(tin);
  std::set<std::pair<int, int>> tracks;
  std::set<int> processes;
  for (const auto& ev : t["traceEvents"]) {
    if (ev["ph"] == "M" && ev["name"] == "thread_name") tracks.insert({ev["pid"].get<int>(), ev["tid"].get<int>()});
    if (ev["ph"] == "M" && ev["name"] == "process_name") processes.insert(ev["pid"].get<int>());
    if (ev["ph"] == "X") REQUIRE(ev["dur"].get<double>() >= 0);
  }
  CHECK(processes.size() == 16);
  CHECK(tracks.size() == 16 * 5);
}

TEST_CASE("run --explain prints every stage and the communication per collective") {
  const auto r = cli({"run", "deepseek-v3-claim", "--explain"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("Per pipeline stage") != std::string::npos);
  CHECK(r.out.find("ep dispatch") != std::string::npos);
  CHECK(r.out.find("dp reduce-scatter") != std::string::npos);
  CHECK(r.out.find("pp send/recv") != std::string::npos);
  // 16 stage rows: each starts with the stage number then the layer count.
  int rows = 0;
  for (int stage = 0; stage < 16; ++stage)
    rows += r.out.find("\n  " + std::string(stage < 10 ? "    " : "   ") + std::to_string(stage) + " ") != std::string::npos;
  CHECK(rows == 16);
}

TEST_CASE("the run section has a per-phase breakdown, and rental cost is GPU-hours x price exactly") {
  const auto r = cli({"run", "deepseek-v3-claim", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  const auto& phases = j["run"]["phases"];
  // 4 batch-ramp points, the main phase, two context-extension stages, reported post-training.
  REQUIRE(phases.size() == 8);
  CHECK(phases[4]["name"] == "main");
  CHECK(phases[5]["name"] == "context/32k");
  CHECK(phases[5]["seq_len"] == 32768);
  CHECK(phases[5]["steps"].get<double>() == doctest::Approx(1000));
  CHECK(phases[7]["simulated"] == false);
  CHECK(phases[7]["gpu_hours"].get<double>() == 5000);
  double sum = 0, tokens = 0;
  for (const auto& p : phases) {
    sum += p["gpu_hours"].get<double>();
    if (p["name"].get<std::string>().rfind("main", 0) == 0) tokens += p["tokens"].get<double>();  // main, main/ramp, ...
  }
  CHECK(sum == doctest::Approx(j["run"]["useful_gpu_hours"].get<double>()).epsilon(1e-12));
  CHECK(tokens == doctest::Approx(14.8e12));
  CHECK(j["run"]["cost_usd"].get<double>() == 2.0 * j["run"]["gpu_hours"].get<double>());
  // A phase's step time follows its shape: the 32K stage's steps are longer than the main ones.
  CHECK(phases[5]["step_seconds"].get<double>() > phases[4]["step_seconds"].get<double>());
}

TEST_CASE("bench passes its arguments to the helper without a shell") {
  const auto marker = std::filesystem::temp_directory_path() / "gpuhours-tests" / "bench-injection";
  std::filesystem::create_directories(marker.parent_path());
  std::filesystem::remove(marker);
  const std::string hostile = "x'; touch " + marker.string() + "; echo '";
  test::cli({"bench", hostile});  // the helper sees one odd argument (or is not built here)
  CHECK_FALSE(std::filesystem::exists(marker));
}
