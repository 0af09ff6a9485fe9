// Chrome trace event format: {"traceEvents": [...]} with "X" (complete) events, timestamps in
// microseconds; "M" metadata events name processes (ranks) and threads (streams); "otherData"
// holds the step's assumptions (Perfetto shows it as trace metadata).
#include <nlohmann/json.hpp>
#include <ostream>

#include "gpuhours/task_kinds.hpp"
#include "gpuhours/trace.hpp"

namespace gpuhours {

void write_chrome_trace(const Engine& engine, const std::vector<std::string>& rank_names, std::ostream& out,
                        const std::vector<std::string>& assumptions) {
  const TaskGraph& g = engine.graph();
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  std::vector<bool> named(rank_names.size() + g.stream_count(), false);
  for (StreamId s = 0; s < g.stream_count(); ++s) {
    const int rank = g.stream_rank(s);
    if (rank < static_cast<int>(named.size()) && !named[rank]) {
      named[rank] = true;
      const std::string name = rank < static_cast<int>(rank_names.size())
                                   ? rank_names[rank]
                                   : "rank " + std::to_string(rank);
      events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", rank}, {"tid", 0},
                        {"args", {{"name", name}}}});
    }
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", rank}, {"tid", s},
                      {"args", {{"name", g.stream_name(s)}}}});
  }
  // Each rank's host launching its kernels: one more track per rank.
  const auto host_track = static_cast<std::int64_t>(g.stream_count());
  std::vector<bool> host_named(rank_names.size(), false);
  for (TaskId t = 0; t < g.task_count(); ++t) {
    const int host = g.task_host(t);
    if (host < 0) continue;
    if (static_cast<std::size_t>(host) >= host_named.size()) host_named.resize(static_cast<std::size_t>(host) + 1, false);
    if (!host_named[static_cast<std::size_t>(host)]) {
      host_named[static_cast<std::size_t>(host)] = true;
      events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", host}, {"tid", host_track + host},
                        {"args", {{"name", "host"}}}});
    }
    const std::int64_t launch = g.task_launch(t).count_ns();
    events.push_back({{"name", "launch " + g.task_label(t)}, {"cat", "host"}, {"ph", "X"},
                      {"ts", static_cast<double>(engine.launched(t).count_ns() - launch) / 1000.0},
                      {"dur", static_cast<double>(launch) / 1000.0}, {"pid", host}, {"tid", host_track + host}});
  }
  for (TaskId t = 0; t < g.task_count(); ++t) {
    const std::int64_t start = engine.start(t).count_ns();
    const std::int64_t dur = engine.end(t).count_ns() - start;
    const StreamId s = g.task_stream(t);
    events.push_back({{"name", g.task_label(t)}, {"cat", to_string(task_kind(g, t))}, {"ph", "X"},
                      {"ts", static_cast<double>(start) / 1000.0},
                      {"dur", static_cast<double>(dur) / 1000.0}, {"pid", g.stream_rank(s)},
                      {"tid", s}});
  }
  nlohmann::ordered_json doc = {{"displayTimeUnit", "ns"}, {"traceEvents", std::move(events)}};
  if (!assumptions.empty()) doc["otherData"] = {{"assumptions", assumptions}};
  out << doc.dump() << "\n";
}

}  // namespace gpuhours
