// The HTML report of a claim check: one self-contained page (inline CSS and SVG, no network).
#include <fmt/format.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "gpuhours/check.hpp"
#include "gpuhours/report.hpp"

namespace gpuhours {

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string millions(double v) { return fmt::format("{:.3f}M", v / 1e6); }

// Horizontal bars with labels: one chart.
std::string bar_chart(const std::string& id, const std::vector<std::pair<std::string, double>>& bars,
                      const std::string& unit) {
  const double max = std::max_element(bars.begin(), bars.end(), [](auto& a, auto& b) { return a.second < b.second; })->second;
  const int row = 26, left = 230, width = 420;
  std::string svg = fmt::format("<svg id=\"{}\" class=\"chart\" width=\"760\" height=\"{}\" role=\"img\">", id,
                                row * static_cast<int>(bars.size()) + 10);
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const double w = max > 0 ? width * bars[i].second / max : 0;
    const int y = 5 + row * static_cast<int>(i);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", left - 8, y + 16, esc(bars[i].first));
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"18\" class=\"bar\"/>", left, y + 2, w);
    const std::string value = bars[i].second >= 100 ? grouped(bars[i].second) : fmt::format("{:.3g}", bars[i].second);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{} {}</text>", left + w + 6, y + 16, value, esc(unit));
  }
  return svg + "</svg>";
}

}  // namespace

void write_html(const Scenario& s, const CheckResult& c, std::ostream& out) {
  // The claim marked on the range: the scenario's own, or for a counterfactual its baseline's.
  double claimed = c.gpu_hours.p50;
  std::string claim_label;
  if (s.claim && s.claim->gpu_hours) {
    claimed = *s.claim->gpu_hours;
    claim_label = "claim";
  } else if (c.counterfactual && c.counterfactual->claimed_gpu_hours) {
    claimed = *c.counterfactual->claimed_gpu_hours;
    claim_label = "claim of " + c.counterfactual->name;
  }
  const double lo = std::min(claimed, c.gpu_hours.p10) * 0.8, hi = std::max(claimed, c.gpu_hours.p90) * 1.1;
  auto x = [&](double v) { return 40 + 680 * (v - lo) / (hi - lo); };
  std::string range = "<svg id=\"claim-range\" class=\"chart\" width=\"760\" height=\"110\" role=\"img\">";
  range += fmt::format("<line x1=\"40\" y1=\"70\" x2=\"720\" y2=\"70\" class=\"axis\"/>");
  range += fmt::format("<rect x=\"{:.1f}\" y=\"40\" width=\"{:.1f}\" height=\"30\" class=\"band\"/>", x(c.gpu_hours.p10),
                       x(c.gpu_hours.p90) - x(c.gpu_hours.p10));
  range += fmt::format("<line x1=\"{0:.1f}\" y1=\"36\" x2=\"{0:.1f}\" y2=\"74\" class=\"median\"/>", x(c.gpu_hours.p50));
  range += fmt::format("<text x=\"{:.1f}\" y=\"30\" text-anchor=\"middle\">simulated P10-P90, median {}</text>",
                       x(c.gpu_hours.p50), millions(c.gpu_hours.p50));
  if (!claim_label.empty()) {
    range += fmt::format("<circle cx=\"{:.1f}\" cy=\"55\" r=\"7\" class=\"claim\"/>", x(claimed));
    range += fmt::format("<text x=\"{:.1f}\" y=\"95\" text-anchor=\"middle\">{} {}</text>", x(claimed), esc(claim_label),
                         millions(claimed));
  }
  range += "</svg>";

  const auto& b = c.step.breakdown;
  const std::string step = bar_chart("step-breakdown",
                                     {{"compute", b.compute},
                                      {"exposed communication", b.exposed_communication},
                                      {"pipeline bubble / idle", b.bubble},
                                      {"optimizer", b.optimizer}},
                                     "s");
  std::vector<std::pair<std::string, double>> phases;
  for (const PhaseResult& p : c.run.phases) phases.emplace_back(p.name, p.gpu_hours);
  const std::string by_phase = bar_chart("cost-by-phase", phases, "GPU-h");
  std::vector<std::pair<std::string, double>> models = {{"rental at scenario price", c.run.costs.rental_usd},
                                                        {"owned cluster (Epoch method)", c.run.costs.owned_usd}};
  for (const auto& [name, usd] : c.run.costs.rental_presets_usd) models.emplace_back("rental: " + name, usd);
  const std::string by_model = bar_chart("cost-by-model", models, "USD");

  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << esc(s.title)
      << "</title>\n<style>body{font-family:sans-serif;max-width:860px;margin:2em auto;color:#222}"
         "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}.chart text{font-size:12px}"
         ".bar{fill:#4a7ab5}.band{fill:#9cc3e6}.median{stroke:#1d4f7a;stroke-width:3}.claim{fill:#d1495b}"
         ".axis{stroke:#888}.verdict{font-size:1.15em;font-weight:bold}td,th{padding:2px 8px;text-align:left}"
         "</style></head>\n<body>\n";
  out << "<h1>" << esc(s.title) << "</h1>\n<p class=\"verdict\">" << esc(c.verdict) << "</p>\n<ul>";
  for (const auto& r : c.reasons) out << "<li>" << esc(r) << "</li>";
  out << "</ul>\n<h2>Claim against the simulated range</h2>\n" << range;
  out << fmt::format("<p>{} {} GPU-hours; simulated P10 {}, P50 {}, P90 {} ({} Monte Carlo samples, seed {}).</p>\n",
                     claim_label.empty() ? "No claim:" : esc(claim_label), claim_label.empty() ? "" : millions(claimed), millions(c.gpu_hours.p10), millions(c.gpu_hours.p50), millions(c.gpu_hours.p90),
                     c.samples, c.seed);
  out << "<h2>One training step (" << fmt::format("{:.3f}", c.step.seconds) << " s)</h2>\n" << step;
  out << "<h2>GPU-hours by phase</h2>\n" << by_phase;
  if (!c.claim.phases.empty()) {
    out << "<table><tr><th>phase</th><th>claimed GPU-hours</th><th>simulated GPU-hours</th><th>claimed / simulated</th></tr>";
    for (const auto& p : c.claim.phases)
      out << fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td></tr>", esc(p.name), millions(p.claimed_gpu_hours),
                         millions(p.simulated_gpu_hours), p.claimed_gpu_hours / p.simulated_gpu_hours);
    out << "</table>\n";
  }
  if (c.run.costs.api_route_usd)
    out << fmt::format("<p>With the generation phases bought from an API instead: ${:.0f} (API ${:.0f}).</p>\n",
                       *c.run.costs.api_route_usd, *c.run.costs.api_usd);
  out << "<h2>Cost by cost model</h2>\n" << by_model;
  out << "<h2>Assumptions</h2>\n<ul>";
  for (const auto& a : c.step.assumptions) out << "<li>" << esc(a) << "</li>";
  out << "</ul>\n<h2>Sources</h2>\n<ul>";
  for (const auto& src : s.sources) out << "<li>" << esc(src) << "</li>";
  if (s.claim) out << "<li>" << esc(s.claim->source) << "</li>";
  out << "</ul>\n";
  out << "<script>document.body.dataset.rendered = document.querySelectorAll('svg.chart').length === 4 ? 'ok' : 'missing';"
         "</script>\n</body></html>\n";
}

}  // namespace gpuhours
