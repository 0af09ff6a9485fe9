// The command line end to end: the JSON contract, determinism, traces, presets, exit codes.
#include <doctest/doctest.h>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>

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
  for (const char* k : {"compute", "exposed_communication", "bubble", "optimizer", "waiting_for_host"})
    CHECK(j["step"]["breakdown_seconds"].contains(k));
  for (const char* k : {"gpu_hours", "wall_clock_days", "cost_usd", "energy_mwh"}) CHECK(j["run"].contains(k));
  for (const char* k : {"gpu_hours", "ratio", "required_mfu"}) CHECK(j["claim"].contains(k));
  CHECK(j["assumptions"].size() >= 2);
  CHECK(j["model"]["params_total"] == 1104218112);
  // The breakdown sums to the step time.
  const auto& b = j["step"]["breakdown_seconds"];
  const double sum = b["compute"].get<double>() + b["exposed_communication"].get<double>() +
                     b["bubble"].get<double>() + b["optimizer"].get<double>() + b["waiting_for_host"].get<double>();
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
  // The mechanisms the step ran with travel in the trace's metadata, as in the report.
  const auto& a = j["otherData"]["assumptions"];
  REQUIRE(a.is_array());
  const auto names = [&](const std::string& what) {
    return std::any_of(a.begin(), a.end(), [&](const auto& x) { return x.template get<std::string>().find(what) == 0; });
  };
  CHECK(names("clocks: sustained"));
  CHECK(names("stragglers: none, one GPU"));
}

namespace {
std::vector<std::string> split(const std::string& line, char by) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string cell; std::getline(in, cell, by);) out.push_back(cell);
  return out;
}
/// The rows of a CSV as maps from header to cell.
std::vector<std::map<std::string, std::string>> csv_rows(const std::string& text) {
  std::stringstream in(text);
  std::string line;
  std::getline(in, line);
  const auto header = split(line, ',');
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const auto cells = split(line, ',');
    REQUIRE(cells.size() == header.size());
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}
}  // namespace

TEST_CASE("run --csv: a header and one row, the same figures as --json, and its own arithmetic") {
  const auto r = cli({"run", "h100-1gpu-llama-1b", "--csv"});
  REQUIRE(r.code == 0);
  CHECK(r.out.rfind("scenario,gpus,step_seconds,tokens_per_gpu_second,mfu,peak_memory_bytes,compute_seconds,"
                    "exposed_communication_seconds,bubble_seconds,optimizer_seconds,gpu_hours,wall_clock_days,cost_usd,"
                    "energy_mwh,waiting_for_host_seconds\n",
                    0) == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
  const auto rows = csv_rows(r.out);
  REQUIRE(rows.size() == 1);
  const auto& row = rows[0];
  const auto num = [&](const char* k) { return std::stod(row.at(k)); };
  CHECK(row.at("scenario") == "h100-1gpu-llama-1b");
  CHECK(row.at("gpus") == "1");
  const auto j = nlohmann::json::parse(cli({"run", "h100-1gpu-llama-1b", "--json"}).out);
  // The CSV prints 9 significant figures.
  CHECK(num("step_seconds") == doctest::Approx(j["step"]["seconds"].get<double>()).epsilon(1e-8));
  CHECK(num("gpu_hours") == doctest::Approx(j["run"]["gpu_hours"].get<double>()).epsilon(1e-8));
  CHECK(num("cost_usd") == doctest::Approx(j["run"]["cost_usd"].get<double>()).epsilon(1e-8));
  CHECK(num("peak_memory_bytes") == doctest::Approx(j["step"]["peak_memory_bytes"].get<double>()).epsilon(1e-8));
  // A step of 8 x 2,048... (the preset's global batch times its sequence) tokens on one GPU.
  const double tokens = j["step"]["tokens"].get<double>();
  CHECK(num("tokens_per_gpu_second") == doctest::Approx(tokens / num("step_seconds")).epsilon(1e-8));
  // The breakdown sums to the step; the cost is GPU-hours at the preset's $2.
  CHECK(num("compute_seconds") + num("exposed_communication_seconds") + num("bubble_seconds") + num("optimizer_seconds") +
            num("waiting_for_host_seconds") ==
        doctest::Approx(num("step_seconds")).epsilon(1e-8));
  CHECK(num("cost_usd") == doctest::Approx(2 * num("gpu_hours")).epsilon(1e-8));
  CHECK(num("wall_clock_days") == doctest::Approx(num("gpu_hours") / 24).epsilon(1e-8));
}

TEST_CASE("sweep --csv: one row per kept layout, best first, the front flagged as in --json") {
  const std::vector<std::string> args = {"sweep", "llama-3-8b-8gpu-dp", "--top", "4", "--vary", "tp=1,2,4",
                                         "--vary", "micro_batch=1,2", "--vary", "recompute=none,full"};
  auto csv_args = args, json_args = args;
  csv_args.push_back("--csv");
  json_args.push_back("--json");
  const auto c = cli(csv_args);
  REQUIRE_MESSAGE(c.code == 0, c.err);
  CHECK(c.out.rfind("rank,index,tp,micro_batch,recompute,gpus,bound_seconds,step_seconds,mfu,peak_memory_bytes,gpu_hours,"
                    "wall_clock_days,cost_usd,owned_cost_usd,pareto\n",
                    0) == 0);
  const auto rows = csv_rows(c.out);
  const auto j = nlohmann::json::parse(cli(json_args).out);
  REQUIRE(rows.size() == 4);
  REQUIRE(j["top"].size() == 4);
  std::set<std::int64_t> front;
  for (const auto& p : j["pareto"]) front.insert(p["index"].get<std::int64_t>());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CAPTURE(i);
    const auto& row = rows[i];
    const auto& p = j["top"][i];
    CHECK(row.at("rank") == std::to_string(i + 1));
    CHECK(std::stoll(row.at("index")) == p["index"].get<std::int64_t>());
    CHECK(row.at("tp") == p["layout"]["tp"]);
    CHECK(row.at("recompute") == p["layout"]["recompute"]);
    CHECK(std::stod(row.at("cost_usd")) == doctest::Approx(p["cost_usd"].get<double>()).epsilon(1e-8));
    CHECK(std::stod(row.at("cost_usd")) == doctest::Approx(2 * std::stod(row.at("gpu_hours"))).epsilon(1e-8));
    CHECK(row.at("pareto") == (front.count(p["index"].get<std::int64_t>()) ? "1" : "0"));
    if (i > 0) CHECK(std::stod(row.at("cost_usd")) >= std::stod(rows[i - 1].at("cost_usd")));
  }
}

TEST_CASE("--data-dir reads models, hardware and scenarios from another folder") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "gpuhours-tests" / "data-dir";
  fs::remove_all(root);
  fs::create_directories(root / "scenarios");
  for (const char* d : {"models", "hardware"})
    fs::copy(fs::path(GPUHOURS_DATA_DIR) / d, root / d, fs::copy_options::recursive);
  // A renamed copy of the 1-GPU preset at $4 instead of $2 per GPU-hour, and a retitled model.
  std::ifstream in(std::string(GPUHOURS_DATA_DIR) + "/scenarios/h100-1gpu-llama-1b.yaml");
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  yaml.replace(yaml.find("name: h100-1gpu-llama-1b"), 24, "name: my-copy");
  const auto price = yaml.find("gpu_hour_usd: 2");
  REQUIRE(price != std::string::npos);
  yaml.replace(price, 15, "gpu_hour_usd: 4");
  std::ofstream(root / "scenarios" / "my-copy.yaml") << yaml;
  std::ifstream model_in(root / "models" / "ref-llama-1b.yaml");
  std::stringstream model_text;
  model_text << model_in.rdbuf();
  std::string model = model_text.str();
  const auto title = model.find("title: ");
  REQUIRE(title != std::string::npos);
  model.insert(title + 7, "Copied ");
  std::ofstream(root / "models" / "ref-llama-1b.yaml") << model;

  const auto list = cli({"--data-dir", root.string(), "list"});
  REQUIRE_MESSAGE(list.code == 0, list.err);
  CHECK(list.out.find("my-copy") != std::string::npos);
  CHECK(list.out.find("h100-1gpu-llama-1b") == std::string::npos);  // the default folder's presets are not listed
  CHECK(list.out.find("Copied ") != std::string::npos);
  const auto mine = cli({"--data-dir", root.string(), "run", "my-copy", "--json"});
  REQUIRE_MESSAGE(mine.code == 0, mine.err);
  const auto original = cli({"run", "h100-1gpu-llama-1b", "--json"});
  const auto a = nlohmann::json::parse(mine.out), b = nlohmann::json::parse(original.out);
  CHECK(a["scenario"] == "my-copy");
  CHECK(a["step"]["seconds"] == b["step"]["seconds"]);
  CHECK(a["run"]["gpu_hours"] == b["run"]["gpu_hours"]);
  CHECK(a["run"]["cost_usd"].get<double>() == doctest::Approx(2 * b["run"]["cost_usd"].get<double>()));
  // The default folder's preset is not found there; a folder that does not exist finds nothing.
  auto r = cli({"--data-dir", root.string(), "run", "h100-1gpu-llama-1b"});
  CHECK(r.code == 1);
  CHECK(r.err.find("unknown scenario preset 'h100-1gpu-llama-1b'") != std::string::npos);
  r = cli({"--data-dir", (root / "nowhere").string(), "run", "h100-1gpu-llama-1b"});
  CHECK(r.code == 1);
  CHECK(r.err.find("unknown scenario preset") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("shapes lists each GEMM of the step once, forward, dgrad and wgrad, by hand") {
  // The inline model: hidden 1,024, 16 query heads and 4 KV heads of 64 (QKV: 1,024 + 2 x 256 =
  // 1,536 columns), SwiGLU FFN of 4,096 (gate and up fused: 8,192), vocabulary 32,000; one
  // micro-batch of 2,048 tokens. Forward C[M x N] = A[M x K] B[K x N] with M = 2,048 tokens;
  // dgrad swaps N and K; wgrad is [K x N] over the tokens (M = K, K = 2,048). o_proj's dgrad has
  // its forward shape (1,024 x 1,024) and is listed once.
  const auto r = cli({"shapes", test::write_temp("shapes.yaml", test::inline_scenario())});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::vector<std::string> expected = {
      "bf16 1 1024 1024 2048 o_proj wgrad",   "bf16 1 1024 1536 2048 qkv_proj wgrad",
      "bf16 1 1024 8192 2048 gate_up_proj wgrad", "bf16 1 1024 32000 2048 lm_head wgrad",
      "bf16 1 2048 1024 1024 o_proj",         "bf16 1 2048 1024 1536 qkv_proj dgrad",
      "bf16 1 2048 1024 4096 down_proj",      "bf16 1 2048 1024 8192 gate_up_proj dgrad",
      "bf16 1 2048 1024 32000 lm_head dgrad", "bf16 1 2048 1536 1024 qkv_proj",
      "bf16 1 2048 4096 1024 down_proj dgrad", "bf16 1 2048 8192 1024 gate_up_proj",
      "bf16 1 2048 32000 1024 lm_head",       "bf16 1 4096 1024 2048 down_proj wgrad"};
  std::vector<std::string> lines;
  std::stringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  CHECK(lines == expected);
  CHECK(r.out.rfind("# dtype groups M N K op", 0) == 0);
  // FP8 training lists its GEMMs in FP8; a micro-batch of 2 doubles the forward M.
  const auto fp8 = cli({"shapes", test::write_temp("shapes-fp8.yaml", test::variant("precision: bf16", "precision: fp8"))});
  REQUIRE_MESSAGE(fp8.code == 0, fp8.err);
  CHECK(fp8.out.find("fp8 1 2048 1536 1024 qkv_proj") != std::string::npos);
  const auto mb2 = cli({"shapes", test::write_temp("shapes-mb2.yaml",
                                                   test::variant("cost:", "parallelism: {micro_batch: 2}\ncost:"))});
  REQUIRE_MESSAGE(mb2.code == 0, mb2.err);
  CHECK(mb2.out.find("bf16 1 4096 1536 1024 qkv_proj\n") != std::string::npos);
  CHECK(mb2.out.find("bf16 1 1024 1536 4096 qkv_proj wgrad") != std::string::npos);
  // Bad input: a scenario that is not there.
  const auto bad = cli({"shapes", "no-such-scenario"});
  CHECK(bad.code == 1);
  CHECK(bad.err.find("no-such-scenario") != std::string::npos);
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
  // Exact arithmetic, not a band. A step is 15,360 sequences of 4,096 tokens on 2,048 GPUs.
  const double seconds = j["step"]["seconds"].get<double>();
  CHECK(j["step"]["tokens"] == 15360 * 4096);
  CHECK(j["step"]["tokens_per_gpu_second"].get<double>() == doctest::Approx(15360.0 * 4096 / seconds / 2048).epsilon(1e-12));
  // Model FLOPs per token (MFU convention): 6 x the activated parameters that multiply (all but the
  // input embedding, 129,280 x 7,168; the norms' few thousand per layer are below the tolerance), plus
  // causal attention, 6 x 61 layers x 4,096 / 2 positions x 128 heads x (192 + 128) (query-key and
  // value head dimensions of MLA, DeepSeek-V3's config.json).
  const double active = j["model"]["params_active"].get<double>();
  const double by_hand = 6 * (active - 129280.0 * 7168) + 6.0 * 61 * 4096 / 2 * 128 * (192 + 128);
  CHECK(j["step"]["model_flops_per_token"].get<double>() == doctest::Approx(by_hand).epsilon(1e-3));
  // MFU: model FLOPs per GPU-second over the H800's dense FP8 peak, 1,979 TFLOP/s.
  CHECK(j["step"]["mfu"].get<double>() ==
        doctest::Approx(j["step"]["tokens_per_gpu_second"].get<double>() * j["step"]["model_flops_per_token"].get<double>() /
                        1979e12)
            .epsilon(1e-12));
  CHECK(j["claim"]["gpu_hours"].get<double>() == 2.788e6);
  CHECK(j["claim"]["ratio"].get<double>() == doctest::Approx(2.788e6 / j["run"]["gpu_hours"].get<double>()));
  const auto& b = j["step"]["breakdown_seconds"];
  CHECK(b["compute"].get<double>() + b["exposed_communication"].get<double>() + b["bubble"].get<double>() +
            b["optimizer"].get<double>() + b["waiting_for_host"].get<double>() ==
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
  CHECK(tracks.size() == 16 * 6);  // per rank: compute, tp, ep, pp and dp streams, and its host
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

namespace {
/// Checks a Chrome trace against the step of the same run (`run --json`): on each track (pid,
/// tid) the events never overlap and their durations add up to the busy seconds that the step
/// reports for that rank's stream; the last event ends at the step time. Returns the tracks seen.
std::size_t check_trace_tracks(const std::vector<std::string>& run_args) {
  const auto path = test::write_temp("tracks.json", "");
  auto args = run_args;
  args.insert(args.end(), {"--trace", path});
  const auto traced = cli(args);
  REQUIRE_MESSAGE(traced.code == 0, traced.err);
  args = run_args;
  args.push_back("--json");
  const auto r = cli(args);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto step = nlohmann::json::parse(r.out)["step"];
  std::ifstream in(path);
  const auto trace = nlohmann::json::parse(in);
  // The tracks' names (pid = rank, tid = stream) and their complete events.
  std::map<std::pair<int, int>, std::string> names;
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> events;  // (ts, dur) in us
  for (const auto& ev : trace["traceEvents"]) {
    const std::pair<int, int> track{ev["pid"].get<int>(), ev["tid"].get<int>()};
    if (ev["ph"] == "M" && ev["name"] == "thread_name") names[track] = ev["args"]["name"].get<std::string>();
    if (ev["ph"] == "X") events[track].emplace_back(ev["ts"].get<double>(), ev["dur"].get<double>());
  }
  // The trace holds integer nanoseconds divided by 1000 and printed round-trip exact, so an
  // event's end ts + dur differs from the true end by a few ulp of the step's length in us
  // (about 1e-11 us for a step of seconds); two events that truly overlap do so by at least
  // 1 ns = 1e-3 us. A tolerance of 1e-4 us (0.1 ns) tells the two apart.
  const double tolerance_us = 1e-4;
  double last_end_us = 0;
  std::map<std::pair<int, std::string>, double> summed;  // seconds, by (rank, stream name)
  for (auto& [track, evs] : events) {
    REQUIRE_MESSAGE(names.count(track), "an event on an unnamed track");
    std::sort(evs.begin(), evs.end());
    double sum_us = 0;
    for (std::size_t i = 0; i < evs.size(); ++i) {
      CHECK(evs[i].second >= 0);
      sum_us += evs[i].second;
      last_end_us = std::max(last_end_us, evs[i].first + evs[i].second);
      if (i + 1 < evs.size() && evs[i].first + evs[i].second > evs[i + 1].first + tolerance_us)
        FAIL_CHECK("overlap on rank " << track.first << " stream " << names[track] << " at " << evs[i + 1].first << " us");
    }
    // The host's launches never overlap either; the host is no GPU stream of the step.
    if (names[track] != "host") summed[{track.first, names[track]}] += sum_us * 1e-6;
  }
  // Every stream the step reports is a track, and every track a stream the step reports.
  std::size_t matched = 0;
  for (const auto& su : step["streams"]) {
    const std::pair<int, std::string> key{su["rank"].get<int>(), su["stream"].get<std::string>()};
    const double busy = su["busy_seconds"].get<double>();
    const auto at = summed.find(key);
    if (busy == 0 && at == summed.end()) continue;  // a stream without tasks has no events
    REQUIRE_MESSAGE(at != summed.end(), "no track for rank " << key.first << " stream " << key.second);
    ++matched;
    // Both are sums of the same integer-nanosecond durations in doubles: equal to 1e-9 relative.
    CHECK_MESSAGE(at->second == doctest::Approx(busy).epsilon(1e-9), "rank " << key.first << " stream " << key.second);
  }
  CHECK(matched == summed.size());
  CHECK(last_end_us * 1e-6 == doctest::Approx(step["seconds"].get<double>()).epsilon(1e-9));
  return summed.size();
}
}  // namespace

TEST_CASE("trace: on each track the events never overlap and add up to that stream's busy seconds") {
  // One GPU: a compute stream (and whatever else the step places on its own streams).
  CHECK(check_trace_tracks({"run", "h100-1gpu-llama-1b"}) >= 1);
  // Eight GPUs in data parallelism: the gradient reduce-scatter on its own stream beside compute.
  CHECK(check_trace_tracks({"run", "llama-3-8b-8gpu-dp"}) >= 2);
  // Tensor, pipeline and data parallelism together (tp 2, pp 2, dp 2): two pipeline ranks, each
  // with its compute, tensor-parallel, pipeline send/receive and gradient tracks (no expert parallelism).
  const std::string three_d = test::write_temp(
      "trace-3d.yaml", test::variant("cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 1, network: nvswitch-node}",
                                     "cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node}\n"
                                     "parallelism: {tp: 2, pp: 2, micro_batch: 1}"));
  CHECK(check_trace_tracks({"run", three_d}) == 8);
}

TEST_CASE("recompute_modules: the recomputed MoE block runs its dispatch again, and fits where the default selective set does not") {
  // Qwen3-30B-A3B on 8 H100, EP 8, 4,096 tokens per micro-batch, 8 micro-batches per GPU. Megatron-
  // Core's --recompute-modules layernorm moe runs each MoE block's forward again before its
  // backward: every layer dispatches its 4,096 tokens x 2,048 x 2 bytes three times per micro-batch
  // (forward, recomputed forward, backward), as full recomputation does, against twice without.
  const std::string base = R"(name: moe-recompute
title: MoE recompute by module
model: qwen3-30b-a3b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 8, network: nvswitch-node}
parallelism: {tp: 1, pp: 1, ep: 8, zero: 1, micro_batch: 1, RECOMPUTE}
training: {precision: bf16, seq_len: 4096, global_batch: 64, tokens: 1e9}
cost: {gpu_hour_usd: 2.0}
)";
  auto run = [&](const std::string& name, const std::string& recompute) {
    std::string text = base;
    text.replace(text.find("RECOMPUTE"), 9, recompute);
    return test::cli({"run", test::write_temp(name, text), "--json"});
  };
  const auto modules = run("rc-modules.yaml", "recompute: selective, recompute_modules: [layernorm, moe]");
  const auto full = run("rc-full.yaml", "recompute: full");
  REQUIRE_MESSAGE(modules.code == 0, modules.err);
  REQUIRE_MESSAGE(full.code == 0, full.err);
  const auto m = nlohmann::json::parse(modules.out)["step"], f = nlohmann::json::parse(full.out)["step"];
  const double dispatch = 48.0 * 8 * 3 * 4096 * 2048 * 2;
  CHECK(m["communication_bytes_per_gpu"]["ep dispatch"].get<double>() == doctest::Approx(dispatch));
  CHECK(f["communication_bytes_per_gpu"]["ep dispatch"].get<double>() == doctest::Approx(dispatch));
  // Less recomputed than a whole layer: faster, and more memory kept (the attention's).
  CHECK(m["seconds"].get<double>() < f["seconds"].get<double>());
  CHECK(m["peak_memory_bytes"].get<double>() > f["peak_memory_bytes"].get<double>());
  // The default selective set (norms, activation inputs) keeps the MoE block's activations: out of memory.
  CHECK(run("rc-selective.yaml", "recompute: selective").code == 2);
  // Bad input names the field.
  const auto without = run("rc-bad1.yaml", "recompute: full, recompute_modules: [moe]");
  CHECK(without.code == 1);
  CHECK(without.err.find("recompute_modules") != std::string::npos);
  CHECK(without.err.find("needs recompute: selective") != std::string::npos);
  const auto unknown = run("rc-bad2.yaml", "recompute: selective, recompute_modules: [moe, attention]");
  CHECK(unknown.code == 1);
  CHECK(unknown.err.find("core_attn") != std::string::npos);  // the list of known modules
}
