// Units: simulated time as integer nanoseconds, and parsing of quantities with units
// ("3.35 TB/s", "80 GiB", "989.4 TFLOP/s", "2 us", "700 W") from data files.
#pragma once
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace gpuhours {

/// Simulated time or duration in integer nanoseconds (2^63 ns ~ 292 years).
class Time {
 public:
  constexpr Time() = default;
  static constexpr Time ns(std::int64_t v) { return Time{v}; }
  /// Rounds up so that a transfer or kernel never ends early.
  static Time from_seconds_ceil(double s);
  constexpr std::int64_t count_ns() const { return ns_; }
  constexpr double seconds() const { return static_cast<double>(ns_) * 1e-9; }
  friend constexpr auto operator<=>(Time, Time) = default;
  friend constexpr Time operator+(Time a, Time b) { return Time{a.ns_ + b.ns_}; }
  friend constexpr Time operator-(Time a, Time b) { return Time{a.ns_ - b.ns_}; }

 private:
  constexpr explicit Time(std::int64_t v) : ns_(v) {}
  std::int64_t ns_ = 0;
};

/// Physical dimension of a quantity read from a data file.
enum class Dimension { bytes, bytes_per_second, flops_per_second, seconds, watts, hertz, ratio };

/// Parses "<number> <unit>" into SI base units (bytes, bytes/s, FLOP/s, s, W, Hz).
/// Decimal prefixes (k, M, G, T, P) are powers of 1000, binary ones (Ki, Mi, Gi, Ti) of 1024.
/// "Gb/s" (lower-case b) is bits per second. Throws std::invalid_argument with a readable reason.
double parse_quantity(std::string_view text, Dimension dim);

/// Human name of a dimension with an example, for error messages.
std::string dimension_example(Dimension dim);

/// A number for prose, to 3 significant figures with a k/M/B suffix: 2391771 -> "2.39M",
/// 116518 -> "117k", 48.7 -> "48.7", 0.004871 -> "0.00487".
std::string three_figures(double v);

}  // namespace gpuhours
