// The step program of a data-parallel rank, and its simulation.
//
// Rank symmetry: with data parallelism only, every rank runs the same tasks on its own batch
// slice, so one representative rank is simulated; its collectives are timed for the whole
// data-parallel group on the cluster (network.hpp).
//
// Streams of the rank: "compute" (forward, backward, optimizer, in order) and "dp-comm"
// (gradient buckets). On the last micro-batch, a bucket's all-reduce (ZeRO-0) or reduce-scatter
// (ZeRO-1/2) starts as soon as the backward of the layers it holds has ended, so it overlaps the
// backward of earlier layers as PyTorch DDP and Megatron-LM do; the optimizer waits for every
// bucket; with ZeRO-1/2 the updated weights are then all-gathered.
#include <algorithm>
#include <cmath>
#include <ostream>

#include "gpuhours/engine.hpp"
#include "gpuhours/error.hpp"
#include "gpuhours/kernels.hpp"
#include "gpuhours/network.hpp"
#include "gpuhours/step.hpp"

namespace gpuhours {

namespace {

// PyTorch DDP's default gradient bucket (bucket_cap_mb = 25, torch.nn.parallel.DDP docs).
constexpr double kBucketBytes = 25.0 * 1024 * 1024;

struct Builder {
  TaskGraph graph;
  StreamId compute = 0, dp = 0;
  const KernelModel& kernels;
  explicit Builder(const KernelModel& k) : kernels(k) {
    compute = graph.add_stream(0, "compute");
    dp = graph.add_stream(0, "dp-comm");
  }
  TaskId kernel(const std::string& label, const Kernel& k) {
    return graph.add_task(compute, kernels.time(k), TaskKind::compute, graph.intern(label));
  }
  // Forward of `op`; returns the last task.
  TaskId forward(const std::string& prefix, const Op& op) {
    return kernel(prefix + op.name, op.forward);
  }
  TaskId backward(const std::string& prefix, const Op& op, TaskId last) {
    for (std::size_t i = 0; i < op.backward.size(); ++i)
      last = kernel(prefix + op.name + (op.backward.size() > 1 ? (i == 0 ? " dgrad" : " wgrad") : " bwd"),
                    op.backward[i]);
    return last;
  }
};

std::int64_t params_of(const std::vector<Op>& ops) {
  std::int64_t p = 0;
  for (const Op& op : ops) p += op.params;
  return p;
}

// Splits [0, total) of compute time into compute / optimizer / exposed comm / idle by sweeping
// the representative rank's task intervals.
void fill_breakdown(const Engine& e, StepResult& r) {
  const TaskGraph& g = e.graph();
  struct Edge {
    std::int64_t at;
    int delta;
    int cls;  // 0 compute, 1 optimizer, 2 communication
    TaskKind kind;
  };
  std::vector<Edge> edges;
  std::vector<double> busy(g.stream_count(), 0.0);
  for (TaskId t = 0; t < g.task_count(); ++t) {
    const std::int64_t a = e.start(t).count_ns(), b = e.end(t).count_ns();
    busy[g.task_stream(t)] += static_cast<double>(b - a) * 1e-9;
    if (b == a) continue;
    const TaskKind k = g.task_kind(t);
    const int cls = k == TaskKind::compute ? 0 : k == TaskKind::optimizer ? 1 : 2;
    edges.push_back({a, +1, cls, k});
    edges.push_back({b, -1, cls, k});
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& x, const Edge& y) {
    return x.at != y.at ? x.at < y.at : x.delta < y.delta;
  });
  int active[3] = {0, 0, 0};
  std::map<TaskKind, int> comm_active;
  std::int64_t prev = 0;
  const std::int64_t end = static_cast<std::int64_t>(std::llround(r.seconds * 1e9));
  auto account = [&](std::int64_t until) {
    const double dt = static_cast<double>(until - prev) * 1e-9;
    if (dt <= 0) return;
    if (active[0] > 0) r.breakdown.compute += dt;
    else if (active[1] > 0) r.breakdown.optimizer += dt;
    else if (active[2] > 0) {
      r.breakdown.exposed_communication += dt;
      // Attribute exposed time to the first kind running (deterministic map order).
      for (const auto& [kind, n] : comm_active)
        if (n > 0) {
          r.exposed_communication_by_kind[to_string(kind)] += dt;
          break;
        }
    } else r.breakdown.bubble += dt;
  };
  for (const Edge& ed : edges) {
    account(ed.at);
    prev = ed.at;
    active[ed.cls] += ed.delta;
    if (ed.cls == 2) comm_active[ed.kind] += ed.delta;
  }
  account(end);
  for (StreamId s = 0; s < g.stream_count(); ++s)
    r.streams.push_back({g.stream_name(s), busy[s], r.seconds > 0 ? busy[s] / r.seconds : 0.0});
}

}  // namespace

void check_layout(const Scenario& s) {
  const ParallelSpec& p = s.parallel;
  const int gpus = s.cluster.gpus();
  if (gpus % (p.tp * p.pp * p.cp) != 0)
    throw InfeasibleLayout("tp*pp*cp = " + std::to_string(p.tp * p.pp * p.cp) + " does not divide the " +
                           std::to_string(gpus) + " GPUs");
  if (p.tp > 1 || p.pp > 1 || p.ep > 1 || p.cp > 1)
    throw InfeasibleLayout("tensor, pipeline, expert and context parallelism are not simulated yet "
                           "(issues 5 and 6); this build runs data-parallel layouts (tp = pp = ep = cp = 1)");
  if (p.zero == 3)
    throw InfeasibleLayout("ZeRO stage 3 is not simulated yet (issue 5); use zero 0, 1 or 2");
  const std::int64_t per_step = static_cast<std::int64_t>(s.dp()) * p.micro_batch;
  if (s.training.global_batch % per_step != 0)
    throw InfeasibleLayout("global_batch " + std::to_string(s.training.global_batch) +
                           " is not a multiple of dp (" + std::to_string(s.dp()) + ") x micro_batch (" +
                           std::to_string(p.micro_batch) + ")");
}

StepResult simulate_step(const Scenario& s, std::ostream* trace) {
  check_layout(s);
  const OpGraph graph = build_op_graph(s.model, s.training.seq_len, s.parallel.micro_batch,
                                       s.training.precision);
  StepResult r;
  r.memory = plan_memory(s, graph);
  r.dp = s.dp();
  r.micro_batches = static_cast<int>(s.training.global_batch / (r.dp * s.parallel.micro_batch));
  const KernelModel kernels(s.cluster.gpu);
  Builder b(kernels);
  const double comm_share =
      std::min(0.9, static_cast<double>(s.cluster.network.comm_sms) / s.cluster.gpu.sms);
  const int zero = s.parallel.zero;
  const bool full_recompute = s.parallel.recompute == Recompute::full;

  std::vector<TaskId> buckets;
  double bucket_bytes = 0;
  TaskId bucket_after = 0;
  auto flush_bucket = [&] {
    if (bucket_bytes <= 0 || r.dp == 1) return;
    const auto kind = zero >= 1 ? CollectiveKind::reduce_scatter : CollectiveKind::all_reduce;
    const TaskId t = b.graph.add_task(b.dp, ring_collective_time(kind, bucket_bytes, r.dp, s.cluster.nodes, s.cluster),
                                      TaskKind::comm_dp, b.graph.intern(std::string("grad ") + to_string(kind)),
                                      comm_share);
    b.graph.add_dependency(bucket_after, t);
    buckets.push_back(t);
    bucket_bytes = 0;
  };
  auto add_grads = [&](std::int64_t params, TaskId after) {
    bucket_bytes += 2.0 * static_cast<double>(params);
    bucket_after = after;
    if (bucket_bytes >= kBucketBytes) flush_bucket();
  };

  for (int mb = 0; mb < r.micro_batches; ++mb) {
    const bool last_mb = mb + 1 == r.micro_batches;
    const std::string p = "mb" + std::to_string(mb) + " ";
    for (const Op& op : graph.embedding) b.forward(p, op);
    for (int l = 0; l < graph.layers; ++l)
      for (const Op& op : graph.layer) b.forward(p + "L" + std::to_string(l) + " ", op);
    for (const Op& op : graph.head) b.forward(p, op);
    TaskId last = 0;
    for (auto it = graph.head.rbegin(); it != graph.head.rend(); ++it) last = b.backward(p, *it, last);
    if (last_mb) add_grads(params_of(graph.head), last);
    for (int l = graph.layers - 1; l >= 0; --l) {
      const std::string pl = p + "L" + std::to_string(l) + " ";
      if (full_recompute)
        for (const Op& op : graph.layer) b.forward(pl + "recompute ", op);
      for (auto it = graph.layer.rbegin(); it != graph.layer.rend(); ++it) last = b.backward(pl, *it, last);
      if (last_mb) add_grads(params_of(graph.layer), last);
    }
    for (const Op& op : graph.embedding) last = b.backward(p, op, last);
    if (last_mb) {
      add_grads(params_of(graph.embedding), last);
      flush_bucket();
    }
  }
  const double params = static_cast<double>(count_params(s.model).total);
  const TaskId opt = b.graph.add_task(b.compute, kernels.optimizer_time(zero >= 1 ? params / r.dp : params),
                                      TaskKind::optimizer, b.graph.intern("optimizer step (AdamW)"));
  for (TaskId t : buckets) b.graph.add_dependency(t, opt);
  if (zero >= 1 && r.dp > 1) {
    const TaskId ag = b.graph.add_task(
        b.dp, ring_collective_time(CollectiveKind::all_gather, 2.0 * params, r.dp, s.cluster.nodes, s.cluster),
        TaskKind::comm_dp, b.graph.intern("weights all-gather"), comm_share);
    b.graph.add_dependency(opt, ag);
  }

  Engine engine(b.graph);
  const Time makespan = engine.run();
  r.seconds = makespan.seconds();
  r.tasks = b.graph.task_count();
  r.tokens = s.training.global_batch * s.training.seq_len;
  r.tokens_per_gpu_second = static_cast<double>(r.tokens) / (r.seconds * s.cluster.gpus());
  r.model_flops_per_token = model_flops_per_token(s.model, s.training.seq_len);
  const char* dtype = s.training.precision == Precision::fp8 ? "fp8" : "bf16";
  r.mfu = r.model_flops_per_token * r.tokens_per_gpu_second / s.cluster.gpu.peak_flops_per_s.at(dtype);
  fill_breakdown(engine, r);
  r.assumptions = kernels.assumptions();
  if (r.dp > 1) {
    r.assumptions.push_back("rank symmetry: the " + std::to_string(r.dp) +
                            " data-parallel ranks do identical work; one is simulated");
    r.assumptions.push_back("gradient collectives: NCCL ring in closed form over " +
                            std::string(s.cluster.nodes > 1 ? "the NICs" : "NVLink") +
                            ", 25 MiB buckets, each taking " + std::to_string(s.cluster.network.comm_sms) +
                            " SMs while it runs");
  }
  r.assumptions.push_back("MFU convention: 6 x matmul weights (LM head included) + causal attention "
                          "3*L*a*s*(d_qk+d_v) FLOPs per token, against the dense " +
                          std::string(dtype) + " peak");
  if (trace) write_chrome_trace(engine, {"rank 0 (representative data-parallel rank)"}, *trace);
  return r;
}

}  // namespace gpuhours
