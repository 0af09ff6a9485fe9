// Helpers shared by the simulator benchmarks.
#pragma once
#include <cstdlib>
#include <fstream>
#include <string>

namespace gpuhours::bench {

/// Peak resident memory of this process in KiB (Linux /proc), or -1.
inline long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

}  // namespace gpuhours::bench
