// Infeasibility as a value: why a valid input cannot run (a layout that does not divide, out of
// memory, a deadline), as a code with the numbers that decide it. Checks return it; where it must
// unwind to the CLI it travels in an InfeasibleLayout (exit code 2).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "gpuhours/enums.hpp"

namespace gpuhours {

/// Why a valid input cannot run, as a code (searches count layouts by it) with the numbers that
/// decide it, and one sentence for people.
enum class Infeasibility : std::uint8_t {
  gpus_fill_nodes,       // the GPU count is not a multiple of the GPUs per node
  network_spans_node,    // a one-node network asked to span several nodes
  parallel_divides_gpus, // tp*pp*cp does not divide the GPUs
  tp_within_node,        // tensor parallelism larger than a node
  tp_divides_heads,
  pp_within_layers,      // more pipeline parts than layers
  ep_needs_moe,
  ep_divides_experts,
  ep_divides_ranks,      // ep does not divide dp*tp*cp
  cp_divides_sequence,
  batch_divides,         // global batch not a multiple of dp x micro-batch
  schedule,              // the pipeline schedule cannot run these stages and micro-batches
  layers_per_part,       // an explicit split with the wrong number of parts
  out_of_memory,
  deadline,              // a search's deadline cannot be met
  inference_instance,    // an inference instance does not divide the cluster or the experts
  kv_cache,              // no room for the KV cache, or a sequence longer than it holds
  interruptions,         // interruptions too frequent to make progress
  cuda_graphs,           // CUDA-graph scopes this layout, model or GPU cannot run (or that are not simulated)
};
template <>
struct EnumTable<Infeasibility> {
  static constexpr std::array<EnumName<Infeasibility>, 19> names{{
      {Infeasibility::gpus_fill_nodes, "GPUs do not fill whole nodes"},
      {Infeasibility::network_spans_node, "network spans one node"},
      {Infeasibility::parallel_divides_gpus, "tp*pp*cp does not divide the GPUs"},
      {Infeasibility::tp_within_node, "tp exceeds a node"},
      {Infeasibility::tp_divides_heads, "tp does not divide the heads"},
      {Infeasibility::pp_within_layers, "more pipeline parts than layers"},
      {Infeasibility::ep_needs_moe, "ep needs a mixture of experts"},
      {Infeasibility::ep_divides_experts, "ep does not divide the experts"},
      {Infeasibility::ep_divides_ranks, "ep does not divide dp*tp*cp"},
      {Infeasibility::cp_divides_sequence, "cp does not divide seq_len"},
      {Infeasibility::batch_divides, "global batch not a multiple of dp x micro_batch"},
      {Infeasibility::schedule, "pipeline schedule rejects the stages and micro-batches"},
      {Infeasibility::layers_per_part, "layers_per_part does not match the parts"},
      {Infeasibility::out_of_memory, "out of memory"},
      {Infeasibility::deadline, "deadline"},
      {Infeasibility::inference_instance, "inference instance does not divide"},
      {Infeasibility::kv_cache, "KV cache too small"},
      {Infeasibility::interruptions, "interruptions too frequent"},
      {Infeasibility::cuda_graphs, "CUDA graphs not simulated for this layout"},
  }};
};

struct Infeasible {
  Infeasibility code;
  std::string message;                   // one sentence, numbers included
  std::map<std::string, double> numbers;  // what decided it (e.g. needed_bytes, capacity_bytes)
};

/// A valid input that cannot run (an Infeasible thrown to the CLI boundary). Exit code 2.
class InfeasibleLayout : public std::runtime_error {
 public:
  explicit InfeasibleLayout(Infeasible why) : std::runtime_error(why.message), why_(std::move(why)) {}
  InfeasibleLayout(Infeasibility code, const std::string& message) : InfeasibleLayout(Infeasible{code, message, {}}) {}
  const Infeasible& why() const { return why_; }
  /// The same reason with `context` before its message (e.g. "phase 'x': ").
  InfeasibleLayout within(const std::string& context) const {
    Infeasible w = why_;
    w.message = context + w.message;
    return InfeasibleLayout(std::move(w));
  }

 private:
  Infeasible why_;
};

}  // namespace gpuhours
