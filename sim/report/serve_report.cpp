#include "gpuhours/serve_report.hpp"

#include <algorithm>
#include <ostream>

#include <fmt/format.h>

#include "gpuhours/enums.hpp"
#include "gpuhours/report.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

namespace {

const char* role_name(PoolRole r) {
  switch (r) {
    case PoolRole::prefill: return "prefill";
    case PoolRole::decode: return "decode";
    case PoolRole::both: break;
  }
  return "both";
}

const char* arrival_name(Arrival a) {
  switch (a) {
    case Arrival::poisson: return "Poisson";
    case Arrival::trace: return "from a trace";
    case Arrival::saturate: break;
  }
  return "all at once (saturating)";
}

std::string lengths_text(const TokenLengths& l) {
  return l.fixed ? fmt::format("{:.0f} tokens", l.mean) : fmt::format("{:.0f} tokens on average (exponential, at most {})", l.mean, l.max);
}

// Latencies as a reader quotes them: milliseconds below 10 s, seconds (3 figures) above.
std::string ms(double seconds) {
  if (seconds < 0.01) return fmt::format("{:.2f} ms", seconds * 1e3);
  return seconds < 10 ? fmt::format("{:.0f} ms", seconds * 1e3) : three_figures(seconds) + " s";
}

// "P50 / P99", or n/a when no request has this latency (TPOT of one-token answers).
std::string p50_p99(const LatencyPercentiles& l) { return l.defined ? ms(l.p50) + " / " + ms(l.p99) : "n/a"; }

// "+567% over" or "50% below": a price against its cost.
std::string margin_text(double margin) {
  return margin >= 0 ? fmt::format("{:.0f}% over", 100 * margin) : fmt::format("{:.0f}% below", -100 * margin);
}

// Figures are shown as the reader quotes them: percentages, ratios, tokens/s, dollars.
std::string figure_text(const std::string& key, double v) {
  if (key == "kv_reduction" || key == "margin") return fmt::format("{:.1f}%", 100 * v);
  if (key == "throughput_ratio") return fmt::format("{:.2f}x", v);
  if (key.ends_with("_seconds")) return ms(v);
  if (key.ends_with("_usd")) return "$" + grouped(v);
  if (key == "daily_nodes") return fmt::format("{:.1f}", v);
  return grouped(v);
}

nlohmann::ordered_json latency_json(const LatencyPercentiles& p) {
  if (!p.defined) return nullptr;
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}};
}

std::string requests_text(const ServingScenario& s, const ServeResult& r) {
  const RequestSpec& q = s.requests;
  if (q.arrival == Arrival::trace)
    return fmt::format("{} requests from {}", q.count, q.trace_file);
  std::string text = fmt::format("{} requests arriving {}", r.deployments.front().requests, arrival_name(q.arrival));
  if (q.arrival == Arrival::poisson) text += fmt::format(" at {:.3g}/s", q.rate_per_s);
  const bool own = std::any_of(s.deployments.begin(), s.deployments.end(), [](const Deployment& d) { return d.output_tokens.has_value(); });
  text += fmt::format("; prompts {}, answers {}", lengths_text(q.input), own ? "as each deployment sets" : lengths_text(q.output));
  if (q.prefix_cache_hit > 0) text += fmt::format("; {:.1f}% of prompt tokens in the prefix cache", 100 * q.prefix_cache_hit);
  return text;
}

}  // namespace

nlohmann::ordered_json serve_json(const ServingScenario& s, const ServeResult& r) {
  nlohmann::ordered_json j;
  j["scenario"] = s.name;
  j["title"] = s.title;
  j["requests"] = {{"count", r.deployments.front().requests}, {"arrival", arrival_name(s.requests.arrival)},
                   {"description", requests_text(s, r)}};
  j["deployments"] = nlohmann::ordered_json::array();
  for (const DeploymentResult& d : r.deployments) {
    nlohmann::ordered_json dj;
    dj["name"] = d.name;
    dj["gpus"] = d.gpus;
    dj["nodes"] = d.nodes;
    dj["kv_cache_bytes_per_token"] = d.kv_bytes_per_token;
    dj["tokens"] = {{"prompt", d.prompt_tokens}, {"prompt_cached", d.cached_tokens}, {"output", d.output_tokens}};
    dj["makespan_seconds"] = d.makespan_seconds;
    // Over the whole run on every GPU of the deployment (idle time included); each pool's rates at
    // capacity are under pools.
    dj["whole_run"] = {{"input_tokens_per_s_per_gpu", d.input_tokens_per_s_per_gpu},
                       {"output_tokens_per_s_per_gpu", d.output_tokens_per_s_per_gpu}};
    dj["ttft_seconds"] = latency_json(d.ttft);
    dj["tpot_seconds"] = latency_json(d.tpot);
    dj["itl_seconds"] = latency_json(d.token_interval);
    dj["latency_seconds"] = latency_json(d.latency);
    dj["pools"] = nlohmann::ordered_json::array();
    for (const PoolResult& p : d.pools)
      dj["pools"].push_back({{"role", role_name(p.role)},
                             {"instances", p.instances},
                             {"instance_gpus", p.instance_gpus},
                             {"nodes", p.nodes},
                             {"weight_bytes_per_gpu", p.weight_bytes_per_gpu},
                             {"kv_capacity_tokens_per_gpu", p.kv_capacity_tokens_per_gpu},
                             {"busy_seconds", p.busy_seconds},
                             {"utilisation", p.utilisation},
                             {"prompt_tokens", p.prompt_tokens},
                             {"output_tokens", p.output_tokens},
                             {"rates_at_capacity", p.at_capacity},
                             {"input_tokens_per_s_per_node", p.input_tokens_per_s_per_node},
                             {"output_tokens_per_s_per_node", p.output_tokens_per_s_per_node},
                             {"mean_running", p.mean_running},
                             {"peak_running", p.peak_running},
                             {"preemptions", p.preemptions},
                             {"iterations", p.iterations}});
    dj["per_request"] = {{"gpu_seconds", d.gpu_seconds_per_request}, {"usd", d.usd_per_request}};
    dj["cost"] = {{"gpu_hour_usd", d.gpu_hour_usd},
                  {"usd_per_million_input", d.usd_per_million_input},
                  {"usd_per_million_output", d.usd_per_million_output}};
    if (d.input_margin) dj["cost"]["input_margin"] = *d.input_margin;
    if (d.output_margin) dj["cost"]["output_margin"] = *d.output_margin;
    if (d.daily_nodes)
      dj["daily"] = {{"nodes", *d.daily_nodes}, {"cost_usd", *d.daily_cost_usd}, {"revenue_usd", *d.daily_revenue_usd},
                     {"margin", d.daily_margin ? nlohmann::ordered_json(*d.daily_margin) : nlohmann::ordered_json(nullptr)}};
    if (d.meets_slo) dj["meets_slo"] = *d.meets_slo;
    j["deployments"].push_back(dj);
  }
  if (r.kv_reduction) j["kv_reduction"] = *r.kv_reduction;
  if (r.throughput_ratio) j["throughput_ratio"] = *r.throughput_ratio;
  if (s.prices)
    j["price_list"] = {{"name", s.prices->name}, {"date", s.prices->date}, {"source", s.prices->source},
                       {"input_cache_hit_usd", s.prices->input_cache_hit_usd},
                       {"input_cache_miss_usd", s.prices->input_cache_miss_usd}, {"output_usd", s.prices->output_usd}};
  j["published"] = nlohmann::ordered_json::array();
  for (const ServingComparison& c : r.comparisons)
    j["published"].push_back({{"figure", c.key}, {"meaning", c.meaning}, {"simulated", c.simulated},
                              {"published", c.published}, {"error", c.simulated / c.published - 1}, {"source", c.source}});
  j["assumptions"] = r.assumptions;
  return j;
}

void write_serve_terminal(const ServingScenario& s, const ServeResult& r, std::ostream& out) {
  out << s.title << " (" << s.name << ")\n  " << requests_text(s, r) << "\n\n";
  out << fmt::format("{:<22}{:>6}{:>14}{:>12}{:>12}{:>18}{:>18}{:>18}{:>9}{:>9}\n", "deployment", "GPUs", "KV B/token",
                     "prompt t/s", "output t/s", "TTFT P50/P99", "TPOT P50/P99", "ITL P50/P99", "$/M in", "$/M out");
  out << fmt::format("{:<22}{:>6}{:>14}{:>12}{:>12}{:>18}{:>18}{:>18}{:>9}{:>9}\n", "", "", "(whole model)", "per GPU,",
                     "per GPU,", "", "", "", "", "");
  out << fmt::format("{:<22}{:>6}{:>14}{:>12}{:>12}{:>18}{:>18}{:>18}{:>9}{:>9}\n", "", "", "", "whole run", "whole run",
                     "", "", "", "", "");
  for (const DeploymentResult& d : r.deployments)
    out << fmt::format("{:<22}{:>6}{:>14}{:>12}{:>12}{:>18}{:>18}{:>18}{:>9.3f}{:>9.3f}\n", d.name.substr(0, 21), d.gpus,
                       grouped(d.kv_bytes_per_token), grouped(d.input_tokens_per_s_per_gpu),
                       grouped(d.output_tokens_per_s_per_gpu), p50_p99(d.ttft), p50_p99(d.tpot), p50_p99(d.token_interval),
                       d.usd_per_million_input, d.usd_per_million_output);
  out << fmt::format("\n{:<22}{:>12}{:>14}{:>14}{:>14}\n", "per answer", "answer", "GPU-seconds", "USD", "latency P50");
  for (std::size_t k = 0; k < r.deployments.size(); ++k) {
    const DeploymentResult& d = r.deployments[k];
    const TokenLengths& o = s.deployments[k].requests(s.requests).output;
    out << fmt::format("{:<22}{:>12}{:>14.2f}{:>14.5f}{:>14}\n", d.name.substr(0, 21),
                       s.requests.arrival == Arrival::trace ? std::string("trace") : fmt::format("{:.0f} tok", o.mean),
                       d.gpu_seconds_per_request, d.usd_per_request, ms(d.latency.p50));
  }
  out << "\nPools (rates per node while requests waited for a slot, the pool at capacity (*), else while busy; "
         "utilisation = busy / the whole run)\n";
  out << fmt::format("  {:<20}{:<9}{:>10}{:>10}{:>13}{:>7}{:>16}{:>10}{:>15}{:>15}\n", "deployment", "role", "instances",
                     "weights", "KV tokens", "busy", "running", "evicted", "prompt t/s", "output t/s");
  out << fmt::format("  {:<20}{:<9}{:>10}{:>10}{:>13}{:>7}{:>16}{:>10}{:>15}{:>15}\n", "", "", "x GPUs", "GB/GPU",
                     "per GPU", "", "mean / peak", "", "per node", "per node");
  for (const DeploymentResult& d : r.deployments)
    for (const PoolResult& p : d.pools)
      out << fmt::format("  {:<20}{:<9}{:>10}{:>10.1f}{:>13}{:>6.0f}%{:>16}{:>10}{:>15}{:>15}\n", d.name.substr(0, 19),
                         role_name(p.role), fmt::format("{} x {}", p.instances, p.instance_gpus), p.weight_bytes_per_gpu / 1e9,
                         grouped(static_cast<double>(p.kv_capacity_tokens_per_gpu)), 100 * p.utilisation,
                         fmt::format("{:.0f} / {:.0f}", p.mean_running, p.peak_running), p.preemptions,
                         grouped(p.input_tokens_per_s_per_node) + (p.at_capacity ? "*" : " "),
                         grouped(p.output_tokens_per_s_per_node) + (p.at_capacity ? "*" : " "));
  if (r.kv_reduction || r.throughput_ratio) {
    out << fmt::format("\n{} against {}:", r.deployments.back().name, r.deployments.front().name);
    if (r.kv_reduction) out << fmt::format(" KV cache per token {:.1f}% smaller", 100 * *r.kv_reduction);
    if (r.throughput_ratio) out << fmt::format("; output throughput per GPU {:.2f}x", *r.throughput_ratio);
    out << "\n";
  }
  if (s.prices) {
    out << fmt::format("\nAgainst the price list {} ({}): ${:.2f} / ${:.2f} per million prompt tokens (cache hit / miss), "
                       "${:.2f} per million answer tokens\n",
                       s.prices->name, s.prices->date, s.prices->input_cache_hit_usd, s.prices->input_cache_miss_usd,
                       s.prices->output_usd);
    for (const DeploymentResult& d : r.deployments) {
      out << fmt::format("  {}: cost ${:.3f} / ${:.3f} per million prompt / answer tokens at ${:.2f} per GPU-hour", d.name,
                         d.usd_per_million_input, d.usd_per_million_output, d.gpu_hour_usd);
      if (d.input_margin && d.output_margin)
        out << fmt::format("; the price is {} / {} cost", margin_text(*d.input_margin), margin_text(*d.output_margin));
      out << "\n";
      if (d.daily_nodes)
        out << fmt::format("  a day of the traffic: {:.1f} nodes busy on average, ${} rental, ${} at the price list, margin {}\n",
                           *d.daily_nodes, grouped(*d.daily_cost_usd), grouped(*d.daily_revenue_usd),
                           d.daily_margin ? fmt::format("{:.0f}%", 100 * *d.daily_margin) : "n/a (no rental cost)");
    }
  }
  if (!r.comparisons.empty()) {
    out << "\nPublished beside simulated\n";
    for (const ServingComparison& c : r.comparisons)
      out << fmt::format("  {:<30}{:>14}{:>14}{:>+9.1f}%  {}\n", c.key, figure_text(c.key, c.simulated),
                         figure_text(c.key, c.published), 100 * (c.simulated / c.published - 1), c.source);
    out << fmt::format("  {:<30}{:>14}{:>14}\n", "", "(simulated)", "(published)");
  }
  for (const DeploymentResult& d : r.deployments)
    if (d.meets_slo)
      out << fmt::format("\n{}: {} the SLO ({})\n", d.name, *d.meets_slo ? "meets" : "misses", slo_text(s.slo));
  out << "\nAssumptions\n";
  for (const std::string& a : r.assumptions) out << "  - " << a << "\n";
}

void write_serve_csv(const ServeResult& r, std::ostream& out) {
  out << "deployment,gpus,kv_bytes_per_token,input_tokens_per_s_per_gpu,output_tokens_per_s_per_gpu,ttft_p50_s,ttft_p99_s,"
         "tpot_p50_s,tpot_p99_s,itl_p50_s,itl_p99_s,usd_per_million_input,usd_per_million_output,usd_per_answer\n";
  const auto cell = [](const LatencyPercentiles& l, double v) { return l.defined ? fmt::format("{:.6g}", v) : std::string(); };
  for (const DeploymentResult& d : r.deployments)
    out << fmt::format("{},{},{:.6g},{:.6g},{:.6g},{},{},{},{},{},{},{:.6g},{:.6g},{:.6g}\n", d.name, d.gpus, d.kv_bytes_per_token,
                       d.input_tokens_per_s_per_gpu, d.output_tokens_per_s_per_gpu, cell(d.ttft, d.ttft.p50),
                       cell(d.ttft, d.ttft.p99), cell(d.tpot, d.tpot.p50), cell(d.tpot, d.tpot.p99),
                       cell(d.token_interval, d.token_interval.p50), cell(d.token_interval, d.token_interval.p99),
                       d.usd_per_million_input, d.usd_per_million_output, d.usd_per_request);
}

void write_serve_html(const ServingScenario& s, const ServeResult& r, std::ostream& out) {
  TablePage t;
  t.title = s.title;
  const DeploymentResult& a = r.deployments.front();
  t.headline = fmt::format("{} serves {} answer tokens per second per GPU at ${:.2f} per million answer tokens "
                           "(P99 time to first token {}, P99 time per output token {}).",
                           a.name, grouped(a.output_tokens_per_s_per_gpu), a.usd_per_million_output, ms(a.ttft.p99), ms(a.tpot.p99));
  t.chart_title = "Answer tokens per second per GPU";
  t.bar_unit = "tokens/s";
  for (const DeploymentResult& d : r.deployments) t.bars.emplace_back(d.name, d.output_tokens_per_s_per_gpu);
  t.header = {"deployment", "GPUs", "KV bytes/token", "prompt tokens/s/GPU (whole run)", "answer tokens/s/GPU (whole run)",
              "TTFT P50 / P99", "TPOT P50 / P99", "ITL P50 / P99", "$/M prompt", "$/M answer"};
  for (const DeploymentResult& d : r.deployments)
    t.rows.push_back({d.name, std::to_string(d.gpus), grouped(d.kv_bytes_per_token), grouped(d.input_tokens_per_s_per_gpu),
                      grouped(d.output_tokens_per_s_per_gpu), p50_p99(d.ttft), p50_p99(d.tpot), p50_p99(d.token_interval),
                      fmt::format("{:.3f}", d.usd_per_million_input),
                      fmt::format("{:.3f}", d.usd_per_million_output)});
  t.notes.push_back(requests_text(s, r));
  for (const ServingComparison& c : r.comparisons)
    t.notes.push_back(fmt::format("{} ({}): simulated {}, published {} ({})", c.key, c.meaning, figure_text(c.key, c.simulated),
                                  figure_text(c.key, c.published), c.source));
  for (const DeploymentResult& d : r.deployments)
    if (d.daily_nodes && d.daily_margin)
      t.notes.push_back(fmt::format("{}: a day of the traffic takes {:.1f} nodes on average, ${} rental against ${} at {}: "
                                    "margin {:.0f}%",
                                    d.name, *d.daily_nodes, grouped(*d.daily_cost_usd), grouped(*d.daily_revenue_usd),
                                    s.prices->name, 100 * *d.daily_margin));
  for (const std::string& a : r.assumptions) t.notes.push_back("Assumed: " + a);
  t.terms = {"TTFT", "TPOT", "ITL", "KV cache", "P50 / P99", "disaggregation"};
  write_table_html(t, out);
}

namespace {
// An SLO's P99 targets, null where it sets none.
nlohmann::ordered_json slo_targets_json(const Slo& slo) {
  const auto opt = [](const std::optional<double>& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr); };
  return {{"ttft_p99_seconds", opt(slo.ttft_seconds)}, {"tpot_p99_seconds", opt(slo.tpot_seconds)},
          {"itl_p99_seconds", opt(slo.token_interval_seconds)}};
}

std::string layout_text(const SloTry& t) {
  return fmt::format("{} x tp{}{}", t.instances, t.layout.tp, t.layout.ep > 1 ? fmt::format(" ep{}", t.layout.ep) : "");
}
}  // namespace

void write_slo_terminal(const ServingScenario& s, const std::vector<SloChoice>& choices, std::ostream& out) {
  out << s.title << ": the cheapest decoding batch limit (the least busy GPU-time per request) within "
      << slo_text(s.slo) << "\n";
  for (const SloChoice& c : choices) {
    out << fmt::format("\n{}\n  {:>16}{:>14}{:>16}{:>14}{:>14}{:>14}{:>12}{:>14}{:>6}\n", c.deployment, "instances",
                       "max running", "answer t/s/node", "TTFT P99", "TPOT P99", "ITL P99", "$/M out", "$/1k requests", "SLO");
    for (std::size_t i = 0; i < c.tried.size(); ++i) {
      const SloTry& t = c.tried[i];
      const DeploymentResult& d = t.result;
      const PoolResult& p = d.pools.back();
      out << fmt::format("  {:>16}{:>14}{:>16}{:>14}{:>14}{:>14}{:>12.3f}{:>14.4g}{:>6}{}\n", layout_text(t),
                         t.layout.max_sequences, grouped(p.output_tokens_per_s_per_node), ms(d.ttft.p99), ms(d.tpot.p99),
                         ms(d.token_interval.p99), d.usd_per_million_output, 1000 * d.usd_per_request, *d.meets_slo ? "yes" : "no",
                         c.best && *c.best == static_cast<int>(i) ? "  <- best" : "");
    }
    if (c.not_drained > 0)
      out << fmt::format("  skipped: {} layout and batch limit pairs whose instances did not drain the requests within "
                         "the iteration limit\n", c.not_drained);
    const SloTry& b = c.tried[static_cast<std::size_t>(*c.best)];
    out << fmt::format("  best: {} instance{} of tp {}, ep {} ({} GPUs each), at most {} running sequences per instance\n",
                       b.instances, b.instances == 1 ? "" : "s", b.layout.tp, b.layout.ep, b.layout.gpus(), b.layout.max_sequences);
  }
}

nlohmann::ordered_json slo_json(const ServingScenario& s, const std::vector<SloChoice>& choices) {
  nlohmann::ordered_json j;
  j["scenario"] = s.name;
  j["slo"] = slo_targets_json(s.slo);
  j["deployments"] = nlohmann::ordered_json::array();
  const auto layout = [](const SloTry& t) {
    return nlohmann::ordered_json{{"instances", t.instances}, {"tp", t.layout.tp}, {"ep", t.layout.ep},
                                  {"max_sequences", t.layout.max_sequences}};
  };
  for (const SloChoice& c : choices) {
    nlohmann::ordered_json cj = {{"name", c.deployment}, {"tried", nlohmann::ordered_json::array()}};
    for (const SloTry& t : c.tried) {
      nlohmann::ordered_json tj = layout(t);
      const DeploymentResult& d = t.result;
      tj.update({{"output_tokens_per_s_per_gpu", d.output_tokens_per_s_per_gpu},
                 {"output_tokens_per_s_per_node", d.pools.back().output_tokens_per_s_per_node},
                 {"ttft_p99_seconds", d.ttft.p99}, {"tpot_p99_seconds", d.tpot.p99},
                 {"itl_p99_seconds", d.token_interval.p99},
                 {"usd_per_million_output", d.usd_per_million_output}, {"usd_per_request", d.usd_per_request},
                 {"meets_slo", *d.meets_slo}});
      cj["tried"].push_back(std::move(tj));
    }
    cj["not_drained"] = c.not_drained;
    cj["best"] = layout(c.tried[static_cast<std::size_t>(*c.best)]);
    j["deployments"].push_back(cj);
  }
  return j;
}

void write_max_rate_terminal(const ServingScenario& s, const std::vector<MaxRate>& rates, std::ostream& out) {
  out << s.title << ": the highest Poisson arrival rate within " << slo_text(s.slo) << " (to 0.5%, " << s.requests.count
      << " requests, seed " << s.requests.seed << ")\n";
  out << fmt::format("\n{:<20}{:>14}{:>18}{:>14}{:>14}{:>14}{:>14}\n", "deployment", "requests/s", "answer t/s/GPU", "TTFT P99",
                     "TPOT P99", "ITL P99", "busy");
  for (const MaxRate& m : rates) {
    const DeploymentResult& d = m.result;
    out << fmt::format("{:<20}{:>14.4g}{:>18}{:>14}{:>14}{:>14}{:>13.0f}%\n", m.deployment, m.rate_per_s,
                       grouped(d.output_tokens_per_s_per_gpu), ms(d.ttft.p99), ms(d.tpot.p99), ms(d.token_interval.p99),
                       100 * d.pools.back().utilisation);
  }
}

nlohmann::ordered_json max_rate_json(const ServingScenario& s, const std::vector<MaxRate>& rates) {
  nlohmann::ordered_json j;
  j["scenario"] = s.name;
  j["slo"] = slo_targets_json(s.slo);
  j["deployments"] = nlohmann::ordered_json::array();
  for (const MaxRate& m : rates) {
    const DeploymentResult& d = m.result;
    j["deployments"].push_back({{"name", m.deployment},
                                {"max_rate_per_s", m.rate_per_s},
                                {"failing_rate_per_s", m.failing_rate_per_s},
                                {"output_tokens_per_s_per_gpu", d.output_tokens_per_s_per_gpu},
                                {"ttft_p99_seconds", d.ttft.p99},
                                {"tpot_p99_seconds", d.tpot.p99},
                                {"itl_p99_seconds", d.token_interval.p99}});
  }
  return j;
}

}  // namespace gpuhours
