#include "gpuhours/catalog.hpp"

#include <algorithm>

namespace gpuhours {

namespace fs = std::filesystem;

Catalog::Catalog(std::string root) : root_(std::move(root)) {}

std::vector<std::string> Catalog::names(const std::string& folder) const {
  std::vector<std::string> out;
  const fs::path dir = fs::path(root_) / folder;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().stem());
  std::sort(out.begin(), out.end());
  return out;
}

std::string Catalog::preset_path(const std::string& folder, const std::string& name) const {
  return (fs::path(root_) / folder / (name + ".yaml")).string();
}

std::string Catalog::scenario_path(const std::string& name_or_path) const {
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".yaml")) {
    if (!fs::exists(name_or_path)) throw InputError(name_or_path + ": no such scenario file");
    return name_or_path;
  }
  const std::string path = preset_path("scenarios", name_or_path);
  if (fs::exists(path)) return path;
  std::string msg = "unknown scenario preset '" + name_or_path + "'";
  msg += name_hint(name_or_path, names("scenarios"), 0);
  throw InputError(msg + " (gpuhours list shows the presets)");
}

}  // namespace gpuhours
