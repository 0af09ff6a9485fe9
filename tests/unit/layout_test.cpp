// Placement and memory: published layouts fit, impossible ones fail clearly, and communication
// volumes per step equal hand-derived values.
#include <doctest/doctest.h>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/step.hpp"
#include "test_util.hpp"
#include "../../sim/parallel/placement.hpp"

using namespace gpuhours;

using test::preset;

TEST_CASE("DeepSeek-V3's published layout fits in 80 GB, PP1 does not and says why") {
  Scenario s = preset("deepseek-v3-claim");
  const auto stages = plan_memory(s);
  REQUIRE(stages.size() == 16);
  for (const StagePlan& st : stages) {
    CAPTURE(st.rank);
    CHECK(st.total() < s.cluster.gpu.hbm_bytes);
  }
  s.parallel.pp = 1;
  s.parallel.schedule = "1f1b";
  s.training.global_batch = 2048 * 8;  // a batch the 2,048 data-parallel ranks split
  REQUIRE_FALSE(layout_infeasibility(s));
  try {
    plan_memory(s);
    FAIL("PP1 should not fit");
  } catch (const InfeasibleLayout& e) {
    const std::string msg = e.what();
    CHECK(e.why().code == Infeasibility::out_of_memory);
    CHECK(e.why().numbers.at("needed_bytes") > e.why().numbers.at("capacity_bytes"));
    CHECK(msg.find("out of memory on pipeline stage 0 of 1") != std::string::npos);
    CHECK(msg.find("weights") != std::string::npos);
    CHECK(msg.find("bytes) over") != std::string::npos);
  }
}

TEST_CASE("inconsistent layouts exit 2 with the reason") {
  struct Case {
    std::string change, expect;
  };
  const std::string base = R"(name: bad
title: bad layout
model: deepseek-v3
cluster: {gpu: h800-sxm, nodes: 256, gpus_per_node: 8, network: deepseek-multi-plane}
parallelism: {pp: 16, ep: 64, zero: 1, schedule: dualpipe}
training: {precision: fp8, seq_len: 4096, global_batch: 15360, tokens: 1e12}
cost: {gpu_hour_usd: 2}
)";
  const Case cases[] = {
      {"pp: 16, ep: 64", "pp: 12, ep: 64"},         // tp*pp*cp must divide the GPUs
      {"ep: 64", "ep: 48"},                         // ep must divide the experts
      {"pp: 16, ep: 64", "pp: 64, ep: 64"},         // pp x 2 chunks > 61 layers
      {"global_batch: 15360", "global_batch: 15361"},  // micro-batches must divide the batch
  };
  const char* reasons[] = {"does not divide the 2048 GPUs", "does not divide the 256 experts", "exceeds the 61 layers",
                           "is not a multiple of dp"};
  for (int i = 0; i < 4; ++i) {
    std::string text = base;
    text.replace(text.find(cases[i].change), cases[i].change.size(), cases[i].expect);
    const auto r = test::cli({"run", test::write_temp("layout" + std::to_string(i) + ".yaml", text)});
    CAPTURE(i);
    CHECK(r.code == 2);
    CHECK(r.err.find(reasons[i]) != std::string::npos);
  }
}

TEST_CASE("EP64 dispatch/combine and ZeRO gradient volumes per step equal hand-derived values") {
  // DeepSeek-V3, 120 micro-batches of 4,096 tokens per data-parallel rank, 58 MoE layers + 1 in
  // the MTP module, each crossed forward and backward. Per GPU (mean over the 16 pipeline ranks):
  // dispatch = FP8 tokens forward (7168 * (1 + 4/128) bytes) + FP8 gradients backward (the
  // combine's backward, DeepSeek-V3 §3.3.2); combine = BF16 forward + BF16 backward.
  const Scenario s = preset("deepseek-v3-claim");
  const StepResult r = simulate_step(s);
  const double crossings = 59.0 * 120 / 16;
  const double T = 4096, h = 7168;
  CHECK(r.comm_bytes_per_step.at("ep dispatch") == doctest::Approx(crossings * T * h * 2 * (1 + 4.0 / 128)));
  CHECK(r.comm_bytes_per_step.at("ep combine") == doctest::Approx(crossings * T * h * 4));
  // ZeRO-2 over 8 data-parallel GPUs: each reduce-scatters 2 bytes of gradient per parameter and
  // all-gathers 2 bytes of weights, each (n-1)/n of the buffer.
  const Scenario dp = preset("llama-3-8b-8gpu-dp");
  const StepResult rd = simulate_step(dp);
  const double P = static_cast<double>(count_params(dp.model).total);
  CHECK(rd.comm_bytes_per_step.at("dp reduce-scatter") == doctest::Approx(2 * P * 7 / 8));
  CHECK(rd.comm_bytes_per_step.at("dp all-gather") == doctest::Approx(2 * P * 7 / 8));
}

TEST_CASE("ZeRO-3 shards the weights, gathers them per layer and reduce-scatters every micro-batch") {
  Scenario s = preset("llama-3-8b-8gpu-dp");
  const StepResult z2 = simulate_step(s);
  s.parallel.zero = 3;
  const StepResult z3 = simulate_step(s);
  // Weights: 2 bytes per parameter over 8 ranks instead of 2 bytes on each.
  CHECK(z3.peak.weights == doctest::Approx(z2.peak.weights / 8));
  // Gradients reduce-scattered after each of the 8 micro-batches instead of once.
  CHECK(z3.comm_bytes_per_step.at("dp reduce-scatter") == doctest::Approx(8 * z2.comm_bytes_per_step.at("dp reduce-scatter")));
  // Weights gathered before every forward and backward of every micro-batch: 2 x 8 = 16 times the
  // 7/8 of the BF16 weights one all-gather moves (the embedding and head included).
  const double P = static_cast<double>(count_params(s.model).total);
  CHECK(z3.comm_bytes_per_step.at("dp all-gather (ZeRO-3)") == doctest::Approx(16 * 2 * P * 7 / 8).epsilon(0.02));
  CHECK(z3.seconds > z2.seconds);
}

TEST_CASE("layout checks return a reason code with the numbers that decide it") {
  Scenario s = preset("deepseek-v3-claim");
  CHECK_FALSE(layout_infeasibility(s));
  Scenario t = s;
  t.parallel.tp = 16;  // wider than a node of 8
  auto why = layout_infeasibility(t);
  REQUIRE(why);
  CHECK(why->code == Infeasibility::tp_within_node);
  CHECK(why->numbers.at("gpus_per_node") == 8);
  t = s;
  t.training.global_batch = 15360 + 1;  // not a multiple of dp x micro_batch
  REQUIRE(layout_infeasibility(t));
  CHECK(layout_infeasibility(t)->code == Infeasibility::batch_divides);
  t = s;
  t.training.global_batch = 128 * 2;  // 2 micro-batches per rank: DualPipe needs 2 x 16 stages
  REQUIRE(layout_infeasibility(t));
  CHECK(layout_infeasibility(t)->code == Infeasibility::schedule);
  CHECK(layout_infeasibility(t)->message.find("dualpipe needs at least 2 x stages micro-batches") != std::string::npos);
  CHECK_THROWS_AS(check_layout(t), InfeasibleLayout);
}

TEST_CASE("gradients accumulated in FP32 take 4 bytes per parameter in the memory plan, BF16 ones 2") {
  Scenario bf16 = preset("llama-3-405b");
  Scenario fp32 = bf16;
  fp32.training.fp32_gradients = true;
  const auto a = plan_memory(bf16), c = plan_memory(fp32);
  // ZeRO-1: gradients are not sharded, 2 (or 4) bytes for every parameter on the GPU.
  CHECK(a[0].gradients == doctest::Approx(2.0 * a[0].params));
  CHECK(c[0].gradients == doctest::Approx(4.0 * a[0].params));
  CHECK(c[0].weights == a[0].weights);
  CHECK(optimizer_bytes(fp32.training).step_traffic() == optimizer_bytes(bf16.training).step_traffic() + 2);
  const Scenario loaded = load_scenario(YamlNode::load_string(test::variant("  precision: bf16\n", "  precision: bf16\n  gradients: fp32\n"), "g.yaml"),
                                        Catalog(GPUHOURS_DATA_DIR));
  CHECK(loaded.training.fp32_gradients);
}

TEST_CASE("DeepSeek-V3's memory plan on a middle pipeline rank against a hand computation") {
  const Scenario s = preset("deepseek-v3-claim");
  const auto stages = plan_memory(s);
  // A rank of DualPipe's middle holds two parts of MoE layers only (no embedding, head or dense layer).
  const StagePlan& st = stages.at(8);
  REQUIRE_FALSE(st.embedding);
  REQUIRE_FALSE(st.head);
  REQUIRE(st.parts.size() == 2);
  REQUIRE(st.layers >= 2);  // 61 layers over 32 parts: one or two per part
  // One MoE layer of DeepSeek-V3 on one GPU (config.json: hidden 7168, 128 heads, q_lora 1536,
  // kv_lora 512, nope 128, rope 64, v 128, 256 routed experts of width 2048, 1 shared):
  const double h = 7168;
  const double attention = h * 1536 + 1536 * 128 * (128 + 64)  // q down, q up (nope + rope)
                           + h * (512 + 64) + 512 * 128 * (128 + 128)  // kv down (+ rope key), kv up (k nope + v)
                           + 128 * 128 * h;  // output
  const double expert = 3 * h * 2048;     // gate, up, down
  const double routed_here = 256 / 64 * expert;  // EP 64: 4 routed experts per GPU
  const double router = h * 256;
  const double per_layer = attention + expert /* shared */ + routed_here + router;
  CHECK(st.expert_params == doctest::Approx(st.layers * routed_here).epsilon(1e-12));
  // Norms and the router's bias are a few thousand parameters per layer: within 1e-4.
  CHECK(st.params == doctest::Approx(st.layers * per_layer).epsilon(1e-4));
  // Mixed-precision Adam with BF16 moments and FP32 gradients (§3.3.3): 2-byte weights and 4-byte
  // gradients on every GPU;
  // ZeRO-1 shards 4-byte master weights and 2 x 2-byte moments over the 128 data-parallel ranks
  // of the dense part and the 2048 / (16 x 64) = 2 ranks sharing each routed expert.
  const double dense = st.params - st.expert_params;
  CHECK(st.weights == doctest::Approx(2 * st.params).epsilon(1e-12));
  CHECK(st.gradients == doctest::Approx(4 * st.params).epsilon(1e-12));
  CHECK(st.optimizer == doctest::Approx(8 * (dense / 128 + st.expert_params / 2)).epsilon(1e-12));
  CHECK(st.buffers == doctest::Approx(1024.0 * 1024 * 1024));
  CHECK(st.fragmentation == doctest::Approx(0.05 * (st.weights + st.gradients + st.optimizer + st.activations)).epsilon(1e-12));
  CHECK(st.total() < s.cluster.gpu.hbm_bytes);
}

TEST_CASE("a split backward holds the deferred W's inputs until W: ZB-H1's late stages need more than 1F1B's") {
  // 4 stages, 8 micro-batches of a 4-layer dense model, one layer per stage.
  const std::string text = test::variant("cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 1, network: nvswitch-node}",
                                         "cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 4, network: nvswitch-node}\n"
                                         "parallelism: {pp: 4, schedule: zb-h1, micro_batch: 1}");
  Scenario zb = load_scenario(YamlNode::load_string(text, "zb.yaml"), Catalog(GPUHOURS_DATA_DIR));
  zb.training.global_batch = 8;
  Scenario whole = zb;
  whole.parallel.split_backward = false;
  Scenario one_f_one_b = zb;
  one_f_one_b.parallel.schedule = "1f1b";
  const Layout l = make_layout(zb);
  const auto a = memory_plan(zb, l), b = memory_plan(whole, make_layout(whole)), c = memory_plan(one_f_one_b, make_layout(one_f_one_b));
  REQUIRE(l.schedule.split_backward);
  REQUIRE_FALSE(make_layout(whole).schedule.split_backward);
  // ZB-H1's last stage runs F, B (W deferred) three times, then F, B, W: its peak is three W holds
  // beside a forward's activations, or four W holds after the fourth B.
  const double acts = detail::part_activations(zb, l, 3), held = detail::part_weight_grad_held(zb, l, 3);
  REQUIRE(held > 0);
  CHECK(a[3].activations == doctest::Approx(std::max(3 * held + acts, 4 * held)));
  CHECK(a[3].micro_batches_in_flight == 4);
  // Without the split, ZB-H1's order is 1F1B's: the same memory on every stage.
  for (int r = 0; r < 4; ++r) {
    CAPTURE(r);
    CHECK(b[r].activations == doctest::Approx(c[r].activations));
    CHECK(a[r].activations >= b[r].activations);
  }
  CHECK(c[3].activations == doctest::Approx(acts));
}

TEST_CASE("placement: the report says which groups sit under one leaf switch and which cross the spine") {
  const auto line = [](const StepResult& r) {
    for (const std::string& a : r.assumptions)
      if (a.find("placement on ") == 0) return a;
    return std::string();
  };
  // DeepSeek-V3: EP64 on 8 nodes and DP128 (PP16 over 2,048 GPUs) on 16 consecutive nodes; a leaf of
  // the multi-plane network serves 32 nodes per plane, and 32 is a multiple of 8 and 16.
  Scenario v3 = preset("deepseek-v3-claim");
  CHECK(line(simulate_step(v3)) ==
        "placement on deepseek-multi-plane (a leaf serves 32 nodes per plane): expert-parallel group (64 GPUs over 8 "
        "nodes) under one leaf; data-parallel group (128 GPUs over 16 nodes) under one leaf");
  // Llama 3 405B: DP128 strided by TP8 spans 128 nodes; a ToR leaf serves 2 (16 ports / 8 NICs).
  CHECK(line(simulate_step(preset("llama-3-405b"))).find("data-parallel group (128 GPUs over 128 nodes) across the spine") !=
        std::string::npos);
  // One node: no fat-tree placement to report.
  CHECK(line(simulate_step(preset("llama-3-8b-8gpu-dp"))).empty());
}

TEST_CASE("SM sharing: each communication kernel takes the SMs its library occupies, and fewer never slow the step") {
  const auto sm_line = [](const StepResult& r) {
    for (const std::string& a : r.assumptions)
      if (a.find("collectives: ") == 0) return a.substr(a.find("compute: ") + 9);
    return std::string();
  };
  // H800 (NCCL log: 16 channels in a node; send / recv rounds up to a power of two: 16), DeepEP 20,
  // across nodes 16 channels and 2 per send / recv peer (nccl-tests #319).
  CHECK(sm_line(simulate_step(preset("deepseek-v3-claim"))) ==
        "expert dispatch / combine 20, NCCL collectives 16 in a node and 16 across nodes, send / recv 16 in a node and 2 "
        "across nodes (one SM per NCCL channel)");
  // One H100 node: 24 collective channels, send / recv 32.
  Scenario s = preset("llama-3-8b-8gpu-dp");
  const StepResult base = simulate_step(s);
  CHECK(sm_line(base) == "expert dispatch / combine 20, NCCL collectives 24 in a node, send / recv 32 in a node (one SM per NCCL channel)");
  // The ZeRO-2 reduce-scatter runs beside the backward: with fewer channels the compute it
  // overlaps keeps more SMs, and the step cannot get slower.
  s.cluster.gpu.nccl_channels_in_node = 4;
  CHECK(simulate_step(s).seconds <= base.seconds);
  s.cluster.gpu.nccl_channels_in_node = 96;
  CHECK(simulate_step(s).seconds >= base.seconds);
}
