// Chrome trace of a simulated step (opens in Perfetto and chrome://tracing).
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "gpuhours/engine.hpp"

namespace gpuhours {

/// Writes the simulated tasks as Chrome trace JSON: one process per rank, one thread per stream,
/// one complete ("X") event per task; `assumptions` (the mechanisms the step ran with) go to the
/// trace's "otherData".
void write_chrome_trace(const Engine& engine, const std::vector<std::string>& rank_names, std::ostream& out,
                        const std::vector<std::string>& assumptions = {});

}  // namespace gpuhours
