// Report writers: the JSON contract (README "Reading the output"), CSV, and a short terminal table.
#pragma once
#include <iosfwd>

#include <nlohmann/json.hpp>

#include "gpuhours/check.hpp"
#include "gpuhours/run.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

struct Report {
  const Scenario& scenario;
  const StepResult& step;
  const RunResult& run;
  const ClaimResult& claim;
};

/// 2788000 -> "2,788,000" (rounded to a whole number).
std::string grouped(double v);

/// The JSON contract as a value (callers may extend it), and written.
nlohmann::ordered_json report_json(const Report& r);
void write_json(const Report& r, std::ostream& out);
void write_csv(const Report& r, std::ostream& out);
void write_terminal(const Report& r, std::ostream& out);
/// Per pipeline stage: layers, parameters, forward FLOPs per token, memory by category; and the
/// communication volume per GPU and step by collective (`gpuhours run --explain`).
void write_explain(const Report& r, std::ostream& out);

/// One self-contained HTML page (inline SVG and script, no network): a quotable headline, the
/// verdict and the claim against the simulated range, step breakdown, GPU-hours by phase, cost by
/// cost model, programme and fleet, a what-if panel, assumptions, sources and a glossary.
void write_html(const Scenario& s, const CheckResult& c, std::ostream& out);
/// The same page for a run without a check (gpuhours run --html).
void write_html(const Scenario& s, const StepResult& step, const RunResult& run, std::ostream& out);
/// A page for commands that report a table (compare, sweep): headline, one bar chart, the table,
/// notes and the glossary of `terms` (keys of the glossary in html.cpp).
struct TablePage {
  std::string title, headline, chart_title, bar_unit;
  std::vector<std::pair<std::string, double>> bars;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes, terms;
};
void write_table_html(const TablePage& t, std::ostream& out);

}  // namespace gpuhours
