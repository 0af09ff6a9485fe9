// The validation suite (tests/validation/*.yaml) against published and measured runs.
#include <doctest/doctest.h>

#include <set>

#include "gpuhours/validation.hpp"

using namespace gpuhours;

TEST_CASE("validation: published runs across A100, H100 and H800 within the limits") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const ValidationReport rep = run_validation(catalog, std::string(GPUHOURS_DATA_DIR) + "/tests/validation");
  std::set<std::string> hardware;
  int megatron = 0, megatron_within = 0;
  for (const auto& c : rep.cases) {
    hardware.insert(c.hardware);
    if (c.id.rfind("megatron2021-gpt", 0) == 0) {
      ++megatron;
      megatron_within += std::abs(c.error()) <= 0.15;
    }
  }
  MESSAGE("MAPE ", 100 * rep.all.mape, "% over ", rep.cases.size(), " cases, worst ", 100 * rep.all.worst, "%");
  CHECK(rep.cases.size() >= 40);
  CHECK(hardware.count("A100") == 1);
  CHECK(hardware.count("H100") == 1);
  CHECK(hardware.count("H800") == 1);
  // Narayanan et al. 2021, Table 1: iteration time within 15% for at least 8 of the 10 rows
  // (Calculon, run out of the box on the same rows: 3 of 10, mean error 17.3%).
  CHECK(megatron == 10);
  CHECK(megatron_within >= 8);
  CHECK(rep.gated.mape <= kValidationGate.mean);
  CHECK(rep.gated.worst <= kValidationGate.any_case);
  CHECK(rep.passed());
}
