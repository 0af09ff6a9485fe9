// Reports of gpuhours serve: terminal, JSON, CSV and one HTML page; and of serve --slo and --max-rate.
#pragma once
#include <iosfwd>

#include <nlohmann/json.hpp>

#include "gpuhours/serve.hpp"

namespace gpuhours {

nlohmann::ordered_json serve_json(const ServingScenario& s, const ServeResult& r);
void write_serve_terminal(const ServingScenario& s, const ServeResult& r, std::ostream& out);
void write_serve_csv(const ServeResult& r, std::ostream& out);
void write_serve_html(const ServingScenario& s, const ServeResult& r, std::ostream& out);
void write_slo_terminal(const ServingScenario& s, const std::vector<SloChoice>& choices, std::ostream& out);
nlohmann::ordered_json slo_json(const ServingScenario& s, const std::vector<SloChoice>& choices);
void write_max_rate_terminal(const ServingScenario& s, const std::vector<MaxRate>& rates, std::ostream& out);
nlohmann::ordered_json max_rate_json(const ServingScenario& s, const std::vector<MaxRate>& rates);

}  // namespace gpuhours
