#include "gpuhours/validation.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/run.hpp"
#include "gpuhours/serve.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

bool ErrorSummary::within(const ValidationLimits& l) const {
  if (mape > l.mean || worst > l.any_case) return false;
  for (const auto& [group, m] : mape_by_group)
    if (m > l.group) return false;
  return true;
}

bool within_serving_limits(const ErrorSummary& s) {
  for (const auto& [group, m] : s.mape_by_group)
    if (m > (group.ends_with("latency") ? kServingLimits.latency : kServingLimits.throughput)) return false;
  return true;
}

ValidationReport run_validation(const Catalog& catalog, const std::string& folder) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(folder + ": no validation files (*.yaml)");
  ValidationReport rep;
  std::map<std::string, ServeResult> served;  // serving scenario files, simulated once for all their cases
  for (const auto& file : files) {
    const YamlNode doc = YamlNode::load_file(file);
    doc.check_keys({{"hardware", true, "A100 | H100 | H800 | mixed"}, {"source", true, ""}, {"cases", true, ""},
                    {"tracking", false, "why these cases are reported but not gated (a mechanism not yet simulated)"}});
    const std::string tracking = doc.has("tracking") ? doc.child("tracking").as_string() : "";
    for (const YamlNode& c : doc.child("cases").items()) {
      c.check_keys({{"id", true, ""}, {"hardware", false, "when the file says mixed"}, {"source", false, ""},
                    {"scenario", false, "inline scenario"}, {"scenario_file", false, "path from the repository root"},
                    {"serve", false, "inline serving scenario (gpuhours serve)"},
                    {"serve_file", false, "serving scenario file, path from the repository root"},
                    {"published", true, "{tokens_per_gpu_second | step_seconds | gpu_hours | a serving figure: value}"},
                    {"excluded", false, "why the published figure is not comparable like for like: printed, left out of the MAPE"}});
      ValidationCase v;
      v.id = c.child("id").as_string();
      v.tracking = tracking;
      if (c.has("excluded")) v.excluded = c.child("excluded").as_string();
      v.hardware = c.has("hardware") ? c.child("hardware").as_string() : doc.child("hardware").as_string();
      v.source = c.has("source") ? c.child("source").as_string() : doc.child("source").as_string();
      if (c.has("serve") || c.has("serve_file")) {
        if (c.has("scenario") || c.has("scenario_file") || (c.has("serve") && c.has("serve_file")))
          throw c.error("a serving case gives one of 'serve' or 'serve_file' only");
        // Cases with the same serving scenario (one file, or the same inline text) simulate it once.
        const std::string serve_file = c.has("serve_file") ? catalog.root() + "/" + c.child("serve_file").as_string() : "";
        const std::string key = serve_file.empty() ? "inline:" + YAML::Dump(c.child("serve").raw()) : serve_file;
        const auto entries = c.child("published").entries();
        if (entries.size() != 1) throw c.child("published").error("give one published figure");
        v.serving = true;
        v.metric = entries.front().first;
        v.reported = entries.front().second.as_positive_double();
        try {
          auto load = [&] { return serve_file.empty() ? load_serving(c.child("serve"), catalog) : load_serving(serve_file, catalog); };
          if (v.metric == "max_rate_per_s") {
            // MLPerf's Server figure: the highest rate within the scenario's slo (serve --max-rate).
            const ServingScenario s = load();
            v.simulated = max_rate_within_slo(s, s.deployments.front()).rate_per_s;
          } else {
            if (!served.contains(key)) served[key] = simulate_serving(load());
            const auto simulated = serving_figure(served[key], v.metric);
            if (!simulated) throw entries.front().second.error("not a figure this serving scenario computes");
            v.simulated = *simulated;
          }
        } catch (const InfeasibleLayout& e) {
          throw e.within(file + ": case '" + v.id + "': ");
        }
        rep.cases.push_back(v);
        continue;
      }
      if (c.has("scenario") == c.has("scenario_file")) throw c.error("give exactly one of 'scenario', 'scenario_file' or 'serve'");
      const Scenario s = c.has("scenario") ? load_scenario(c.child("scenario"), catalog)
                                           : load_scenario(catalog.root() + "/" + c.child("scenario_file").as_string(), catalog);
      const auto entries = c.child("published").entries();
      if (entries.size() != 1) throw c.child("published").error("give one published figure");
      v.metric = entries.front().first;
      v.reported = entries.front().second.as_positive_double();
      v.moe = s.model.ffn.moe;
      v.precision = to_string(s.training.precision);
      if (v.metric != "tokens_per_gpu_second" && v.metric != "step_seconds" && v.metric != "gpu_hours")
        throw c.child("published").error("unknown figure '" + v.metric + "' (tokens_per_gpu_second, step_seconds, gpu_hours)");
      try {
        const StepResult step = simulate_step(s);
        if (v.metric == "tokens_per_gpu_second") v.simulated = step.tokens_per_gpu_second;
        else if (v.metric == "step_seconds") v.simulated = step.seconds;
        else v.simulated = account_run(s, simulate_phases(s, step)).gpu_hours;
      } catch (const InfeasibleLayout& e) {
        // A published run the simulation cannot place is a validation failure, named by its case.
        throw e.within(file + ": case '" + v.id + "': ");
      }
      rep.cases.push_back(v);
    }
  }
  auto summarise = [&](bool gated_only, bool serving) {
    ErrorSummary sum;
    std::map<std::string, std::pair<double, int>> by_hardware, by_group;
    double total = 0;
    for (const auto& v : rep.cases) {
      if (v.serving != serving || !v.excluded.empty() || (gated_only && !v.tracking.empty())) continue;
      const double e = std::abs(v.error());
      for (auto [sums, key] : {std::pair{&by_hardware, v.hardware}, {&by_group, v.group()}}) {
        (*sums)[key].first += e;
        ++(*sums)[key].second;
      }
      total += e;
      ++sum.cases;
      sum.worst = std::max(sum.worst, e);
    }
    for (const auto& [hw, s] : by_hardware) sum.mape_by_hardware[hw] = s.first / s.second;
    for (const auto& [group, s] : by_group) sum.mape_by_group[group] = s.first / s.second;
    sum.mape = sum.cases > 0 ? total / sum.cases : 0.0;
    return sum;
  };
  rep.all = summarise(false, false);
  rep.gated = summarise(true, false);
  rep.serving = summarise(false, true);
  rep.serving_gated = summarise(true, true);
  return rep;
}

}  // namespace gpuhours

