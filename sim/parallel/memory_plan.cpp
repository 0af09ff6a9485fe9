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

std::vector<std::pair<int, int>> balanced_split(const std::vector<double>& cost, double first_extra,
                                                double last_extra, int parts) {
  const int n = static_cast<int>(cost.size());
  GPUHOURS_ASSERT(parts >= 1 && parts <= n, "between 1 and `layers` parts");
  std::vector<double> prefix(n + 1, 0.0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + cost[i];
  auto part_cost = [&](int part, int a, int b) {
    return prefix[b] - prefix[a] + (part == 0 ? first_extra : 0.0) + (part == parts - 1 ? last_extra : 0.0);
  };
  // best[k][i]: least largest cost of splitting layers [0, i) into parts 0..k-1.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(parts + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<int>> cut(parts + 1, std::vector<int>(n + 1, 0));
  best[0][0] = 0;
  for (int k = 1; k <= parts; ++k)
    for (int i = k; i <= n - (parts - k); ++i)
      for (int j = k - 1; j < i; ++j) {
        const double v = std::max(best[k - 1][j], part_cost(k - 1, j, i));
        if (v < best[k][i]) {  // strict: ties keep the earliest cut, deterministically
          best[k][i] = v;
          cut[k][i] = j;
        }
      }
  std::vector<std::pair<int, int>> out(parts);
  for (int k = parts, i = n; k >= 1; --k) {
    out[k - 1] = {cut[k][i], i};
    i = cut[k][i];
  }
  return out;
}

namespace detail {

RankShape rank_shape(const Scenario& s) {
  const ParallelSpec& p = s.parallel;
  RankShape r;
  r.tp = p.tp;
  r.cp = p.cp;
  r.ep = p.ep;
  r.seq_len = s.training.seq_len;
  r.micro_batch = p.micro_batch;
  r.precision = s.training.precision;
  r.expert_imbalance = p.expert_imbalance;
  r.flash_attention = s.training.flash_attention;
  r.sequence_parallel = p.sequence_parallel;
  r.dropout = s.training.dropout;
  r.autocast = s.training.autocast;
  return r;
}


std::vector<int> parts_of_rank(const Layout& l, int rank) {
  std::set<int> parts;
  for (const StageOp& op : l.schedule.ops[rank]) {
    parts.insert(l.schedule.position(rank, op.chunk, op.microbatch));
    if (op.pass == Pass::FB) parts.insert(l.schedule.position(rank, op.chunk2, op.microbatch2));
  }
  return {parts.begin(), parts.end()};
}

std::pair<double, double> part_params(const Scenario& s, const Layout& l, int part) {
  double all = 0, experts = 0;
  auto add = [&](const std::vector<Op>& ops) {
    for (const Op& op : ops) {
      all += static_cast<double>(op.params);
      if (op.expert_params) experts += static_cast<double>(op.params);
    }
  };
  const auto [first, last] = l.part_layers[part];
  if (part == 0) add(l.graph.embedding);
  for (int i = first; i < last; ++i) add(l.graph.layer(s.model, i));
  if (part + 1 == static_cast<int>(l.part_layers.size())) {
    add(l.graph.head);
    for (int k = 0; k < s.model.mtp_depth; ++k) add(l.graph.mtp);
  }
  return {all, experts};
}

double part_forward_flops(const Scenario& s, const Layout& l, int part) {
  double f = 0;
  auto add = [&](const std::vector<Op>& ops) {
    for (const Op& op : ops) f += op.forward.flops;
  };
  const auto [first, last] = l.part_layers[part];
  for (int i = first; i < last; ++i) add(l.graph.layer(s.model, i));
  if (part + 1 == static_cast<int>(l.part_layers.size())) {
    add(l.graph.head);
    for (int k = 0; k < s.model.mtp_depth; ++k) add(l.graph.mtp);
  }
  return f;
}

double part_activations(const Scenario& s, const Layout& l, int part) {
  const Recompute rc = s.parallel.recompute;
  auto saved = [&](const std::vector<Op>& ops) {
    double b = 0;
    for (const Op& op : ops) b += rc == Recompute::selective ? op.saved_selective : op.saved_bytes;
    return b;
  };
  const auto [first, last] = l.part_layers[part];
  double bytes = 0;
  for (int i = first; i < last; ++i) {
    // Full recomputation keeps only each layer's input (Korthikanti et al. 2022, §4.1).
    const std::int64_t sp = s.parallel.sequence_parallel ? s.parallel.tp : 1;
    bytes += rc == Recompute::full ? static_cast<double>(l.graph.tokens / sp) * s.model.hidden * 2.0
                                   : saved(l.graph.layer(s.model, i));
  }
  if (part == 0) bytes += saved(l.graph.embedding);
  if (part + 1 == static_cast<int>(l.part_layers.size())) {
    bytes += saved(l.graph.head);
    for (int k = 0; k < s.model.mtp_depth; ++k) bytes += saved(l.graph.mtp);
  }
  return bytes;
}

}  // namespace detail

Layout make_layout(const Scenario& s, const Layout* same_shape) {
  const ParallelSpec& p = s.parallel;
  Layout l;
  if (same_shape) {
    l.shape = same_shape->shape;
    l.graph = same_shape->graph;
  } else {
    l.shape = detail::rank_shape(s);
    l.graph = build_op_graph(s.model, l.shape);
  }
  l.dp = s.dp();
  l.micro_batches = static_cast<int>(s.training.global_batch / (std::int64_t{l.dp} * p.micro_batch));
  if (auto why = layout_infeasibility(s)) throw InfeasibleLayout(*why);
  l.schedule = make_schedule({parse_schedule(p.schedule), p.pp, l.micro_batches, p.virtual_stages});
  const int parts = l.schedule.positions();
  if (same_shape) {
    l.part_layers = same_shape->part_layers;
  } else if (!p.layers_per_part.empty()) {
    int first = 0;
    for (int k : p.layers_per_part) {
      l.part_layers.emplace_back(first, first + k);
      first += k;
    }
  } else {
    // Balance the parts by their kernel time (forward + backward) on this GPU.
    const KernelModel kernels(s.cluster.gpu, s.cluster.calibration.get(), s.uncertainty.kernel_time_scale);
    auto cost = [&](const std::vector<Op>& ops) {
      double t = 0;
      for (const Op& op : ops) {
        if (op.comm != OpComm::none) continue;
        t += kernels.time(op.forward).seconds();
        for (const Kernel& k : op.backward) t += kernels.time(k).seconds();
      }
      return t;
    };
    std::vector<double> layer_cost;
    for (int i = 0; i < s.model.layers; ++i) layer_cost.push_back(cost(l.graph.layer(s.model, i)));
    const double tail = cost(l.graph.head) + s.model.mtp_depth * cost(l.graph.mtp);
    l.part_layers = balanced_split(layer_cost, cost(l.graph.embedding), tail, parts);
  }
  l.edp = std::max(1, l.dp * p.tp * p.cp / p.ep);
  return l;
}

OpGraph scenario_op_graph(const Scenario& s) { return build_op_graph(s.model, detail::rank_shape(s)); }

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
    // forward and freeing them at its backward.
    std::map<int, double> acts;
    for (int part : st.parts) acts[part] = detail::part_activations(s, l, part);
    double held = 0;
    int count = 0;
    for (const StageOp& op : l.schedule.ops[r]) {
      auto take = [&](int mb, int chunk, int sign) {
        held += sign * acts[l.schedule.position(r, chunk, mb)];
        count += sign;
        if (held > st.activations) {
          st.activations = held;
          st.micro_batches_in_flight = count;
        }
      };
      if (op.pass == Pass::F || op.pass == Pass::FB) take(op.microbatch, op.chunk, +1);
      if (op.pass == Pass::B) take(op.microbatch, op.chunk, -1);
      if (op.pass == Pass::FB) take(op.microbatch2, op.chunk2, -1);
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
