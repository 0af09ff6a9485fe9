#include <cmath>
#include <sstream>

#include "gpuhours/error.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

namespace {
std::string gib(double bytes) {
  std::ostringstream o;
  o.precision(2);
  o << std::fixed << bytes / (1024.0 * 1024 * 1024) << " GiB";
  return o.str();
}
}  // namespace

MemoryPlan plan_memory(const Scenario& s, const OpGraph& graph) {
  const double params = static_cast<double>(count_params(s.model).total);
  const double dp = s.dp();
  const int zero = s.parallel.zero;
  MemoryPlan m;
  m.weights = 2.0 * params / (zero >= 3 ? dp : 1.0);
  m.gradients = 2.0 * params / (zero >= 2 ? dp : 1.0);
  m.optimizer = 12.0 * params / (zero >= 1 ? dp : 1.0);
  double per_layer = 0;
  for (const Op& op : graph.layer) per_layer += op.saved_bytes;
  if (s.parallel.recompute == Recompute::full)
    per_layer = static_cast<double>(graph.tokens) * s.model.hidden * 2.0;  // layer input only
  double other = 0;
  for (const Op& op : graph.embedding) other += op.saved_bytes;
  for (const Op& op : graph.head) other += op.saved_bytes;
  m.activations = per_layer * graph.layers + other;
  if (s.parallel.recompute == Recompute::full) {
    // One layer's activations are rebuilt at a time during backward.
    double layer = 0;
    for (const Op& op : graph.layer) layer += op.saved_bytes;
    m.transient = layer;
  }
  const double capacity = s.cluster.gpu.hbm_bytes;
  if (m.total() > capacity) {
    std::ostringstream msg;
    msg << "out of memory on stage 0 (every GPU): needs " << gib(m.total()) << " of "
        << gib(capacity) << ", " << gib(m.total() - capacity) << " (" << std::llround(m.total() - capacity)
        << " bytes) over: weights " << gib(m.weights) << ", gradients " << gib(m.gradients)
        << ", optimizer states " << gib(m.optimizer) << ", activations " << gib(m.activations)
        << (m.transient > 0 ? ", recompute buffer " + gib(m.transient) : std::string{})
        << "; try a smaller micro_batch, recompute: full, or a higher ZeRO stage";
    throw InfeasibleLayout(msg.str());
  }
  return m;
}

}  // namespace gpuhours
