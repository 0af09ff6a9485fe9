// Helpers for tests: temporary scenario files and in-process CLI runs.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include <unistd.h>

#include "gpuhours/cli.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/yaml.hpp"

namespace gpuhours::test {

struct CliResult {
  int code = 0;
  std::string out, err;
};

inline CliResult cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int code = run_cli(args, out, err, GPUHOURS_DATA_DIR);
  return {code, out.str(), err.str()};
}

/// A preset scenario by name.
inline Scenario preset(const std::string& name) { return load_scenario(name, Catalog(GPUHOURS_DATA_DIR)); }

/// A model of the zoo by name.
inline ModelSpec zoo(const std::string& name) {
  return load_model(YamlNode::load_file(std::string(GPUHOURS_DATA_DIR) + "/models/" + name + ".yaml"));
}

/// The text of a file of the repository (`relative` to its root), which tests edit into bad input.
inline std::string data_text(const std::string& relative) {
  std::ifstream in(std::string(GPUHOURS_DATA_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Writes `text` to a fresh file under the system temp folder and returns its path. The folder is
/// this process's own, so test cases run in parallel (`ctest -j`) never share a file.
inline std::string write_temp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "gpuhours-tests" / std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

/// A valid 1-GPU scenario with the model given inline; tests replace pieces of it.
inline std::string inline_scenario() {
  return R"(name: inline-tiny
title: Inline 1-GPU scenario
model:
  name: tiny
  layers: 4
  hidden: 1024
  vocab: 32000
  attention: {kind: gqa, heads: 16, kv_heads: 4}
  ffn: {kind: dense, intermediate: 4096, activation: swiglu}
cluster: {gpu: h100-sxm, nodes: 1, gpus_per_node: 1, network: nvswitch-node}
training:
  precision: bf16
  seq_len: 2048
  global_batch: 8
  tokens: 1e9
cost: {gpu_hour_usd: 2.5}
)";
}

/// inline_scenario() with the first occurrence of `from` replaced by `to`.
inline std::string variant(const std::string& from, const std::string& to) {
  std::string s = inline_scenario();
  const auto at = s.find(from);
  if (at == std::string::npos) throw std::runtime_error("test variant: '" + from + "' not found");
  return s.replace(at, from.size(), to);
}

}  // namespace gpuhours::test
