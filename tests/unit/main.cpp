#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "gpuhours/allocator.hpp"

int main(int argc, char** argv) {
  gpuhours::keep_freed_memory_for_reuse();
  return doctest::Context(argc, argv).run();
}
