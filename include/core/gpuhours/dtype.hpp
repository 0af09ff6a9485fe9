// Number formats: the training precision and what each format costs per element.
#pragma once
#include <array>

#include "gpuhours/enums.hpp"

namespace gpuhours {

/// The precision of the linear layers' GEMMs (BF16, or FP8 as in DeepSeek-V3 §3.3).
enum class Precision { bf16, fp8 };
template <>
struct EnumTable<Precision> {
  static constexpr std::array<EnumName<Precision>, 2> names{{{Precision::bf16, "bf16"}, {Precision::fp8, "fp8"}}};
};
inline const char* to_string(Precision p) { return name_of(p); }

/// Bytes of one element: BF16 2 (IEEE half width), FP8 1 (E4M3/E5M2, Micikevicius et al. 2022).
constexpr double bytes_per_element(Precision p) { return p == Precision::fp8 ? 1.0 : 2.0; }

}  // namespace gpuhours
