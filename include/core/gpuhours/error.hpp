// Errors: bugs are assertions (always on); bad input and infeasible layouts (infeasible.hpp) are
// exceptions with stable exit codes (1 and 2), caught only at the CLI boundary.
#pragma once
#include <stdexcept>
#include <string>

namespace gpuhours {

/// Bad input: a data file or flag that cannot be used as given. Exit code 1.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void assertion_failed(const char* cond, const char* why, const char* file, int line);

}  // namespace gpuhours

#define GPUHOURS_ASSERT(cond, why)                                          \
  do {                                                                      \
    if (!(cond)) ::gpuhours::assertion_failed(#cond, why, __FILE__, __LINE__); \
  } while (false)
