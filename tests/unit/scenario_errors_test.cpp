// Bad input: one test per error kind, each a one-line message naming file:line:column and the
// field, and exit code 1.
#include <doctest/doctest.h>

#include "gpuhours/step.hpp"
#include "gpuhours/units.hpp"
#include "gpuhours/yaml.hpp"
#include "test_util.hpp"

using namespace gpuhours;
using gpuhours::test::cli;

namespace {
test::CliResult run_text(const std::string& name, const std::string& text) {
  return cli({"run", test::write_temp(name, text)});
}
void check_one_line(const test::CliResult& r) {
  CHECK(r.code == 1);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}
// The inline scenario with 8 experts of 1024 (top 2) in place of its dense FFN, and `parallelism`
// given before `cost:`.
std::string moe_variant(const std::string& parallelism) {
  std::string text = test::variant("ffn: {kind: dense, intermediate: 4096, activation: swiglu}",
                                   "ffn: {kind: moe, activation: swiglu, experts: 8, experts_per_token: 2, expert_intermediate: 1024}");
  return text.replace(text.find("cost:"), 5, "parallelism: " + parallelism + "\ncost:");
}
}  // namespace

TEST_CASE("an unknown key names file:line:column and suggests the closest key") {
  const auto r = run_text("typo.yaml", test::variant("  seq_len: 2048", "  seq_lenght: 2048"));
  check_one_line(r);
  CHECK(r.err.find("typo.yaml:13:3: unknown key 'seq_lenght'; did you mean 'seq_len'?") != std::string::npos);
}

TEST_CASE("a missing required field is named") {
  const auto r = run_text("missing.yaml", test::variant("  seq_len: 2048\n", ""));
  check_one_line(r);
  CHECK(r.err.find("missing.yaml:") != std::string::npos);
  CHECK(r.err.find("field 'training': missing required key 'seq_len'") != std::string::npos);
}

TEST_CASE("a wrong type is named with the value it got") {
  const auto r = run_text("type.yaml", test::variant("layers: 4", "layers: four"));
  check_one_line(r);
  CHECK(r.err.find("type.yaml:5:11: field 'model.layers': expected a number, got \"four\"") !=
        std::string::npos);
}

TEST_CASE("zero and negative sizes are rejected") {
  auto r = run_text("zero.yaml", test::variant("gpus_per_node: 1", "gpus_per_node: 0"));
  check_one_line(r);
  CHECK(r.err.find("field 'cluster.gpus_per_node': must be greater than zero, got 0") != std::string::npos);
  r = run_text("neg.yaml", test::variant("hidden: 1024", "hidden: -1024"));
  check_one_line(r);
  CHECK(r.err.find("field 'model.hidden': must be greater than zero") != std::string::npos);
  r = run_text("negprice.yaml", test::variant("gpu_hour_usd: 2.5", "gpu_hour_usd: -1"));
  check_one_line(r);
  CHECK(r.err.find("field 'cost.gpu_hour_usd': must not be negative") != std::string::npos);
}

TEST_CASE("heads that do not divide hidden are rejected") {
  const auto r = run_text("heads.yaml", test::variant("heads: 16, kv_heads: 4", "heads: 12, kv_heads: 4"));
  check_one_line(r);
  CHECK(r.err.find("field 'model.attention.heads': heads (12) must divide hidden (1024)") != std::string::npos);
}

TEST_CASE("unknown preset names are rejected with a suggestion") {
  auto r = run_text("gpu.yaml", test::variant("gpu: h100-sxm", "gpu: h100-sxn"));
  check_one_line(r);
  CHECK(r.err.find("field 'cluster.gpu': unknown GPU 'h100-sxn'; did you mean 'h100-sxm'?") != std::string::npos);
  r = run_text("model.yaml", R"(name: x
title: x
model: llama-3-9b
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 1, network: nvswitch-node}
training: {precision: bf16, seq_len: 2048, global_batch: 1, tokens: 1e9}
cost: {gpu_hour_usd: 2}
)");
  check_one_line(r);
  CHECK(r.err.find("field 'model': unknown model 'llama-3-9b'; did you mean 'llama-3-8b'?") != std::string::npos);
  r = cli({"run", "no-such-preset"});
  check_one_line(r);
  CHECK(r.err.find("unknown scenario preset 'no-such-preset'") != std::string::npos);
}

TEST_CASE("an unknown enum value lists the choices") {
  const auto r = run_text("enum.yaml", test::variant("precision: bf16", "precision: fp4"));
  check_one_line(r);
  CHECK(r.err.find("field 'training.precision': unknown value 'fp4'") != std::string::npos);
  CHECK(r.err.find("(one of: bf16 fp8)") != std::string::npos);
  // The attention kernel library: the old spelling 'flash' is no longer a choice.
  const auto a = run_text("attention.yaml", test::variant("  precision: bf16\n", "  precision: bf16\n  attention_kernel: flash\n"));
  check_one_line(a);
  CHECK(a.err.find("field 'training.attention_kernel': unknown value 'flash'") != std::string::npos);
  CHECK(a.err.find("(one of: fused flash-attention-2 unfused)") != std::string::npos);
}

TEST_CASE("a YAML syntax error names the line") {
  const auto r = run_text("syntax.yaml", "name: x\ntitle: [unclosed\n");
  check_one_line(r);
  CHECK(r.err.find("syntax.yaml:") != std::string::npos);
  CHECK(r.err.find("YAML syntax error") != std::string::npos);
}

TEST_CASE("unknown command-line options exit 1") {
  CHECK(cli({"run", "h100-1gpu-llama-1b", "--jsn"}).code == 1);
  CHECK(cli({"frobnicate"}).code == 1);
}

TEST_CASE("hostile input: counts beyond an int, infinite quantities, unbounded ramps, non-scalar keys and bad UTF-8 exit 1") {
  // A count past 2^31 no longer wraps to a small one (it ran as 1 node before).
  auto r = run_text("big.yaml", test::variant("nodes: 1,", "nodes: 4294967297,"));
  check_one_line(r);
  CHECK(r.err.find("big.yaml:") != std::string::npos);
  CHECK(r.err.find("field 'cluster.nodes': must be at most 2147483647") != std::string::npos);
  r = run_text("tp.yaml", test::variant("cost: {gpu_hour_usd: 2.5}", "parallelism: {tp: 4294967297}\ncost: {gpu_hour_usd: 2.5}"));
  check_one_line(r);
  CHECK(r.err.find("field 'parallelism.tp': must be at most 2147483647") != std::string::npos);
  // A unit prefix that overflows a double is out of range, not an infinite quantity.
  CHECK_THROWS_WITH_AS(parse_quantity("1e308 TB/s", Dimension::bytes_per_second), "\"1e308 TB/s\" is out of range",
                       std::invalid_argument);
  // Each batch-ramp point is a simulated step: bounded.
  r = run_text("ramp.yaml", test::variant("  tokens: 1e9", "  tokens: 1e9\n  batch_ramp: {from: 2, tokens: 1e8, points: 100000}"));
  check_one_line(r);
  CHECK(r.err.find("field 'training.batch_ramp.points': must be at most 64") != std::string::npos);
  // A list as a key, and a title that is not UTF-8, are refused when the file is read, at their place.
  r = run_text("key.yaml", "? [a, b]\n: 1\n");
  check_one_line(r);
  CHECK(r.err.find("key.yaml:1:3: a mapping key must be a plain name, not a list") != std::string::npos);
  r = cli({"run", test::write_temp("utf8.yaml", test::variant("title: Inline 1-GPU scenario", "title: \"bad \xff\xfe\"")), "--json"});
  check_one_line(r);
  CHECK(r.err.find("utf8.yaml:2:8: text is not valid UTF-8") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("a key given twice is refused where it appears the second time") {
  const auto r = run_text("dup.yaml", test::variant("title: Inline 1-GPU scenario", "title: one\ntitle: two"));
  check_one_line(r);
  CHECK(r.err.find("dup.yaml:3:1: key 'title' appears twice in the same mapping") != std::string::npos);
  // Inside a nested mapping as well.
  const auto n = run_text("dup2.yaml", test::variant("layers: 4", "layers: 4\n  layers: 8"));
  check_one_line(n);
  CHECK(n.err.find("key 'layers' appears twice") != std::string::npos);
}

TEST_CASE("an input file is read up to 16 MiB, and an endless one is refused") {
  const auto r = cli({"run", "/dev/zero"});
  check_one_line(r);
  CHECK(r.err.find("/dev/zero: larger than 16 MiB") != std::string::npos);
  CHECK(valid_utf8("gpu\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));      // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));  // a UTF-16 surrogate
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(valid_utf8("ab\xe2\x82"));    // truncated at the end
}

TEST_CASE("a failed write of the trace or the HTML report exits non-zero") {
  auto r = cli({"run", "h100-1gpu-llama-1b", "--trace", "/dev/full"});
  CHECK(r.code == 1);
  CHECK(r.err.find("/dev/full: the trace could not be written") != std::string::npos);
  r = cli({"check", "deepseek-llm-67b-per-trillion", "--samples", "100", "--html", "/dev/full"});
  CHECK(r.code == 1);
  CHECK(r.err.find("/dev/full: the HTML report could not be written") != std::string::npos);
}

TEST_CASE("names are suggested by prefix as well as by edit distance, and the few valid ones listed") {
  const auto gpu = run_text("gpu.yaml", test::variant("gpu: h100-sxm", "gpu: h100"));
  check_one_line(gpu);
  CHECK(gpu.err.find("unknown GPU 'h100'; did you mean 'h100-pcie' or 'h100-sxm'?") != std::string::npos);
  CHECK(gpu.err.find("(one of: a100-sxm-80gb") != std::string::npos);
  const auto net = run_text("net.yaml", test::variant("network: nvswitch-node", "network: infiniband"));
  check_one_line(net);
  CHECK(net.err.find("unknown network 'infiniband' (one of: ") != std::string::npos);
  CHECK(net.err.find("nvswitch-node") != std::string::npos);
  const auto preset = cli({"run", "deepseek-v3"});
  CHECK(preset.code == 1);
  CHECK(preset.err.find("did you mean 'deepseek-v3-2t-tokens', 'deepseek-v3-bf16', 'deepseek-v3-claim'") != std::string::npos);
}

TEST_CASE("a count with a suffix says how to write it") {
  const auto r = run_text("suffix.yaml", test::variant("tokens: 1e9", "tokens: 100B"));
  check_one_line(r);
  CHECK(r.err.find("suffix.yaml:") != std::string::npos);
  CHECK(r.err.find("field 'training.tokens': expected a number, got \"100B\"; write 100e9") != std::string::npos);
}

TEST_CASE("a bare gpuhours prints the help, and list keeps names and titles apart") {
  const auto bare = cli({});
  CHECK(bare.code == 0);
  CHECK(bare.out.find("Usage: gpuhours") != std::string::npos);
  CHECK(bare.out.find("validate") != std::string::npos);
  const auto list = cli({"list"});
  REQUIRE(list.code == 0);
  // The longest scenario name is followed by two spaces before its title.
  CHECK(list.out.find("  deepseek-llm-67b-per-trillion  DeepSeek LLM 67B") != std::string::npos);
}

TEST_CASE("a preset name is checked before any file system call: too long, outside the data tree, or with odd bytes") {
  // The fuzzer's finding (tests/fuzz/crashes/long-preset-name.yaml): a 320-character model name
  // made std::filesystem throw past the error handling.
  const auto long_name = cli({"run", std::string(GPUHOURS_DATA_DIR) + "/tests/fuzz/crashes/long-preset-name.yaml"});
  check_one_line(long_name);
  CHECK(long_name.err.find("long-preset-name.yaml:") != std::string::npos);
  CHECK(long_name.err.find("is not a preset name") != std::string::npos);
  for (const char* name : {"../../etc/passwd", ".hidden", "h100 sxm"}) {
    const auto r = run_text("name.yaml", test::variant("gpu: h100-sxm", std::string("gpu: \"") + name + "\""));
    CAPTURE(name);
    check_one_line(r);
    CHECK(r.err.find("field 'cluster.gpu': '") != std::string::npos);
    CHECK(r.err.find("is not a preset name") != std::string::npos);
  }
  const auto scenario = cli({"run", std::string(300, 'x')});
  CHECK(scenario.code == 1);
  CHECK(scenario.err.find("is not a preset name") != std::string::npos);
}

TEST_CASE("more classes of bad input: an empty file, a missing file, a cluster the network cannot hold, check without a claim, a bad objective") {
  // An empty file names the file and what it lacks.
  auto r = run_text("empty.yaml", "");
  check_one_line(r);
  CHECK(r.err.find("empty.yaml:1:1: the file is empty; expected a YAML mapping (key: value lines)") != std::string::npos);
  // A list at the top level names its place.
  r = run_text("list.yaml", "- a\n- b\n");
  check_one_line(r);
  CHECK(r.err.find("list.yaml:1:1: expected a YAML mapping (key: value lines) at the top level") != std::string::npos);
  // A file that is not there.
  r = cli({"run", "/nonexistent-dir/nothing.yaml"});
  check_one_line(r);
  CHECK(r.err.find("/nonexistent-dir/nothing.yaml: no such scenario file") != std::string::npos);
  // A single-node network asked to hold many nodes: the field, at its place, and the fix.
  r = run_text("span.yaml", test::variant("nodes: 1,", "nodes: 2,"));
  check_one_line(r);
  CHECK(r.err.find("span.yaml:10:") != std::string::npos);
  CHECK(r.err.find("field 'cluster.network': an nvswitch network spans one node; 2 nodes need a fat-tree network") !=
        std::string::npos);
  // check on a scenario that makes no claim names the file and the field it needs.
  r = cli({"check", "h100-1gpu-llama-1b"});
  check_one_line(r);
  CHECK(r.err.find("h100-1gpu-llama-1b.yaml: field 'claim': missing; check needs claim.gpu_hours") != std::string::npos);
  // An objective the sweep does not know lists those it does.
  r = cli({"sweep", "h100-1gpu-llama-1b", "--vary", "tp=1", "--objective", "speed"});
  CHECK(r.code == 1);
  CHECK(r.err.find("--objective: speed not in {cost,owned_cost,gpu_hours,days}") != std::string::npos);
}

TEST_CASE("quantities past their stated bounds are refused: tokens, prices, owned-cost fractions, a NaN deadline") {
  auto r = run_text("tokens.yaml", test::variant("  tokens: 1e9", "  tokens: 1e17"));
  check_one_line(r);
  CHECK(r.err.find("field 'training.tokens': at most 1e16 tokens") != std::string::npos);
  r = run_text("price.yaml", test::variant("gpu_hour_usd: 2.5", "gpu_hour_usd: 1e5"));
  check_one_line(r);
  CHECK(r.err.find("field 'cost.gpu_hour_usd': at most $10,000 per GPU-hour") != std::string::npos);
  // An interconnect that is the whole cost divided by zero (an infinite owned cost) before.
  r = run_text("ic.yaml", test::variant("gpu_hour_usd: 2.5", "gpu_hour_usd: 2.5, owned: {interconnect_fraction: 1}"));
  check_one_line(r);
  CHECK(r.err.find("field 'cost.owned.interconnect_fraction': the interconnect's share of the cluster's cost is a fraction below 1") !=
        std::string::npos);
  r = run_text("pue.yaml", test::variant("gpu_hour_usd: 2.5", "gpu_hour_usd: 2.5, owned: {pue: 1e308}"));
  check_one_line(r);
  CHECK(r.err.find("field 'cost.owned.pue': at most 1e6") != std::string::npos);
  r = cli({"sweep", "h100-1gpu-llama-1b", "--vary", "tp=1", "--deadline-days", "nan"});
  CHECK(r.code == 1);
  CHECK(r.err.find("--deadline-days") != std::string::npos);
}

TEST_CASE("the expert all-to-all overlap is refused without experts, and with a schedule that cannot pair its passes") {
  // A dense model has no all-to-all to overlap.
  const auto dense = run_text("overlap-dense.yaml", test::variant("cost:", "parallelism: {ep_comm_overlap: true}\ncost:"));
  check_one_line(dense);
  CHECK(dense.err.find("overlap-dense.yaml:16:32: field 'parallelism.ep_comm_overlap': only used by mixture-of-experts models") !=
        std::string::npos);
  // A MoE model under pipelined 1F1B: Megatron-Core pairs the passes only with virtual stages.
  std::string text = moe_variant("{ep: 4, pp: 2, schedule: 1f1b, ep_comm_overlap: true}");
  text.replace(text.find("nodes: 1, gpus_per_node: 1"), 26, "nodes: 1, gpus_per_node: 8");
  const auto piped = run_text("overlap-1f1b.yaml", text);
  CHECK(piped.code == 1);
  CHECK(piped.err.find("needs interleaved-1f1b when pipelined") != std::string::npos);
}

TEST_CASE("an FP8 dispatch is refused without experts and under BF16 training") {
  const auto dense = run_text("dispatch-dense.yaml", test::variant("cost:", "parallelism: {dispatch_precision: fp8}\ncost:"));
  check_one_line(dense);
  CHECK(dense.err.find("dispatch-dense.yaml:16:35: field 'parallelism.dispatch_precision': only used by mixture-of-experts models") !=
        std::string::npos);
  const auto bf16 = run_text("dispatch-bf16.yaml", moe_variant("{dispatch_precision: fp8}"));
  check_one_line(bf16);
  CHECK(bf16.err.find("field 'parallelism.dispatch_precision': FP8 dispatch needs FP8 training") != std::string::npos);
}

TEST_CASE("partitioned GEMM SMs are refused without experts, and an unknown placement is named") {
  const auto dense = run_text("gemm-sms-dense.yaml", test::variant("cost:", "parallelism: {gemm_sms: partitioned}\ncost:"));
  check_one_line(dense);
  CHECK(dense.err.find("gemm-sms-dense.yaml:16:25: field 'parallelism.gemm_sms': only used by mixture-of-experts models") !=
        std::string::npos);
  const auto unknown = run_text("gemm-sms-unknown.yaml", moe_variant("{gemm_sms: reserved}"));
  check_one_line(unknown);
  CHECK(unknown.err.find("field 'parallelism.gemm_sms'") != std::string::npos);
  CHECK(unknown.err.find("shared") != std::string::npos);
  CHECK(unknown.err.find("partitioned") != std::string::npos);
}

TEST_CASE("an FP8 recipe is refused under BF16 training, and an unknown one is named") {
  const auto bf16 = run_text("recipe-bf16.yaml", test::variant("  precision: bf16\n", "  precision: bf16\n  fp8_recipe: current\n"));
  check_one_line(bf16);
  CHECK(bf16.err.find("field 'training.fp8_recipe': only used with precision: fp8") != std::string::npos);
  const auto unknown = run_text("recipe-mx.yaml", test::variant("  precision: bf16\n", "  precision: fp8\n  fp8_recipe: mxfp8\n"));
  check_one_line(unknown);
  CHECK(unknown.err.find("field 'training.fp8_recipe': unknown value 'mxfp8'") != std::string::npos);
}

TEST_CASE("a sliding window is refused where it is not simulated, and its every-n rule is checked") {
  const std::string windowed = "attention: {kind: gqa, heads: 16, kv_heads: 4, sliding_window: 512}";
  std::string text = test::variant("attention: {kind: gqa, heads: 16, kv_heads: 4}", windowed);
  text.replace(text.find("nodes: 1, gpus_per_node: 1"), 26, "nodes: 1, gpus_per_node: 2");
  text.replace(text.find("cost:"), 5, "parallelism: {cp: 2}\ncost:");
  const auto cp = run_text("window-cp.yaml", text);
  check_one_line(cp);
  CHECK(cp.err.find("field 'parallelism.cp': sliding-window attention under context parallelism is not simulated") !=
        std::string::npos);
  const auto every = run_text("window-every.yaml", test::variant("kv_heads: 4}", "kv_heads: 4, full_attention_every: 2}"));
  check_one_line(every);
  CHECK(every.err.find("field 'model.attention.full_attention_every': only used with sliding_window") != std::string::npos);
  const auto one = run_text("window-one.yaml", test::variant("kv_heads: 4}", "kv_heads: 4, sliding_window: 64, full_attention_every: 1}"));
  check_one_line(one);
  CHECK(one.err.find("at least 2") != std::string::npos);
}

TEST_CASE("HybridEP's fused permutation is refused with another dispatcher") {
  const auto r = run_text("fused-alltoall.yaml", moe_variant("{dispatcher: alltoall, hybridep_fused_permute: true}"));
  check_one_line(r);
  CHECK(r.err.find("field 'parallelism.hybridep_fused_permute': only used with dispatcher: hybridep") != std::string::npos);
}

TEST_CASE("the fused expert bias is refused for experts without biases and for dense models") {
  const auto moe = run_text("bias-moe.yaml", moe_variant("{expert_bias_fused: true}"));
  check_one_line(moe);
  CHECK(moe.err.find("field 'parallelism.expert_bias_fused': only used by models whose experts carry biases") != std::string::npos);
  const auto dense = run_text("bias-dense.yaml", test::variant("cost:", "parallelism: {expert_bias_fused: true}\ncost:"));
  check_one_line(dense);
  CHECK(dense.err.find("field 'parallelism.expert_bias_fused': only used by mixture-of-experts models") != std::string::npos);
}

TEST_CASE("CUDA-graph scopes are checked as Megatron-Core checks them") {
  const auto unknown = run_text("graph-moe.yaml", moe_variant("{cuda_graph_scope: [attn, moe]}"));
  check_one_line(unknown);
  CHECK(unknown.err.find("moe_router") != std::string::npos);  // the valid names are listed
  const auto pre = run_text("graph-pre.yaml", moe_variant("{cuda_graph_scope: [attn, moe_preprocess]}"));
  check_one_line(pre);
  CHECK(pre.err.find("field 'parallelism.cuda_graph_scope': moe_preprocess needs moe_router") != std::string::npos);
  const auto mlp = run_text("graph-mlp.yaml", moe_variant("{cuda_graph_scope: [mlp]}"));
  check_one_line(mlp);
  CHECK(mlp.err.find("every layer of this model is a mixture of experts") != std::string::npos);
  const auto full = run_text("graph-full.yaml", moe_variant("{recompute: full, cuda_graph_scope: [attn]}"));
  check_one_line(full);
  CHECK(full.err.find("full recomputation is refused with layer graphs") != std::string::npos);
  const auto moe = run_text("graph-moe-recompute.yaml", moe_variant("{recompute: selective, recompute_modules: [moe], cuda_graph_scope: [moe_router]}"));
  check_one_line(moe);
  CHECK(moe.err.find("moe_router with recompute_modules: moe is refused") != std::string::npos);
  const auto dense = run_text("graph-dense.yaml", test::variant("cost:", "parallelism: {cuda_graph_scope: [moe_router]}\ncost:"));
  check_one_line(dense);
  CHECK(dense.err.find("field 'parallelism.cuda_graph_scope': only used by mixture-of-experts models") != std::string::npos);
  const auto empty = run_text("graph-empty.yaml", moe_variant("{cuda_graph_scope: []}"));
  check_one_line(empty);
  CHECK(empty.err.find("names at least one scope") != std::string::npos);
}

TEST_CASE("CUDA-graph scopes inherited by a phase meet its layout, and a sweep or schedule that cannot run them is infeasible") {
  // A phase that turns on full recomputation under the scenario's graphs names its parallelism.
  std::string text = moe_variant("{cuda_graph_scope: [attn]}");
  const std::string tokens = "  tokens: 1e9";
  text.replace(text.find(tokens), tokens.size(),
               tokens + "\n  phases:\n    - name: long\n      seq_len: 4096\n      global_batch: 8\n      steps: 10\n"
               "      parallelism: {recompute: full}");
  const auto phase = run_text("graph-phase.yaml", text);
  check_one_line(phase);
  CHECK(phase.err.find("graph-phase.yaml:") != std::string::npos);
  CHECK(phase.err.find("cuda_graph_scope: full recomputation is refused with layer graphs") != std::string::npos);
  // What the loader cannot see (a sweep's axes, a schedule's W passes) layout_infeasibility refuses.
  Scenario s = test::preset("deepseek-v3-claim");
  s.parallel.cuda_graph_scopes = bit(GraphScope::attn);
  auto why = layout_infeasibility(s);  // DualPipe defers weight gradients to W passes
  REQUIRE(why.has_value());
  CHECK(why->code == Infeasibility::cuda_graphs);
  CHECK(why->message.find("split_backward: false") != std::string::npos);
  s.parallel.split_backward = false;
  CHECK_FALSE(layout_infeasibility(s).has_value());
  s.parallel.recompute = Recompute::full;  // as sweep --vary recompute=full would set it
  why = layout_infeasibility(s);
  REQUIRE(why.has_value());
  CHECK(why->code == Infeasibility::cuda_graphs);
  s.parallel.recompute = Recompute::selective;
  s.cluster.gpu.graph_kernel_gap_seconds.reset();  // a GPU file without the gap
  why = layout_infeasibility(s);
  REQUIRE(why.has_value());
  CHECK(why->message.find("graph_kernel_gap") != std::string::npos);
}
