#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gpuhours/allocator.hpp"
#include "gpuhours/cli.hpp"
#ifdef GPUHOURS_MPI
#include "../studies/mpi_comm.hpp"
#endif

#ifndef GPUHOURS_BENCH_PATH
#define GPUHOURS_BENCH_PATH ""
#endif

int main(int argc, char** argv) {
  gpuhours::keep_freed_memory_for_reuse();
  std::vector<std::string> args(argv + 1, argv + argc);
#ifdef GPUHOURS_MPI
  if (gpuhours::launched_by_mpirun()) {
    gpuhours::MpiSession mpi(&argc, &argv);
    // Process 0 prints; the others compute their share silently.
    std::ostringstream quiet;
    const bool first = mpi.comm().rank() == 0;
    return gpuhours::run_cli(args, first ? std::cout : quiet, first ? std::cerr : quiet, GPUHOURS_DATA_DIR,
                             GPUHOURS_BENCH_PATH, &mpi.comm());
  }
#endif
  return gpuhours::run_cli(args, std::cout, std::cerr, GPUHOURS_DATA_DIR, GPUHOURS_BENCH_PATH);
}
