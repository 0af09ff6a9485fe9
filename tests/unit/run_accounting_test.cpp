// Whole-run accounting: reliability (Young/Daly), costs, energy, programme, sensitivity, and bad
// values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "gpuhours/run.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/sensitivity.hpp"
#include "gpuhours/step.hpp"
#include "test_util.hpp"

using namespace gpuhours;

using test::preset;

TEST_CASE("run: the Young/Daly interval and the expected lost work match the closed form") {
  Scenario s = preset("llama-3-8b-8gpu-dp");
  s.reliability.interruptions_per_gpu_hour = 1e-3;
  s.reliability.checkpoint_write_bytes_per_s_per_node = 1e9;
  s.reliability.restart_seconds = 300;
  const double P = static_cast<double>(count_params(s.model).total);
  const double d = P * 14 / 1e9;            // BF16 weights + FP32 master and moments, one node at 1 GB/s
  const double M = 3600.0 / (1e-3 * 8);     // cluster mean time between interruptions: 450,000 s
  const double tau = std::sqrt(2 * d * M);  // Young 1974
  const double lost = tau / 2 + d + 300;    // per interruption: half an interval, restore, restart
  const double goodput = 1 / ((1 + d / tau) / (1 - lost / M));
  const ReliabilityResult r = reliability(s, 1000.0);
  CHECK(r.checkpoint_seconds == doctest::Approx(d));
  CHECK(r.interval_seconds == doctest::Approx(tau));
  CHECK(r.mtbi_hours == doctest::Approx(125.0));
  CHECK(r.goodput == doctest::Approx(goodput));
  CHECK(r.interruptions == doctest::Approx(1000.0 / goodput * 1e-3));
}

TEST_CASE("run: goodput falls as the GPU count grows at a fixed per-GPU failure rate") {
  Scenario s = preset("llama-3-405b");
  double previous = 1.0;
  for (int nodes : {128, 512, 2048, 8192}) {
    s.cluster.nodes = nodes;
    const ReliabilityResult r = reliability(s, 1e6);
    CAPTURE(nodes);
    CHECK(r.goodput < previous);
    previous = r.goodput;
  }
  CHECK(previous > 0.5);
}

TEST_CASE("run: owned-cluster cost per GPU-hour follows Epoch AI's method by hand") {
  const Scenario s = preset("h100-1gpu-llama-1b");
  RunResult run;
  run.gpu_hours = 1000;
  const double kw = 0.7 * 0.75 * 1.82 * 1.25;
  CHECK(facility_kw_per_gpu(s) == doctest::Approx(kw));
  const CostResult c = price(s, run);
  // $31,905 x 1.64 server overhead x 0.322 / 8,766 h; interconnect 19% of the cluster; energy at $0.0826/kWh.
  const double hw = 31905 * 1.64 * 0.322 / 8766;
  const double expected = hw + hw * 0.19 / 0.81 + kw * 0.0826;
  CHECK(c.owned_usd_per_gpu_hour == doctest::Approx(expected));
  CHECK(c.owned_usd == doctest::Approx(1000 * expected));
  CHECK(c.rental_usd == 2000);
  CHECK(c.rental_presets_usd.at("hyperscaler-on-demand") == doctest::Approx(6880));
}

TEST_CASE("run: the whole programme next to the final run") {
  Scenario s = preset("h100-1gpu-llama-1b");
  s.cost.programme = ProgrammeSpec{3.0, {{"ablations", 500.0}}, "test", std::nullopt, ""};
  RunResult run;
  run.gpu_hours = 1000;
  const CostResult c = price(s, run);
  CHECK(c.programme_gpu_hours == 3500);
  CHECK(c.programme_usd == 7000);
  CHECK_FALSE(c.programme_gpu_hours_range);
  // A published range of multipliers gives the programme's range; the listed items stay fixed.
  s.cost.programme->range = std::pair{2.0, 5.0};
  const CostResult r = price(s, run);
  REQUIRE(r.programme_gpu_hours_range);
  CHECK(r.programme_gpu_hours_range->first == 2500);
  CHECK(r.programme_gpu_hours_range->second == 5500);
}

TEST_CASE("run: an owned fleet's yearly cost is its financed capex and a year of its energy") {
  Scenario s = preset("h100-1gpu-llama-1b");
  s.cost.fleet = FleetSpec{1000, 30e6, "test"};
  const OwnedCostSpec& o = s.cost.owned;
  const CostResult c = price(s, RunResult{});
  REQUIRE(c.fleet_usd_per_year);
  // By hand: 30M x (amortisation + cost of capital) + 1000 GPUs x facility kW x 8766 h x $/kWh.
  const double energy = 1000 * facility_kw_per_gpu(s) * 8766 * o.electricity_usd_per_kwh;
  CHECK(*c.fleet_usd_per_year == doctest::Approx(30e6 * (o.amortisation_per_year + o.cost_of_capital_per_year) + energy));
  CHECK(energy > 0);
  CHECK(*c.fleet_usd_per_year > 30e6 * o.amortisation_per_year);
}

TEST_CASE("run: sensitivity moves GPU-hours the way each input pushes") {
  const Scenario s = preset("llama-3-8b-8gpu-dp");
  const RunResult base = account_run(s, simulate_phases(s, simulate_step(s)));
  const auto rows = sensitivity(s, base);
  bool kernel = false, price = false, spread = false, clocks = false;
  for (const auto& r : rows) {
    if (r.input == "GPU speed spread") {  // 8 GPUs: +3.0% compute at 2.1%, +1.5% halved, +6.0% doubled
      spread = true;
      CHECK(r.gpu_hours_low < base.gpu_hours);
      CHECK(r.gpu_hours_high > base.gpu_hours);
      CHECK(r.gpu_hours_high / base.gpu_hours < 1.031);
      CHECK_FALSE(r.switch_only);
    }
    if (r.input == "clocks") {  // burst clocks are faster; the base runs sustained
      clocks = true;
      CHECK(r.gpu_hours_low < base.gpu_hours);
      CHECK(r.gpu_hours_high == base.gpu_hours);
      CHECK(r.switch_only);
    }
    if (r.input == "kernel time") {
      kernel = true;
      CHECK(r.gpu_hours_high > base.gpu_hours);
      CHECK(r.gpu_hours_low < base.gpu_hours);
      CHECK(r.gpu_hours_high / base.gpu_hours < 1.16);
    }
    if (r.input == "rental price") {
      price = true;
      CHECK(r.gpu_hours_low == base.gpu_hours);
      CHECK(r.cost_high > r.cost_low);
    }
  }
  CHECK(kernel);
  CHECK(price);
  CHECK(spread);
  CHECK(clocks);
}

TEST_CASE("run: a sensitivity end that does not fit in memory stops where the layout still fits, and says so") {
  // DeepSeek-V3's layout with FP32 gradients (its preset) and a short batch: the hot expert rank's
  // activations at the range's 1.3 do not fit in 80 GB.
  Scenario s = preset("deepseek-v3-claim");
  s.training.phases.clear();
  s.training.batch_ramp.reset();
  s.training.global_batch = 4096;
  const RunResult base = account_run(s, simulate_phases(s, simulate_step(s)));
  const auto rows = sensitivity(s, base);
  const auto row = std::find_if(rows.begin(), rows.end(), [](const SensitivityRow& r) { return r.input == "expert load imbalance"; });
  REQUIRE(row != rows.end());
  CHECK(row->low == "1.0");
  REQUIRE(row->notes.size() == 1);
  CHECK(row->notes[0].find("at 1.3 does not fit (out of memory") != std::string::npos);
  const double end = std::stod(row->high);
  CHECK(end > expert_imbalance(s));
  CHECK(end < 1.3);
  CHECK(row->gpu_hours_high > base.gpu_hours);
  // The stated end fits; a hundredth more does not.
  s.parallel.expert_imbalance = end;
  CHECK_NOTHROW(plan_memory(s));
  s.parallel.expert_imbalance = end + 0.01;
  CHECK_THROWS_AS(plan_memory(s), InfeasibleLayout);
}

TEST_CASE("run: bad values are rejected with their field") {
  struct Case {
    std::string from, to, expect;
  };
  const Case cases[] = {
      {"cost: {gpu_hour_usd: 2.5}", "cost: {gpu_hour_usd: -2}", "field 'cost.gpu_hour_usd': must not be negative"},
      {"cost: {gpu_hour_usd: 2.5}", "cost: {gpu_hour_usd: 2.5, owned: {pue: 0.9}}", "a PUE is at least 1"},
      {"cost: {gpu_hour_usd: 2.5}", "cost: {gpu_hour_usd: 2.5}\nreliability: {interruptions_per_gpu_hour: -1}",
       "a failure rate cannot be negative"},
      {"  tokens: 1e9", "  tokens: 1e9\n  phases:\n    - {name: sft, tokens: 0}", "field 'training.phases[0].tokens': must be greater than zero"},
  };
  int i = 0;
  for (const Case& c : cases) {
    CAPTURE(c.to);
    const auto r = test::cli({"run", test::write_temp("badrun" + std::to_string(i++) + ".yaml", test::variant(c.from, c.to))});
    CHECK(r.code == 1);
    CHECK(r.err.find(c.expect) != std::string::npos);
  }
}

TEST_CASE("run: the run's MFU is the step's for one phase, and FLOP-weighted over phases") {
  Scenario s = preset("llama-3-8b-8gpu-dp");
  const StepResult step = simulate_step(s);
  const RunResult one = account_run(s, simulate_phases(s, step));
  CHECK(one.mfu == doctest::Approx(step.mfu));
  // DeepSeek-V3: four batch-ramp phases and the main pre-training at 4K, then the 32K and 128K
  // extensions (simulated), and the reported post-training (not). Each simulated phase runs
  // steps = tokens / (seq_len x global_batch) steps of `step_seconds` on `gpus` GPUs,
  // so its GPU-seconds at the H800's FP8 peak (1,979 TFLOP/s) are steps x step_seconds x gpus x
  // peak, and the run's MFU is the model FLOPs over their sum: a FLOP-weighted harmonic mean of the
  // phases' MFUs (which never enters this sum). It lies strictly between the phases' least and
  // greatest MFU; the main phase's is the main step's own, and the others' are lower (smaller
  // batches leave more of the pipeline idle, longer sequences add attention per token),
  // so the run's MFU is strictly below the main step's.
  const Scenario v3 = preset("deepseek-v3-claim");
  const StepResult main_step = simulate_step(v3);
  const RunResult run = account_run(v3, simulate_phases(v3, main_step));
  double flops = 0, peak_seconds = 0, lowest = 1, highest = 0;
  int simulated = 0;
  for (const PhaseResult& p : run.phases) {
    if (!p.simulated) continue;
    ++simulated;
    CHECK(p.steps == doctest::Approx(p.tokens / (static_cast<double>(p.seq_len) * static_cast<double>(p.global_batch))).epsilon(1e-12));
    flops += p.model_flops;
    peak_seconds += p.steps * p.step_seconds * p.gpus * 1979e12;
    // Each phase's MFU from its own figures: FLOPs over its GPU-seconds at the peak.
    CHECK(p.mfu == doctest::Approx(p.model_flops / (p.steps * p.step_seconds * p.gpus * 1979e12)).epsilon(1e-12));
    lowest = std::min(lowest, p.mfu);
    highest = std::max(highest, p.mfu);
    if (p.name == "main") {
      CHECK(p.mfu == main_step.mfu);
      CHECK(p.model_flops == p.tokens * main_step.model_flops_per_token);
    } else {
      CHECK(p.mfu < main_step.mfu);
    }
  }
  CHECK(simulated == 7);
  CHECK(run.mfu == doctest::Approx(flops / peak_seconds).epsilon(1e-12));
  CHECK(run.mfu > lowest);
  CHECK(run.mfu < highest);
  CHECK(highest == main_step.mfu);
}
