#include "gpuhours/cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <fstream>
#include <ostream>

#include "gpuhours/error.hpp"
#include "gpuhours/report.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours {

namespace {

int cmd_run(const Catalog& catalog, const std::string& scenario, const std::string& format,
            const std::string& trace_path, std::ostream& out) {
  const Scenario s = load_scenario(scenario, catalog);
  std::ofstream trace;
  if (!trace_path.empty()) {
    trace.open(trace_path);
    if (!trace) throw InputError(trace_path + ": cannot write the trace file");
  }
  const StepResult step = simulate_step(s, trace_path.empty() ? nullptr : &trace);
  const RunResult run = account_run(s, step);
  const ClaimResult claim = check_claim(s, step, run);
  const Report report{s, step, run, claim};
  if (format == "json") write_json(report, out);
  else if (format == "csv") write_csv(report, out);
  else write_terminal(report, out);
  return 0;
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
  const std::pair<const char*, const char*> folders[] = {{"scenarios", "Scenarios (gpuhours run NAME)"},
                                                         {"models", "Models"},
                                                         {"hardware/gpus", "GPUs"},
                                                         {"hardware/networks", "Networks"}};
  for (const auto& [folder, heading] : folders) {
    out << heading << "\n";
    for (const auto& name : catalog.names(folder))
      out << fmt::format("  {:<28}{}\n", name, title_of(catalog.preset_path(folder, name)));
  }
  return 0;
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const std::string& data_dir) {
  CLI::App app{"gpuhours: GPU-hours, days, dollars and energy to train a language model"};
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
  CLI::App* list = app.add_subcommand("list", "list preset scenarios, models, GPUs and networks");

  std::vector<std::string> argv_store = {"gpuhours"};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& a : argv_store) argv.push_back(a.c_str());
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
    if (*run) return cmd_run(catalog, scenario, json ? "json" : csv ? "csv" : "text", trace_path, out);
    if (*list) return cmd_list(catalog, out);
  } catch (const InputError& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  } catch (const InfeasibleLayout& e) {
    err << "infeasible: " << e.what() << "\n";
    return 2;
  }
  return 1;
}

}  // namespace gpuhours
