// gpuhours-bench: measures kernel times on the local GPU with CUDA events after warm-up, for a
// gpuhours calibration profile.
//
//   gpuhours-bench [--shapes FILE] [--sustained-seconds S] OUT.json
//
// Measures: GEMMs C[MxN] = A[MxK] B[KxN] with cuBLASLt in BF16 and FP8 E4M3 (per-tensor scales,
// BF16 output) over the shapes of FILE (lines "dtype groups M N K", as `gpuhours shapes` prints)
// plus a grid of M, N, K; grouped GEMMs for MoE experts as strided batches (equal tokens per
// expert); memory-bound kernels (copy, RMSNorm, SwiGLU, AdamW step) written here; burst and
// sustained (power-capped) BF16 GEMM throughput with power and clocks read through NVML; NCCL
// all-reduce, all-gather and reduce-scatter over every local GPU when there are two or more. Writes
// the JSON layout of tests/data/h100-kernels-2026-11.json (bench/convert_reference_kernels.py
// turns it into a profile). Attention is measured by bench/torch_kernels.py (flash SDPA).
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#define CHECK_CUDA(x)                                                                              \
  do {                                                                                             \
    cudaError_t e_ = (x);                                                                          \
    if (e_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)
#define CHECK_LT(x)                                                                                \
  do {                                                                                             \
    cublasStatus_t s_ = (x);                                                                       \
    if (s_ != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cuBLASLt status " + std::to_string(s_)); \
  } while (0)

namespace {

// The few NVML calls used, loaded from the driver's libnvidia-ml at run time (a stable C ABI).
struct Nvml {
  using Init = int (*)();
  using Handle = int (*)(unsigned, void**);
  using UInt = int (*)(void*, unsigned*);
  using Clock = int (*)(void*, int, unsigned*);
  using Text = int (*)(char*, unsigned);
  void* lib = nullptr;
  void* dev = nullptr;
  UInt power_usage = nullptr, power_limit = nullptr;
  Clock clock = nullptr, max_clock = nullptr, temperature = nullptr;
  Text driver = nullptr;
  bool ok = false;
  Nvml() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW);
    if (!lib) return;
    auto init = reinterpret_cast<Init>(dlsym(lib, "nvmlInit_v2"));
    auto handle = reinterpret_cast<Handle>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
    power_usage = reinterpret_cast<UInt>(dlsym(lib, "nvmlDeviceGetPowerUsage"));
    power_limit = reinterpret_cast<UInt>(dlsym(lib, "nvmlDeviceGetEnforcedPowerLimit"));
    clock = reinterpret_cast<Clock>(dlsym(lib, "nvmlDeviceGetClockInfo"));
    max_clock = reinterpret_cast<Clock>(dlsym(lib, "nvmlDeviceGetMaxClockInfo"));
    temperature = reinterpret_cast<Clock>(dlsym(lib, "nvmlDeviceGetTemperature"));
    driver = reinterpret_cast<Text>(dlsym(lib, "nvmlSystemGetDriverVersion"));
    ok = init && handle && power_usage && power_limit && clock && max_clock && temperature && driver && init() == 0 &&
         handle(0, &dev) == 0;
  }
  static constexpr int kClockSm = 1, kTemperatureGpu = 0;  // NVML_CLOCK_SM, NVML_TEMPERATURE_GPU
};

struct Timer {
  cudaEvent_t a, b;
  Timer() {
    CHECK_CUDA(cudaEventCreate(&a));
    CHECK_CUDA(cudaEventCreate(&b));
  }
  ~Timer() {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
  // Mean seconds of `fn` over repetitions chosen to fill ~`budget` seconds, after 3 warm-ups.
  template <typename F>
  double time(F fn, double budget = 0.05) {
    for (int i = 0; i < 3; ++i) fn();
    CHECK_CUDA(cudaEventRecord(a));
    fn();
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
    const int reps = std::max(5, std::min(200, static_cast<int>(budget / std::max(ms * 1e-3, 1e-6))));
    CHECK_CUDA(cudaEventRecord(a));
    for (int i = 0; i < reps; ++i) fn();
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
    return ms * 1e-3 / reps;
  }
};

__global__ void fill_kernel(__nv_bfloat16* p, size_t n, float scale) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    p[i] = __float2bfloat16(scale * static_cast<float>((i * 2654435761u) % 1000) / 1000.0f - 0.5f * scale);
}
__global__ void to_fp8_kernel(const __nv_bfloat16* in, __nv_fp8_e4m3* out, size_t n) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    out[i] = __nv_fp8_e4m3(__bfloat162float(in[i]));
}
__global__ void copy_kernel(const __nv_bfloat16* in, __nv_bfloat16* out, size_t n) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) out[i] = in[i];
}
// RMSNorm over rows of `cols` elements: one block per row.
__global__ void rmsnorm_kernel(const __nv_bfloat16* in, const __nv_bfloat16* w, __nv_bfloat16* out, int cols) {
  const __nv_bfloat16* x = in + static_cast<size_t>(blockIdx.x) * cols;
  __shared__ float partial[32];
  float s = 0;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = __bfloat162float(x[i]);
    s += v * v;
  }
  for (int o = 16; o > 0; o /= 2) s += __shfl_down_sync(0xffffffffu, s, o);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    s = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0;
    for (int o = 16; o > 0; o /= 2) s += __shfl_down_sync(0xffffffffu, s, o);
    if (threadIdx.x == 0) partial[0] = rsqrtf(s / cols + 1e-6f);
  }
  __syncthreads();
  const float r = partial[0];
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    out[static_cast<size_t>(blockIdx.x) * cols + i] = __float2bfloat16(__bfloat162float(x[i]) * r * __bfloat162float(w[i]));
}
__global__ void swiglu_kernel(const __nv_bfloat16* gate, const __nv_bfloat16* up, __nv_bfloat16* out, size_t n) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float g = __bfloat162float(gate[i]);
    out[i] = __float2bfloat16(g / (1.0f + __expf(-g)) * __bfloat162float(up[i]));
  }
}
// AdamW on FP32 master weights, gradients and moments.
__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, size_t n) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const float gi = g[i];
    const float mi = 0.9f * m[i] + 0.1f * gi, vi = 0.999f * v[i] + 0.001f * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= 1e-4f * (mi / (sqrtf(vi) + 1e-8f) + 0.1f * p[i]);
  }
}

struct Shape {
  std::string dtype;
  int groups;
  long m, n, k;
};

class Gemm {
 public:
  explicit Gemm(size_t max_elems) {
    CHECK_LT(cublasLtCreate(&lt_));
    CHECK_CUDA(cudaMalloc(&a_, max_elems * 2));
    CHECK_CUDA(cudaMalloc(&b_, max_elems * 2));
    CHECK_CUDA(cudaMalloc(&c_, max_elems * 2));
    CHECK_CUDA(cudaMalloc(&a8_, max_elems));
    CHECK_CUDA(cudaMalloc(&b8_, max_elems));
    CHECK_CUDA(cudaMalloc(&scale_, sizeof(float)));
    const float one = 1.0f;
    CHECK_CUDA(cudaMemcpy(scale_, &one, sizeof(float), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMalloc(&workspace_, kWorkspace));
    fill_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(a_), max_elems, 1.0f);
    fill_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(b_), max_elems, 1.0f);
    to_fp8_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(a_), static_cast<__nv_fp8_e4m3*>(a8_), max_elems);
    to_fp8_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(b_), static_cast<__nv_fp8_e4m3*>(b8_), max_elems);
    CHECK_CUDA(cudaDeviceSynchronize());
  }
  ~Gemm() {
    cudaFree(a_);
    cudaFree(b_);
    cudaFree(c_);
    cudaFree(a8_);
    cudaFree(b8_);
    cudaFree(scale_);
    cudaFree(workspace_);
    cublasLtDestroy(lt_);
  }
  // Seconds of one (batched) GEMM. Column-major cuBLASLt computes C^T = B^T A^T: with row-major
  // A[MxK], B[KxN], C[MxN] this is op(A) = B as a column-major [N x K] ... handled by swapping.
  double time(const Shape& s, Timer& timer, double budget = 0.05) {
    const bool fp8 = s.dtype == "fp8";
    cublasLtMatmulDesc_t op;
    CHECK_LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    // FP8 needs the "TN" form: the first operand transposed.
    const cublasOperation_t ta = fp8 ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    if (fp8) {
      CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_, sizeof(scale_)));
      CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_, sizeof(scale_)));
    }
    // Column-major view: C'[N x M] = B'[N x K] * A'[K x M] (primes: the row-major matrices).
    const cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    cublasLtMatrixLayout_t la, lb, lc;
    if (fp8) CHECK_LT(cublasLtMatrixLayoutCreate(&la, in, s.k, s.n, s.k));  // B' stored K x N, transposed
    else CHECK_LT(cublasLtMatrixLayoutCreate(&la, in, s.n, s.k, s.n));
    CHECK_LT(cublasLtMatrixLayoutCreate(&lb, in, s.k, s.m, s.k));
    CHECK_LT(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, s.n, s.m, s.n));
    if (s.groups > 1) {
      const int32_t count = s.groups;
      const int64_t sa = s.n * s.k, sb = s.k * s.m, sc = s.n * s.m;
      for (auto [l, stride] : {std::pair{la, sa}, std::pair{lb, sb}, std::pair{lc, sc}}) {
        CHECK_LT(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
        CHECK_LT(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
      }
    }
    cublasLtMatmulPreference_t pref;
    CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
    const size_t ws = kWorkspace;
    CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t heur{};
    int found = 0;
    CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt_, op, la, lb, lc, lc, pref, 1, &heur, &found));
    if (found == 0) throw std::runtime_error("no cuBLASLt algorithm");
    const float alpha = 1.0f, beta = 0.0f;
    void* A = fp8 ? b8_ : b_;
    void* B = fp8 ? a8_ : a_;
    const double t = timer.time(
        [&] {
          CHECK_LT(cublasLtMatmul(lt_, op, &alpha, A, la, B, lb, &beta, c_, lc, c_, lc, &heur.algo, workspace_, kWorkspace, 0));
        },
        budget);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    return t;
  }

 private:
  static constexpr size_t kWorkspace = 64u << 20;
  cublasLtHandle_t lt_;
  void *a_, *b_, *c_, *a8_, *b8_, *workspace_;
  float* scale_;
};

// NCCL, loaded at run time (libnccl.so.2, or GPUHOURS_NCCL_LIB: PyTorch wheels ship it under
// site-packages/nvidia/nccl/lib), so that the bench builds without nccl.h. The types and enum
// values below are NCCL's stable C ABI (nccl.h: ncclBfloat16 = 9, ncclSum = 0).
struct Nccl {
  using Comm = void*;
  using InitAll = int (*)(Comm*, int, const int*);
  using AllReduce = int (*)(const void*, void*, size_t, int, int, Comm, cudaStream_t);
  using AllGather = int (*)(const void*, void*, size_t, int, Comm, cudaStream_t);
  using ReduceScatter = int (*)(const void*, void*, size_t, int, int, Comm, cudaStream_t);
  using Group = int (*)();
  using Destroy = int (*)(Comm);
  using Version = int (*)(int*);
  static constexpr int kBf16 = 9, kSum = 0;
  void* lib = nullptr;
  InitAll init_all = nullptr;
  AllReduce all_reduce = nullptr;
  AllGather all_gather = nullptr;
  ReduceScatter reduce_scatter = nullptr;
  Group group_start = nullptr, group_end = nullptr;
  Destroy destroy = nullptr;
  Version version = nullptr;
  bool ok = false;
  Nccl() {
    const char* env = std::getenv("GPUHOURS_NCCL_LIB");
    for (const char* name : {env, "libnccl.so.2", "libnccl.so"})
      if (name && !lib) lib = dlopen(name, RTLD_NOW);
    if (!lib) return;
    init_all = reinterpret_cast<InitAll>(dlsym(lib, "ncclCommInitAll"));
    all_reduce = reinterpret_cast<AllReduce>(dlsym(lib, "ncclAllReduce"));
    all_gather = reinterpret_cast<AllGather>(dlsym(lib, "ncclAllGather"));
    reduce_scatter = reinterpret_cast<ReduceScatter>(dlsym(lib, "ncclReduceScatter"));
    group_start = reinterpret_cast<Group>(dlsym(lib, "ncclGroupStart"));
    group_end = reinterpret_cast<Group>(dlsym(lib, "ncclGroupEnd"));
    destroy = reinterpret_cast<Destroy>(dlsym(lib, "ncclCommDestroy"));
    version = reinterpret_cast<Version>(dlsym(lib, "ncclGetVersion"));
    ok = init_all && all_reduce && all_gather && reduce_scatter && group_start && group_end && destroy && version;
  }
};

// NCCL collectives over every local GPU from one process (ncclCommInitAll), nccl-tests style:
// `bytes` is the buffer per GPU (all-reduce: the reduced buffer; all-gather / reduce-scatter: the
// gathered / scattered whole); algbw = bytes / time, busbw = algbw x 2(n-1)/n (all-reduce) or
// (n-1)/n (the others). Returns JSON rows, or "" when NCCL or a second GPU is missing.
std::string measure_nccl(int devices) {
  if (devices < 2) {
    std::printf("nccl: one GPU, collectives skipped\n");
    return "";
  }
  Nccl nccl;
  if (!nccl.ok) {
    std::printf("nccl: libnccl.so.2 not found (set GPUHOURS_NCCL_LIB), collectives skipped\n");
    return "";
  }
  int version = 0;
  nccl.version(&version);
  std::vector<Nccl::Comm> comms(static_cast<size_t>(devices));
  std::vector<int> ids(static_cast<size_t>(devices));
  for (int d = 0; d < devices; ++d) ids[static_cast<size_t>(d)] = d;
  if (nccl.init_all(comms.data(), devices, ids.data()) != 0) {
    std::printf("nccl: ncclCommInitAll failed, collectives skipped\n");
    return "";
  }
  const size_t max_bytes = size_t{1} << 30;
  std::vector<void*> send(static_cast<size_t>(devices)), recv(static_cast<size_t>(devices));
  std::vector<cudaStream_t> streams(static_cast<size_t>(devices));
  for (int d = 0; d < devices; ++d) {
    CHECK_CUDA(cudaSetDevice(d));
    CHECK_CUDA(cudaMalloc(&send[static_cast<size_t>(d)], max_bytes));
    CHECK_CUDA(cudaMalloc(&recv[static_cast<size_t>(d)], max_bytes));
    CHECK_CUDA(cudaMemset(send[static_cast<size_t>(d)], 0, max_bytes));
    CHECK_CUDA(cudaStreamCreate(&streams[static_cast<size_t>(d)]));
  }
  std::ostringstream rows;
  const double n = devices;
  for (const char* op : {"all_reduce", "all_gather", "reduce_scatter"}) {
    for (size_t bytes = size_t{1} << 20; bytes <= max_bytes; bytes *= 4) {
      auto launch = [&] {
        nccl.group_start();
        for (int d = 0; d < devices; ++d) {
          const auto i = static_cast<size_t>(d);
          const std::string o = op;
          if (o == "all_reduce") nccl.all_reduce(send[i], recv[i], bytes / 2, Nccl::kBf16, Nccl::kSum, comms[i], streams[i]);
          else if (o == "all_gather") nccl.all_gather(send[i], recv[i], bytes / 2 / devices, Nccl::kBf16, comms[i], streams[i]);
          else nccl.reduce_scatter(send[i], recv[i], bytes / 2 / devices, Nccl::kBf16, Nccl::kSum, comms[i], streams[i]);
        }
        nccl.group_end();
      };
      auto sync = [&] {
        for (int d = 0; d < devices; ++d) {
          CHECK_CUDA(cudaSetDevice(d));
          CHECK_CUDA(cudaStreamSynchronize(streams[static_cast<size_t>(d)]));
        }
      };
      for (int i = 0; i < 5; ++i) launch();
      sync();
      const int reps = bytes >= (size_t{1} << 28) ? 10 : 50;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) launch();
      sync();
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
      const double algbw = static_cast<double>(bytes) / t / 1e9;
      const double busbw = algbw * (std::string(op) == "all_reduce" ? 2 * (n - 1) / n : (n - 1) / n);
      rows << (rows.tellp() > 0 ? ",\n" : "") << "{\"op\": \"" << op << "\", \"gpus\": " << devices << ", \"bytes\": " << bytes
           << ", \"s\": " << t << ", \"algbw_GBps\": " << algbw << ", \"busbw_GBps\": " << busbw
           << ", \"nccl\": " << version << "}";
      std::printf("nccl %-14s %d GPUs %10zu B  %9.1f us  algbw %6.1f GB/s  busbw %6.1f GB/s\n", op, devices, bytes, t * 1e6,
                  algbw, busbw);
    }
  }
  for (int d = 0; d < devices; ++d) {
    CHECK_CUDA(cudaSetDevice(d));
    cudaFree(send[static_cast<size_t>(d)]);
    cudaFree(recv[static_cast<size_t>(d)]);
    cudaStreamDestroy(streams[static_cast<size_t>(d)]);
    nccl.destroy(comms[static_cast<size_t>(d)]);
  }
  CHECK_CUDA(cudaSetDevice(0));
  return rows.str();
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shapes_path, out_path;
  double sustained_seconds = 10.0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--shapes" && i + 1 < argc) shapes_path = argv[++i];
    else if (a == "--sustained-seconds" && i + 1 < argc) sustained_seconds = std::atof(argv[++i]);
    else if (a[0] != '-') out_path = a;
    else {
      std::fprintf(stderr, "usage: gpuhours-bench [--shapes FILE] [--sustained-seconds S] OUT.json\n");
      return 1;
    }
  }
  if (out_path.empty()) {
    std::fprintf(stderr, "usage: gpuhours-bench [--shapes FILE] [--sustained-seconds S] OUT.json\n");
    return 1;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "gpuhours-bench: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  Nvml nv;
  const bool nvml = nv.ok;
  unsigned power_limit_mw = 0, max_sm_mhz = 0;
  char driver_str[96] = "unknown";
  if (nvml) {
    nv.power_limit(nv.dev, &power_limit_mw);
    nv.max_clock(nv.dev, Nvml::kClockSm, &max_sm_mhz);
    nv.driver(driver_str, sizeof(driver_str));
  }

  std::vector<Shape> shapes;
  if (!shapes_path.empty()) {
    std::ifstream in(shapes_path);
    if (!in) {
      std::fprintf(stderr, "gpuhours-bench: cannot read %s\n", shapes_path.c_str());
      return 1;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ss(line);
      Shape s;
      if (ss >> s.dtype >> s.groups >> s.m >> s.n >> s.k) shapes.push_back(s);
    }
  }
  for (long m : {1024L, 2048L, 4096L, 8192L, 16384L})
    for (const char* d : {"bf16", "fp8"}) shapes.push_back({d, 1, m, m, m});
  size_t max_elems = 0;
  for (const auto& s : shapes)
    for (long e : {s.groups * s.m * s.k, s.groups * s.k * s.n, s.groups * s.m * s.n})
      max_elems = std::max(max_elems, static_cast<size_t>(e));

  Timer timer;
  std::ostringstream gb, g8, gg;
  {
    Gemm gemm(max_elems);
    for (const auto& s : shapes) {
      if (s.groups > 1 && s.dtype != "bf16") continue;  // the profile's grouped table is BF16
      try {
        const double t = gemm.time(s, timer);
        const double tf = 2.0 * s.groups * s.m * s.n * s.k / t / 1e12;
        std::ostringstream& o = s.groups > 1 ? gg : (s.dtype == "fp8" ? g8 : gb);
        if (s.groups > 1)
          o << (o.tellp() > 0 ? ",\n" : "") << "{\"groups\": " << s.groups << ", \"tokens_per_group\": " << s.m
            << ", \"K\": " << s.k << ", \"N\": " << s.n << ", \"s\": " << t << ", \"tflops\": " << tf << "}";
        else
          o << (o.tellp() > 0 ? ",\n" : "") << "{\"M\": " << s.m << ", \"K\": " << s.k << ", \"N\": " << s.n
            << ", \"layout\": \"cublasLt\", \"tag\": \"bench\", \"s\": " << t << ", \"tflops\": " << tf << "}";
        std::printf("%-4s %4d x %6ld %6ld %6ld  %9.1f us  %7.1f TFLOP/s\n", s.dtype.c_str(), s.groups, s.m, s.n, s.k, t * 1e6, tf);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "skip %s %ld %ld %ld: %s\n", s.dtype.c_str(), s.m, s.n, s.k, e.what());
      }
    }
  }

  // Memory-bound kernels on a (16384, 7168) BF16 tensor.
  const int rows = 16384, cols = 7168;
  const size_t n = static_cast<size_t>(rows) * cols;
  __nv_bfloat16 *x, *y, *z, *w;
  CHECK_CUDA(cudaMalloc(&x, n * 2));
  CHECK_CUDA(cudaMalloc(&y, n * 2));
  CHECK_CUDA(cudaMalloc(&z, n * 2));
  CHECK_CUDA(cudaMalloc(&w, cols * 2));
  fill_kernel<<<1024, 256>>>(x, n, 1.0f);
  fill_kernel<<<1024, 256>>>(y, n, 1.0f);
  fill_kernel<<<64, 256>>>(w, cols, 1.0f);
  const int grid = prop.multiProcessorCount * 8;
  const double t_copy = timer.time([&] { copy_kernel<<<grid, 256>>>(x, z, n); });
  const double t_norm = timer.time([&] { rmsnorm_kernel<<<rows, 1024>>>(x, w, z, cols); });
  const double t_swiglu = timer.time([&] { swiglu_kernel<<<grid, 256>>>(x, y, z, n); });
  float *p, *g, *m1, *m2;
  const size_t np = n / 2;
  for (float** q : {&p, &g, &m1, &m2}) CHECK_CUDA(cudaMalloc(q, np * 4));
  for (float* q : {p, g, m1, m2}) CHECK_CUDA(cudaMemset(q, 0, np * 4));
  const double t_adam = timer.time([&] { adamw_kernel<<<grid, 256>>>(p, g, m1, m2, np); });
  std::printf("copy %.0f GB/s, rmsnorm %.0f GB/s, swiglu %.0f GB/s, adamw %.0f GB/s\n", 4.0 * n / t_copy / 1e9,
              4.0 * n / t_norm / 1e9, 6.0 * n / t_swiglu / 1e9, 28.0 * np / t_adam / 1e9);

  // Burst and sustained (power-capped) BF16 GEMM throughput, 8192^3, with NVML samples.
  std::ostringstream samples;
  double burst_tf = 0, sustained_tf = 0;
  {
    Gemm gemm(static_cast<size_t>(8192) * 8192);
    const Shape sq{"bf16", 1, 8192, 8192, 8192};
    burst_tf = 2.0 * 8192.0 * 8192 * 8192 / gemm.time(sq, timer) / 1e12;
    const auto t0 = std::chrono::steady_clock::now();
    double next_sample = 0;
    Timer loop;
    while (true) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (elapsed >= sustained_seconds) break;
      gemm.time(sq, loop, 0.2);  // keeps the GPU busy in bursts of ~0.2 s
      if (nvml && elapsed >= next_sample) {
        unsigned mw = 0, mhz = 0, temp = 0;
        nv.power_usage(nv.dev, &mw);
        nv.clock(nv.dev, Nvml::kClockSm, &mhz);
        nv.temperature(nv.dev, Nvml::kTemperatureGpu, &temp);
        samples << (samples.tellp() > 0 ? ", " : "") << "\"" << mw / 1000.0 << ", " << mhz << ", " << temp << "\"";
        next_sample += 0.5;
      }
    }
    sustained_tf = 2.0 * 8192.0 * 8192 * 8192 / gemm.time(sq, timer, 1.0) / 1e12;  // after the heat-up
  }
  std::printf("8192^3 BF16: burst %.0f TFLOP/s, after %.0f s under load %.0f TFLOP/s\n", burst_tf, sustained_seconds,
              sustained_tf);
  const std::string nccl_rows = measure_nccl(devices);

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d", std::gmtime(&now));
  std::ofstream out(out_path);
  out << "{\n \"about\": \"Kernel times measured by gpuhours-bench (CUDA C++): cuBLASLt GEMMs (BF16; FP8 E4M3 with per-tensor "
         "scales, BF16 output), strided-batched GEMMs for equal-sized expert groups, and memory-bound kernels written for "
         "the bench; mean of timed repetitions after 3 warm-up runs, CUDA events. Sustained: an 8192^3 BF16 GEMM loop "
         "with NVML samples of power W, SM MHz, temperature C.\",\n";
  out << " \"env\": {\"name\": \"" << json_escape(prop.name) << "\", \"sms\": " << prop.multiProcessorCount
      << ", \"mem_gib\": " << prop.totalGlobalMem / 1073741824.0 << ", \"cuda\": \"" << runtime / 1000 << "."
      << (runtime % 1000) / 10 << "\", \"torch\": \"none (cuBLASLt " << cublasLtGetVersion() << ")\", \"smi\": \""
      << json_escape(prop.name) << ", " << driver_str << ", " << max_sm_mhz << ", 0, " << power_limit_mw / 1000.0
      << "\", \"date\": \"" << date << "\", \"driver_api\": " << driver << "},\n";
  out << " \"sections\": {\n  \"gemm_bf16_bench\": [" << gb.str() << "],\n  \"gemm_fp8_bench\": [" << g8.str()
      << "],\n  \"grouped_mm_bf16\": [" << gg.str() << "],\n  \"attention_sdpa\": [],\n";
  out << "  \"elementwise\": {\"rmsnorm_fwd\": {\"s\": " << t_norm << ", \"GBps\": " << 4.0 * n / t_norm / 1e9
      << "}, \"silu_mul\": {\"s\": " << t_swiglu << ", \"GBps\": " << 6.0 * n / t_swiglu / 1e9
      << "}, \"adamw\": {\"s\": " << t_adam << ", \"GBps\": " << 28.0 * np / t_adam / 1e9 << "}},\n";
  out << "  \"hbm_copy\": {\"4GiB\": {\"s\": " << t_copy << ", \"GBps_rw\": " << 4.0 * n / t_copy / 1e9 << "}},\n";
  out << "  \"power_under_gemm\": {\"samples\": [" << samples.str() << "], \"burst_tflops\": " << burst_tf
      << ", \"tflops\": " << sustained_tf << ", \"seconds\": " << sustained_seconds << "},\n";
  out << "  \"nccl\": [" << nccl_rows << "]\n }\n}\n";
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}
