// The MPI side of a distributed sweep: init when launched by mpirun, and an all-gather of doubles.
#include "mpi_comm.hpp"

#include <mpi.h>

#include <cstdlib>

namespace gpuhours {

namespace {

class MpiComm final : public SweepComm {
 public:
  MpiComm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::vector<double> allgather(const std::vector<double>& mine) override {
    int n = static_cast<int>(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
    MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<std::size_t>(r)] = total;
      total += counts[static_cast<std::size_t>(r)];
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    MPI_Allgatherv(mine.data(), n, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE, MPI_COMM_WORLD);
    return all;
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool launched_by_mpirun() {
  // Open MPI's and MPICH's (Hydra) launchers set these in every process they start.
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
}

MpiSession::MpiSession(int* argc, char*** argv) {
  MPI_Init(argc, argv);
  comm_ = std::make_unique<MpiComm>();
}

MpiSession::~MpiSession() { MPI_Finalize(); }

}  // namespace gpuhours
