#include "gpuhours/report.hpp"

#include "gpuhours/kernels.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/units.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <ostream>

namespace gpuhours {

namespace {

nlohmann::ordered_json optional_number(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

// A number in plain words with a thousands separator: 2788000 -> "2,788,000".
std::string grouped(double v) {
  std::string digits = fmt::format("{:.0f}", v);
  std::string out;
  const bool neg = !digits.empty() && digits[0] == '-';
  if (neg) digits.erase(0, 1);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return neg ? "-" + out : out;
}

namespace {

std::string human(double v) {
  if (v >= 1e12) return fmt::format("{:.2f} trillion", v / 1e12);
  if (v >= 1e9) return fmt::format("{:.2f} billion", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f} million", v / 1e6);
  return grouped(v);
}

}  // namespace

nlohmann::ordered_json report_json(const Report& r) {
  const auto& s = r.scenario;
  const auto& st = r.step;
  const ParamCount params = count_params(s.model);
  nlohmann::ordered_json j;
  j["scenario"] = s.name;
  j["title"] = s.title;
  j["gpus"] = s.cluster.gpus();
  j["gpu"] = s.cluster.gpu.name;
  j["model"] = {{"name", s.model.name},
                {"params_total", params.total},
                {"params_active", params.active},
                {"params_mtp", params.mtp},
                {"flops_per_token", st.model_flops_per_token}};
  nlohmann::ordered_json by_kind = nlohmann::ordered_json::object();
  for (const auto& [k, v] : st.exposed_communication_by_kind) by_kind[k] = v;
  nlohmann::ordered_json streams = nlohmann::ordered_json::array();
  for (const auto& su : st.streams)
    streams.push_back({{"rank", su.rank}, {"stream", su.name}, {"busy_seconds", su.busy_seconds},
                       {"utilisation", su.utilisation}});
  j["step"] = {{"seconds", st.seconds},
               {"tokens", st.tokens},
               {"tokens_per_gpu_second", st.tokens_per_gpu_second},
               {"model_flops_per_token", st.model_flops_per_token},
               {"mfu", st.mfu},
               {"peak_memory_bytes", static_cast<std::int64_t>(st.peak.total())},
               {"breakdown_seconds",
                {{"compute", st.breakdown.compute},
                 {"exposed_communication", st.breakdown.exposed_communication},
                 {"bubble", st.breakdown.bubble},
                 {"optimizer", st.breakdown.optimizer},
                 {"waiting_for_host", st.breakdown.waiting_for_host}}},
               {"exposed_communication_seconds_by_kind", by_kind},
               {"memory_bytes",
                {{"stage", st.peak.rank},
                 {"weights", static_cast<std::int64_t>(st.peak.weights)},
                 {"gradients", static_cast<std::int64_t>(st.peak.gradients)},
                 {"optimizer", static_cast<std::int64_t>(st.peak.optimizer)},
                 {"activations", static_cast<std::int64_t>(st.peak.activations)},
                 {"buffers", static_cast<std::int64_t>(st.peak.buffers)},
                 {"fragmentation", static_cast<std::int64_t>(st.peak.fragmentation)}}},
               {"communication_bytes_per_gpu", st.comm_bytes_per_step},
               {"dp", st.dp},
               {"micro_batches", st.micro_batches},
               {"streams", streams},
               {"simulated_tasks", st.tasks}};
  // With flows (cluster: {flows: true}): the most loaded links, busiest first.
  for (const StepResult::LinkLoad& l : st.busiest_links)
    j["step"]["busiest_links"].push_back({{"link", l.link}, {"bytes", l.bytes}, {"busy", l.busy}, {"links_as_busy", l.as_busy}});
  nlohmann::ordered_json phases = nlohmann::ordered_json::array();
  for (const PhaseResult& p : r.run.phases)
    phases.push_back({{"name", p.name}, {"kind", p.kind}, {"simulated", p.simulated}, {"gpus", p.gpus},
                      {"tokens", p.tokens}, {"seq_len", p.seq_len}, {"global_batch", p.global_batch},
                      {"steps", p.steps}, {"step_seconds", p.step_seconds}, {"mfu", p.mfu},
                      {"model_flops", p.model_flops}, {"gpu_hours", p.gpu_hours},
                      {"generation_gpu_hours", p.generation_gpu_hours}, {"output_tokens", p.output_tokens},
                      {"output_tokens_per_gpu_second", p.output_tokens_per_gpu_second},
                      {"api_usd", optional_number(p.api_usd)}, {"wall_clock_days", p.wall_clock_days},
                      {"note", p.note}});
  const ReliabilityResult& rel = r.run.reliability;
  const CostResult& c = r.run.costs;
  nlohmann::ordered_json presets = nlohmann::ordered_json::object();
  for (const auto& [k, v] : c.rental_presets_usd) presets[k] = v;
  j["run"] = {{"phases", phases},
              {"steps", r.run.steps},
              {"gpu_hours", r.run.gpu_hours},
              {"useful_gpu_hours", r.run.useful_gpu_hours},
              {"mfu", r.run.mfu},
              {"goodput", rel.goodput},
              {"wall_clock_days", r.run.wall_clock_days},
              {"cost_usd", r.run.cost_usd},
              {"energy_mwh", r.run.energy_mwh},
              {"co2_tonnes", s.cost.carbon_t_per_mwh ? nlohmann::ordered_json(r.run.co2_tonnes) : nlohmann::ordered_json(nullptr)},
              {"reliability",
               {{"enabled", rel.enabled},
                {"checkpoint_bytes", rel.checkpoint_bytes},
                {"checkpoint_seconds", rel.checkpoint_seconds},
                {"checkpoint_interval_seconds", rel.interval_seconds},
                {"mtbi_hours", rel.mtbi_hours},
                {"interruptions", rel.interruptions},
                {"checkpoint_gpu_hours", rel.checkpoint_gpu_hours},
                {"lost_gpu_hours", rel.lost_gpu_hours}}},
              {"costs",
               {{"rental_usd", c.rental_usd},
                {"rental_presets_usd", presets},
                {"owned_usd_per_gpu_hour", c.owned_usd_per_gpu_hour},
                {"owned_usd", c.owned_usd},
                {"owned_energy_usd", c.owned_energy_usd},
                {"programme_gpu_hours", c.programme_gpu_hours},
                {"programme_usd", c.programme_usd},
                {"programme_gpu_hours_range", c.programme_gpu_hours_range
                                                  ? nlohmann::ordered_json{c.programme_gpu_hours_range->first,
                                                                           c.programme_gpu_hours_range->second}
                                                  : nlohmann::ordered_json(nullptr)},
                {"fleet_usd_per_year", optional_number(c.fleet_usd_per_year)},
                {"api_usd", optional_number(c.api_usd)},
                {"api_route_usd", optional_number(c.api_route_usd)},
                {"fleet_capex_usd", s.cost.fleet ? nlohmann::ordered_json(s.cost.fleet->capex_usd) : nlohmann::ordered_json(nullptr)}}}};
  j["claim"] = {{"gpu_hours", optional_number(r.claim.gpu_hours)},
                {"ratio", optional_number(r.claim.ratio)},
                {"required_mfu", optional_number(r.claim.required_mfu)},
                {"cost_usd", optional_number(r.claim.cost_usd)},
                {"source", r.claim.source.empty() ? nlohmann::ordered_json(nullptr)
                                                  : nlohmann::ordered_json(r.claim.source)}};
  nlohmann::ordered_json claim_phases = nlohmann::ordered_json::array();
  for (const auto& p : r.claim.phases)
    claim_phases.push_back({{"name", p.name}, {"claimed_gpu_hours", p.claimed_gpu_hours}, {"simulated_gpu_hours", p.simulated_gpu_hours}});
  j["claim"]["phases"] = claim_phases;
  if (const auto& cal = s.cluster.calibration) {
    auto prov = [&](const char* k) {
      const auto it = cal->provenance.find(k);
      return it == cal->provenance.end() ? std::string() : it->second;
    };
    j["calibration"] = {{"profile", cal->name}, {"gpu", cal->gpu}, {"derived_from", cal->derived_from},
                        {"measured_on", prov("device")}, {"driver", prov("driver")}, {"cuda", prov("cuda")},
                        {"libraries", prov("libraries")}, {"date", prov("date")}};
  } else {
    j["calibration"] = nullptr;
  }
  j["assumptions"] = st.assumptions;
  const OwnedCostSpec& o = s.cost.owned;
  j["assumptions"].push_back(fmt::format(
      "energy: {:.0f} W TDP x {:.2f} average power x {:.2f} server overhead x PUE {:.2f} per GPU (Epoch AI's method)",
      s.cluster.gpu.tdp_watts, o.avg_power_fraction, o.server_power_factor, o.pue));
  if (rel.enabled)
    j["assumptions"].push_back(fmt::format(
        "reliability: {:.3g} interruptions per GPU-hour (Llama 3 default unless overridden), checkpoints at the "
        "Young/Daly interval, {:.0f} s restart", s.reliability.interruptions_per_gpu_hour, s.reliability.restart_seconds));
  j["sources"] = s.sources;
  return j;
}

void write_json(const Report& r, std::ostream& out) { out << report_json(r).dump(1) << "\n"; }

void write_csv(const Report& r, std::ostream& out) {
  const auto& st = r.step;
  out << "scenario,gpus,step_seconds,tokens_per_gpu_second,mfu,peak_memory_bytes,compute_seconds,"
         "exposed_communication_seconds,bubble_seconds,optimizer_seconds,gpu_hours,wall_clock_days,"
         "cost_usd,energy_mwh,waiting_for_host_seconds\n";  // columns added later go last
  out << fmt::format("{},{},{:.9g},{:.9g},{:.6f},{:.0f},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g}\n",
                     r.scenario.name, r.scenario.cluster.gpus(), st.seconds, st.tokens_per_gpu_second,
                     st.mfu, st.peak.total(), st.breakdown.compute,
                     st.breakdown.exposed_communication, st.breakdown.bubble, st.breakdown.optimizer,
                     r.run.gpu_hours, r.run.wall_clock_days, r.run.cost_usd, r.run.energy_mwh,
                     st.breakdown.waiting_for_host);
}

void write_terminal(const Report& r, std::ostream& out) {
  const auto& s = r.scenario;
  const auto& st = r.step;
  const double gib = 1024.0 * 1024 * 1024;
  out << s.title << "\n\n";
  const std::size_t later = s.training.phases.size();
  const std::string what =
      s.training.tokens > 0
          ? fmt::format("Training {} on {} x {} for {} tokens{}", s.model.title, s.cluster.gpus(), s.cluster.gpu.title,
                        human(s.training.tokens),
                        later == 0 ? std::string() : fmt::format(" and {} later phase{}", later, later > 1 ? "s" : ""))
          : fmt::format("The {} phase{} of {} on {} x {}", later, later > 1 ? "s" : "", s.model.title, s.cluster.gpus(),
                        s.cluster.gpu.title);
  // Prose: three significant figures (the tables below keep full values).
  out << fmt::format("{} take{} about {} GPU-hours ({} days of wall-clock time), about ${} at ${:.2f} per GPU-hour.\n",
                     what, s.training.tokens > 0 || later == 1 ? "s" : "", three_figures(r.run.gpu_hours),
                     three_figures(r.run.wall_clock_days), three_figures(r.run.cost_usd), s.cost.gpu_hour_usd);
  out << fmt::format(
      "{} step of {} tokens takes {:.3f} s, with the GPUs doing useful model arithmetic {:.1f}% of "
      "the time their datasheet allows (MFU).\n\n",
      s.training.tokens > 0 ? "Each" : "A training", grouped(static_cast<double>(st.tokens)), st.seconds, 100.0 * st.mfu);
  if (s.cluster.calibration)
    out << fmt::format("Kernel times come from the calibration profile {}.\n\n", s.cluster.calibration->name);
  else
    out << fmt::format("No kernel was measured on the {}: kernel times are a roofline estimate from its datasheet peaks "
                       "and measured ceilings, less certain than a calibration profile.\n\n",
                       s.cluster.gpu.title);
  out << "Step\n";
  out << fmt::format("  {:<34}{:>14.4f} s\n", "step time", st.seconds);
  out << fmt::format("  {:<34}{:>14.4f} s\n", "  compute", st.breakdown.compute);
  out << fmt::format("  {:<34}{:>14.4f} s\n", "  optimizer", st.breakdown.optimizer);
  out << fmt::format("  {:<34}{:>14.4f} s\n", "  exposed communication", st.breakdown.exposed_communication);
  out << fmt::format("  {:<34}{:>14.4f} s\n", "  waiting for the host", st.breakdown.waiting_for_host);
  out << fmt::format("  {:<34}{:>14.4f} s\n", "  idle (bubble)", st.breakdown.bubble);
  out << fmt::format("  {:<34}{:>14.1f} tokens/s\n", "throughput per GPU", st.tokens_per_gpu_second);
  out << fmt::format("  {:<34}{:>14.1f} %\n", "MFU", 100.0 * st.mfu);
  out << fmt::format("  {:<34}{:>14.2f} GiB of {:.0f} GiB\n", "peak memory per GPU", st.peak.total() / gib,
                     s.cluster.gpu.hbm_bytes / gib);
  out << "Run\n";
  if (r.run.phases.size() > 1) {
    for (const PhaseResult& p : r.run.phases) {
      std::string detail;
      if (!p.simulated) detail = "  (" + p.note + ")";
      else if (p.kind == "generate")
        detail = fmt::format("  ({} output tokens on {} GPUs; {})", three_figures(p.output_tokens), p.gpus, p.note);
      else if (p.kind == "rl")
        detail = fmt::format("  ({} steps of {:.1f} s on {} GPUs; {})", grouped(p.steps), p.step_seconds, p.gpus, p.note);
      else
        detail = fmt::format("  ({} steps of {:.2f} s, seq {}, batch {})", grouped(p.steps), p.step_seconds, p.seq_len,
                             p.global_batch);
      out << fmt::format("  {:<34}{:>14} GPU-hours{}\n", "phase " + p.name, grouped(p.gpu_hours), detail);
      if (p.api_usd)
        out << fmt::format("  {:<34}{:>14} USD  (the same tokens bought from an API instead of {} GPU-hours)\n",
                           "  or through an API", grouped(*p.api_usd), grouped(p.gpu_hours));
    }
  }
  out << fmt::format("  {:<34}{:>14} \n", "steps", grouped(r.run.steps));
  const ReliabilityResult& rel = r.run.reliability;
  const CostResult& c = r.run.costs;
  out << fmt::format("  {:<34}{:>14} GPU-hours\n", "useful training", grouped(r.run.useful_gpu_hours));
  if (rel.enabled) {
    out << fmt::format("  {:<34}{:>14.1f} %  ({:.0f} interruptions, one per {:.1f} h; checkpoint every {:.0f} s)\n",
                       "goodput", 100 * rel.goodput, rel.interruptions, rel.mtbi_hours, rel.interval_seconds);
  }
  out << fmt::format("  {:<34}{:>14} GPU-hours\n", "compute, with interruptions", grouped(r.run.gpu_hours));
  out << fmt::format("  {:<34}{:>14.2f} days\n", "wall clock", r.run.wall_clock_days);
  out << fmt::format("  {:<34}{:>14} USD  (at ${:.2f} per GPU-hour)\n", "cost (rental)", grouped(r.run.cost_usd),
                     s.cost.gpu_hour_usd);
  for (const auto& [name, usd] : c.rental_presets_usd)
    out << fmt::format("  {:<34}{:>14} USD  (at ${:.2f})\n", "  rental: " + name, grouped(usd), s.cost.rental_presets.at(name));
  if (c.api_route_usd)
    out << fmt::format("  {:<34}{:>14} USD  (generation phases bought from an API: {} USD)\n", "cost (rental + API)",
                       grouped(*c.api_route_usd), grouped(*c.api_usd));
  out << fmt::format("  {:<34}{:>14} USD  (${:.2f} per GPU-hour, energy included)\n", "cost (owned cluster)",
                     grouped(c.owned_usd), c.owned_usd_per_gpu_hour);
  if (s.cost.programme) {
    out << fmt::format("  {:<34}{:>14} GPU-hours, {} USD  ({:g}x the run)\n", "whole programme", grouped(c.programme_gpu_hours),
                       grouped(c.programme_usd), s.cost.programme->multiplier);
    if (c.programme_gpu_hours_range)
      out << fmt::format("  {:<34}{:>14} to {} GPU-hours  ({:g}x to {:g}x: {})\n", "  its published range",
                         grouped(c.programme_gpu_hours_range->first), grouped(c.programme_gpu_hours_range->second),
                         s.cost.programme->range->first, s.cost.programme->range->second, s.cost.programme->range_source);
  }
  if (s.cost.fleet) {
    out << fmt::format("  {:<34}{:>14} USD  ({} GPUs; {})\n", "fleet capex", grouped(s.cost.fleet->capex_usd),
                       grouped(s.cost.fleet->gpus), s.cost.fleet->source);
    out << fmt::format("  {:<34}{:>14} USD  (capex at {:.0f}% amortisation + {:.0f}% cost of capital a year, and every GPU's "
                       "energy for a year)\n",
                       "fleet cost per year", grouped(*c.fleet_usd_per_year), 100 * s.cost.owned.amortisation_per_year,
                       100 * s.cost.owned.cost_of_capital_per_year);
  }
  out << fmt::format("  {:<34}{:>14.1f} MWh\n", "energy (facility)", r.run.energy_mwh);
  if (s.cost.carbon_t_per_mwh) out << fmt::format("  {:<34}{:>14.1f} t CO2\n", "emissions", r.run.co2_tonnes);
  if (r.claim.gpu_hours) {
    out << "Claim\n";
    out << fmt::format("  {:<34}{:>14} GPU-hours\n", "claimed", grouped(*r.claim.gpu_hours));
    out << fmt::format("  {:<34}{:>14.2f}\n", "claimed / simulated", *r.claim.ratio);
    if (r.claim.required_mfu)
      out << fmt::format("  {:<34}{:>14.1f} %\n", "MFU the claim requires", 100.0 * *r.claim.required_mfu);
    for (const auto& p : r.claim.phases)
      out << fmt::format("  {:<34}{:>14} GPU-hours claimed, {} simulated ({:.2f})\n", "  " + p.name,
                         grouped(p.claimed_gpu_hours), grouped(p.simulated_gpu_hours),
                         p.claimed_gpu_hours / p.simulated_gpu_hours);
    out << "  source: " << r.claim.source << "\n";
  }
  out << "Assumptions\n";
  for (const auto& a : st.assumptions) out << "  - " << a << "\n";
}

}  // namespace gpuhours

namespace gpuhours {

void write_explain(const Report& r, std::ostream& out) {
  const auto& st = r.step;
  const double gib = 1024.0 * 1024 * 1024;
  out << "\nPer pipeline stage (one GPU of each stage; parameters after tensor / expert sharding)\n";
  out << fmt::format("  {:>5} {:>6} {:>8} {:>11} {:>9} {:>9} {:>9} {:>11} {:>8} {:>9} {:>9}\n", "stage", "layers",
                     "params", "GFLOP/tok", "weights", "grads", "optim", "activations", "in-fl.", "other", "total");
  for (const StagePlan& p : st.stages) {
    const double flops = p.forward_flops_per_token;
    out << fmt::format("  {:>5} {:>6} {:>7.2f}B {:>11.2f} {:>7.2f}Gi {:>7.2f}Gi {:>7.2f}Gi {:>9.2f}Gi {:>8} {:>7.2f}Gi {:>7.2f}Gi\n",
                       p.rank, p.layers, p.params / 1e9, flops / 1e9, p.weights / gib, p.gradients / gib,
                       p.optimizer / gib, p.activations / gib, p.micro_batches_in_flight,
                       (p.buffers + p.fragmentation) / gib, p.total() / gib);
  }
  out << "\nCommunication per GPU and step (mean over pipeline stages)\n";
  for (const auto& [kind, bytes] : st.comm_bytes_per_step)
    out << fmt::format("  {:<24}{:>12.2f} GB\n", kind, bytes / 1e9);
  if (!st.busiest_links.empty()) {
    out << "\nMost loaded link of each kind (flows; bytes in the step, share of the step at full rate, links as loaded)\n";
    for (const StepResult::LinkLoad& l : st.busiest_links)
      out << fmt::format("  {:<44}{:>10.2f} GB {:>7.1f} % {:>7}\n", l.link, l.bytes / 1e9, 100 * l.busy, l.as_busy);
  }
  const ParamCount params = count_params(r.scenario.model);
  out << fmt::format("\nParameters of the model: {:.2f}B total, {:.2f}B active per token\n", params.total / 1e9,
                     params.active / 1e9);
}

}  // namespace gpuhours
