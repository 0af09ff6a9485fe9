#include <doctest/doctest.h>

#include <stdexcept>

#include "gpuhours/units.hpp"

using namespace gpuhours;

TEST_CASE("parse_quantity converts units and distinguishes decimal from binary prefixes") {
  CHECK(parse_quantity("3.35 TB/s", Dimension::bytes_per_second) == doctest::Approx(3.35e12));
  CHECK(parse_quantity("400 Gb/s", Dimension::bytes_per_second) == doctest::Approx(50e9));
  CHECK(parse_quantity("80 GB", Dimension::bytes) == doctest::Approx(80e9));
  CHECK(parse_quantity("80 GiB", Dimension::bytes) == doctest::Approx(80.0 * 1073741824.0));
  CHECK(parse_quantity("989.4 TFLOP/s", Dimension::flops_per_second) == doctest::Approx(989.4e12));
  CHECK(parse_quantity("2 us", Dimension::seconds) == doctest::Approx(2e-6));
  CHECK(parse_quantity("1830 MHz", Dimension::hertz) == doctest::Approx(1.83e9));
  CHECK(parse_quantity("700 W", Dimension::watts) == doctest::Approx(700.0));
  CHECK(parse_quantity("0.75", Dimension::ratio) == doctest::Approx(0.75));
}

TEST_CASE("parse_quantity rejects a wrong dimension or a missing number") {
  CHECK_THROWS_AS(parse_quantity("80 GB", Dimension::bytes_per_second), std::invalid_argument);
  CHECK_THROWS_AS(parse_quantity("fast", Dimension::bytes_per_second), std::invalid_argument);
  CHECK_THROWS_AS(parse_quantity("3 parsecs", Dimension::seconds), std::invalid_argument);
  CHECK_THROWS_AS(parse_quantity("0.5 W", Dimension::ratio), std::invalid_argument);
}

TEST_CASE("Time rounds durations up to whole nanoseconds") {
  CHECK(Time::from_seconds_ceil(1.5e-6).count_ns() == 1500);
  CHECK(Time::from_seconds_ceil(1.0000001e-9).count_ns() == 2);
  CHECK(Time::from_seconds_ceil(0.0).count_ns() == 0);
  CHECK(Time::from_seconds_ceil(2.0).seconds() == 2.0);
}

TEST_CASE("numbers in prose carry three significant figures") {
  CHECK(three_figures(2391771) == "2.39M");
  CHECK(three_figures(2.788e6) == "2.79M");
  CHECK(three_figures(116518) == "117k");
  CHECK(three_figures(999.6) == "1.00k");  // rounds into the next unit, not "1000"
  CHECK(three_figures(48.654) == "48.7");
  CHECK(three_figures(0.0048713) == "0.00487");
  CHECK(three_figures(4.45e9) == "4.45B");
  CHECK(three_figures(-2.5e6) == "-2.50M");
  CHECK(three_figures(0) == "0");
}
