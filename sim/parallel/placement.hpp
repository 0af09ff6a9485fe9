// Internal to the parallel layer: what the memory plan and the step program derive from a layout.
#pragma once
#include <vector>

#include "gpuhours/layout.hpp"
#include "gpuhours/opgraph.hpp"
#include "gpuhours/schedule.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours::detail {

/// The parts pipeline rank `rank` holds (a DualPipe rank holds both directions' parts).
std::vector<int> parts_of_rank(const Layout& l, int rank);
/// Parameters of a part on one GPU: (all, routed-expert only).
std::pair<double, double> part_params(const Scenario& s, const Layout& l, int part);
/// Forward FLOPs of one micro-batch through a part on one GPU.
double part_forward_flops(const Scenario& s, const Layout& l, int part);
/// Activation bytes one micro-batch leaves saved in a part.
double part_activations(const Scenario& s, const Layout& l, int part);
/// Bytes one micro-batch holds in a part between its split backward (B) and its W.
double part_weight_grad_held(const Scenario& s, const Layout& l, int part);

}  // namespace gpuhours::detail

namespace gpuhours {

/// What layouts of one rank shape share (step.hpp).
struct ShapeData {
  Layout layout;
  PartTimes times;
};

}  // namespace gpuhours
