#include <iostream>
#include <string>
#include <vector>

#include "gpuhours/cli.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
#ifdef GPUHOURS_BENCH_PATH
  return gpuhours::run_cli(args, std::cout, std::cerr, GPUHOURS_DATA_DIR, GPUHOURS_BENCH_PATH);
#else
  return gpuhours::run_cli(args, std::cout, std::cerr, GPUHOURS_DATA_DIR);
#endif
}
