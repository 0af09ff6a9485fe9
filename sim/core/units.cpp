#include "gpuhours/units.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpuhours/error.hpp"

namespace gpuhours {

Time Time::from_seconds_ceil(double s) {
  GPUHOURS_ASSERT(std::isfinite(s) && s >= 0.0, "durations are finite and non-negative");
  // Subtract a relative 1e-12 before ceil so that exact products like 0.5e-6 s do not become 501 ns
  // through binary rounding; the result is still never shorter than the true value by >1e-12 s.
  const double ns = s * 1e9;
  return Time::ns(static_cast<std::int64_t>(std::ceil(ns - ns * 1e-12)));
}

void assertion_failed(const char* cond, const char* why, const char* file, int line) {
  std::fprintf(stderr, "gpuhours internal error: %s (%s) at %s:%d\n", why, cond, file, line);
  std::abort();
}

namespace {

struct Unit {
  const char* name;
  Dimension dim;
  double factor;
};

// Unit names accepted per dimension; prefixes are handled separately.
const std::vector<Unit>& units() {
  static const std::vector<Unit> table = {
      {"B", Dimension::bytes, 1.0},           {"B/s", Dimension::bytes_per_second, 1.0},
      {"b/s", Dimension::bytes_per_second, 0.125},
      {"FLOP/s", Dimension::flops_per_second, 1.0},
      {"FLOPS", Dimension::flops_per_second, 1.0},
      {"s", Dimension::seconds, 1.0},         {"W", Dimension::watts, 1.0},
      {"Hz", Dimension::hertz, 1.0},
  };
  return table;
}

double prefix_factor(std::string_view p, bool& ok) {
  ok = true;
  if (p.empty()) return 1.0;
  if (p == "k" || p == "K") return 1e3;
  if (p == "M") return 1e6;
  if (p == "G") return 1e9;
  if (p == "T") return 1e12;
  if (p == "P") return 1e15;
  if (p == "Ki") return 1024.0;
  if (p == "Mi") return 1024.0 * 1024;
  if (p == "Gi") return 1024.0 * 1024 * 1024;
  if (p == "Ti") return 1024.0 * 1024 * 1024 * 1024;
  if (p == "m") return 1e-3;
  if (p == "u" || p == "µ") return 1e-6;
  if (p == "n") return 1e-9;
  ok = false;
  return 0.0;
}

}  // namespace

std::string dimension_example(Dimension dim) {
  switch (dim) {
    case Dimension::bytes: return "a size like \"80 GB\" or \"50 MiB\"";
    case Dimension::bytes_per_second: return "a bandwidth like \"3.35 TB/s\" or \"400 Gb/s\"";
    case Dimension::flops_per_second: return "a throughput like \"989.4 TFLOP/s\"";
    case Dimension::seconds: return "a time like \"2 us\" or \"1.5 s\"";
    case Dimension::watts: return "a power like \"700 W\"";
    case Dimension::hertz: return "a frequency like \"1830 MHz\"";
    case Dimension::ratio: return "a plain number";
  }
  return "a quantity";
}

double parse_quantity(std::string_view text, Dimension dim) {
  std::string s(text);
  const char* begin = s.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(value))
    throw std::invalid_argument("expected " + dimension_example(dim) + ", got \"" + s + "\"");
  std::string unit(end);
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  while (!unit.empty() && unit.back() == ' ') unit.pop_back();
  if (dim == Dimension::ratio) {
    if (!unit.empty())
      throw std::invalid_argument("expected a plain number, got \"" + s + "\"");
    return value;
  }
  for (const Unit& u : units()) {
    if (u.dim != dim) continue;
    const std::string name = u.name;
    if (unit.size() < name.size() || unit.compare(unit.size() - name.size(), name.size(), name))
      continue;
    bool ok = false;
    const double f = prefix_factor(std::string_view(unit).substr(0, unit.size() - name.size()), ok);
    if (ok) {
      const double scaled = value * f * u.factor;
      if (!std::isfinite(scaled)) throw std::invalid_argument("\"" + s + "\" is out of range");
      return scaled;
    }
  }
  throw std::invalid_argument("expected " + dimension_example(dim) + ", got \"" + s + "\"");
}

std::string three_figures(double v) {
  if (!std::isfinite(v)) return "n/a";
  const double a = std::fabs(v);
  const char* suffix = "";
  double x = v;
  if (a >= 999.5e6) x = v / 1e9, suffix = "B";
  else if (a >= 999.5e3) x = v / 1e6, suffix = "M";
  else if (a >= 999.5) x = v / 1e3, suffix = "k";
  const double ax = std::fabs(x);
  int decimals = ax > 0 ? std::max(0, 2 - static_cast<int>(std::floor(std::log10(ax)))) : 0;
  // 0.9996 rounds to 1.000 at three decimals: one order up, so one decimal fewer.
  if (decimals > 0 && std::fabs(std::round(x * std::pow(10.0, decimals))) >= 1000) --decimals;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, x, suffix);
  return buf;
}

}  // namespace gpuhours
