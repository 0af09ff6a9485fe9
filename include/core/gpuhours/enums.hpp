// Enum <-> string: each enum has one table of names, declared beside the enum by specialising
// EnumTable; loaders, JSON, the CLI and error messages all read that one table.
//
//   enum class Fruit { apple, pear };
//   template <> struct EnumTable<Fruit> {
//     static constexpr std::array<EnumName<Fruit>, 2> names{{{Fruit::apple, "apple"}, {Fruit::pear, "pear"}}};
//   };
//   name_of(Fruit::pear) == "pear";  parse_enum<Fruit>("aple", "fruit") throws
//   "unknown fruit 'aple'; did you mean 'apple'? (one of: apple pear)".
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpuhours/error.hpp"

namespace gpuhours {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

/// Specialise for each enum with `static constexpr std::array<EnumName<E>, N> names`.
template <typename E>
struct EnumTable;

template <typename E>
const char* name_of(E e) {
  for (const auto& n : EnumTable<E>::names)
    if (n.value == e) return n.name;
  return "?";
}

template <typename E>
std::optional<E> enum_from_name(std::string_view s) {
  for (const auto& n : EnumTable<E>::names)
    if (s == n.name) return n.value;
  return std::nullopt;
}

template <typename E>
std::vector<std::string> enum_names() {
  std::vector<std::string> out;
  for (const auto& n : EnumTable<E>::names) out.emplace_back(n.name);
  return out;
}

/// "unknown WHAT 'VALUE'; did you mean 'HINT'? (one of: a b c)".
std::string unknown_name_message(std::string_view what, std::string_view value, const std::vector<std::string>& names);

/// The enum named `s`; throws InputError (unknown_name_message) otherwise.
template <typename E>
E parse_enum(std::string_view s, std::string_view what) {
  if (auto e = enum_from_name<E>(s)) return *e;
  throw InputError(unknown_name_message(what, s, enum_names<E>()));
}

}  // namespace gpuhours
