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

/// How FP8 GEMM operands get their scales (Transformer Engine's recipes, transformer_engine.common.recipe):
/// delayed (DelayedScaling, TE's and Megatron-Core's default) casts with the scale of earlier
/// steps' amax history and records the tensor's amax in the same pass; current (Float8CurrentScaling)
/// first reads the tensor for its amax, then casts it; blockwise (Float8BlockScaling, DeepSeek-V3 §3.3:
/// 1x128 activation tiles, 128x128 weight blocks) scales each tile in the one casting pass.
enum class Fp8Recipe { delayed, current, blockwise };
template <>
struct EnumTable<Fp8Recipe> {
  static constexpr std::array<EnumName<Fp8Recipe>, 3> names{
      {{Fp8Recipe::delayed, "delayed"}, {Fp8Recipe::current, "current"}, {Fp8Recipe::blockwise, "blockwise"}}};
};
inline const char* to_string(Fp8Recipe r) { return name_of(r); }

/// Bytes of one element: BF16 2 (IEEE half width), FP8 1 (E4M3/E5M2, Micikevicius et al. 2022).
constexpr double bytes_per_element(Precision p) { return p == Precision::fp8 ? 1.0 : 2.0; }

}  // namespace gpuhours
