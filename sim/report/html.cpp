// HTML reports: one self-contained page per command (inline CSS, SVG and script, no network).
// Each opens with a headline a reader can quote, then charts whose axes start at zero with
// ticks and units, the content particular to the scenario (programme and fleet, generation
// phases against the update, a claimed saving, a counterfactual's baseline), a what-if panel
// that recomputes the headline in the page, and a glossary of the terms used.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "gpuhours/check.hpp"
#include "gpuhours/report.hpp"
#include "gpuhours/units.hpp"

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
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

// Axis: a step of 1, 2 or 5 x 10^k giving about five intervals over [0, max].
double tick_step(double max) {
  if (!(max > 0)) return 1;
  const double raw = max / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}
std::string tick_label(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:g}B", v / 1e9);
  if (a >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (a >= 1e3) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

constexpr int kWidth = 760;      // every chart's width
constexpr double kCharPx = 7.2;  // a 12px sans-serif character, at most (labels are sized by it)

// The x axis from 0 to `top` at the bottom of a plot [left, right], with ticks, labels and unit.
std::string x_axis(double left, double right, double y, double top, double step, const std::string& unit) {
  std::string s = fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" class=\"axis\"/>", left, y, right, y);
  for (double v = 0; v <= top * (1 + 1e-9); v += step) {
    const double x = left + (right - left) * v / top;
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"tick\"/>", x, y, y + 5);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" class=\"ticklabel\">{}</text>", x, y + 18,
                     tick_label(v));
  }
  s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>", (left + right) / 2, y + 34, esc(unit));
  return s;
}

// Horizontal bars from zero, one per row, the value after each bar (inside it when it would
// leave the chart).
std::string bar_chart(const std::string& id, const std::vector<std::pair<std::string, double>>& bars,
                      const std::string& unit) {
  double max = 0;
  std::size_t longest = 0;
  for (const auto& [label, v] : bars) {
    max = std::max(max, v);
    longest = std::max(longest, label.size());
  }
  const double step = tick_step(max), top = std::max(step, std::ceil(max / step) * step);
  const double left = std::min(330.0, 12 + kCharPx * static_cast<double>(longest)), right = kWidth - 20;
  const int row = 26, plot_h = row * static_cast<int>(bars.size()) + 6;
  std::string svg = fmt::format("<svg id=\"{}\" class=\"chart\" width=\"{}\" height=\"{}\" role=\"img\">", id, kWidth,
                                plot_h + 44);
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const double w = (right - left) * bars[i].second / top;
    const int y = 4 + row * static_cast<int>(i);
    std::string label = bars[i].first;
    const auto fits = static_cast<std::size_t>((left - 12) / kCharPx);
    if (label.size() > fits) label = label.substr(0, fits - 1) + "…";
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>", left - 8, y + 15,
                       esc(bars[i].first), esc(label));
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"18\" class=\"bar\"/>", left, y + 1, w);
    const std::string value = three_figures(bars[i].second);
    const double value_px = kCharPx * static_cast<double>(value.size()) + 6;
    if (left + w + value_px < right)
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{}</text>", left + w + 5, y + 15, value);
    else
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"end\" class=\"inbar\">{}</text>", left + w - 5, y + 15, value);
  }
  svg += x_axis(left, right, plot_h, top, step, unit);
  return svg + "</svg>";
}

// The simulated P10-P90 band and median on an axis from zero, with the claim marked when there is
// one. Labels are anchored so that they stay inside the chart.
std::string range_chart(const Percentiles& r, std::optional<double> claimed, const std::string& claim_label) {
  const double max = std::max(r.p90, claimed.value_or(0)) * 1.05;
  const double step = tick_step(max), top = std::max(step, std::ceil(max / step) * step);
  const double left = 20, right = kWidth - 20;
  auto x = [&](double v) { return left + (right - left) * v / top; };
  // A label centred on px unless half of it (12 px sans-serif: at most 7 px a character) would cross an edge.
  auto anchor = [&](double px, const std::string& text) {
    const double half = 3.5 * static_cast<double>(text.size());
    return px - half < left ? "start" : px + half > right ? "end" : "middle";
  };
  std::string s = fmt::format("<svg id=\"claim-range\" class=\"chart\" width=\"{}\" height=\"150\" role=\"img\">", kWidth);
  s += fmt::format("<rect x=\"{:.1f}\" y=\"44\" width=\"{:.1f}\" height=\"30\" class=\"band\"/>", x(r.p10), x(r.p90) - x(r.p10));
  s += fmt::format("<line x1=\"{0:.1f}\" y1=\"40\" x2=\"{0:.1f}\" y2=\"78\" class=\"median\"/>", x(r.p50));
  const std::string band = fmt::format("simulated P10-P90 {}-{}, median {}", three_figures(r.p10), three_figures(r.p90),
                                       three_figures(r.p50));
  s += fmt::format("<text x=\"{:.1f}\" y=\"32\" text-anchor=\"{}\">{}</text>", x(r.p50), anchor(x(r.p50), band), band);
  if (claimed) {
    const std::string label = claim_label + " " + three_figures(*claimed);
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"59\" r=\"7\" class=\"claim\"/>", x(*claimed));
    s += fmt::format("<text x=\"{:.1f}\" y=\"16\" text-anchor=\"{}\">{}</text>", x(*claimed), anchor(x(*claimed), label),
                     esc(label));
  }
  s += x_axis(left, right, 96, top, step, "GPU-hours");
  return s + "</svg>";
}

// Terms a reader may not know, defined once; the page lists those it uses.
const std::map<std::string, std::string>& glossary() {
  static const std::map<std::string, std::string> terms = {
      {"GPU-hour", "one GPU busy for one hour; a run's GPU-hours are its GPUs times its wall-clock hours."},
      {"MFU", "model FLOPs utilisation: the arithmetic the model needs per second, as a share of what the GPUs' datasheet "
              "peak allows. Production runs reach 20-55%; above 100% is impossible."},
      {"P10-P90", "the range holding the middle 80% of the simulated outcomes when the uncertain inputs vary over their "
                  "documented ranges (listed beside the range)."},
      {"exposed communication", "time a GPU waits for data from other GPUs without computing (communication that is not "
                                "hidden behind computation)."},
      {"pipeline bubble", "time a GPU idles while a pipeline fills and drains, waiting for the stage before or after it."},
      {"goodput", "the share of the GPU-hours that trains the model, after interruptions, restarts and checkpoints."},
      {"owned cluster (Epoch method)", "the cost of buying the GPUs and running them, amortised over their life (Epoch "
                                       "AI's method): hardware, interconnect, financing and energy per GPU-hour."},
      {"deepseek-assumed", "the $2 per GPU-hour rental price DeepSeek's report assumes."},
      {"neocloud-index", "a price index of specialised GPU clouds' rental prices."},
      {"hyperscaler", "a large cloud (AWS, Azure, Google Cloud): on-demand or committed multi-year prices."},
      {"dgxc", "NVIDIA's DGX Cloud benchmark recipes, a published reference for throughput on H100."},
      {"counterfactual", "a scenario that changes one thing of another (the GPUs, the precision) to show what that "
                         "thing costs; it is compared, not judged against the other scenario's claim."},
      {"TTFT", "time to first token: from a request's arrival to the first token of its answer."},
      {"TPOT", "time per output token: the wait between answer tokens after the first, as a user reading the stream sees it."},
      {"KV cache", "the keys and values of every earlier token that attention reads at each new token, kept in GPU memory; "
                   "its size per token decides how many conversations a GPU serves at once."},
      {"ITL", "inter-token latency: the time between two tokens of an answer while it runs (one decoding iteration)."},
      {"P50 / P99", "the median, and the value 99% of requests stay under."},
      {"disaggregation", "prompts and answers computed on separate GPUs (pools), the prompt's KV cache sent between them."},
      {"claim / simulated", "the claimed GPU-hours divided by the simulated median: above 1 the claim leaves room, below "
                            "1 it needs more efficiency than simulated."},
  };
  return terms;
}

// What a page needs: the scenario and its run, and for a check its range and verdict.
// The page's head and style, the same on every report.
void write_head(const std::string& title, std::ostream& out) {
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << esc(title)
      << "</title>\n<style>body{font-family:sans-serif;max-width:820px;margin:2em auto;color:#222}"
         "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}.chart text{font-size:12px;font-family:sans-serif}"
         ".bar{fill:#4a7ab5}.band{fill:#9cc3e6}.median{stroke:#1d4f7a;stroke-width:3}.claim{fill:#d1495b}"
         ".axis,.tick{stroke:#888}.inbar{fill:#fff}.headline{font-size:1.1em;background:#f3f6fa;padding:.6em}"
         ".verdict{font-size:1.15em;font-weight:bold}td,th{padding:2px 8px;text-align:left}td.n{text-align:right}"
         "#whatif input{width:8em}dt{font-weight:bold}</style></head>\n<body>\n";
}

// The glossary of `used` terms, the layout self-check the render test reads (every text's box
// inside its chart, ticks on every chart), and the end of the page.
void write_tail(const std::set<std::string>& used, std::ostream& out) {
  out << "<h2>Glossary</h2>\n<dl>";
  for (const auto& term : used) out << "<dt>" << esc(term) << "</dt><dd>" << esc(glossary().at(term)) << "</dd>";
  out << "</dl>\n";
  out << "<script>(function(){var out=0,bare=0,charts=document.querySelectorAll('svg.chart');charts.forEach(function(svg){"
         "var w=+svg.getAttribute('width'),h=+svg.getAttribute('height');if(svg.querySelectorAll('.tick').length<2)bare++;"
         "svg.querySelectorAll('text').forEach(function(t){var r=t.getBBox();if(r.x<-0.5||r.y<-0.5||r.x+r.width>w+0.5||"
         "r.y+r.height>h+0.5)out++;});});document.body.dataset.charts=charts.length;document.body.dataset.labelsOutside=out;"
         "document.body.dataset.chartsWithoutTicks=bare;})();</script>\n</body></html>\n";
}

struct Page {
  const Scenario& s;
  const StepResult& step;
  const RunResult& run;
  const CheckResult* check = nullptr;
};

void write_page(const Page& p, std::ostream& out) {
  const Scenario& s = p.s;
  const RunResult& run = p.run;
  std::set<std::string> used = {"GPU-hour", "MFU", "exposed communication", "pipeline bubble", "goodput",
                                "owned cluster (Epoch method)"};
  // Headline: simulated GPU-hours, days and dollars; claimed beside them where there is a claim.
  std::string headline = fmt::format(
      "Simulated: <b id=\"h-hours\">{}</b> GPU-hours, <b id=\"h-days\">{}</b> days on {} {}, <b id=\"h-cost\">${}</b> at "
      "<span id=\"h-price\">${:.2f}</span> per GPU-hour.",
      three_figures(run.gpu_hours), three_figures(run.wall_clock_days), grouped(s.cluster.gpus()), esc(s.cluster.gpu.title), three_figures(run.cost_usd),
      s.cost.gpu_hour_usd);
  if (s.claim && s.claim->gpu_hours)
    headline += fmt::format(" Claimed: <b>{}</b> GPU-hours{}.", three_figures(*s.claim->gpu_hours),
                            s.claim->cost_usd ? fmt::format(", ${}", three_figures(*s.claim->cost_usd)) : "");

  // Cost models: each price once (a preset at the scenario's own price is the same bar).
  std::vector<std::pair<std::string, double>> models = {
      {fmt::format("rental at ${:.2f}/GPU-hour (scenario)", s.cost.gpu_hour_usd), run.costs.rental_usd},
      {"owned cluster (Epoch method)", run.costs.owned_usd}};
  for (const auto& [name, usd] : run.costs.rental_presets_usd) {
    const double price = run.gpu_hours > 0 ? usd / run.gpu_hours : 0;
    if (std::fabs(price - s.cost.gpu_hour_usd) < 0.005) continue;
    models.emplace_back(fmt::format("rental: {} (${:.2f})", name, price), usd);
    for (const char* term : {"neocloud-index", "hyperscaler", "deepseek-assumed"})
      if (name.find(term) != std::string::npos) used.insert(term);
  }
  const auto& b = p.step.breakdown;
  std::vector<std::pair<std::string, double>> phases;
  bool generation = false;
  for (const PhaseResult& ph : run.phases) {
    phases.emplace_back(ph.name + (ph.simulated ? "" : " (as reported)"), ph.gpu_hours);
    generation = generation || ph.kind == "rl" || ph.kind == "generate";
  }

  write_head(s.title, out);
  out << "<h1>" << esc(s.title) << "</h1>\n<p class=\"headline\">" << headline << "</p>\n";
  if (const CheckResult* c = p.check) {
    used.insert("P10-P90");
    if (c->counterfactual) used.insert("counterfactual");
    if (c->claim.ratio) used.insert("claim / simulated");
    out << "<p class=\"verdict\">" << esc(c->verdict) << "</p>\n<ul>";
    for (const auto& r : c->reasons) out << "<li>" << esc(r) << "</li>";
    out << "</ul>\n<h2>Claim against the simulated range</h2>\n";
    std::optional<double> claimed;
    std::string label = "claim";
    if (s.claim && s.claim->gpu_hours) {
      claimed = *s.claim->gpu_hours;
    } else if (c->counterfactual && c->counterfactual->claimed_gpu_hours) {
      claimed = *c->counterfactual->claimed_gpu_hours;
      label = "claim of " + c->counterfactual->name;
    }
    out << range_chart(c->gpu_hours, claimed, label);
    out << fmt::format("<p>The range varies {} ({} Monte Carlo samples, seed {}).</p>\n", esc(c->range_inputs), c->samples,
                       c->seed);
    if (c->baseline)
      out << fmt::format("<h2>The saving over {}</h2>\n<p>Claimed: {} against {} GPU-hours, a {:.1f}% saving. Simulated: {} "
                         "against {}, a {:.1f}% saving.</p>\n",
                         esc(c->baseline->name), three_figures(*s.claim->gpu_hours), three_figures(c->baseline->claimed_gpu_hours),
                         100 * c->baseline->claimed_saving, three_figures(run.gpu_hours), three_figures(c->baseline->simulated_gpu_hours),
                         100 * c->baseline->simulated_saving);
    if (c->counterfactual)
      out << fmt::format("<h2>Beside {}</h2>\n<p>This run: {} GPU-hours, {:.2f}x the {} simulated for {} (step {:.2f} s "
                         "against {:.2f} s).</p>\n",
                         esc(c->counterfactual->name), three_figures(run.gpu_hours), run.gpu_hours / c->counterfactual->simulated_gpu_hours,
                         three_figures(c->counterfactual->simulated_gpu_hours), esc(c->counterfactual->title), p.step.seconds,
                         c->counterfactual->step_seconds);
  }
  out << fmt::format("<h2>One {} step: {:.2f} s, MFU {:.1f}%</h2>\n", generation ? "policy-update (training)" : "training",
                     p.step.seconds, 100 * p.step.mfu)
      << bar_chart("step-breakdown",
                   {{"compute", b.compute}, {"exposed communication", b.exposed_communication},
                    {"waiting for the host", b.waiting_for_host}, {"pipeline bubble / idle", b.bubble},
                    {"optimizer", b.optimizer}},
                   "seconds per step");
  out << "<h2>GPU-hours by phase</h2>\n" << bar_chart("cost-by-phase", phases, "GPU-hours");
  if (generation) {
    out << "<table><tr><th>phase</th><th>kind</th><th>GPU-hours</th><th>of which generating</th><th>tokens generated</th></tr>";
    for (const PhaseResult& ph : run.phases)
      out << fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(ph.name), esc(ph.kind),
                         grouped(ph.gpu_hours), ph.generation_gpu_hours > 0 ? grouped(ph.generation_gpu_hours) : "-",
                         ph.output_tokens > 0 ? three_figures(ph.output_tokens) : "-");
    out << "</table>\n<p>Generation phases (rollouts, sampling) are timed by the inference model; the training steps "
           "above are the policy update only.</p>\n";
  }
  if (p.check && !p.check->claim.phases.empty()) {
    out << "<table><tr><th>phase</th><th>claimed GPU-hours</th><th>simulated GPU-hours</th><th>claimed / simulated</th></tr>";
    for (const auto& ph : p.check->claim.phases)
      out << fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td></tr>", esc(ph.name), grouped(ph.claimed_gpu_hours),
                         grouped(ph.simulated_gpu_hours), ph.claimed_gpu_hours / ph.simulated_gpu_hours);
    out << "</table>\n";
  }
  out << "<h2>Cost by cost model</h2>\n" << bar_chart("cost-by-model", models, "USD");
  if (s.cost.programme || s.cost.fleet) {
    out << "<h2>Programme and fleet</h2>\n<ul>";
    if (s.cost.programme) {
      out << fmt::format("<li>Whole programme: {} GPU-hours, ${} ({:g}x the final run; {})</li>", three_figures(run.costs.programme_gpu_hours),
                         three_figures(run.costs.programme_usd), s.cost.programme->multiplier, esc(s.cost.programme->source));
      if (run.costs.programme_gpu_hours_range)
        out << fmt::format("<li>Its published range: {} to {} GPU-hours ({:g}x to {:g}x; {})</li>",
                           three_figures(run.costs.programme_gpu_hours_range->first), three_figures(run.costs.programme_gpu_hours_range->second),
                           s.cost.programme->range->first, s.cost.programme->range->second, esc(s.cost.programme->range_source));
    }
    if (s.cost.fleet) {
      out << fmt::format("<li>Fleet: {} GPUs, ${} capital cost ({})</li>", grouped(s.cost.fleet->gpus), three_figures(s.cost.fleet->capex_usd),
                         esc(s.cost.fleet->source));
      if (run.costs.fleet_usd_per_year)
        out << fmt::format("<li>Fleet cost per year: ${} (capex amortised and financed, and a year of energy)</li>",
                           three_figures(*run.costs.fleet_usd_per_year));
    }
    out << "</ul>\n";
  }
  // What-if: the headline recomputed in the page. GPU-hours of the simulated phases scale with the
  // tokens and inversely with the MFU; phases taken as reported stay; days follow the GPU-hours.
  double reported = 0;
  for (const PhaseResult& ph : run.phases)
    if (!ph.simulated) reported += ph.gpu_hours;
  out << fmt::format(
      "<h2>What if</h2>\n<form id=\"whatif\"><label>tokens, relative to the scenario <input id=\"w-tokens\" type=\"number\" "
      "step=\"0.1\" min=\"0.01\" value=\"1\"></label> <label>MFU % <input id=\"w-mfu\" type=\"number\" step=\"0.5\" min=\"0.5\" "
      "max=\"100\" value=\"{:.1f}\"></label> <label>$ per GPU-hour <input id=\"w-price\" type=\"number\" step=\"0.1\" min=\"0\" "
      "value=\"{:.2f}\"></label></form>\n<p>The headline updates: simulated phases scale with the tokens and inversely with "
      "the MFU; phases taken as reported stay as they are.</p>\n"
      "<script>(function(){{var base={{hours:{},reported:{},days:{},mfu:{}}};function sig(v){{var a=Math.abs(v);"
      "return a>=1e9?(v/1e9).toPrecision(3)+'B':a>=1e6?(v/1e6).toPrecision(3)+'M':a>=1e3?(v/1e3).toPrecision(3)+'k':"
      "v.toPrecision(3);}}function upd(){{var t=+document.getElementById('w-tokens').value,m=+document.getElementById('w-mfu')"
      ".value,p=+document.getElementById('w-price').value;if(!(t>0&&m>0&&p>=0))return;var sim=(base.hours-base.reported)*t*"
      "base.mfu/m,h=sim+base.reported;document.getElementById('h-hours').textContent=sig(h);document.getElementById('h-days')"
      ".textContent=sig(base.days*h/base.hours);document.getElementById('h-cost').textContent='$'+sig(h*p);"
      "document.getElementById('h-price').textContent='$'+p.toFixed(2);}}['w-tokens','w-mfu','w-price'].forEach(function(i){{"
      "document.getElementById(i).addEventListener('input',upd);}});}})();</script>\n",
      100 * run.mfu, s.cost.gpu_hour_usd, run.gpu_hours, reported, run.wall_clock_days, 100 * run.mfu);
  out << "<h2>Assumptions</h2>\n<ul>";
  for (const auto& a : p.step.assumptions) out << "<li>" << esc(a) << "</li>";
  out << "</ul>\n<h2>Sources</h2>\n<ul>";
  for (const auto& src : s.sources) out << "<li>" << esc(src) << "</li>";
  if (s.claim) out << "<li>" << esc(s.claim->source) << "</li>";
  out << "</ul>\n";
  write_tail(used, out);
}

}  // namespace

void write_html(const Scenario& s, const CheckResult& c, std::ostream& out) { write_page({s, c.step, c.run, &c}, out); }

void write_html(const Scenario& s, const StepResult& step, const RunResult& run, std::ostream& out) {
  write_page({s, step, run, nullptr}, out);
}

void write_table_html(const TablePage& t, std::ostream& out) {
  write_head(t.title, out);
  out << "<h1>" << esc(t.title) << "</h1>\n<p class=\"headline\">" << esc(t.headline) << "</p>\n";
  out << "<h2>" << esc(t.chart_title) << "</h2>\n" << bar_chart("table-chart", t.bars, t.bar_unit);
  out << "<table><tr>";
  for (const auto& h : t.header) out << "<th>" << esc(h) << "</th>";
  out << "</tr>";
  for (const auto& row : t.rows) {
    out << "<tr>";
    for (std::size_t i = 0; i < row.size(); ++i) out << (i == 0 ? "<td>" : "<td class=\"n\">") << esc(row[i]) << "</td>";
    out << "</tr>";
  }
  out << "</table>\n<ul>";
  for (const auto& n : t.notes) out << "<li>" << esc(n) << "</li>";
  out << "</ul>\n";
  write_tail({t.terms.begin(), t.terms.end()}, out);
}

}  // namespace gpuhours
