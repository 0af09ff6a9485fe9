// The layout of a scenario on ranks: the rank's op graph, the schedule, and the split of the
// layers into pipeline parts, balanced by kernel time.
#include <algorithm>
#include <limits>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/step.hpp"
#include "placement.hpp"

namespace gpuhours {

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
  r.fp8_recipe = s.training.fp8_recipe;
  r.dispatch_fp8 = dispatch_fp8(p, s.training.precision);
  r.expert_imbalance = expert_imbalance(s);
  r.permutation = p.dispatcher == Dispatcher::alltoall   ? TokenPermutation::around_alltoall
                  : p.dispatcher == Dispatcher::hybridep && p.hybridep_fused_permute ? TokenPermutation::in_dispatch
                                                         : TokenPermutation::after_dispatch;
  r.expert_bias_eager = !p.expert_bias_fused;
  r.attention = s.training.attention_kernel;
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

}  // namespace detail

std::vector<PartBlock> part_blocks(const Scenario& s, const Layout& l, int part) {
  std::vector<PartBlock> out;
  const auto [first, last] = l.part_layers[static_cast<std::size_t>(part)];
  if (part == 0) out.push_back({PartBlock::embedding, -1, &l.graph.embedding});
  for (int i = first; i < last; ++i) out.push_back({PartBlock::layer, i, &l.graph.layer(s.model, i)});
  if (part + 1 == static_cast<int>(l.part_layers.size())) {
    out.push_back({PartBlock::head, -1, &l.graph.head});
    for (int k = 0; k < s.model.mtp_depth; ++k) out.push_back({PartBlock::mtp, -1, &l.graph.mtp});
  }
  return out;
}

namespace detail {

std::pair<double, double> part_params(const Scenario& s, const Layout& l, int part) {
  double all = 0, experts = 0;
  for (const PartBlock& b : part_blocks(s, l, part))
    for (const Op& op : *b.ops) {
      all += static_cast<double>(op.params);
      if (op.expert_params) experts += static_cast<double>(op.params);
    }
  return {all, experts};
}

double part_forward_flops(const Scenario& s, const Layout& l, int part) {
  double f = 0;
  for (const PartBlock& b : part_blocks(s, l, part))
    if (b.kind != PartBlock::embedding)
      for (const Op& op : *b.ops) f += op.forward.flops;
  return f;
}

double part_activations(const Scenario& s, const Layout& l, int part) {
  const Recompute rc = s.parallel.recompute;
  const std::uint32_t modules = s.parallel.recompute_modules;
  auto saved = [&](const std::vector<Op>& ops) {
    if (rc == Recompute::selective && modules != 0) return saved_bytes_recomputing(ops, modules);
    double b = 0;
    for (const Op& op : ops) b += rc == Recompute::selective ? op.saved_selective : op.saved_bytes;
    return b;
  };
  // Full recomputation keeps only each layer's input (Korthikanti et al. 2022, §4.1).
  const std::int64_t sp = s.parallel.sequence_parallel ? s.parallel.tp : 1;
  const double layer_input = static_cast<double>(l.graph.tokens / sp) * s.model.hidden * 2.0;
  double bytes = 0;
  for (const PartBlock& b : part_blocks(s, l, part))
    bytes += b.kind == PartBlock::layer && rc == Recompute::full ? layer_input : saved(*b.ops);
  return bytes;
}

double part_weight_grad_held(const Scenario& s, const Layout& l, int part) {
  double bytes = 0;
  for (const PartBlock& b : part_blocks(s, l, part))
    for (const Op& op : *b.ops) bytes += weight_grad_held_bytes(op);
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
  l.schedule = make_schedule(
      {parse_schedule(p.schedule), p.pp, l.micro_batches, p.virtual_stages, p.split_backward, p.ep_comm_overlap});
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
    // Balance the parts by their kernel time (forward + backward) on this GPU, the kernels of the
    // layout's CUDA graphs at the gap between graph kernels.
    const KernelModel kernels(s.cluster, s.uncertainty.kernel_time_scale);
    auto cost = [&](const std::vector<Op>& ops) {
      double t = 0;
      for (const Op& op : ops) {
        if (op.comm != OpComm::none) continue;
        const bool graphed = op.graphed_by(p.cuda_graph_scopes);
        auto time = [&](Kernel k) {
          k.graphed = graphed;
          return kernels.time(k).seconds();
        };
        t += time(op.forward);
        for (const Kernel& k : op.backward) t += time(k);
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

}  // namespace gpuhours
