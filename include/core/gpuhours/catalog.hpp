// The catalogue: where preset files live, and loading a preset by name or an inline mapping.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "gpuhours/yaml.hpp"

namespace gpuhours {

/// Where preset files live: <root>/models, <root>/hardware/gpus, <root>/hardware/networks,
/// <root>/scenarios.
class Catalog {
 public:
  explicit Catalog(std::string root);
  const std::string& root() const { return root_; }
  /// A scenario given as a path, or as a preset name under scenarios/.
  std::string scenario_path(const std::string& name_or_path) const;
  /// Preset names in one folder (sorted), e.g. names("models").
  std::vector<std::string> names(const std::string& folder) const;
  /// The file of preset `name` in `folder`; `name` must be a preset name (preset_name_problem).
  std::string preset_path(const std::string& folder, const std::string& name) const;
  /// Whether a file exists, without throwing (a name no file system accepts simply does not exist).
  static bool exists(const std::string& path);

 private:
  std::string root_;
};

/// Why `name` cannot name a preset, or empty: 1 to 128 letters, digits, '.', '_' and '-', not
/// starting with '.'; so a preset never leaves its folder, and no name reaches the file system
/// that it would reject.
std::string preset_name_problem(std::string_view name);

/// A model, GPU, network... given by preset name (a file of `folder`) or as an inline mapping;
/// an unknown name is an InputError at `n` that suggests the closest preset.
template <typename Loader>
auto load_named(const YamlNode& n, const Catalog& catalog, const std::string& folder, const std::string& what,
                Loader loader) {
  if (n.is_map()) return loader(n);
  const std::string name = n.as_string();
  if (auto problem = preset_name_problem(name); !problem.empty()) throw n.error(problem);
  const std::string path = catalog.preset_path(folder, name);
  if (!Catalog::exists(path)) {
    std::string msg = "unknown " + what + " '" + name + "'";
    msg += name_hint(name, catalog.names(folder));
    throw n.error(msg + " (presets are in " + folder + "/)");
  }
  return loader(YamlNode::load_file(path));
}

}  // namespace gpuhours
