// The Megatron-LM 2021 GPT runs (Narayanan et al., Table 1) simulated with their published
// layouts on DGX A100: iteration time within 15% for at least 8 of the 10 rows.
#include <doctest/doctest.h>

#include <cstdio>

#include "gpuhours/step.hpp"
#include "gpuhours/yaml.hpp"

using namespace gpuhours;

TEST_CASE("validation: Megatron-LM 2021 GPT weak scaling on A100, reported vs simulated") {
  const Catalog catalog(GPUHOURS_DATA_DIR);
  const YamlNode doc = YamlNode::load_file(std::string(GPUHOURS_DATA_DIR) + "/tests/validation/megatron2021-gpt.yaml");
  const GpuSpec a100 = load_gpu_preset("a100-sxm-80gb", catalog);
  const NetworkSpec hdr = load_network_preset("ib-hdr-rail-fat-tree", catalog);
  int within = 0, rows = 0;
  double abs_error_sum = 0;
  std::printf("\n%-26s %6s %4s %4s %10s %10s %8s\n", "case", "GPUs", "TP", "PP", "published", "simulated", "error");
  for (const YamlNode& c : doc.child("cases").items()) {
    Scenario s;
    s.name = c.child("id").as_string();
    ModelSpec& m = s.model;
    m.name = s.name;
    m.layers = static_cast<int>(c.child("layers").as_int());
    m.hidden = c.child("hidden").as_int();
    m.vocab = 51200;
    m.attention.kind = AttentionKind::mha;
    m.attention.heads = m.attention.kv_heads = static_cast<int>(c.child("heads").as_int());
    m.attention.head_dim = static_cast<int>(m.hidden / m.attention.heads);
    m.ffn.intermediate = 4 * m.hidden;
    m.ffn.activation = Activation::gelu;
    m.norm = NormKind::layernorm;
    m.tie_embeddings = true;
    m.bias = true;
    m.position_embeddings = 2048;
    s.cluster.gpu = a100;
    s.cluster.network = hdr;
    s.cluster.gpus_per_node = 8;
    s.cluster.nodes = static_cast<int>(c.child("gpus").as_int()) / 8;
    s.parallel.tp = static_cast<int>(c.child("tp").as_int());
    s.parallel.pp = static_cast<int>(c.child("pp").as_int());
    s.parallel.schedule = "1f1b";
    s.parallel.micro_batch = 1;
    s.parallel.recompute = Recompute::full;
    s.training.seq_len = 2048;
    // 2021 Megatron-LM: fused scale-mask-softmax before FlashAttention; tensor parallelism with
    // all-reduces (sequence parallelism came in 2022); dropout 0.1 (hidden and attention).
    s.training.flash_attention = false;
    s.training.dropout = true;
    s.parallel.sequence_parallel = false;
    s.training.global_batch = c.child("global_batch").as_int();
    s.training.tokens = 1e9;
    const double published = c.child("tokens_per_gpu_second").as_double();
    const StepResult r = simulate_step(s);
    const double error = r.tokens_per_gpu_second / published - 1.0;
    ++rows;
    within += std::abs(error) <= 0.15;
    abs_error_sum += std::abs(error);
    std::printf("%-26s %6d %4d %4d %10.1f %10.1f %+7.1f%%\n", s.name.c_str(), s.cluster.gpus(), s.parallel.tp,
                s.parallel.pp, published, r.tokens_per_gpu_second, 100 * error);
  }
  std::printf("mean absolute error %.1f%%, %d of %d within 15%%\n", 100 * abs_error_sum / rows, within, rows);
  CHECK(rows == 10);
  CHECK(within >= 8);
}
