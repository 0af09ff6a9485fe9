// libFuzzer target over the scenario loaders, the run and the serving simulation: any bytes, read as
// a scenario file (a serving scenario when it has `deployments:`).
// Bad input must end as an InputError (exit 1) and an impossible layout as an InfeasibleLayout
// (exit 2); any other exception, a crash, a sanitizer report or a hang is a finding.
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DGPUHOURS_FUZZ=ON && cmake --build build-fuzz --target fuzz_scenario
//   build-fuzz/fuzz_scenario -runs=N CORPUS_DIR     (tests/fuzz/run.sh seeds the corpus with the presets)
#include <cstddef>
#include <cstdint>
#include <string>

#include "gpuhours/error.hpp"
#include "gpuhours/infeasible.hpp"
#include "gpuhours/scenario.hpp"
#include "gpuhours/serve.hpp"
#include "gpuhours/simulated_run.hpp"
#include "gpuhours/step.hpp"
#include "gpuhours/yaml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gpuhours;
  static const Catalog catalog(GPUHOURS_DATA_DIR);  // libFuzzer's entry point has nowhere else to keep it
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const YamlNode doc = YamlNode::load_string(text, "fuzz.yaml");
    if (doc.has("deployments")) {
      // Serving: load everything; simulate the small ones (a few requests of short prompts and answers).
      const ServingScenario s = load_serving(doc, catalog);
      const RequestSpec& q = s.requests;
      bool small = q.arrival != Arrival::trace && q.count <= 32 && q.input.max <= 4096 && q.output.max <= 512;
      for (const Deployment& d : s.deployments)
        small = small && d.gpus() <= 16 && d.platform.model.layers <= 8 && (!d.output_tokens || d.output_tokens->max <= 512);
      if (small) (void)simulate_serving(s);
      return 0;
    }
    const Scenario s = load_scenario(doc, catalog);
    // Whole runs of the presets' sizes take seconds under the sanitizers: the fuzzer explores what
    // the loader accepts, checks every layout, and simulates the runs small enough to keep
    // hundreds of inputs a second (one node, a few layers, a few micro-batches).
    if (auto why = layout_infeasibility(s)) return 0;
    if (s.cluster.gpus() <= 8 && s.model.layers <= 8 && s.training.global_batch <= 64 && s.training.phases.size() <= 2)
      (void)simulate_run(s);
  } catch (const InputError&) {
  } catch (const InfeasibleLayout&) {
  }
  return 0;
}
