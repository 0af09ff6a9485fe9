#include "gpuhours/cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>
#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <ostream>

#include <nlohmann/json.hpp>

#include "gpuhours/check.hpp"
#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/validation.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/topology.hpp"
#include "gpuhours/report.hpp"
#include "gpuhours/serve_report.hpp"
#include "gpuhours/units.hpp"
#include "gpuhours/trace.hpp"
#include "gpuhours/simulated_run.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/sweep.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace {

void write_sensitivity(const Scenario& s, const RunResult& base, std::ostream& out) {
  out << "\nSensitivity: GPU-hours and cost with each uncertain input at the ends of its range\n";
  out << fmt::format("  {:<24}{:>10}{:>10}{:>16}{:>16}{:>16}{:>16}\n", "input", "low", "high", "GPU-h (low)",
                     "GPU-h (high)", "USD (low)", "USD (high)");
  const std::vector<SensitivityRow> rows = sensitivity(s, base);
  for (const SensitivityRow& r : rows)
    out << fmt::format("  {:<24}{:>10}{:>10}{:>+15.1f}%{:>+15.1f}%{:>+15.1f}%{:>+15.1f}%\n", r.input, r.low.substr(0, 9),
                       r.high.substr(0, 9), 100 * (r.gpu_hours_low / base.gpu_hours - 1),
                       100 * (r.gpu_hours_high / base.gpu_hours - 1), 100 * (r.cost_low / base.cost_usd - 1),
                       100 * (r.cost_high / base.cost_usd - 1));
  for (const SensitivityRow& r : rows)
    for (const std::string& note : r.notes) out << "  - " << note << "\n";
}

// The step on an ideal cluster (every GPU at the mean speed, every kernel at its mean time) next to
// this one's, for --explain.
void write_straggler_cost(const Scenario& s, const StepResult& step, std::ostream& out) {
  if (!s.cluster.stragglers || s.cluster.gpus() < 2) return;
  Scenario ideal = s;
  ideal.cluster.stragglers = false;
  ideal.cluster.jitter = false;
  const double ideal_seconds = simulate_step(ideal).seconds;
  out << fmt::format("\nStragglers: the step takes {:.3f} s waiting for the slowest of {} GPUs, {:.3f} s on an ideal cluster "
                     "({:+.1f}%; stragglers: false, jitter: false)\n",
                     step.seconds, s.cluster.gpus(), ideal_seconds, 100 * (step.seconds / ideal_seconds - 1));
}

// Writes an HTML report to `path` with `write`; a file that cannot be written is bad input.
template <class Write>
void write_html_file(const std::string& path, Write write) {
  std::ofstream f(path);
  if (!f) throw InputError(path + ": cannot write the HTML report");
  write(f);
  if (!f.flush()) throw InputError(path + ": the HTML report could not be written (disk full?)");
}

int cmd_run(const Catalog& catalog, const std::string& scenario, const std::string& format,
            const std::string& trace_path, const std::string& html, bool explain, bool sens, std::ostream& out) {
  const Scenario s = load_scenario(scenario, catalog);
  std::ofstream trace;
  if (!trace_path.empty()) {
    trace.open(trace_path);
    if (!trace) throw InputError(trace_path + ": cannot write the trace file");
  }
  TraceSink sink;
  if (!trace_path.empty())
    sink = [&trace](const Engine& e, const std::vector<std::string>& names, const std::vector<std::string>& assumptions) {
      write_chrome_trace(e, names, trace, assumptions);
    };
  const SimulatedRun simulated = simulate_run(s, sink);
  const StepResult& step = simulated.step;
  const RunResult& run = simulated.run;
  if (!trace_path.empty() && !trace.flush()) throw InputError(trace_path + ": the trace could not be written (disk full?)");
  const ClaimResult claim = check_claim(s, run);
  const Report report{s, step, run, claim};
  if (!html.empty()) write_html_file(html, [&](std::ostream& f) { write_html(s, step, run, f); });
  if (format == "json") write_json(report, out);
  else if (format == "csv") write_csv(report, out);
  else write_terminal(report, out);
  if (explain) {
    write_explain(report, out);
    write_straggler_cost(s, step, out);
  }
  if (sens) write_sensitivity(s, run, out);
  return 0;
}

int cmd_serve(const Catalog& catalog, const std::string& scenario, const std::string& format, const std::string& html,
              bool slo, bool layouts, bool max_rate, std::ostream& out) {
  const ServingScenario s = load_serving(scenario, catalog);
  if (max_rate) {
    std::vector<MaxRate> rates;
    for (const Deployment& d : s.deployments) rates.push_back(max_rate_within_slo(s, d));
    if (format == "json") out << max_rate_json(s, rates).dump(2) << "\n";
    else write_max_rate_terminal(s, rates, out);
    return 0;
  }
  if (slo) {
    const std::vector<SloChoice> choices = search_slo(s, layouts);
    if (format == "json") out << slo_json(s, choices).dump(2) << "\n";
    else write_slo_terminal(s, choices, out);
    return 0;
  }
  const ServeResult r = simulate_serving(s);
  if (!html.empty()) write_html_file(html, [&](std::ostream& f) { write_serve_html(s, r, f); });
  if (format == "json") out << serve_json(s, r).dump(2) << "\n";
  else if (format == "csv") write_serve_csv(r, out);
  else write_serve_terminal(s, r, out);
  return 0;
}

struct CollectiveArgs {
  std::string gpu = "h100-sxm", network, op = "allreduce", bytes = "1GiB", algorithm = "auto";
  int nodes = 1, gpus_per_node = 8, top_k = 8, max_nodes = 4;
  bool json = false;
};

double parse_size(const std::string& text) {
  std::string t = text;
  if (!t.empty() && std::isdigit(static_cast<unsigned char>(t.back()))) t += " B";
  try {
    const double v = parse_quantity(t, Dimension::bytes);
    if (v <= 0) throw std::invalid_argument("");
    return v;
  } catch (const std::invalid_argument&) {
    throw InputError("--bytes: expected a size like 1GiB or 256MB, got \"" + text + "\"");
  }
}

int cmd_collective(const Catalog& catalog, const CollectiveArgs& a, std::ostream& out) {
  ClusterSpec c;
  c.gpu = load_gpu_preset(a.gpu, catalog);
  c.nodes = a.nodes;
  c.gpus_per_node = a.gpus_per_node;
  const std::string net_name = a.network.empty() ? (a.nodes > 1 ? "ib-ndr-rail-fat-tree" : "nvswitch-node") : a.network;
  c.network = load_network_preset(net_name, catalog);
  const double bytes = parse_size(a.bytes);
  const CollectiveKind kind = parse_collective_kind(a.op);
  const Algorithm algo = parse_algorithm(a.algorithm);
  if (kind == CollectiveKind::point_to_point && c.gpus() < 2) throw InputError("sendrecv needs two GPUs");
  const Topology topo = Topology::build(c);
  const MoeRouting moe{a.top_k, a.max_nodes};
  const CollectiveResult r = simulate_collective(kind, algo, bytes, topo, c, moe);
  const bool moe_op = kind == CollectiveKind::dispatch || kind == CollectiveKind::combine;
  if (a.json) {
    nlohmann::ordered_json j = {{"op", to_string(kind)},         {"algorithm", to_string(r.algorithm)},
                                {"gpu", c.gpu.name},             {"network", c.network.name},
                                {"nodes", c.nodes},              {"gpus_per_node", c.gpus_per_node},
                                {"bytes", bytes},                {"seconds", r.time.seconds()},
                                {"algbw_bytes_per_s", r.algbw_bytes_per_s},
                                {"busbw_bytes_per_s", r.busbw_bytes_per_s}};
    if (moe_op) j["deepep_bandwidth_bytes_per_s"] = r.deepep_bandwidth_bytes_per_s;
    if (!r.protocol.empty()) j["protocol"] = r.protocol;
    out << j.dump(1) << "\n";
    return 0;
  }
  out << fmt::format("{} of {} over {} x {} GPUs ({}, {} algorithm{}{})\n", to_string(kind), a.bytes, c.nodes,
                     c.gpus_per_node, c.network.title, to_string(r.algorithm),
                     r.protocol.empty() ? "" : fmt::format(", NCCL {} protocol", r.protocol),
                     moe_op ? fmt::format(", top-{} over at most {} nodes", a.top_k, a.max_nodes) : "");
  out << fmt::format("  {:<10}{:>12.3f} us\n", "time", r.time.seconds() * 1e6);
  out << fmt::format("  {:<10}{:>12.2f} GB/s   (bytes / time)\n", "algbw", r.algbw_bytes_per_s / 1e9);
  if (moe_op)
    out << fmt::format("  {:<10}{:>12.2f} GB/s   (DeepEP bottleneck: {} bytes / time)\n", "bottleneck",
                       r.deepep_bandwidth_bytes_per_s / 1e9,
                       c.nodes > 1 ? "RDMA, own node included," : "NVLink received");
  else
    out << fmt::format("  {:<10}{:>12.2f} GB/s   (nccl-tests bus bandwidth)\n", "busbw", r.busbw_bytes_per_s / 1e9);
  return 0;
}

// Unique GEMM shapes of one rank's step (forward, input- and weight-gradient), for `gpuhours bench`.
int cmd_shapes(const Catalog& catalog, const std::string& scenario, std::ostream& out) {
  const Scenario s = load_scenario(scenario, catalog);
  const OpGraph g = scenario_op_graph(s);
  std::map<std::tuple<std::string, int, std::int64_t, std::int64_t, std::int64_t>, std::string> shapes;
  auto add = [&](const Kernel& k, const std::string& name) {
    if (k.kind != OpKind::gemm || k.m <= 0) return;
    shapes.try_emplace({to_string(k.fp8 ? Precision::fp8 : Precision::bf16), k.groups, k.m, k.n, k.k}, name);
  };
  for (const std::vector<Op>* ops : g.lists())
    for (const Op& op : *ops) {
      add(op.forward, op.name);
      for (std::size_t i = 0; i < op.backward.size(); ++i) add(op.backward[i], op.name + (i == 0 ? " dgrad" : " wgrad"));
    }
  out << "# dtype groups M N K op   (C[MxN] = A[MxK] B[KxN]; groups > 1: grouped GEMM)\n";
  for (const auto& [key, name] : shapes) {
    const auto& [dtype, groups, m, n, k] = key;
    out << dtype << " " << groups << " " << m << " " << n << " " << k << " " << name << "\n";
  }
  return 0;
}

int cmd_check(const Catalog& catalog, const std::string& scenario, bool json, const std::string& html,
              std::uint64_t seed, int samples, std::ostream& out) {
  const Scenario s = load_scenario(scenario, catalog);
  const CheckResult c = check_scenario(s, catalog, seed, samples);
  const Report report{s, c.step, c.run, c.claim};
  if (!html.empty()) write_html_file(html, [&](std::ostream& f) { write_html(s, c, f); });
  if (json) {
    nlohmann::ordered_json j = report_json(report);
    j["claim"]["range"] = {{"p10", c.gpu_hours.p10}, {"p50", c.gpu_hours.p50}, {"p90", c.gpu_hours.p90}};
    j["claim"]["cost_range_usd"] = {{"p10", c.cost_usd.p10}, {"p50", c.cost_usd.p50}, {"p90", c.cost_usd.p90}};
    if (!c.counterfactual) {  // what the claim requires: a counterfactual has no claim of its own
      j["claim"]["required_tokens_per_gpu_second"] = c.required_tokens_per_gpu_second;
      j["claim"]["best_published_mfu"] = c.best_published_mfu;
      j["claim"]["best_published"] = c.best_published_what;
      j["claim"]["dominant_phase"] = {{"name", c.dominant_phase}, {"share", c.dominant_share}};
    }
    j["claim"]["verdict"] = c.verdict;
    j["claim"]["verdict_category"] = name_of(c.category);
    j["claim"]["range_varies"] = c.range_inputs;
    if (c.cost_at_claim_price)
      j["claim"]["cost_at_claim_price"] = {{"usd_per_gpu_hour", c.cost_at_claim_price->usd_per_gpu_hour},
                                           {"claimed_usd", c.cost_at_claim_price->claimed_usd},
                                           {"simulated_usd", c.cost_at_claim_price->simulated_usd}};
    if (c.counterfactual)
      j["counterfactual_of"] = {{"scenario", c.counterfactual->name},
                                {"title", c.counterfactual->title},
                                {"gpu_hours", c.counterfactual->gpu_hours},
                                {"baseline_simulated_gpu_hours", c.counterfactual->simulated_gpu_hours},
                                {"ratio", c.counterfactual->gpu_hours / c.counterfactual->simulated_gpu_hours},
                                {"baseline_step_seconds", c.counterfactual->step_seconds},
                                {"baseline_mfu", c.counterfactual->mfu},
                                {"baseline_rental_usd", c.counterfactual->cost_usd},
                                {"baseline_claimed_gpu_hours", c.counterfactual->claimed_gpu_hours
                                                                   ? nlohmann::ordered_json(*c.counterfactual->claimed_gpu_hours)
                                                                   : nlohmann::ordered_json()}};
    j["claim"]["reasons"] = c.reasons;
    j["claim"]["monte_carlo"] = {{"samples", c.samples}, {"seed", c.seed}};
    if (c.baseline)
      j["claim"]["baseline"] = {{"scenario", c.baseline->name},
                                {"claimed_gpu_hours", c.baseline->claimed_gpu_hours},
                                {"simulated_gpu_hours", c.baseline->simulated_gpu_hours},
                                {"claimed_saving", c.baseline->claimed_saving},
                                {"simulated_saving", c.baseline->simulated_saving},
                                {"dominant_phase", c.baseline->dominant_phase}};
    out << j.dump(1) << "\n";
    return 0;
  }
  out << c.verdict << "\n";
  for (const auto& r : c.reasons) out << "  " << r << "\n";
  out << "\n";
  write_terminal(report, out);
  out << fmt::format("\nSimulated range ({} samples, seed {}): GPU-hours P10 {:.0f}, P50 {:.0f}, P90 {:.0f}; cost P10 ${:.0f}, "
                     "P50 ${:.0f}, P90 ${:.0f}\n  varying {}\n",
                     c.samples, c.seed, c.gpu_hours.p10, c.gpu_hours.p50, c.gpu_hours.p90, c.cost_usd.p10, c.cost_usd.p50,
                     c.cost_usd.p90, c.range_inputs);
  return 0;
}

// One row per scenario, full names and grouped digits; with a baseline, ratio columns against
// it; a claim column where a scenario claims GPU-hours (claimed / simulated).
int cmd_compare(const Catalog& catalog, const std::vector<std::string>& names, const std::string& baseline,
                const std::string& html, std::ostream& out) {
  struct Row {
    std::string name;
    int gpus = 0;
    RunResult run;
    std::optional<double> claimed;
  };
  std::vector<Row> rows;
  auto simulate = [&](const std::string& name) {
    const Scenario s = load_scenario(name, catalog);
    Row r{s.name, s.cluster.gpus(), simulate_run(s).run, std::nullopt};
    if (s.claim && s.claim->gpu_hours) r.claimed = *s.claim->gpu_hours;
    return r;
  };
  for (const auto& name : names) rows.push_back(simulate(name));
  std::optional<Row> base;
  if (!baseline.empty()) {
    const auto it = std::find(names.begin(), names.end(), baseline);
    base = it != names.end() ? rows[static_cast<std::size_t>(it - names.begin())] : simulate(baseline);
  }
  std::size_t width = std::string("scenario").size();
  for (const Row& r : rows) width = std::max(width, r.name.size());
  out << fmt::format("{:<{}}  {:>7}{:>14}{}{:>9}{:>14}{}{:>14}{:>7}{:>10}{:>16}{:>10}\n", "scenario", width, "GPUs", "GPU-hours",
                     base ? fmt::format("{:>8}", "x base") : "", "days", "rental USD", base ? fmt::format("{:>8}", "x base") : "",
                     "owned USD", "MFU", "MWh", "claimed GPU-h", "claim/sim");
  for (const Row& r : rows) {
    auto ratio = [&](double v, double b) { return base ? fmt::format("{:>8.2f}", v / b) : std::string(); };
    out << fmt::format("{:<{}}  {:>7}{:>14}{}{:>9.1f}{:>14}{}{:>14}{:>6.1f}%{:>10}{:>16}{:>10}\n", r.name, width, grouped(r.gpus),
                       grouped(r.run.gpu_hours), base ? ratio(r.run.gpu_hours, base->run.gpu_hours) : "", r.run.wall_clock_days,
                       grouped(r.run.costs.rental_usd), base ? ratio(r.run.costs.rental_usd, base->run.costs.rental_usd) : "",
                       grouped(r.run.costs.owned_usd), 100 * r.run.mfu, grouped(r.run.energy_mwh),
                       r.claimed ? grouped(*r.claimed) : "-", r.claimed ? fmt::format("{:.2f}", *r.claimed / r.run.gpu_hours) : "-");
  }
  if (base) out << "x base: the scenario's figure / " << base->name << "'s; ";
  out << "claim/sim: claimed / simulated GPU-hours; GPU-hours include every simulated phase and interruptions\n";
  if (!html.empty()) {
    TablePage t;
    t.title = "gpuhours compare: " + std::to_string(rows.size()) + " scenarios";
    const auto lowest = std::min_element(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.run.gpu_hours < b.run.gpu_hours; });
    t.headline = fmt::format("{} needs the fewest GPU-hours: {} ({} days, ${} at its price){}.", lowest->name,
                             three_figures(lowest->run.gpu_hours), three_figures(lowest->run.wall_clock_days),
                             three_figures(lowest->run.costs.rental_usd),
                             base ? fmt::format("; ratios are against {}", base->name) : "");
    t.chart_title = "GPU-hours by scenario";
    t.bar_unit = "GPU-hours";
    t.header = {"scenario", "GPUs", "GPU-hours", "days", "rental USD", "owned USD", "MFU", "claimed GPU-hours", "claim / simulated"};
    if (base) t.header.insert(t.header.begin() + 3, "x base");
    for (const Row& r : rows) {
      t.bars.emplace_back(r.name, r.run.gpu_hours);
      std::vector<std::string> row = {r.name, grouped(r.gpus), grouped(r.run.gpu_hours), fmt::format("{:.1f}", r.run.wall_clock_days),
                                      grouped(r.run.costs.rental_usd), grouped(r.run.costs.owned_usd),
                                      fmt::format("{:.1f}%", 100 * r.run.mfu), r.claimed ? grouped(*r.claimed) : "-",
                                      r.claimed ? fmt::format("{:.2f}", *r.claimed / r.run.gpu_hours) : "-"};
      if (base) row.insert(row.begin() + 3, fmt::format("{:.2f}", r.run.gpu_hours / base->run.gpu_hours));
      t.rows.push_back(std::move(row));
    }
    t.notes = {"GPU-hours include every simulated phase of each scenario and its interruptions.",
               "Rental USD is at each scenario's own price per GPU-hour."};
    t.terms = {"GPU-hour", "MFU", "owned cluster (Epoch method)", "claim / simulated"};
    write_html_file(html, [&](std::ostream& f) { write_table_html(t, f); });
  }
  return 0;
}

int cmd_validate(const Catalog& catalog, bool json, std::ostream& out) {
  const ValidationReport rep = run_validation(catalog, catalog.root() + "/tests/validation");
  auto limits_json = [](const ValidationLimits& l) {
    return nlohmann::ordered_json{{"mean", l.mean}, {"group", l.group}, {"any_case", l.any_case}};
  };
  if (json) {
    nlohmann::ordered_json j;
    j["cases"] = nlohmann::ordered_json::array();
    for (const auto& c : rep.cases) {
      nlohmann::ordered_json jc = {{"id", c.id}, {"hardware", c.hardware}, {"group", c.group()}, {"metric", c.metric},
                                   {"reported", c.reported}, {"simulated", c.simulated}, {"error", c.error()}, {"source", c.source}};
      if (!c.tracking.empty()) jc["tracking"] = c.tracking;
      if (!c.excluded.empty()) jc["excluded"] = c.excluded;
      j["cases"].push_back(jc);
    }
    j["mape_by_hardware"] = rep.all.mape_by_hardware;
    j["mape_by_group"] = rep.all.mape_by_group;
    j["mape"] = rep.all.mape;
    j["worst_abs_error"] = rep.all.worst;
    j["gated"] = {{"cases", rep.gated.cases}, {"mape", rep.gated.mape}, {"worst_abs_error", rep.gated.worst},
                  {"mape_by_group", rep.gated.mape_by_group}};
    j["gate_limits"] = limits_json(kValidationGate);
    j["target_limits"] = limits_json(kValidationTarget);
    j["serving"] = {{"cases", rep.serving.cases}, {"gated_cases", rep.serving_gated.cases}, {"mape_by_group", rep.serving.mape_by_group},
                    {"limits", {{"throughput", kServingLimits.throughput}, {"latency", kServingLimits.latency}}},
                    {"passed", rep.serving_passed()}};
    j["passed"] = rep.passed();
    j["meets_target"] = rep.all.within(kValidationTarget);
    out << j.dump(1) << "\n";
  } else {
    out << fmt::format("{:<42}{:>9}{:>30}{:>13}{:>13}{:>9}\n", "case", "hardware", "figure", "reported", "simulated", "error");
    for (const auto& c : rep.cases)
      out << fmt::format("{:<42}{:>9}{:>30}{:>13.4g}{:>13.4g}{:>+8.1f}%{}\n", c.id, c.hardware, c.metric, c.reported,
                         c.simulated, 100 * c.error(),
                         !c.excluded.empty() ? "  (not in the MAPE)" : c.tracking.empty() ? "" : "  (not gated)");
    for (const auto& [hw, m] : rep.all.mape_by_hardware) out << fmt::format("MAPE {:<20}{:>6.1f}%\n", hw, 100 * m);
    for (const auto& [group, m] : rep.serving.mape_by_group)
      out << fmt::format("MAPE {:<20}{:>6.1f}%  (limit {:.0f}%)\n", group, 100 * m,
                         100 * (group.ends_with("latency") ? kServingLimits.latency : kServingLimits.throughput));
    for (const auto& [group, m] : rep.all.mape_by_group) out << fmt::format("MAPE {:<20}{:>6.1f}%\n", group, 100 * m);
    auto limits = [](const ValidationLimits& l) {
      return fmt::format("{:.0f}% mean, {:.0f}% any group, {:.0f}% any case", 100 * l.mean, 100 * l.group, 100 * l.any_case);
    };
    std::set<std::string> reasons;
    for (const auto& c : rep.cases)
      if (!c.tracking.empty()) reasons.insert(c.tracking);
    for (const auto& c : rep.cases)
      if (!c.excluded.empty()) out << "Not in the MAPE: " << c.id << ": " << c.excluded << "\n";
    if (rep.serving.cases > 0)
      out << fmt::format("Serving: {} cases ({} gated), worst {:.1f}%: {}\n", rep.serving.cases, rep.serving_gated.cases,
                         100 * rep.serving.worst,
                         within_serving_limits(rep.serving)
                             ? "within the serving limits"
                             : "OUTSIDE the serving limits (throughput 15%, latency 20%)");
    out << fmt::format("MAPE {:.1f}% over all {} training cases, worst {:.1f}%; target ({}): {}\n", 100 * rep.all.mape, rep.all.cases,
                       100 * rep.all.worst, limits(kValidationTarget), rep.all.within(kValidationTarget) ? "met" : "NOT MET");
    for (const auto& r : reasons) out << "Not gated: " << r << "\n";
    out << fmt::format("Gate over the {} gated training cases ({}): MAPE {:.1f}%, worst {:.1f}%; over the {} gated serving "
                       "cases (throughput {:.0f}%, latency {:.0f}%): {}\n",
                       rep.gated.cases, limits(kValidationGate), 100 * rep.gated.mape, 100 * rep.gated.worst,
                       rep.serving_gated.cases, 100 * kServingLimits.throughput, 100 * kServingLimits.latency,
                       rep.passed() ? "PASS" : "FAIL");
  }
  return rep.passed() ? 0 : 3;
}

std::string title_of(const std::string& path) {
  try {
    const YamlNode n = YamlNode::load_file(path);
    if (auto t = n.optional_child("title")) return t->as_string();
  } catch (const InputError& e) {
    return std::string("(unreadable: ") + e.what() + ")";
  }
  return "";
}

int cmd_list(const Catalog& catalog, std::ostream& out) {
  const std::pair<const char*, const char*> folders[6] = {{"scenarios", "Scenarios (gpuhours run NAME)"},
                                                         {"scenarios/serve", "Serving scenarios (gpuhours serve NAME)"},
                                                         {"models", "Models"},
                                                         {"hardware/gpus", "GPUs"},
                                                         {"hardware/nodes", "Nodes"},
                                                         {"hardware/networks", "Networks"}};
  for (const auto& [folder, heading] : folders) {
    out << heading << "\n";
    const auto names = catalog.names(folder);
    std::size_t width = 0;  // the longest name and two spaces: a name never runs into its title
    for (const auto& name : names) width = std::max(width, name.size() + 2);
    for (const auto& name : names)
      out << fmt::format("  {:<{}}{}\n", name, width, title_of(catalog.preset_path(folder, name)));
  }
  return 0;
}

struct SweepArgs {
  std::string scenario, shard, objective = "cost", output, html;
  std::vector<std::string> vary;
  double deadline_days = 0;
  int top = 10, threads = 0;
  bool json = false, csv = false, no_prune = false, no_cache = false;
};

int cmd_sweep(const Catalog& catalog, const SweepArgs& a, std::ostream& out, std::ostream& err, SweepComm* comm) {
  const Scenario s = load_scenario(a.scenario, catalog);
  SweepOptions o;
  for (const auto& v : a.vary) o.axes.push_back(parse_sweep_axis(v, catalog));
  if (std::isnan(a.deadline_days) || std::isinf(a.deadline_days))
    throw InputError("--deadline-days: a finite number of days, got " + fmt::format("{}", a.deadline_days));
  if (a.deadline_days > 0) o.deadline_days = a.deadline_days;
  o.top = a.top;
  o.objective = parse_objective(a.objective);
  o.threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.prune = !a.no_prune;
  o.cache = !a.no_cache;
  if (!a.shard.empty()) o.shard = parse_shard(a.shard);
  SweepComm single;
  SweepComm& c = comm ? *comm : single;
  // A progress bar on an interactive terminal (process 0 only).
  if (&err == &std::cerr && isatty(2) && c.rank() == 0)
    o.progress = [&err](std::int64_t done, std::int64_t total) {
      const int width = 40, filled = total > 0 ? static_cast<int>(width * done / total) : width;
      err << "\r[" << std::string(static_cast<std::size_t>(filled), '#') << std::string(static_cast<std::size_t>(width - filled), ' ')
          << "] " << done << "/" << total << " candidates" << std::flush;
      if (done == total) err << "\n";
    };
  const SweepResult r = run_sweep(s, catalog, o, c);
  if (c.rank() != 0) return 0;
  if (!a.html.empty() && !r.top.empty()) {
    TablePage t;
    t.title = "gpuhours sweep of " + r.scenario;
    const SweepPoint& best = r.top.front();
    std::string layout;
    for (std::size_t i = 0; i < r.keys.size(); ++i) layout += (i ? ", " : "") + r.keys[i] + " " + best.values[i];
    t.headline = fmt::format("Best of {} layouts by {}: {} on {} GPUs, {} GPU-hours, {} days, ${} (the main phase at its "
                             "final batch, interruptions included).",
                             grouped(static_cast<double>(r.grid)), r.objective, layout, grouped(best.gpus),
                             three_figures(best.gpu_hours), three_figures(best.days), three_figures(best.cost_usd));
    t.chart_title = "Rental cost of the best layouts";
    t.bar_unit = "USD";
    t.header = r.keys;
    for (const char* h : {"GPUs", "step s", "MFU", "GPU-hours", "days", "rental USD", "owned USD"}) t.header.emplace_back(h);
    for (const SweepPoint& p : r.top) {
      std::string name;
      for (std::size_t i = 0; i < r.keys.size(); ++i) name += (i ? " " : "") + r.keys[i] + "=" + p.values[i];
      t.bars.emplace_back(name, p.cost_usd);
      std::vector<std::string> row = p.values;
      for (std::string v : {grouped(p.gpus), fmt::format("{:.3f}", p.step_seconds), fmt::format("{:.1f}%", 100 * p.mfu),
                            grouped(p.gpu_hours), fmt::format("{:.1f}", p.days), grouped(p.cost_usd), grouped(p.owned_cost_usd)})
        row.push_back(std::move(v));
      t.rows.push_back(std::move(row));
    }
    t.notes = {std::string(kSweepCoverage) + ".",
               fmt::format("{} layouts rejected as infeasible, {} bounded, {} pruned by the bound, {} simulated.",
                           grouped(static_cast<double>(rejected_layouts(r))), grouped(static_cast<double>(r.bounded)),
                           grouped(static_cast<double>(r.pruned)), grouped(static_cast<double>(r.simulated)))};
    t.terms = {"GPU-hour", "MFU", "owned cluster (Epoch method)"};
    write_html_file(a.html, [&](std::ostream& f) { write_table_html(t, f); });
  }
  if (a.json) write_sweep_json(r, out);
  else if (a.csv) write_sweep_csv(r, out);
  else {
    write_sweep_terminal(r, out);
    out << fmt::format("\nchecks and bounds {:.1f} s, simulations {:.1f} s; op graphs and part times built {} times, reused {} "
                       "times (cache {}); {} thread(s) x {} process(es)\n",
                       r.check_seconds, r.simulate_seconds, r.shapes_built, r.shape_cache_hits, o.cache ? "on" : "off",
                       o.threads, c.size());
  }
  return 0;
}

int cmd_merge(const std::vector<std::string>& files, bool json, bool csv, std::ostream& out) {
  std::vector<SweepResult> shards;
  for (const auto& f : files) shards.push_back(read_sweep_json(f));
  const SweepResult r = merge_sweeps(shards);
  if (json) write_sweep_json(r, out);
  else if (csv) write_sweep_csv(r, out);
  else write_sweep_terminal(r, out);
  return 0;
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const std::string& data_dir, const std::string& bench_path, SweepComm* comm) {
  CLI::App app{"gpuhours: GPU-hours, days, dollars and energy to train a language model", "gpuhours"};
  app.require_subcommand(1);
  std::string root = data_dir;
  app.add_option("--data-dir", root, "folder holding models/, hardware/ and scenarios/");

  std::string scenario, trace_path;
  bool json = false, csv = false;
  CLI::App* run = app.add_subcommand("run", "simulate a scenario and report step and run figures");
  run->add_option("scenario", scenario, "scenario file or preset name")->required();
  auto* json_flag = run->add_flag("--json", json, "print the JSON contract");
  run->add_flag("--csv", csv, "print one CSV row")->excludes(json_flag);
  run->add_option("--trace", trace_path, "write a Chrome trace (Perfetto) of the simulated step");
  std::string run_html;
  run->add_option("--html", run_html, "write a self-contained HTML report");
  bool explain = false, sens = false;
  run->add_flag("--sensitivity", sens, "tornado table: GPU-hours and cost as each uncertain input moves over its range");
  run->add_flag("--explain", explain, "per stage: layers, parameters, FLOPs per token, memory; communication per collective");
  CLI::App* list = app.add_subcommand("list", "list preset scenarios, models, GPUs, nodes and networks");

  std::string check_scenario_name, html_path;
  bool check_json = false;
  std::uint64_t seed = 20250101;
  int samples = 10000;
  CLI::App* check = app.add_subcommand("check", "check the scenario's claim: simulated range, ratio, verdict, what must be true");
  check->add_option("scenario", check_scenario_name, "scenario file or preset name")->required();
  check->add_flag("--json", check_json, "print the JSON contract with the claim's range and verdict");
  check->add_option("--html", html_path, "write a self-contained HTML report");
  check->add_option("--seed", seed, "Monte Carlo seed")->capture_default_str();
  check->add_option("--samples", samples, "Monte Carlo samples")->capture_default_str()->check(CLI::Range(100, 10000000));
  std::vector<std::string> compare_names;
  CLI::App* compare = app.add_subcommand("compare", "one table across scenarios");
  compare->add_option("scenarios", compare_names, "scenario files or preset names")->required();
  std::string compare_baseline, compare_html;
  compare->add_option("--html", compare_html, "write a self-contained HTML report");
  compare->add_option("--baseline", compare_baseline, "a scenario (one of those compared, or another) to give ratios against");

  std::vector<std::string> bench_args;
  CLI::App* bench = app.add_subcommand("bench", "measure kernel times on the local GPU (CUDA build only): "
                                                 "gpuhours bench [--shapes FILE] [--sustained-seconds S] OUT.json");
  bench->allow_extras();

  bool validate_json = false;
  CLI::App* validate = app.add_subcommand("validate", "simulate the published and measured runs of tests/validation; exit 0 within the limits");
  validate->add_flag("--json", validate_json, "print JSON");

  std::string shapes_scenario;
  CLI::App* shapes = app.add_subcommand("shapes", "list the GEMM shapes of a scenario's step (input to the kernel benchmark)");
  shapes->add_option("scenario", shapes_scenario, "scenario file or preset name")->required();

  CollectiveArgs ca;
  CLI::App* coll = app.add_subcommand("collective", "time one collective on an idle cluster (nccl-tests style)");
  coll->add_option("--gpu", ca.gpu, "GPU preset")->capture_default_str();
  coll->add_option("--nodes", ca.nodes, "nodes")->capture_default_str()->check(CLI::PositiveNumber);
  coll->add_option("--gpus-per-node", ca.gpus_per_node, "GPUs per node")->capture_default_str()->check(CLI::PositiveNumber);
  coll->add_option("--network", ca.network, "network preset (default: nvswitch-node for one node, else ib-ndr-rail-fat-tree)");
  coll->add_option("--op", ca.op, "allreduce|allgather|reducescatter|alltoall|sendrecv|dispatch|combine")->capture_default_str();
  coll->add_option("--bytes", ca.bytes, "buffer size per GPU (dispatch/combine: token bytes sent per GPU)")->capture_default_str();
  coll->add_option("--algo", ca.algorithm, "auto|ring|tree|nvls|direct|deepep|p2p")->capture_default_str();
  coll->add_option("--topk", ca.top_k, "dispatch/combine: experts per token")->capture_default_str()->check(CLI::PositiveNumber);
  coll->add_option("--max-nodes", ca.max_nodes, "dispatch/combine: nodes a token may reach")->capture_default_str()->check(CLI::PositiveNumber);
  coll->add_flag("--json", ca.json, "print JSON");

  SweepArgs sw;
  CLI::App* sweep = app.add_subcommand("sweep", "search layouts and cluster sizes: best K and the Pareto front of days against cost");
  sweep->add_option("scenario", sw.scenario, "scenario file or preset name")->required();
  sweep->add_option("--vary", sw.vary, "KEY=V1,V2,... (keys: tp pp ep cp zero schedule virtual_stages micro_batch recompute "
                                       "gpus gpu network global_batch seq_len); repeat for each key")->required();
  sweep->add_option("--deadline-days", sw.deadline_days, "reject layouts that take longer (wall-clock days)")->check(CLI::PositiveNumber);
  sweep->add_option("--top", sw.top, "how many of the best layouts to keep")->capture_default_str()->check(CLI::Range(1, 1000000));
  sweep->add_option("--objective", sw.objective,
                    "rank by cost (rental at the scenario's price, default), owned_cost (each GPU's owned-cluster "
                    "cost per GPU-hour), gpu_hours or days")
      ->check(CLI::IsMember({"cost", "owned_cost", "gpu_hours", "days"}));
  sweep->add_option("--threads", sw.threads, "worker threads (default: all cores)")->check(CLI::Range(1, 1024));
  sweep->add_option("--shard", sw.shard, "I/N: evaluate only the layouts whose grid index is I mod N (job arrays; see merge)");
  sweep->add_flag("--no-prune", sw.no_prune, "simulate every feasible layout (exhaustive)");
  sweep->add_flag("--no-cache", sw.no_cache, "rebuild op graphs and part times for every layout");
  sweep->add_option("--html", sw.html, "write a self-contained HTML report of the best layouts");
  auto* sweep_json = sweep->add_flag("--json", sw.json, "print JSON");
  sweep->add_flag("--csv", sw.csv, "print the best layouts as CSV")->excludes(sweep_json);
  std::vector<std::string> merge_files;
  bool merge_json = false, merge_csv = false;
  CLI::App* merge = app.add_subcommand("merge", "merge the --json outputs of sweep --shard I/N into the result of the whole grid");
  merge->add_option("files", merge_files, "shard outputs (JSON)")->required();
  auto* merge_json_flag = merge->add_flag("--json", merge_json, "print JSON");
  merge->add_flag("--csv", merge_csv, "print the best layouts as CSV")->excludes(merge_json_flag);

  std::string serve_scenario, serve_html;
  bool serve_json_flag = false, serve_csv = false, serve_slo = false, serve_layouts = false, serve_max_rate = false;
  CLI::App* serve = app.add_subcommand("serve", "simulate a serving deployment: throughput, TTFT and TPOT, cost per million tokens, margin");
  serve->add_option("scenario", serve_scenario, "serving scenario file or preset name (scenarios/serve/)")->required();
  auto* serve_json_opt = serve->add_flag("--json", serve_json_flag, "print JSON");
  auto* serve_csv_opt = serve->add_flag("--csv", serve_csv, "print one CSV row per deployment")->excludes(serve_json_opt);
  auto* serve_html_opt = serve->add_option("--html", serve_html, "write a self-contained HTML report");
  auto* slo_flag = serve->add_flag("--slo", serve_slo, "find the cheapest decoding batch limit within the scenario's slo:");
  serve->add_flag("--layouts", serve_layouts, "with --slo: also try the decoding pool's GPUs as other tp x ep instances")->needs(slo_flag);
  serve->add_flag("--max-rate", serve_max_rate, "find the highest Poisson arrival rate within the scenario's slo:")
      ->excludes(slo_flag)
      ->excludes(serve_csv_opt)
      ->excludes(serve_html_opt);

  std::vector<std::string> argv_store = {"gpuhours"};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& a : argv_store) argv.push_back(a.c_str());
  if (args.empty()) {  // a bare `gpuhours`: the commands, not an error
    out << app.help();
    return 0;
  }
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "gpuhours: " << e.what() << "\n";
    return 1;
  }
  const Catalog catalog(root);
  try {
    if (*run) return cmd_run(catalog, scenario, json ? "json" : csv ? "csv" : "text", trace_path, run_html, explain && !json && !csv, sens && !json && !csv, out);
    if (*list) return cmd_list(catalog, out);
    if (*coll) return cmd_collective(catalog, ca, out);
    if (*shapes) return cmd_shapes(catalog, shapes_scenario, out);
    if (*check) return cmd_check(catalog, check_scenario_name, check_json, html_path, seed, samples, out);
    if (*compare) return cmd_compare(catalog, compare_names, compare_baseline, compare_html, out);
    if (*validate) return cmd_validate(catalog, validate_json, out);
    if (*sweep) return cmd_sweep(catalog, sw, out, err, comm);
    if (*serve)
      return cmd_serve(catalog, serve_scenario, serve_json_flag ? "json" : serve_csv ? "csv" : "text", serve_html, serve_slo, serve_layouts, serve_max_rate,
                       out);
    if (*merge) return cmd_merge(merge_files, merge_json, merge_csv, out);
    if (*bench) {
      if (bench_path.empty())
        throw InputError("gpuhours bench is not built here: it needs the CUDA toolkit (nvcc) at configure time");
      // Its arguments go to the helper as an argument vector: no shell sees them.
      std::vector<std::string> args = {bench_path};
      for (const auto& a : bench->remaining()) args.push_back(a);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      pid_t pid = 0;
      if (posix_spawn(&pid, bench_path.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
        throw InputError(bench_path + ": cannot start the benchmark");
      int status = 0;
      if (waitpid(pid, &status, 0) < 0) throw InputError(bench_path + ": lost the benchmark process");
      return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
    }
  } catch (const InputError& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  } catch (const InfeasibleLayout& e) {
    err << "infeasible: " << e.what() << "\n";
    return 2;
  } catch (const YAML::Exception& e) {  // yaml-cpp refusing input the loaders did not catch first
    err << "error: " << e.what() << "\n";
    return 1;
  } catch (const nlohmann::json::exception& e) {  // e.g. a string that is not valid UTF-8 in --json
    err << "error: cannot write the output: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "internal error: " << e.what()
        << "\nThis is a bug in gpuhours: please report it with the command and the input files that caused it.\n";
    return 4;
  }
  return 1;
}

}  // namespace gpuhours
