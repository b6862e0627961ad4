// dg::cuda::nccl on NCCL (nvcc build only; the emulator build has kernels/emu/nccl_twin.cpp).
#include <nccl.h>

#include <cstring>
#include <thread>

#include "core/error.h"
#include "cuda_check.cuh"
#include "nccl_ops.h"

namespace dg::cuda::nccl {
namespace {

std::string last_error() {
  const char* detail = ncclGetLastError(nullptr);
  return detail != nullptr && *detail != '\0' ? std::string(" (") + detail + ")" : std::string();
}

#define DG_NCCL_CHECK(call)                                                                               \
  do {                                                                                                    \
    const ncclResult_t dg_nccl_status_ = (call);                                                          \
    DG_CHECK(dg_nccl_status_ == ncclSuccess, "NCCL error in " #call ": " << ncclGetErrorString(dg_nccl_status_) \
                                                                         << last_error());               \
  } while (0)

ncclDataType_t nccl_type(Type t) {
  switch (t) {
    case Type::F32: return ncclFloat32;
    case Type::F64: return ncclFloat64;
    case Type::BF16: return ncclBfloat16;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(Op op) { return op == Op::Avg ? ncclAvg : ncclSum; }

}  // namespace

struct Group {
  ncclComm_t comm = nullptr;
  int rank = 0, world_size = 1;
};

UniqueId new_unique_id() {
  static_assert(sizeof(UniqueId) == sizeof(ncclUniqueId), "UniqueId must hold ncclUniqueId");
  ncclUniqueId id;
  DG_NCCL_CHECK(ncclGetUniqueId(&id));
  UniqueId out;
  std::memcpy(out.bytes, &id, sizeof id);
  return out;
}

Group* join(const UniqueId& id, int world_size, int rank, std::chrono::milliseconds) {
  ncclUniqueId nid;
  std::memcpy(&nid, id.bytes, sizeof nid);
  auto* group = new Group{nullptr, rank, world_size};
  const ncclResult_t status = ncclCommInitRank(&group->comm, world_size, nid, rank);
  if (status != ncclSuccess) {
    delete group;
    DG_THROW("rank " << rank << ": joining the NCCL communicator of " << world_size
                     << " ranks failed: " << ncclGetErrorString(status) << last_error());
  }
  return group;
}

void leave(Group* group) {
  if (group == nullptr) return;
  if (group->comm != nullptr) ncclCommDestroy(group->comm);
  delete group;
}

void all_reduce(Group* g, const void* in, void* out, size_t count, Type type, Op op, cudaStream_t stream) {
  DG_NCCL_CHECK(ncclAllReduce(in, out, count, nccl_type(type), nccl_op(op), g->comm, stream));
}

void reduce_scatter(Group* g, const void* in, void* out, size_t count, Type type, Op op, cudaStream_t stream) {
  DG_NCCL_CHECK(ncclReduceScatter(in, out, count, nccl_type(type), nccl_op(op), g->comm, stream));
}

void all_gather(Group* g, const void* in, void* out, size_t count, Type type, cudaStream_t stream) {
  DG_NCCL_CHECK(ncclAllGather(in, out, count, nccl_type(type), g->comm, stream));
}

void broadcast(Group* g, const void* in, void* out, size_t count, Type type, int root, cudaStream_t stream) {
  DG_NCCL_CHECK(ncclBroadcast(in, out, count, nccl_type(type), root, g->comm, stream));
}

void synchronize(Group* g, cudaStream_t stream, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const cudaError_t done = cudaStreamQuery(stream);
    if (done == cudaSuccess) return;
    DG_CHECK(done == cudaErrorNotReady, "CUDA error while waiting for NCCL: " << cudaGetErrorString(done));
    ncclResult_t async = ncclSuccess;
    DG_NCCL_CHECK(ncclCommGetAsyncError(g->comm, &async));
    const bool late = std::chrono::steady_clock::now() >= deadline;
    if (async != ncclSuccess || late) {
      // A collective that cannot finish (a peer died, or never came): abort so this process can exit.
      ncclCommAbort(g->comm);
      g->comm = nullptr;
      DG_THROW("rank " << g->rank << ": "
                       << (late ? "an NCCL collective did not finish within dist_timeout_seconds"
                                : std::string("NCCL failed: ") + ncclGetErrorString(async) + last_error())
                       << ": another rank exited or was killed (see its output)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

}  // namespace dg::cuda::nccl
