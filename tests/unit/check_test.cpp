// gpuhours check and compare: the claim's simulated range, reproducibility, verdicts.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gpuhours/check.hpp"
#include "gpuhours/report.hpp"
#include "gpuhours/simulated_run.hpp"
#include "gpuhours/units.hpp"
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
  CHECK(r.err.find("field 'claim': missing; check needs claim.gpu_hours") != std::string::npos);
}

TEST_CASE("compare: one row per scenario") {
  const auto r = cli({"compare", "h100-1gpu-llama-1b", "llama-3-8b-8gpu-dp"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("h100-1gpu-llama-1b") != std::string::npos);
  CHECK(r.out.find("llama-3-8b-8gpu-dp") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 4);  // header, two rows, the legend
  // Grouped digits: the 8-GPU run's GPU-hours (about 3,000) with a thousands separator.
  const double hours = nlohmann::json::parse(cli({"run", "llama-3-8b-8gpu-dp", "--json"}).out)["run"]["gpu_hours"].get<double>();
  REQUIRE(hours >= 1000);
  REQUIRE(hours < 1e6);
  const long long whole = std::llround(hours);
  CHECK(r.out.find(fmt::format("{},{:03d}", whole / 1000, static_cast<int>(whole % 1000))) != std::string::npos);
}

TEST_CASE("compare --baseline: ratio columns against the baseline, and the claim beside the simulation") {
  const auto r = cli({"compare", "deepseek-v3-claim", "deepseek-v3-bf16", "--baseline", "deepseek-v3-claim"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto json_of = [](const char* name) {
    return nlohmann::json::parse(cli({"run", name, "--json"}).out)["run"]["gpu_hours"].get<double>();
  };
  const double base = json_of("deepseek-v3-claim"), bf16 = json_of("deepseek-v3-bf16");
  const auto line = [&](const std::string& name) {
    const auto at = r.out.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
  };
  CHECK(line("deepseek-v3-bf16").find(fmt::format("{:.2f}", bf16 / base)) != std::string::npos);
  CHECK(line("deepseek-v3-claim").find("2,788,000") != std::string::npos);                           // its claim
  CHECK(line("deepseek-v3-claim").find(fmt::format("{:.2f}", 2.788e6 / base)) != std::string::npos);  // claimed / simulated
  CHECK(r.out.find("x base: the scenario's figure / deepseek-v3-claim's") != std::string::npos);
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

TEST_CASE("verdict scale: each category from its thresholds (hardware/verdict-scale.yaml)") {
  const VerdictScale scale = load_verdict_scale(Catalog(GPUHOURS_DATA_DIR));
  CHECK(scale.impossible_mfu == 1.0);
  CHECK(scale.far_above_ratio == 2.0);
  const Percentiles range{90, 100, 110};  // simulated P10, P50, P90
  // required MFU above 100%: impossible, whatever the range says.
  CHECK(classify_claim(scale, 10, range, 1.2, 0.5) == Verdict::impossible);
  // Below P10: beyond the best published MFU, or within it.
  CHECK(classify_claim(scale, 80, range, 0.6, 0.5) == Verdict::beyond_published);
  CHECK(classify_claim(scale, 80, range, 0.45, 0.5) == Verdict::ambitious);
  CHECK(classify_claim(scale, 80, range, 0.6, 0.0) == Verdict::ambitious);  // no published figure to exceed
  // Inside [P10, P90], ends included.
  CHECK(classify_claim(scale, 90, range, 0.4, 0.5) == Verdict::consistent);
  CHECK(classify_claim(scale, 110, range, 0.3, 0.5) == Verdict::consistent);
  // Above P90: up to 2x the median, then far above.
  CHECK(classify_claim(scale, 150, range, 0.2, 0.5) == Verdict::above_range);
  CHECK(classify_claim(scale, 200, range, 0.2, 0.5) == Verdict::above_range);
  CHECK(classify_claim(scale, 201, range, 0.2, 0.5) == Verdict::far_above);
}

TEST_CASE("check: an MFU above 100% is reported as impossible, and a claim 6x the need is not called plausible") {
  const auto dense = cli({"check", "dense-671b-alternative", "--json", "--samples", "500"});
  REQUIRE_MESSAGE(dense.code == 0, dense.err);
  const auto d = nlohmann::json::parse(dense.out)["claim"];
  CHECK(d["verdict_category"] == "impossible");
  CHECK(d["required_mfu"].get<double>() > 1.0);
  CHECK(d["verdict"].get<std::string>().find("Impossible as described") == 0);
  CHECK(d["verdict"].get<std::string>().find("no GPU computes beyond 100%") != std::string::npos);

  const auto alleged = cli({"check", "deepseek-v3-2t-tokens", "--json", "--samples", "500"});
  REQUIRE_MESSAGE(alleged.code == 0, alleged.err);
  const auto a = nlohmann::json::parse(alleged.out)["claim"];
  CHECK(a["verdict_category"] == "far-above");
  CHECK(a["ratio"].get<double>() > 2.0);
  CHECK(a["verdict"].get<std::string>().find("Plausible") == std::string::npos);
  CHECK(a["verdict"].get<std::string>().find("Far more compute than this run needs") == 0);
}

TEST_CASE("check: a cost claim is checked at its own price, and the range says what it varies") {
  const auto r = cli({"check", "deepseek-v3-claim", "--json", "--samples", "500"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  const auto& k = j["claim"]["cost_at_claim_price"];
  CHECK(k["usd_per_gpu_hour"].get<double>() == doctest::Approx(5.576e6 / 2.788e6));  // $2.00, the claim's own
  CHECK(k["claimed_usd"].get<double>() == 5.576e6);
  CHECK(k["simulated_usd"].get<double>() == doctest::Approx(j["run"]["gpu_hours"].get<double>() * 2.0));
  const std::string varies = j["claim"]["range_varies"];
  for (const char* input : {"kernel time -15% to +15%", "network bandwidth", "interruption rate x0.5 to x2",
                            "the rental price $2.00 (deepseek-assumed) to $6.88 (hyperscaler-on-demand)"})
    CHECK_MESSAGE(varies.find(input) != std::string::npos, input);
}

TEST_CASE("check: a counterfactual is set beside the run it varies, not judged against that run's claim") {
  const auto r = cli({"check", "deepseek-v3-bf16", "--json", "--samples", "500"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["claim"]["verdict_category"] == "counterfactual");
  const auto& cf = j["counterfactual_of"];
  CHECK(cf["scenario"] == "deepseek-v3-claim");
  CHECK(cf["baseline_claimed_gpu_hours"].get<double>() == 2.788e6);
  CHECK(cf["ratio"].get<double>() == doctest::Approx(j["run"]["gpu_hours"].get<double>() / cf["baseline_simulated_gpu_hours"].get<double>()));
  CHECK(cf["ratio"].get<double>() > 1.2);  // BF16 GEMMs at half the FP8 peak
  const std::string verdict = j["claim"]["verdict"];
  CHECK(verdict.find("A counterfactual of 'deepseek-v3-claim'") == 0);
  // A counterfactual with a claim of its own, or of an unknown scenario, is bad input at the field.
  const std::string both = test::write_temp("both.yaml", test::inline_scenario() + "counterfactual_of: llama-3-405b\nclaim: {gpu_hours: 1, source: x}\n");
  const auto e1 = cli({"check", both});
  CHECK(e1.code == 1);
  CHECK(e1.err.find("counterfactual_of") != std::string::npos);
  const std::string unknown = test::write_temp("unknown.yaml", test::inline_scenario() + "counterfactual_of: llama-9-405b\n");
  const auto e2 = cli({"check", unknown});
  CHECK(e2.code == 1);
  CHECK(e2.err.find("unknown.yaml:") != std::string::npos);
  CHECK(e2.err.find("did you mean") != std::string::npos);
}

TEST_CASE("run: the headline's numbers carry three significant figures, the tables full values") {
  const auto r = cli({"run", "deepseek-v3-claim"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto j = nlohmann::json::parse(cli({"run", "deepseek-v3-claim", "--json"}).out);
  const double hours = j["run"]["gpu_hours"], cost = j["run"]["cost_usd"];
  const std::string headline = r.out.substr(0, r.out.find('\n', r.out.find("takes about")));
  CHECK(headline.find("takes about " + three_figures(hours) + " GPU-hours") != std::string::npos);
  CHECK(headline.find("about $" + three_figures(cost) + " at $2.00 per GPU-hour") != std::string::npos);
  CHECK(three_figures(hours).size() == 5);                                     // "2.39M"
  CHECK(r.out.find(fmt::format("{:>14} GPU-hours", grouped(hours))) != std::string::npos);  // the table keeps all digits
}

TEST_CASE("check: each verdict's sentence, word for word, on claims placed in each band of a 1-GPU run") {
  // The 1-GPU inline scenario (a 4-layer model, 1e9 tokens on one H100 in BF16). Its simulated
  // range is fixed by the seed and does not depend on the claim, so one check gives the range and
  // each claim below is placed against it. The required MFU of a claim C is the run's model FLOPs
  // F done in C GPU-hours at the goodput g against the H100's BF16 peak (989.4 TFLOP/s, the
  // datasheet): F / (C g 3600 P); a claim is built from the MFU it must require, C = F / (m g 3600 P).
  const Catalog catalog(GPUHOURS_DATA_DIR);
  Scenario s = load_scenario(test::write_temp("verdicts.yaml", test::inline_scenario() + "claim: {gpu_hours: 1, source: x}\n"),
                             catalog);
  const int samples = 200;
  const std::uint64_t seed = 5;
  const CheckResult first = check_scenario(s, catalog, seed, samples);
  const Percentiles r = first.gpu_hours;
  REQUIRE(first.run.phases.size() == 1);
  const double F = first.run.phases.front().model_flops, g = first.run.reliability.goodput, P = 989.4e12;
  const double simulated_mfu = first.run.mfu;
  REQUIRE(simulated_mfu > 0.2);  // the bands below need a claim at P10 to require less than 45% MFU
  REQUIRE(F / (r.p10 * g * 3600 * P) < 0.45);
  REQUIRE(r.p90 < 1.5 * r.p50);  // 1.5x the median lies above the range, below 2x
  const auto claim_at = [&](double hours) {
    s.claim->gpu_hours = hours;
    return check_scenario(s, catalog, seed, samples);
  };
  const auto claim_for_mfu = [&](double m) { return F / (m * g * 3600 * P); };
  const std::string M10 = three_figures(r.p10), M50 = three_figures(r.p50), M90 = three_figures(r.p90);
  const std::string range = M10 + "-" + M90 + " GPU-hours (P10-P90, median " + M50 + ")";

  {  // 150% of the peak: impossible.
    const double claimed = claim_for_mfu(1.5);
    const CheckResult c = claim_at(claimed);
    CHECK(c.category == Verdict::impossible);
    CHECK(std::string(name_of(c.category)) == std::string("impossible"));
    CHECK(c.verdict == "Impossible as described: the claim needs the GPUs to compute at 150% of their datasheet peak, "
                       "and no GPU computes beyond 100%.");
    CHECK(c.reasons.at(0) == fmt::format("The claim ({}) is {:.2f}x below the simulated median; either it counts only "
                                         "part of the GPU-hours this run needs, or the run differs from its description "
                                         "(fewer tokens, a smaller model, other hardware).",
                                         three_figures(claimed), r.p50 / claimed));
    // The command prints the same sentence first, and its JSON names the category.
    const std::string file = test::write_temp(
        "verdict-impossible.yaml",
        test::inline_scenario() + fmt::format("claim: {{gpu_hours: {:.17g}, source: x}}\n", claimed));
    const auto text = cli({"check", file, "--seed", "5", "--samples", "200"});
    REQUIRE_MESSAGE(text.code == 0, text.err);
    CHECK(text.out.substr(0, text.out.find('\n')) == c.verdict);
    const auto json = cli({"check", file, "--json", "--seed", "5", "--samples", "200"});
    REQUIRE_MESSAGE(json.code == 0, json.err);
    CHECK(nlohmann::json::parse(json.out)["claim"]["verdict_category"] == "impossible");
    CHECK(nlohmann::json::parse(json.out)["claim"]["verdict"] == c.verdict);
  }
  {  // 80%: below the range and beyond the best published 53.4% for Hopper in BF16.
    const CheckResult c = claim_at(claim_for_mfu(0.8));
    CHECK(c.category == Verdict::beyond_published);
    CHECK(std::string(name_of(c.category)) == std::string("beyond-published"));
    CHECK(c.verdict == "Implausible as stated: the claim needs more efficiency than any published run on this hardware.");
    CHECK(c.reasons.at(0) == "The claim (" + three_figures(claim_for_mfu(0.8)) + ") is below the simulated range of " + range + ".");
    CHECK(c.reasons.at(1).find("an MFU of 80.0% against the bf16 peak") != std::string::npos);
    CHECK(c.reasons.at(2) == "The best published MFU for this hardware and precision is 53.4%: benchmark, 2,048 H100, "
                             "synthetic data (dgxc).");
  }
  {  // 45%: below the range, within the published 53.4%.
    const CheckResult c = claim_at(claim_for_mfu(0.45));
    CHECK(c.category == Verdict::ambitious);
    CHECK(std::string(name_of(c.category)) == std::string("ambitious"));
    CHECK(c.verdict == "Ambitious: the claim is below the simulated range but within the best published efficiency.");
    CHECK(c.reasons.at(0) == "The claim (" + three_figures(claim_for_mfu(0.45)) + ") is below the simulated range of " + range + ".");
  }
  {  // The median: inside the range.
    const CheckResult c = claim_at(r.p50);
    CHECK(c.category == Verdict::consistent);
    CHECK(std::string(name_of(c.category)) == std::string("consistent"));
    CHECK(c.verdict == "Consistent: the claim lies inside the simulated range.");
    CHECK(c.reasons.at(0) == "The claim (" + M50 + ") lies inside the simulated range of " + range + ".");
  }
  {  // 1.5x the median: above the range, 50% above the median.
    const CheckResult c = claim_at(1.5 * r.p50);
    CHECK(c.category == Verdict::above_range);
    CHECK(std::string(name_of(c.category)) == std::string("above-range"));
    CHECK(c.verdict == "Consistent with what the simulation leaves out: the claim is above the simulated range.");
    CHECK(c.reasons.at(0) == "The claim (" + three_figures(1.5 * r.p50) + ") is 50% above the simulated median (" + range +
                                 "); the difference leaves room for what the model leaves out (evaluation, "
                                 "data loading, restarts beyond the failure model, a less tuned implementation).");
  }
  {  // 3x the median: far above; the run left with a third of the MFU a median run needs.
    const double claimed = 3 * r.p50;
    const CheckResult c = claim_at(claimed);
    CHECK(c.category == Verdict::far_above);
    CHECK(std::string(name_of(c.category)) == std::string("far-above"));
    CHECK(c.verdict == "Far more compute than this run needs: the claim is 3.0x the simulated median.");
    CHECK(c.reasons.at(0) == fmt::format("The claim ({}) against the simulated range of {}: it leaves the run an MFU of only "
                                         "{:.1f}%. It most likely covers more than this run (ablations, failed runs, other "
                                         "phases), or the run is not as described.",
                                         three_figures(claimed), range, 100 * F / (claimed * g * 3600 * P)));
  }
  {  // A counterfactual of the 1-GPU Llama 1B preset: the ratio of the two simulated runs.
    Scenario cf = load_scenario(
        test::write_temp("verdict-cf.yaml", test::inline_scenario() + "counterfactual_of: h100-1gpu-llama-1b\n"), catalog);
    const CheckResult c = check_scenario(cf, catalog, seed, samples);
    const double base = simulate_run(test::preset("h100-1gpu-llama-1b")).run.gpu_hours;
    CHECK(c.category == Verdict::counterfactual);
    CHECK(std::string(name_of(c.category)) == std::string("counterfactual"));
    CHECK(c.verdict == fmt::format("A counterfactual of 'h100-1gpu-llama-1b': {} GPU-hours, {:.2f}x the {} GPU-hours "
                                   "simulated for it.",
                                   three_figures(c.run.gpu_hours), c.run.gpu_hours / base, three_figures(base)));
  }
}

namespace {
std::string html_escaped(const std::string& s) {
  std::string o;
  for (char ch : s) switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += ch;
    }
  return o;
}
/// The text between `open` and the next `close` after it, or "<missing>".
std::string between(const std::string& page, const std::string& open, const std::string& close) {
  const auto a = page.find(open);
  if (a == std::string::npos) return "<missing>";
  const auto b = page.find(close, a + open.size());
  return page.substr(a + open.size(), b - a - open.size());
}
}  // namespace

TEST_CASE("check --html shows the figures and verdict of check --json, and escapes a title with markup") {
  const std::string title = "Tiny <script>alert(1)</script> & co";
  const std::string file = test::write_temp(
      "html-check.yaml", test::variant("title: Inline 1-GPU scenario", "title: \"" + title + "\"") +
                             "claim: {gpu_hours: 1, source: \"a test's claim\"}\n");
  const std::string page_path = test::write_temp("html-check.html", "");
  const auto r = cli({"check", file, "--html", page_path, "--seed", "5", "--samples", "200"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto js = cli({"check", file, "--json", "--seed", "5", "--samples", "200"});
  REQUIRE_MESSAGE(js.code == 0, js.err);
  const auto j = nlohmann::json::parse(js.out);
  std::ifstream in(page_path);
  const std::string page((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(page.size() > 1000);
  // The headline: GPU-hours, days and cost as the prose gives them (3 significant figures), and the claim.
  CHECK(between(page, "<b id=\"h-hours\">", "<") == three_figures(j["run"]["gpu_hours"].get<double>()));
  CHECK(between(page, "<b id=\"h-days\">", "<") == three_figures(j["run"]["wall_clock_days"].get<double>()));
  CHECK(between(page, "<b id=\"h-cost\">", "<") == "$" + three_figures(j["run"]["cost_usd"].get<double>()));
  CHECK(page.find("Claimed: <b>" + three_figures(j["claim"]["gpu_hours"].get<double>()) + "</b> GPU-hours") != std::string::npos);
  // The what-if panel starts from the run's GPU-hours at full precision.
  CHECK(std::stod(between(page, "var base={hours:", ",")) == j["run"]["gpu_hours"].get<double>());
  // The verdict and every reason, word for word (escaped).
  CHECK(j["claim"]["verdict_category"] == "above-range");  // 1 GPU-hour against a median of about 0.6
  CHECK(between(page, "<p class=\"verdict\">", "</p>") == html_escaped(j["claim"]["verdict"].get<std::string>()));
  for (const auto& reason : j["claim"]["reasons"])
    CHECK_MESSAGE(page.find("<li>" + html_escaped(reason.get<std::string>()) + "</li>") != std::string::npos, reason);
  // The simulated range on the chart.
  const auto& range = j["claim"]["range"];
  CHECK(page.find(fmt::format("simulated P10-P90 {}-{}, median {}", three_figures(range["p10"].get<double>()),
                              three_figures(range["p90"].get<double>()), three_figures(range["p50"].get<double>()))) !=
        std::string::npos);
  // The title: escaped in <title> and <h1>, never raw; the page's only scripts are its own two.
  CHECK(j["title"] == title);
  const std::string escaped = "Tiny &lt;script&gt;alert(1)&lt;/script&gt; &amp; co";
  CHECK(between(page, "<title>", "</title>") == escaped);
  CHECK(between(page, "<h1>", "</h1>") == escaped);
  CHECK(page.find("alert(1)</script>") == std::string::npos);
  CHECK(page.find("<script>alert") == std::string::npos);
  std::size_t scripts = 0;
  for (auto at = page.find("<script"); at != std::string::npos; at = page.find("<script", at + 1)) ++scripts;
  CHECK(scripts == 2);
}
