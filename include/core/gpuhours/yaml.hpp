// YamlNode: a yaml-cpp node that remembers its file and dotted field path, so that every error
// reads "file:line:column: field 'a.b': message". Loaders declare the keys a mapping may hold;
// unknown keys are rejected with a "did you mean" hint.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "gpuhours/enums.hpp"
#include "gpuhours/error.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

/// Input files are read whole, up to this size (issue 19: `run /dev/zero` must not run forever).
inline constexpr std::size_t kMaxInputFileBytes = std::size_t{16} << 20;
/// Mappings and lists nest at most this deep (a stack-overflow guard for the tree walk).
inline constexpr int kMaxYamlDepth = 64;

/// Whether `s` is well-formed UTF-8 (RFC 3629).
bool valid_utf8(std::string_view s);
/// The whole file, or an InputError naming it when it cannot be read or exceeds `max_bytes`.
std::string read_input_file(const std::string& path, std::size_t max_bytes = kMaxInputFileBytes);

/// One allowed key of a mapping: its name, whether it must be present, and a one-line help.
struct KeySpec {
  std::string_view name;
  bool required = false;
  std::string_view help;
};

class YamlNode {
 public:
  /// Parses a file; a syntax error becomes an InputError with the file and line.
  static YamlNode load_file(const std::string& path);
  /// Parses text (tests, inline snippets) under a display name.
  static YamlNode load_string(const std::string& text, const std::string& display_name);

  YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path);

  const std::string& file() const { return *file_; }
  const std::string& path() const { return path_; }
  /// "file:line:column" of this node (1-based), or "file" when the node has no position.
  std::string where() const;

  bool is_map() const { return node_.IsMap(); }
  bool is_scalar() const { return node_.IsScalar(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool has(std::string_view key) const;

  /// Rejects keys not in `keys` (with a "did you mean" hint) and missing required keys.
  void check_keys(const std::vector<KeySpec>& keys) const;

  YamlNode child(std::string_view key) const;  ///< required key
  std::optional<YamlNode> optional_child(std::string_view key) const;
  std::vector<YamlNode> items() const;                      ///< a sequence's elements
  std::vector<std::pair<std::string, YamlNode>> entries() const;  ///< a mapping's entries

  std::string as_string() const;
  double as_double() const;
  std::int64_t as_int() const;
  bool as_bool() const;
  /// A count or size that must be > 0.
  std::int64_t as_positive_int() const;
  /// A count from 1 to `max` (default: what an int holds), rejected beyond it.
  int as_count(std::int64_t max = 2147483647) const;
  double as_positive_double() const;
  double as_nonnegative_double() const;
  /// A quantity with a unit: a scalar "3.35 TB/s", or a mapping {value: "3.35 TB/s", source: key}.
  double as_quantity(Dimension dim) const;
  std::vector<std::string> as_string_list() const;
  /// A name of enum E's table (enums.hpp); an unknown one is an error here with a hint.
  template <typename E>
  E as_enum() const {
    const std::string v = as_string();
    if (auto e = enum_from_name<E>(v)) return *e;
    throw error(unknown_name_message("value", v, enum_names<E>()));
  }
  /// One of `options` (names for values that are no enum, e.g. {"dense", false}, {"moe", true}).
  template <typename T>
  T as_choice(const std::vector<std::pair<std::string, T>>& options) const {
    const std::string v = as_string();
    std::vector<std::string> names;
    for (const auto& [name, value] : options) {
      if (name == v) return value;
      names.push_back(name);
    }
    throw error(unknown_name_message("value", v, names));
  }
  /// An optional key's string list / string, empty when absent.
  std::vector<std::string> optional_list(std::string_view key) const;
  std::string optional_string(std::string_view key) const;

  /// Builds an InputError located at this node.
  [[nodiscard]] InputError error(const std::string& message) const;

  const YAML::Node& raw() const { return node_; }

 private:
  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

/// Data files with sources: `sources` is a mapping key -> citation, and every quantity is
/// {value, source} naming one of those keys (sourced()); a bare number is an error.
std::map<std::string, std::string> load_sources(const YamlNode& n);
double sourced(const YamlNode& parent, std::string_view key, Dimension dim, const std::map<std::string, std::string>& sources);
/// Every key of `n`'s `source:` (one or a list) names one of `sources`.
void check_sources(const YamlNode& n, const std::map<std::string, std::string>& sources);

/// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);
/// The closest candidate within a small distance, or empty.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);
/// "; did you mean 'h100-pcie' or 'h100-sxm'?" for a mistyped name: the candidates that start
/// with it or that it starts with (a family name, "h100"), else the closest by edit distance;
/// and " (one of: ...)" when there are at most `list_up_to` candidates. Empty when neither applies.
std::string name_hint(std::string_view word, const std::vector<std::string>& candidates, std::size_t list_up_to = 12);

}  // namespace gpuhours
