#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/step.hpp"
#include "placement.hpp"

namespace gpuhours {

namespace {
std::string gib(double bytes) {
  std::ostringstream o;
  o.precision(2);
  o << std::fixed << bytes / (1024.0 * 1024 * 1024) << " GiB";
  return o.str();
}
}  // namespace

std::vector<StagePlan> plan_memory(const Scenario& s) {
  std::vector<StagePlan> stages = memory_plan(s, make_layout(s));
  if (auto why = memory_infeasibility(s, stages)) throw InfeasibleLayout(*why);
  return stages;
}

std::vector<StagePlan> memory_plan(const Scenario& s, const Layout& l) {
  const int zero = s.parallel.zero;
  const OptimizerBytes adam = optimizer_bytes(s.training);
  std::vector<StagePlan> out;
  for (int r = 0; r < s.parallel.pp; ++r) {
    StagePlan st;
    st.rank = r;
    st.parts = detail::parts_of_rank(l, r);
    for (int part : st.parts) {
      const auto [all, experts] = detail::part_params(s, l, part);
      st.params += all;
      st.expert_params += experts;
      st.forward_flops_per_token += detail::part_forward_flops(s, l, part) / static_cast<double>(l.graph.tokens);
      st.layers += l.part_layers[part].second - l.part_layers[part].first;
      st.embedding = st.embedding || part == 0;
      st.head = st.head || part + 1 == static_cast<int>(l.part_layers.size());
    }
    // Activations at the peak: walk the rank's schedule, adding a part's saved bytes at each
    // forward and freeing them at its backward. A split backward (B without its weight gradient)
    // keeps what the deferred W needs, each linear's input and output gradient, until that W.
    std::map<int, double> acts, held_for_w;
    for (int part : st.parts) {
      acts[part] = detail::part_activations(s, l, part);
      if (l.schedule.split_backward) held_for_w[part] = detail::part_weight_grad_held(s, l, part);
    }
    double held = 0;
    int count = 0;
    auto add = [&](double bytes, int micro_batches) {
      held += bytes;
      count += micro_batches;
      if (held > st.activations) {
        st.activations = held;
        st.micro_batches_in_flight = count;
      }
    };
    for (const StageOp& op : l.schedule.ops[r]) {
      const int part = l.schedule.position(r, op.chunk, op.microbatch);
      switch (op.pass) {
        case Pass::F: add(acts[part], +1); break;
        case Pass::B:
          if (op.full_backward) add(-acts[part], -1);
          else add(held_for_w[part] - acts[part], 0);
          break;
        case Pass::W: add(-held_for_w[part], -1); break;
        case Pass::FB:  // the backward half of an F&B is always whole
          add(acts[part], +1);
          add(-acts[l.schedule.position(r, op.chunk2, op.microbatch2)], -1);
          break;
      }
    }
    // Mixed-precision Adam (optimizer_bytes: BF16 weights and gradients, master weights and
    // moments); ZeRO stage 1 shards the optimizer states over the data-parallel ranks holding the
    // same weights, stage 2 also the gradients, stage 3 also the weights. Routed experts are replicated over `edp` ranks.
    const double dense = st.params - st.expert_params;
    auto sharded = [&](double bytes_per_param, bool shard) {
      return shard ? bytes_per_param * (dense / l.dense_dp() + st.expert_params / l.edp)
                   : bytes_per_param * st.params;
    };
    st.weights = sharded(adam.weights, zero >= 3);
    st.gradients = sharded(adam.gradients, zero >= 2);
    st.optimizer = sharded(adam.states(), zero >= 1);
    st.buffers = s.memory.comm_buffer_bytes;
    // ZeRO-3 holds the gathered BF16 weights of the layer running and the one prefetched.
    if (zero >= 3) st.buffers += 2 * 2.0 * st.params / std::max(1, st.layers);
    st.fragmentation = s.memory.fragmentation * (st.weights + st.gradients + st.optimizer + st.activations);
    out.push_back(st);
  }
  return out;
}

std::optional<Infeasible> memory_infeasibility(const Scenario& s, const std::vector<StagePlan>& stages) {
  const double capacity = s.cluster.gpu.hbm_bytes;
  for (const StagePlan& st : stages) {
    if (st.total() <= capacity) continue;
    std::ostringstream msg;
    msg << "out of memory on pipeline stage " << st.rank << " of " << s.parallel.pp << ": needs " << gib(st.total())
        << " of " << gib(capacity) << ", " << gib(st.total() - capacity) << " ("
        << std::llround(st.total() - capacity) << " bytes) over: weights " << gib(st.weights) << ", gradients "
        << gib(st.gradients) << ", optimizer states " << gib(st.optimizer) << ", activations "
        << gib(st.activations) << " (" << st.micro_batches_in_flight << " micro-batches in flight), buffers "
        << gib(st.buffers) << ", fragmentation " << gib(st.fragmentation)
        << "; try more pipeline or expert parallelism, a higher ZeRO stage, recompute, or a smaller micro_batch";
    return Infeasible{Infeasibility::out_of_memory, msg.str(),
                      {{"stage", st.rank}, {"needed_bytes", st.total()}, {"capacity_bytes", capacity}}};
  }
  return std::nullopt;
}

}  // namespace gpuhours
