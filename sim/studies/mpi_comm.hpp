// MPI for distributed sweeps (built when MPI is found): one session per process.
#pragma once
#include <memory>

#include "gpuhours/sweep.hpp"

namespace gpuhours {

/// Whether this process was started by mpirun (then main() opens an MpiSession).
bool launched_by_mpirun();

class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  SweepComm& comm() { return *comm_; }

 private:
  std::unique_ptr<SweepComm> comm_;
};

}  // namespace gpuhours
