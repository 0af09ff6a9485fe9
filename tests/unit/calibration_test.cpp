// Calibration profiles: loading, interpolation, the fitted fallback, bad files, and the
// simulated single-GPU steps against measured ones.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <string>
#include <sstream>
#include <tuple>
#include <vector>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gpuhours/error.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/yaml.hpp"
#include "test_util.hpp"

using namespace gpuhours;

namespace {
const std::string kRoot = GPUHOURS_DATA_DIR;
CalibrationProfile h100_profile() {
  return load_calibration(YamlNode::load_file(kRoot + "/hardware/calibration/h100-sxm-2026-11.yaml"));
}
}  // namespace

TEST_CASE("calibration: interpolation is exact at measured shapes and monotone between them") {
  ThroughputTable t;
  t.add({1024, 1024, 1024}, 100e12);
  t.add({4096, 4096, 4096}, 600e12);
  t.add({1024, 4096, 4096}, 300e12);
  t.fit();
  bool fitted = true;
  CHECK(t.at({4096, 4096, 4096}, &fitted) == 600e12);
  CHECK_FALSE(fitted);
  const double mid = t.at({2048, 2048, 2048}, &fitted);
  CHECK_FALSE(fitted);
  CHECK(mid > 100e12);
  CHECK(mid < 600e12);
  // Far outside (64x beyond the largest K): the fitted curve, capped at the best measurement.
  const double far = t.at({4096, 4096, 262144}, &fitted);
  CHECK(fitted);
  CHECK(far <= 600e12);
  CHECK(far > 0);
}

TEST_CASE("calibration: the fitted fallback follows the table's trend") {
  // Throughput that grows as M^0.5 exactly: the log-linear fit recovers it outside the range.
  ThroughputTable t;
  for (double m : {64.0, 128.0, 256.0, 512.0, 1024.0}) t.add({m, 4096, 4096}, 1e12 * std::sqrt(m));
  t.fit();
  bool fitted = false;
  CHECK(t.at({16, 4096, 4096}, &fitted) == doctest::Approx(4e12).epsilon(1e-6));
  CHECK(fitted);
  // Above the range it is capped at the best measured throughput.
  CHECK(t.at({65536, 4096, 4096}, &fitted) == doctest::Approx(1e12 * 32));
}

TEST_CASE("calibration: the shipped H100 profile holds the measured GEMM times exactly, at every measured shape") {
  // hardware/calibration/h100-sxm-2026-11.yaml was converted by bench/convert_reference_kernels.py
  // from two measurement files (PyTorch 2.11 cuBLAS/cuBLASLt timings on one H100 SXM, 2026-11-22
  // and 2026-11-27). Per (dtype, M, N, K) it keeps the mean of every time measured for that shape,
  // over both files and all layouts (NN, NT, TN), summed in file order and printed to 9 significant
  // digits. The mean is recomputed here the same way (ordered JSON keeps the file order, so the
  // sum is the same sequence of double additions) and must print to the very digits stored.
  using Shape = std::tuple<bool, long long, long long, long long>;
  std::map<Shape, std::vector<double>> measured;
  for (const char* file : {"/tests/data/h100-kernels-2026-11.json", "/tests/data/h100-kernels-gpuhours-2026-11-27.json"}) {
    std::ifstream in(kRoot + file);
    const auto doc = nlohmann::ordered_json::parse(in);
    for (const auto& [section, rows] : doc["sections"].items())
      for (const bool fp8 : {false, true})
        if (section.rfind(fp8 ? "gemm_fp8" : "gemm_bf16", 0) == 0)
          for (const auto& r : rows)
            measured[{fp8, r["M"].get<long long>(), r["N"].get<long long>(), r["K"].get<long long>()}].push_back(r["s"].get<double>());
  }
  const YamlNode yaml = YamlNode::load_file(kRoot + "/hardware/calibration/h100-sxm-2026-11.yaml");
  const CalibrationProfile p = h100_profile();
  const GpuSpec gpu = load_gpu_preset("h100-sxm", Catalog(kRoot));
  const KernelModel km(gpu, &p);  // burst clocks: the profile's own timings
  std::map<Shape, std::string> stored;
  for (const bool fp8 : {false, true})
    for (const YamlNode& r : yaml.child(fp8 ? "gemm_fp8" : "gemm_bf16").items())
      stored[{fp8, std::stoll(r.items()[0].as_string()), std::stoll(r.items()[1].as_string()),
              std::stoll(r.items()[2].as_string())}] = r.items()[3].as_string();
  // The profile holds exactly the measured shapes: none left out, none added.
  CHECK(stored.size() == measured.size());
  CHECK(measured.size() > 150);
  for (const auto& [key, times] : measured) {
    // (std::get, not a structured binding: clang 14, which CI's sanitizer build uses, cannot capture one.)
    const bool fp8 = std::get<0>(key);
    const long long m = std::get<1>(key), n = std::get<2>(key), k = std::get<3>(key);
    CAPTURE(fp8);
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    double sum = 0;
    for (double t : times) sum += t;
    const double mean = sum / static_cast<double>(times.size());
    const auto at = stored.find(key);
    REQUIRE(at != stored.end());
    CHECK(at->second == fmt::format("{:.9g}", mean));
    // The kernel model times the shape at the stored figure: a measured shape is interpolated
    // exactly, and the engine's clock rounds up to the next whole nanosecond (so within 1 ns).
    Kernel kern;
    kern.kind = OpKind::gemm;
    kern.fp8 = fp8;
    kern.m = m;
    kern.n = n;
    kern.k = k;
    kern.flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    const double stored_ns = std::stod(at->second) * 1e9;
    const auto sim_ns = static_cast<double>(km.time(kern).count_ns());
    // FLOPs / (FLOPs / seconds) returns the seconds to a few ulp (1e-15 relative).
    CHECK(sim_ns >= stored_ns * (1 - 1e-12));
    CHECK(sim_ns < stored_ns * (1 + 1e-12) + 1);
  }
  CHECK(p.provenance.at("device") == "NVIDIA H100 80GB HBM3");
}

TEST_CASE("calibration: leave-one-out interpolation error over the BF16 GEMM table") {
  // Each measured shape predicted from all the others: how well the table predicts shapes it has
  // not seen (the case for any model shape not measured).
  const YamlNode prof = YamlNode::load_file(kRoot + "/hardware/calibration/h100-sxm-2026-11.yaml");
  std::vector<std::array<double, 4>> rows;
  for (const YamlNode& r : prof.child("gemm_bf16").items())
    rows.push_back({r.items()[0].as_double(), r.items()[1].as_double(), r.items()[2].as_double(), r.items()[3].as_double()});
  std::vector<double> errors;
  for (std::size_t leave = 0; leave < rows.size(); ++leave) {
    ThroughputTable t;
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (i != leave) t.add({rows[i][0], rows[i][1], rows[i][2]}, 2 * rows[i][0] * rows[i][1] * rows[i][2] / rows[i][3]);
    t.fit();
    const auto& r = rows[leave];
    const double predicted = 2 * r[0] * r[1] * r[2] / t.at({r[0], r[1], r[2]});
    errors.push_back(std::abs(predicted / r[3] - 1));
  }
  std::sort(errors.begin(), errors.end());
  const double median = errors[errors.size() / 2], p90 = errors[errors.size() * 9 / 10];
  MESSAGE("leave-one-out over ", errors.size(), " shapes: median error ", 100 * median, "%, 90th percentile ", 100 * p90, "%");
  CHECK(median < 0.10);
  CHECK(p90 < 0.30);
}

TEST_CASE("calibration: a corrupt or truncated profile is a clear error") {
  const std::string full = test::data_text("hardware/calibration/h100-sxm-2026-11.yaml");
  // Truncated in the middle of the BF16 table: later tables are missing.
  CHECK_THROWS_WITH_AS(load_calibration(YamlNode::load_string(full.substr(0, full.find("gemm_fp8:")), "cut.yaml")),
                       doctest::Contains("missing required key 'gemm_fp8'"), InputError);
  // A row of the wrong length, and a negative time.
  std::string bad = full;
  bad.replace(bad.find("- [64, 4096, 7168,"), 18, "- [64, 4096,");
  CHECK_THROWS_WITH_AS(load_calibration(YamlNode::load_string(bad, "row.yaml")),
                       doctest::Contains("expected a row of 4 numbers"), InputError);
  bad = full;
  bad.replace(bad.find("- [64, 4096, 7168, "), 19, "- [64, 4096, 7168, -");
  CHECK_THROWS_WITH_AS(load_calibration(YamlNode::load_string(bad, "neg.yaml")), doctest::Contains("greater than zero"),
                       InputError);
  CHECK_THROWS_AS(load_calibration(YamlNode::load_string("name: [unclosed", "broken.yaml")), InputError);
  // A profile for another GPU is refused by the scenario.
  const auto r = test::cli({"run", test::write_temp("wronggpu.yaml", test::variant("network: nvswitch-node}",
                                                                                  "network: nvswitch-node, calibration: h800-sxm-2026-11-derived}"))});
  CHECK(r.code == 1);
  CHECK(r.err.find("describes h800-sxm, not h100-sxm") != std::string::npos);
}

TEST_CASE("calibration: gpuhours run reports the profile and where it was measured") {
  const auto r = test::cli({"run", "h100-1gpu-llama-1b", "--json"});
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["calibration"]["profile"] == "h100-sxm-2026-11");
  CHECK(j["calibration"]["measured_on"] == "NVIDIA H100 80GB HBM3");
  CHECK(j["assumptions"][0].get<std::string>().find("calibration profile h100-sxm-2026-11") != std::string::npos);
  // Without a profile (calibration: none), the JSON says so with a null.
  const auto roof = test::cli({"run", test::write_temp("roof.yaml", test::variant("network: nvswitch-node}",
                                                                                    "network: nvswitch-node, calibration: none}")),
                               "--json"});
  CHECK(nlohmann::json::parse(roof.out)["calibration"].is_null());
}

TEST_CASE("validation: simulated 1-GPU training steps within 15% of the measured H100 steps") {
  // tests/data/h100-reference-steps-2026-11.json: bench/reference_step.py on one H100 SXM
  // (PyTorch 2.11, BF16 autocast over FP32 parameters, fused AdamW, flash SDPA, eager).
  std::ifstream in(kRoot + "/tests/data/h100-reference-steps-2026-11.json");
  const auto measured = nlohmann::json::parse(in);
  const Catalog catalog(kRoot);
  int rows = 0;
  std::printf("\n%-18s %12s %12s %8s %12s %12s\n", "config", "measured s", "simulated s", "error", "measured GiB",
              "planned GiB");
  for (const auto& r : measured["results"]) {
    const std::string name = r["config"]["name"];
    const Scenario s = load_scenario(kRoot + "/tests/reference_steps/" + name + ".yaml", catalog);
    const StepResult sim = simulate_step(s);
    const double m = r["step_median_s"].get<double>();
    const double err = sim.seconds / m - 1;
    std::printf("%-18s %12.4f %12.4f %+7.1f%% %12.2f %12.2f\n", name.c_str(), m, sim.seconds, 100 * err,
                r["max_memory_allocated_bytes"].get<double>() / (1 << 30), sim.peak.total() / (1 << 30));
    CHECK(std::abs(err) < 0.15);
    ++rows;
  }
  CHECK(rows == 4);
}

TEST_CASE("calibration: the gpuhours-bench (cuBLASLt) profile agrees with the PyTorch one on large GEMMs") {
  // Measured the same day on the same kind of GPU, one through PyTorch, one by gpuhours-bench: for
  // large square GEMMs (launch overhead negligible) they agree within 10%. (At 4096^3 FP8,
  // PyTorch's per-tensor _scaled_mm runs 20% slower than cuBLASLt's own choice of kernel.)
  const CalibrationProfile torch = h100_profile();
  const CalibrationProfile lt =
      load_calibration(YamlNode::load_file(kRoot + "/hardware/calibration/h100-sxm-2026-11-cublaslt.yaml"));
  CHECK(lt.provenance.at("libraries").find("gpuhours-bench") != std::string::npos);
  const GpuSpec gpu = load_gpu_preset("h100-sxm", Catalog(kRoot));
  const KernelModel a(gpu, &torch), b(gpu, &lt);
  for (bool fp8 : {false, true})
    for (long n : {8192L, 16384L}) {
      Kernel k;
      k.kind = OpKind::gemm;
      k.fp8 = fp8;
      k.m = k.n = k.k = n;
      k.flops = 2.0 * n * n * n;
      CAPTURE(n);
      CAPTURE(fp8);
      CHECK(std::abs(b.time(k).seconds() / a.time(k).seconds() - 1) < 0.10);
    }
  // No attention table: attention falls back to the catalogue ceilings, and says so once an
  // attention kernel has been timed (after the profile line and the clocks line).
  CHECK(lt.attention_fwd.empty());
  CHECK(b.assumptions().size() == 2);
  Kernel attention;
  attention.kind = OpKind::attention;
  attention.m = 32, attention.n = 4096, attention.k = 256;
  attention.flops = 2.0 * 32 * 4096.0 * 4096 * 256 * 0.5;
  const double roofline = attention.flops / (gpu.peak_flops_per_s.at("bf16") * gpu.achievable.attention_fwd);
  CHECK(b.time(attention).seconds() == doctest::Approx(roofline + gpu.kernel_launch_seconds).epsilon(1e-6));
  REQUIRE(b.assumptions().size() == 3);
  CHECK(b.assumptions()[2].find("attention kernels: the fused kernel") == 0);
  CHECK(b.assumptions()[2].find("roofline") != std::string::npos);
}

TEST_CASE("calibration: an FP8 GEMM's quantization pass adds a memory-bound kernel's time") {
  const CalibrationProfile p = h100_profile();
  const GpuSpec gpu = load_gpu_preset("h100-sxm", Catalog(kRoot));
  const KernelModel model(gpu, &p);
  Kernel g;
  g.kind = OpKind::gemm;
  g.fp8 = true;
  g.m = 4096;
  g.n = 7168;
  g.k = 16384;
  g.flops = 2.0 * 4096 * 7168 * 16384;
  g.bytes = 4096.0 * 16384 + 16384.0 * 7168 + 4096.0 * 7168 * 2;
  Kernel quantized = g;
  quantized.quantize_bytes = 4096.0 * 16384 * 3.03125;
  Kernel pass;
  pass.bytes = quantized.quantize_bytes;
  const auto extra = model.time(quantized).count_ns() - model.time(g).count_ns();
  CHECK(std::abs(extra - model.time(pass).count_ns()) <= 1);  // rounding to whole nanoseconds
  CHECK(model.time(pass).seconds() == doctest::Approx(gpu.kernel_launch_seconds + pass.bytes / p.elementwise_bytes_per_s));
}

TEST_CASE("an H100 scenario without a calibration key is timed by the H100's measured profile, and 'none' asks for the roofline") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const std::string text = test::inline_scenario();  // h100-sxm, no calibration key
  REQUIRE(text.find("calibration") == std::string::npos);
  const Scenario measured = load_scenario(YamlNode::load_string(text, "h100.yaml"), catalog);
  REQUIRE(measured.cluster.calibration);
  CHECK(measured.cluster.calibration->name == "h100-sxm-2026-11");
  const StepResult with_profile = simulate_step(measured);
  CHECK(std::any_of(with_profile.assumptions.begin(), with_profile.assumptions.end(), [](const std::string& a) {
    return a.find("calibration profile h100-sxm-2026-11") != std::string::npos;
  }));
  const Scenario roofline = load_scenario(
      YamlNode::load_string(test::variant("network: nvswitch-node}", "network: nvswitch-node, calibration: none}"), "roofline.yaml"),
      catalog);
  CHECK_FALSE(roofline.cluster.calibration);
  // The two time the same kernels differently: the roofline runs at the datasheet-derived ceilings.
  CHECK(simulate_step(roofline).seconds != doctest::Approx(with_profile.seconds).epsilon(1e-6));
  // The terminal report says which timing it used in its first lines.
  const auto head = [](const test::CliResult& r) { return r.out.substr(0, 600); };
  const std::string path = test::write_temp("roofline.yaml", test::variant("network: nvswitch-node}", "network: nvswitch-node, calibration: none}"));
  CHECK(head(test::cli({"run", path})).find("roofline estimate") != std::string::npos);
  CHECK(head(test::cli({"run", test::write_temp("h100.yaml", text)})).find("calibration profile h100-sxm-2026-11") != std::string::npos);
}

TEST_CASE("calibration: sustained clocks run tensor-core kernels at the profile's looped-GEMM rate") {
  // hardware/calibration/h100-sxm-2026-11.yaml: the 8192^3 BF16 GEMM takes 1.46414932 ms in the
  // timed bursts (750.96 TFLOP/s) and runs at 678.404 TFLOP/s looped for 12 s under the 700 W cap.
  const CalibrationProfile p = h100_profile();
  const double burst = 2.0 * 8192 * 8192 * 8192 / 1.46414932e-3;
  CHECK(p.sustained_clock_ratio == doctest::Approx(6.78404e14 / burst).epsilon(1e-9));
  CHECK(p.sustained_clock_ratio == doctest::Approx(0.90339).epsilon(1e-4));
  const GpuSpec gpu = load_gpu_preset("h100-sxm", Catalog(kRoot));
  const KernelModel bursty(gpu, &p, 1.0, Clocks::burst), capped(gpu, &p, 1.0, Clocks::sustained);
  Kernel g;
  g.kind = OpKind::gemm;
  g.m = g.n = g.k = 8192;
  g.flops = 2.0 * 8192 * 8192 * 8192;
  CHECK(bursty.time(g).seconds() == doctest::Approx(1.46414932e-3).epsilon(1e-6));
  CHECK(capped.time(g).seconds() == doctest::Approx(g.flops / 6.78404e14).epsilon(1e-6));  // 1.6208 ms
  // A memory-bound kernel keeps its measured bandwidth: HBM is clocked apart from the SMs.
  Kernel norm;
  norm.bytes = 16384.0 * 7168 * 2 * 2;
  CHECK(capped.time(norm) == bursty.time(norm));
  // The report says which clock it assumed.
  CHECK(capped.assumptions()[1].find("clocks: sustained") == 0);
  CHECK(bursty.assumptions()[1].find("clocks: burst") == 0);
  // A profile without a sustained measurement keeps its burst times, and says so.
  CalibrationProfile unmeasured = p;
  unmeasured.sustained_clock_ratio = 1.0;
  unmeasured.sustained_gemm_bf16_flops_per_s = 0;
  const KernelModel plain(gpu, &unmeasured, 1.0, Clocks::sustained);
  CHECK(plain.time(g) == bursty.time(g));
  CHECK(plain.assumptions()[1].find("no sustained measurement") != std::string::npos);
}

TEST_CASE("calibration: a scenario's clocks default to sustained, and clocks: burst restores the profile's timings") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const Scenario capped = load_scenario(YamlNode::load_string(test::inline_scenario(), "h100.yaml"), catalog);
  CHECK(capped.cluster.clocks == Clocks::sustained);
  const Scenario bursty = load_scenario(
      YamlNode::load_string(test::variant("network: nvswitch-node}", "network: nvswitch-node, clocks: burst}"), "burst.yaml"),
      catalog);
  CHECK(bursty.cluster.clocks == Clocks::burst);
  const StepResult a = simulate_step(capped), b = simulate_step(bursty);
  // Slower, but by less than the GEMM ratio alone: memory-bound kernels and communication keep
  // their speed.
  CHECK(a.seconds > b.seconds);
  CHECK(a.seconds < b.seconds / 0.90339);
  try {
    load_scenario(YamlNode::load_string(test::variant("network: nvswitch-node}", "network: nvswitch-node, clocks: turbo}"), "turbo.yaml"),
                  catalog);
    FAIL("clocks: turbo was accepted");
  } catch (const InputError& e) {
    const std::string what = e.what();
    CHECK(what.find("turbo.yaml:") == 0);
    CHECK(what.find("sustained") != std::string::npos);
  }
}

TEST_CASE("calibration: attention is timed by the table of the kernel library the scenario names") {
  // The H100 profile holds cuDNN's fused attention (`attention`, the default, as Transformer Engine
  // runs it on Hopper) and FlashAttention-2 (`attention_flash_attention_2`, SDPA's flash backend).
  const CalibrationProfile p = h100_profile();
  const GpuSpec gpu = load_gpu_preset("h100-sxm", Catalog(kRoot));
  const KernelModel model(gpu, &p);  // burst clocks: the profile's own timings
  Kernel k;
  k.kind = OpKind::attention;
  k.m = 32, k.n = 8192, k.k = 256;  // [1, 32, 8192, 128, 128]: a measured FlashAttention-2 row
  k.flops = 2.0 * 32 * 8192.0 * 8192 * 256 * 0.5;
  k.library = AttentionKernel::flash_attention_2;
  CHECK(model.time(k).seconds() == doctest::Approx(1.70962962e-3).epsilon(1e-6));
  // cuDNN at the same shape: between its measured rows of 4,096 and 16,384 tokens (569-612 TFLOP/s
  // forward), against FlashAttention-2's measured 322.
  k.library = AttentionKernel::fused;
  const double fused_flops_per_s = k.flops / model.time(k).seconds();
  CHECK(fused_flops_per_s > 550e12);
  CHECK(fused_flops_per_s < 615e12);
  const auto a = model.assumptions();
  CHECK(std::count_if(a.begin(), a.end(), [](const std::string& s) { return s.find("attention kernels:") == 0; }) == 2);
}

TEST_CASE("calibration: the H200's profile, derived from the H100's, keeps its GEMM and attention rows and scales its memory bandwidth by 4.8 / 3.35") {
  const Catalog catalog(kRoot);
  const GpuSpec h200 = load_gpu_preset("h200-sxm", catalog);
  const auto derived = default_calibration(h200, catalog);
  REQUIRE(derived != nullptr);
  CHECK(derived->name == "h200-sxm-2026-11-derived");
  CHECK(derived->derived_from == "h100-sxm-2026-11");
  const auto measured = default_calibration(load_gpu_preset("h100-sxm", catalog), catalog);
  REQUIRE(measured != nullptr);
  // A measured FP8 GEMM row and a BF16 one, and a measured attention row: the same on both dies.
  CHECK(derived->gemm_fp8.at({2048, 7168, 8192}) == measured->gemm_fp8.at({2048, 7168, 8192}));
  CHECK(derived->gemm_bf16.at({4096, 4096, 7168}) == measured->gemm_bf16.at({4096, 4096, 7168}));
  CHECK(derived->attention_fwd.at({4 * 32, 4096, 256}) == measured->attention_fwd.at({4 * 32, 4096, 256}));
  // HBM3e at 4.8 TB/s against HBM3 at 3.35 (hardware/gpus), written to 6 significant figures.
  CHECK(derived->copy_bytes_per_s / measured->copy_bytes_per_s == doctest::Approx(4.8 / 3.35).epsilon(1e-5));
  CHECK(derived->elementwise_bytes_per_s / measured->elementwise_bytes_per_s == doctest::Approx(4.8 / 3.35).epsilon(1e-5));
  CHECK(derived->sustained_gemm_bf16_flops_per_s == measured->sustained_gemm_bf16_flops_per_s);
}

TEST_CASE("calibration: decoding GEMMs' FP8 throughput against rows is exact at DeepGEMM's rows, log-log between, streams weights below, flat above") {
  const CalibrationProfile p = h100_profile();
  REQUIRE(p.gemm_fp8_by_rows.size() == 6);
  CHECK(p.gemm_fp8_by_rows_source.find("DeepGEMM") != std::string::npos);
  // The README's rows: mean of N x K = 4096 x 7168 and 7168 x 2048 at each M.
  CHECK(fp8_gemm_flops_per_s_at_rows(p, 64) == doctest::Approx((287 + 295) / 2.0 * 1e12));
  CHECK(fp8_gemm_flops_per_s_at_rows(p, 512) == doctest::Approx((1040 + 916) / 2.0 * 1e12));
  CHECK(fp8_gemm_flops_per_s_at_rows(p, 4096) == doctest::Approx((1410 + 1168) / 2.0 * 1e12));
  // Halfway between 256 and 512 rows in log: the geometric mean of their throughputs.
  CHECK(fp8_gemm_flops_per_s_at_rows(p, std::sqrt(256.0 * 512.0)) == doctest::Approx(std::sqrt(873.5 * 978.0) * 1e12));
  // Below 64 rows the GEMM streams its weights at the 64-row bandwidth: throughput in proportion to M.
  CHECK(fp8_gemm_flops_per_s_at_rows(p, 1) == doctest::Approx(291e12 / 64));
  CHECK(fp8_gemm_flops_per_s_at_rows(p, 16384) == doctest::Approx(1289e12));
}

TEST_CASE("calibration: gemm_fp8_by_rows out of order, in FLOP/s instead of TFLOP/s, or without a source is refused naming the field") {
  const std::string full = test::data_text("hardware/calibration/h100-sxm-2026-11.yaml");
  const auto source = full.find("  source: \"deepseek-ai/DeepGEMM");
  REQUIRE(source != std::string::npos);
  const std::string source_line = full.substr(source, full.find('\n', source) - source);
  const std::vector<std::tuple<std::string, std::string, std::string>> edits = {
      {"- [128, 521.5]", "- [32, 521.5]", "by increasing M"},
      {"- [4096, 1289]", "- [4096, 1.289e15]", "TFLOP/s"},
      {source_line, "  source: \"\"", "a source is required"},
      {source_line, "", "missing required key 'source'"}};
  for (const auto& edit : edits) {
    const std::string& from = std::get<0>(edit);
    const std::string& to = std::get<1>(edit);
    CAPTURE(to);
    std::string bad = full;
    REQUIRE(bad.find(from) != std::string::npos);
    bad.replace(bad.find(from), from.size(), to);
    CHECK_THROWS_WITH_AS(load_calibration(YamlNode::load_string(bad, "rows.yaml")),
                         doctest::Contains(std::get<2>(edit).c_str()), InputError);
  }
}
