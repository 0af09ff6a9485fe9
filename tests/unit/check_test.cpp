// gpuhours check and compare: the claim's simulated range, reproducibility, verdicts.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "test_util.hpp"

using namespace gpuhours;
using gpuhours::test::cli;

TEST_CASE("check deepseek-v3-claim --json: claim, ratio, required MFU and the P10/P50/P90 range") {
  const auto r = cli({"check", "deepseek-v3-claim", "--json", "--samples", "2000"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  const auto& c = j["claim"];
  CHECK(c["gpu_hours"].get<double>() == 2.788e6);
  const double p10 = c["range"]["p10"], p50 = c["range"]["p50"], p90 = c["range"]["p90"];
  CHECK(p10 < p50);
  CHECK(p50 < p90);
  CHECK(c["ratio"].get<double>() == doctest::Approx(2.788e6 / p50));
  // The MFU the claim requires: the simulated phases' model FLOPs done in the claimed GPU-hours less
  // the 5K reported for post-training, at the simulated goodput, against the FP8 peak (1,979 TFLOP/s).
  double flops = 0;
  for (const auto& p : j["run"]["phases"]) flops += p["model_flops"].get<double>();
  const double hours = (2.788e6 - 5000) * j["run"]["goodput"].get<double>();
  CHECK(c["required_mfu"].get<double>() == doctest::Approx(flops / (hours * 3600 * 1979e12)));
  // Below the main phase's simulated MFU: the long-context phases run at a lower one.
  CHECK(c["required_mfu"].get<double>() < j["step"]["mfu"].get<double>() * p50 / 2.788e6);
  CHECK(c["verdict"].get<std::string>().size() > 10);
  CHECK(c["reasons"].size() >= 3);
  CHECK(c["best_published_mfu"].get<double>() > 0);
}

TEST_CASE("check: the same seed gives identical output, another seed moves the range a little") {
  const auto a = cli({"check", "llama-3-405b", "--json", "--seed", "7"});
  const auto b = cli({"check", "llama-3-405b", "--json", "--seed", "7"});
  const auto c = cli({"check", "llama-3-405b", "--json", "--seed", "8"});
  REQUIRE_MESSAGE(a.code == 0, a.err);
  CHECK(a.out == b.out);
  CHECK(a.out != c.out);
  const auto ja = nlohmann::json::parse(a.out), jc = nlohmann::json::parse(c.out);
  CHECK(ja["claim"]["range"]["p50"].get<double>() == doctest::Approx(jc["claim"]["range"]["p50"].get<double>()).epsilon(0.02));
}

TEST_CASE("check: a scenario without a claim is bad input") {
  const auto r = cli({"check", "h100-1gpu-llama-1b"});
  CHECK(r.code == 1);
  CHECK(r.err.find("no claim.gpu_hours") != std::string::npos);
}

TEST_CASE("compare: one row per scenario") {
  const auto r = cli({"compare", "h100-1gpu-llama-1b", "llama-3-8b-8gpu-dp"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("h100-1gpu-llama-1b") != std::string::npos);
  CHECK(r.out.find("llama-3-8b-8gpu-dp") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);
}

TEST_CASE("check deepseek-v2-vs-67b: claimed and simulated savings side by side, with the dominant phases") {
  const auto r = cli({"check", "deepseek-v2-vs-67b", "--json", "--samples", "1000"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  const auto& b = j["claim"]["baseline"];
  CHECK(b["scenario"] == "deepseek-llm-67b-per-trillion");
  CHECK(b["claimed_saving"].get<double>() == 0.425);
  CHECK(b["claimed_gpu_hours"].get<double>() == 300600);
  // The saving recomputed from the two simulated runs.
  CHECK(b["simulated_saving"].get<double>() ==
        doctest::Approx(1 - j["run"]["gpu_hours"].get<double>() / b["simulated_gpu_hours"].get<double>()));
  CHECK(b["simulated_saving"].get<double>() > 0);
  CHECK(j["claim"]["dominant_phase"]["name"] == "main");
  CHECK(b["dominant_phase"] == "main");
}

TEST_CASE("a GPU added as one YAML file gets a full check, the published-MFU comparison included") {
  // A catalogue with every preset of the repository plus one new GPU file: no code, no other list.
  namespace fs = std::filesystem;
  const fs::path repo = GPUHOURS_DATA_DIR;
  const fs::path root = fs::temp_directory_path() / "gpuhours-tests" / "new-gpu-catalogue";
  fs::remove_all(root);
  fs::create_directories(root / "hardware" / "gpus");
  for (const char* folder : {"models", "scenarios", "hardware/networks", "hardware/nodes", "hardware/calibration"})
    fs::create_directory_symlink(repo / folder, root / folder);
  for (const auto& e : fs::directory_iterator(repo / "hardware"))
    if (e.is_regular_file()) fs::create_symlink(e.path(), root / "hardware" / e.path().filename());
  // The new GPU: the H100 SXM's figures under another name, a Hopper by its architecture.
  std::string text;
  {
    std::ifstream in(repo / "hardware" / "gpus" / "h100-sxm.yaml");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  text.replace(text.find("name: h100-sxm"), 14, "name: hopper-next");
  text.erase(text.find("calibration: h100-sxm-2026-11\n"), 30);  // the H100's own profile describes the H100
  std::ofstream(root / "hardware" / "gpus" / "hopper-next.yaml") << text;
  std::ofstream(root / "claim.yaml") << R"(name: new-gpu-claim
title: Llama 3 8B on 8 GPUs of a GPU added as one file
model: llama-3-8b
cluster: {gpu: hopper-next, nodes: 1, gpus_per_node: 8, network: nvswitch-node}
parallelism: {zero: 2, micro_batch: 1}
training: {precision: bf16, seq_len: 8192, global_batch: 64, tokens: 100e9}
cost: {gpu_hour_usd: 2.0}
claim: {gpu_hours: 20000, source: "a test claim"}
)";
  std::ostringstream out, err;
  const int code = run_cli({"check", (root / "claim.yaml").string(), "--json", "--samples", "200"}, out, err, root.string());
  REQUIRE_MESSAGE(code == 0, err.str());
  const auto j = nlohmann::json::parse(out.str());
  CHECK(j["gpu"] == "hopper-next");
  CHECK(j["claim"]["required_mfu"].get<double>() > 0);
  // Hopper in BF16: the best published MFU on file is dgxc-benchmarking's 53.4%.
  CHECK(j["claim"]["best_published_mfu"].get<double>() == doctest::Approx(0.534));
  bool compared = false;
  for (const auto& r : j["claim"]["reasons"]) compared |= r.get<std::string>().find("best published MFU") != std::string::npos;
  CHECK(compared);
}
