// Which attention kernel a framework runs: it decides which measured table times attention.
#pragma once
#include <array>

#include "gpuhours/enums.hpp"

namespace gpuhours {

/// The attention kernel a framework runs. `fused`: a fused flash-style kernel as Transformer Engine
/// selects on Hopper and later (cuDNN's fused attention: "Disabling FlashAttention to give
/// FusedAttention preference on Hopper+", transformer_engine/pytorch/attention/dot_product_attention/
/// utils.py); `flash_attention_2`: FlashAttention-2 (Dao 2023), as PyTorch SDPA's flash backend;
/// `unfused`: separate QK^T, softmax, dropout and PV kernels (frameworks before FlashAttention).
enum class AttentionKernel { fused, flash_attention_2, unfused };
template <>
struct EnumTable<AttentionKernel> {
  static constexpr std::array<EnumName<AttentionKernel>, 3> names{{{AttentionKernel::fused, "fused"},
                                                                   {AttentionKernel::flash_attention_2, "flash-attention-2"},
                                                                   {AttentionKernel::unfused, "unfused"}}};
};

}  // namespace gpuhours
