// YamlNode: a yaml-cpp node that remembers its file and dotted field path, so that every error
// reads "file:line:column: field 'a.b': message" (STYLE.md rule 14). Loaders declare the keys a
// mapping may hold; unknown keys are rejected with a "did you mean" hint (rule 12).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "gpuhours/error.hpp"
#include "gpuhours/units.hpp"

namespace gpuhours {

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
  double as_positive_double() const;
  double as_nonnegative_double() const;
  /// A quantity with a unit: a scalar "3.35 TB/s", or a mapping {value: "3.35 TB/s", source: key}.
  double as_quantity(Dimension dim) const;
  std::vector<std::string> as_string_list() const;

  /// Builds an InputError located at this node.
  [[nodiscard]] InputError error(const std::string& message) const;

  const YAML::Node& raw() const { return node_; }

 private:
  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

/// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);
/// The closest candidate within a small distance, or empty.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace gpuhours
