// The gpuhours command line, callable in-process (tests) and from main().
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace gpuhours {

class SweepComm;

/// Runs `gpuhours <args...>`; returns the exit code: 0 ok, 1 bad input, 2 infeasible layout.
/// `data_dir` is where models/, hardware/ and scenarios/ are found unless --data-dir is given.
/// `bench_path`: the CUDA benchmark binary `gpuhours bench` runs (empty when not built).
/// `comm`: the MPI processes a sweep is spread over (none: this process alone).
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const std::string& data_dir, const std::string& bench_path = "", SweepComm* comm = nullptr);

}  // namespace gpuhours
