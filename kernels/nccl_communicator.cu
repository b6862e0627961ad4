// The NCCL communicator (kernels/nccl_communicator.h), the same host code in the nvcc and the
// emulator builds: only dg::cuda::nccl beneath it differs.
#include "nccl_communicator.h"

#include <cuda_runtime.h>

#include <string>

#include "core/error.h"
#include "cuda_backend_impl.h"
#include "cuda_check.cuh"
#include "dist/make_communicator.h"
#include "nccl_ops.h"

namespace dg::cuda {
namespace {

nccl::Type nccl_type(DType t) {
  switch (t) {
    case DType::F64: return nccl::Type::F64;
    case DType::BF16: return nccl::Type::BF16;
    default: return nccl::Type::F32;
  }
}

nccl::Op nccl_op(dist::ReduceOp op) { return op == dist::ReduceOp::Avg ? nccl::Op::Avg : nccl::Op::Sum; }

class NcclCommunicator final : public dist::Communicator {
 public:
  NcclCommunicator(dist::Rendezvous& rendezvous, cudaStream_t compute)
      : Communicator(rendezvous.world().rank, rendezvous.world().world_size), compute_(compute),
        timeout_(rendezvous.timeout()) {
    nccl::UniqueId id{};
    const std::string key = rendezvous.key("nccl/unique_id");
    if (rank() == 0) {
      id = nccl::new_unique_id();
      rendezvous.store().set(key, std::string(id.bytes, sizeof id.bytes));
    } else {
      const std::string bytes = rendezvous.store().get(key, timeout_, "rank 0's NCCL unique id");
      DG_CHECK(bytes.size() == sizeof id.bytes, "rank 0's NCCL unique id has " << bytes.size() << " bytes, not "
                                                                             << sizeof id.bytes);
      bytes.copy(id.bytes, sizeof id.bytes);
    }
    group_ = nccl::join(id, world_size(), rank(), timeout_);
    DG_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    DG_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    DG_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    grow_scratch(64);
  }

  ~NcclCommunicator() override {
    // Destructors do not throw: a failed job is already reporting its first error.
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    nccl::leave(group_);
    if (scratch_ != nullptr) cudaFree(scratch_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (done_ != nullptr) cudaEventDestroy(done_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "nccl"; }
  Device device() const override { return Device::CUDA; }
  bool supports(DType dtype) const override {
    return dtype == DType::F32 || dtype == DType::F64 || dtype == DType::BF16;
  }

  void wait() override {
    DG_CUDA_CHECK(cudaEventRecord(done_, stream_));
    DG_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
  }

 protected:
  void do_all_reduce(const Tensor& buffer, dist::ReduceOp op) override {
    after_compute();
    nccl::all_reduce(group_, buffer.data, buffer.data, count(buffer), nccl_type(buffer.dtype), nccl_op(op), stream_);
  }
  void do_reduce_scatter(const Tensor& output, const Tensor& input, dist::ReduceOp op) override {
    after_compute();
    nccl::reduce_scatter(group_, input.data, output.data, count(output), nccl_type(output.dtype), nccl_op(op), stream_);
  }
  void do_all_gather(const Tensor& output, const Tensor& input) override {
    after_compute();
    nccl::all_gather(group_, input.data, output.data, count(input), nccl_type(input.dtype), stream_);
  }
  void do_broadcast(const Tensor& buffer, int root) override {
    after_compute();
    nccl::broadcast(group_, buffer.data, buffer.data, count(buffer), nccl_type(buffer.dtype), root, stream_);
  }
  void do_barrier() override {
    after_compute();
    nccl::all_reduce(group_, scratch_, scratch_, 1, nccl::Type::F64, nccl::Op::Sum, stream_);
    nccl::synchronize(group_, stream_, timeout_);
  }
  void do_all_reduce_host(double* values, int64_t n, dist::ReduceOp op) override {
    grow_scratch(n);
    after_compute();
    const size_t bytes = static_cast<size_t>(n) * sizeof(double);
    DG_CUDA_CHECK(cudaMemcpyAsync(scratch_, values, bytes, cudaMemcpyHostToDevice, stream_));
    nccl::all_reduce(group_, scratch_, scratch_, static_cast<size_t>(n), nccl::Type::F64, nccl_op(op), stream_);
    DG_CUDA_CHECK(cudaMemcpyAsync(values, scratch_, bytes, cudaMemcpyDeviceToHost, stream_));
    nccl::synchronize(group_, stream_, timeout_);
  }

 private:
  static size_t count(const Tensor& t) { return static_cast<size_t>(t.numel()); }
  // The collective about to be queued reads what the compute stream has queued so far.
  void after_compute() {
    DG_CUDA_CHECK(cudaEventRecord(ready_, compute_));
    DG_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
  }
  void grow_scratch(int64_t doubles) {
    if (doubles <= scratch_doubles_) return;
    if (scratch_ != nullptr) {
      DG_CUDA_CHECK(cudaStreamSynchronize(stream_));
      DG_CUDA_CHECK(cudaFree(scratch_));
      scratch_ = nullptr;
    }
    DG_CUDA_CHECK(cudaMalloc(&scratch_, static_cast<size_t>(doubles) * sizeof(double)));
    scratch_doubles_ = doubles;
  }

  cudaStream_t compute_;
  std::chrono::milliseconds timeout_;
  nccl::Group* group_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, done_ = nullptr;
  void* scratch_ = nullptr;  // host values staged, and the barrier's one element
  int64_t scratch_doubles_ = 0;
};

}  // namespace

std::unique_ptr<dist::Communicator> make_nccl_communicator(dist::Rendezvous& rendezvous, void* compute_stream) {
  return std::make_unique<NcclCommunicator>(rendezvous, static_cast<cudaStream_t>(compute_stream));
}

void register_nccl_communicator() {
  // Collectives are ordered after the work of the stream the CUDA backend computes on, and wait()
  // orders that stream after them. Any other device backend falls back to the legacy default
  // stream, which waits for the work of every blocking stream.
  dist::register_device_communicator(Device::CUDA, [](dist::Rendezvous& rendezvous, Backend& backend) {
    auto* cuda_backend = dynamic_cast<CudaBackend*>(&backend);
    return make_nccl_communicator(rendezvous, cuda_backend != nullptr ? cuda_backend->stream() : nullptr);
  });
}

}  // namespace dg::cuda
