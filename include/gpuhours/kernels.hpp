// Kernel timing. Until calibration profiles arrive (issue 7) the model is a roofline with
// measured ceilings: time = launch + max(FLOPs / (peak * ceiling), bytes / (HBM * ceiling)),
// where each ceiling is the fraction of the datasheet peak a real kernel of that class reached on
// the GPU (hardware/gpus/*.yaml cites the measurement).
#pragma once
#include <string>
#include <vector>

#include "gpuhours/opgraph.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

class KernelModel {
 public:
  explicit KernelModel(const GpuSpec& gpu);
  /// Time of one kernel on one GPU running alone.
  Time time(const Kernel& k) const;
  /// AdamW update of `params` parameters: FP32 master weights, gradients and two moments are
  /// read, weights and moments written, and the BF16 copy written: 4*4 + 3*4 + 2 = 30 bytes each.
  Time optimizer_time(double params) const;
  /// What the model assumed, for the report.
  std::vector<std::string> assumptions() const;

 private:
  const GpuSpec& gpu_;
};

}  // namespace gpuhours
