// The project's NCCL: every collective between GPUs goes through these functions. The nvcc build
// runs them on NCCL (kernels/nccl/nccl_ops.cu); the emulator build has a CPU twin in which the ranks
// are threads of one process exchanging emulated device memory (kernels/emu/nccl_twin.cpp), with
// the same semantics:
//   - all_reduce: out = Σ_r in_r on every rank (Avg: Σ_r in_r · (1/n), NCCL's pre-multiplied sum
//     for floating types), in place when in == out; bit-identical on every rank;
//   - reduce_scatter: rank r's out (count elements) = the reduction of block r of every rank's in;
//   - all_gather: block r of out (count elements each) = rank r's in;
//   - broadcast: out = root's in on every rank.
// Each is enqueued on `stream` (the emulator runs it at once, waiting for the other ranks).
// Pointers are device memory; a group is one rank's membership of one communicator.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace dg::cuda::nccl {

// NCCL's unique id: made by rank 0, carried to the others by the rendezvous store.
struct UniqueId {
  char bytes[128];
};
UniqueId new_unique_id();

struct Group;  // opaque: a ncclComm_t (or its twin)
// Joins the communicator `id` as `rank` of `world_size`; returns once every rank has joined.
// The twin fails after `timeout` naming the ranks that never came (NCCL itself blocks).
Group* join(const UniqueId& id, int world_size, int rank, std::chrono::milliseconds timeout);
void leave(Group* group);  // null is fine

enum class Type : uint8_t { F32, F64, BF16 };
enum class Op : uint8_t { Sum, Avg };

void all_reduce(Group* group, const void* in, void* out, size_t count, Type type, Op op, cudaStream_t stream);
void reduce_scatter(Group* group, const void* in, void* out, size_t count, Type type, Op op, cudaStream_t stream);
void all_gather(Group* group, const void* in, void* out, size_t count, Type type, cudaStream_t stream);
void broadcast(Group* group, const void* in, void* out, size_t count, Type type, int root, cudaStream_t stream);

// Waits until `stream` has finished (collectives included). NCCL cannot cancel a collective whose
// peer died or hangs; this polls the communicator's asynchronous error and gives up after
// `timeout`, aborting the communicator so the process can exit with the error.
void synchronize(Group* group, cudaStream_t stream, std::chrono::milliseconds timeout);

}  // namespace dg::cuda::nccl
