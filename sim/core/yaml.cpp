#include "gpuhours/yaml.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace gpuhours {

namespace {
std::string join_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string mark_of(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// Every key a scalar, no key twice in one mapping, every scalar valid UTF-8: yaml-cpp accepts
// all three, and a later lookup would then see one of two values, or the JSON writer would throw.
void check_tree(const YAML::Node& node, const std::string& file, int depth) {
  if (depth > kMaxYamlDepth)
    throw InputError(mark_of(file, node.Mark()) + ": nested deeper than " + std::to_string(kMaxYamlDepth) +
                     " levels");
  if (node.IsScalar()) {
    if (!valid_utf8(node.Scalar()))
      throw InputError(mark_of(file, node.Mark()) + ": text is not valid UTF-8");
  } else if (node.IsSequence()) {
    for (const auto& item : node) check_tree(item, file, depth + 1);
  } else if (node.IsMap()) {
    std::vector<std::string> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar())
        throw InputError(mark_of(file, kv.first.Mark()) + ": a mapping key must be a plain name, not a " +
                         (kv.first.IsMap() ? "mapping" : kv.first.IsSequence() ? "list" : "null"));
      const std::string& key = kv.first.Scalar();
      check_tree(kv.first, file, depth + 1);
      if (std::find(seen.begin(), seen.end(), key) != seen.end())
        throw InputError(mark_of(file, kv.first.Mark()) + ": key '" + key +
                         "' appears twice in the same mapping");
      seen.push_back(key);
      check_tree(kv.second, file, depth + 1);
    }
  }
}
}  // namespace

bool valid_utf8(std::string_view s) {
  // RFC 3629 section 4: the well-formed byte sequences (no overlongs, no surrogates, <= U+10FFFF).
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    const unsigned char c = byte(i);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) { n = 2; lo = 0xA0; }
    else if (c == 0xED) { n = 2; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) { n = 3; lo = 0x90; }
    else if (c == 0xF4) { n = 3; hi = 0x8F; }
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else return false;
    if (i + n >= s.size()) return false;  // truncated sequence
    if (byte(i + 1) < lo || byte(i + 1) > hi) return false;
    for (std::size_t k = 2; k <= n; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return false;
    i += n + 1;
  }
  return true;
}

std::string read_input_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  std::string text;
  std::vector<char> buffer(64 * 1024);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    text.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes)
      throw InputError(path + ": larger than " + std::to_string(max_bytes >> 20) +
                       " MiB; an input file must be smaller");
  }
  if (in.bad()) throw InputError(path + ": cannot read file");
  return text;
}

YamlNode::YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

YamlNode YamlNode::load_string(const std::string& text, const std::string& display_name) {
  auto file = std::make_shared<const std::string>(display_name);
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) throw InputError(display_name + ":1:1: the file is empty; expected a YAML mapping (key: value lines)");
    if (!root.IsMap()) {
      const YAML::Mark m = root.Mark();
      throw InputError(display_name + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) +
                       ": expected a YAML mapping (key: value lines) at the top level");
    }
    check_tree(root, display_name, 0);
    return YamlNode(root, file, "");
  } catch (const YAML::Exception& e) {
    throw InputError(display_name + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  }
}

YamlNode YamlNode::load_file(const std::string& path) {
  return load_string(read_input_file(path), path);
}

std::string YamlNode::where() const {
  const YAML::Mark m = node_.Mark();
  if (m.is_null()) return *file_;
  return *file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

InputError YamlNode::error(const std::string& message) const {
  if (path_.empty()) return InputError(where() + ": " + message);
  return InputError(where() + ": field '" + path_ + "': " + message);
}

bool YamlNode::has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined();
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

void YamlNode::check_keys(const std::vector<KeySpec>& keys) const {
  if (!node_.IsMap()) throw error("expected a mapping of keys");
  std::vector<std::string> names;
  for (const auto& k : keys) names.emplace_back(k.name);
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (std::find(names.begin(), names.end(), key) != names.end()) continue;
    YamlNode at(it->first, file_, join_path(path_, key));
    std::string msg = "unknown key '" + key + "'";
    if (auto hint = closest_match(key, names); !hint.empty()) msg += "; did you mean '" + hint + "'?";
    else {
      msg += "; allowed keys:";
      for (const auto& n : names) msg += " " + n;
    }
    throw InputError(at.where() + ": " + msg);
  }
  for (const auto& k : keys)
    if (k.required && !has(k.name))
      throw error("missing required key '" + std::string(k.name) + "' (" + std::string(k.help) + ")");
}

YamlNode YamlNode::child(std::string_view key) const {
  if (!node_.IsMap()) throw error("expected a mapping");
  YAML::Node c = node_[std::string(key)];
  if (!c.IsDefined()) throw error("missing required key '" + std::string(key) + "'");
  return YamlNode(c, file_, join_path(path_, key));
}

std::optional<YamlNode> YamlNode::optional_child(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  YAML::Node c = node_[std::string(key)];
  if (c.IsNull()) return std::nullopt;
  return YamlNode(c, file_, join_path(path_, key));
}

std::vector<YamlNode> YamlNode::items() const {
  if (!node_.IsSequence()) throw error("expected a list");
  std::vector<YamlNode> out;
  for (std::size_t i = 0; i < node_.size(); ++i)
    out.emplace_back(node_[i], file_, path_ + "[" + std::to_string(i) + "]");
  return out;
}

std::vector<std::pair<std::string, YamlNode>> YamlNode::entries() const {
  if (!node_.IsMap()) throw error("expected a mapping");
  std::vector<std::pair<std::string, YamlNode>> out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    out.emplace_back(key, YamlNode(it->second, file_, join_path(path_, key)));
  }
  return out;
}

std::string YamlNode::as_string() const {
  if (!node_.IsScalar()) throw error("expected a text value");
  return node_.Scalar();
}

double YamlNode::as_double() const {
  if (!node_.IsScalar()) throw error("expected a number");
  try {
    std::size_t used = 0;
    const double v = std::stod(node_.Scalar(), &used);
    if (used != node_.Scalar().size() || !std::isfinite(v)) throw std::invalid_argument("");
    return v;
  } catch (const std::exception&) {
    // "100B", "1.5T", "16M": a count with a suffix; say how to write it.
    const std::string& text = node_.Scalar();
    static constexpr std::pair<char, const char*> kSuffixes[] = {{'K', "e3"}, {'k', "e3"}, {'M', "e6"}, {'B', "e9"},
                                                                {'G', "e9"}, {'T', "e12"}};
    if (text.size() > 1)
      for (const auto& [suffix, exponent] : kSuffixes)
        if (text.back() == suffix) {
          const std::string mantissa = text.substr(0, text.size() - 1);
          std::size_t used = 0;
          try {
            std::stod(mantissa, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used == mantissa.size())
            throw error("expected a number, got \"" + text + "\"; write " + mantissa + exponent);
        }
    throw error("expected a number, got \"" + text + "\"");
  }
}

std::int64_t YamlNode::as_int() const {
  const double v = as_double();
  if (v != std::floor(v) || std::fabs(v) > 9.0e18)
    throw error("expected a whole number, got \"" + node_.Scalar() + "\"");
  return static_cast<std::int64_t>(v);
}

bool YamlNode::as_bool() const {
  if (!node_.IsScalar()) throw error("expected true or false");
  const std::string& s = node_.Scalar();
  if (s == "true") return true;
  if (s == "false") return false;
  throw error("expected true or false, got \"" + s + "\"");
}

std::int64_t YamlNode::as_positive_int() const {
  const std::int64_t v = as_int();
  if (v <= 0) throw error("must be greater than zero, got " + node_.Scalar());
  return v;
}

int YamlNode::as_count(std::int64_t max) const {
  const std::int64_t v = as_positive_int();
  if (v > max) throw error("must be at most " + std::to_string(max) + ", got " + node_.Scalar());
  return static_cast<int>(v);
}

double YamlNode::as_positive_double() const {
  const double v = as_double();
  if (v <= 0) throw error("must be greater than zero, got " + node_.Scalar());
  return v;
}

double YamlNode::as_nonnegative_double() const {
  const double v = as_double();
  if (v < 0) throw error("must not be negative, got " + node_.Scalar());
  return v;
}

double YamlNode::as_quantity(Dimension dim) const {
  if (node_.IsMap()) {
    check_keys({{"value", true, "the quantity with its unit"},
                {"source", true, "key of the source this number comes from"},
                {"note", false, "how the value was read or derived"}});
    return child("value").as_quantity(dim);
  }
  if (!node_.IsScalar()) throw error("expected " + dimension_example(dim));
  double v = 0;
  try {
    v = parse_quantity(node_.Scalar(), dim);
  } catch (const std::invalid_argument& e) {
    throw error(e.what());
  }
  if (v <= 0) throw error("must be greater than zero, got \"" + node_.Scalar() + "\"");
  return v;
}

std::vector<std::string> YamlNode::as_string_list() const {
  if (node_.IsScalar()) return {node_.Scalar()};
  std::vector<std::string> out;
  for (const auto& item : items()) out.push_back(item.as_string());
  return out;
}

std::vector<std::string> YamlNode::optional_list(std::string_view key) const {
  auto c = optional_child(key);
  return c ? c->as_string_list() : std::vector<std::string>{};
}

std::string YamlNode::optional_string(std::string_view key) const {
  auto c = optional_child(key);
  return c ? c->as_string() : std::string{};
}

// Hardware files: `sources` is a mapping key -> citation; every quantity names one of those keys.
std::map<std::string, std::string> load_sources(const YamlNode& n) {
  std::map<std::string, std::string> out;
  for (const auto& [key, cite] : n.child("sources").entries()) out[key] = cite.as_string();
  if (out.empty()) throw n.child("sources").error("at least one source is required");
  return out;
}

double sourced(const YamlNode& parent, std::string_view key, Dimension dim,
               const std::map<std::string, std::string>& sources) {
  const YamlNode n = parent.child(key);
  if (!n.is_map())
    throw n.error("expected {value: ..., source: ...}: every hardware number carries its source");
  const double v = n.as_quantity(dim);
  check_sources(n, sources);
  return v;
}

void check_sources(const YamlNode& n, const std::map<std::string, std::string>& sources) {
  const YamlNode source = n.child("source");
  for (const auto& s : source.as_string_list())
    if (!sources.count(s)) throw source.error("unknown source '" + s + "'; add it under 'sources'");
}

std::string name_hint(std::string_view word, const std::vector<std::string>& candidates, std::size_t list_up_to) {
  std::vector<std::string> prefixed;
  if (!word.empty())
    for (const auto& c : candidates)
      if (c.starts_with(word) || (word.starts_with(c) && c.size() >= 3)) prefixed.push_back(c);
  if (prefixed.empty())
    if (auto close = closest_match(word, candidates); !close.empty()) prefixed.push_back(close);
  std::string msg;
  if (!prefixed.empty() && prefixed.size() <= 6) {
    msg = "; did you mean ";
    for (std::size_t i = 0; i < prefixed.size(); ++i)
      msg += (i == 0 ? "'" : i + 1 == prefixed.size() ? " or '" : ", '") + prefixed[i] + "'";
    msg += "?";
  }
  if (!candidates.empty() && candidates.size() <= list_up_to) {
    msg += " (one of:";
    for (const auto& c : candidates) msg += " " + c;
    msg += ")";
  }
  return msg;
}

std::string unknown_name_message(std::string_view what, std::string_view value, const std::vector<std::string>& names) {
  return "unknown " + std::string(what) + " '" + std::string(value) + "'" + name_hint(value, names, SIZE_MAX);
}

}  // namespace gpuhours
