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

std::string preset_name_problem(std::string_view name) {
  constexpr std::size_t kMax = 128;
  const std::string shown = name.size() > 40 ? std::string(name.substr(0, 40)) + "..." : std::string(name);
  const bool chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
  if (name.empty() || name.size() > kMax || !chars || name.front() == '.')
    return "'" + shown + "' is not a preset name (1 to 128 letters, digits, '.', '_' or '-', not starting with '.')";
  return "";
}

bool Catalog::exists(const std::string& path) {
  std::error_code ec;
  return path.size() < 4096 && path.find('\0') == std::string::npos && fs::exists(path, ec);
}

std::string Catalog::preset_path(const std::string& folder, const std::string& name) const {
  if (auto problem = preset_name_problem(name); !problem.empty()) throw InputError(problem);
  return (fs::path(root_) / folder / (name + ".yaml")).string();
}

std::string Catalog::scenario_path(const std::string& name_or_path) const {
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".yaml")) {
    if (!exists(name_or_path)) throw InputError(name_or_path.substr(0, 200) + ": no such scenario file");
    return name_or_path;
  }
  const std::string path = preset_path("scenarios", name_or_path);
  if (exists(path)) return path;
  std::string msg = "unknown scenario preset '" + name_or_path + "'";
  msg += name_hint(name_or_path, names("scenarios"), 0);
  throw InputError(msg + " (gpuhours list shows the presets)");
}

}  // namespace gpuhours
