// One place for an enum's string names: each enum that is read from or written to text
// (specs, flags, the journal, summary.json) specialises EnumNames<E> with a table of
// {value, name} pairs, and every parse and print goes through ParseEnum/EnumName, so a
// name is spelled once (after Abseil's AbslParseFlag/AbslUnparseFlag). Pure; thread-safe.
#pragma once

#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace cerebro {

template <typename E>
struct NamedValue {
  E value;
  std::string_view name;
};

// Specialise with `static constexpr NamedValue<E> kTable[] = {...};`, the first entry
// being the canonical name when a value has several (none do today).
template <typename E>
struct EnumNames;

template <typename E>
std::string_view EnumName(E value) {
  for (const auto& nv : EnumNames<E>::kTable) {
    if (nv.value == value) return nv.name;
  }
  return "?";
}

template <typename E>
std::optional<E> ParseEnum(std::string_view name) {
  for (const auto& nv : EnumNames<E>::kTable) {
    if (nv.name == name) return nv.value;
  }
  return std::nullopt;
}

// "mop, sequential, task or dp": for "expected ..., got 'x'" messages.
template <typename E>
std::string EnumChoices() {
  std::string out;
  const size_t n = std::size(EnumNames<E>::kTable);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += i + 1 == n ? " or " : ", ";
    out += EnumNames<E>::kTable[i].name;
  }
  return out;
}

}  // namespace cerebro
