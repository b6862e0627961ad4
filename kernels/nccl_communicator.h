// dist::Communicator over NCCL (kernels/nccl_ops.h) for device buffers. It works on a CUDA stream of
// its own: each collective is queued there after the work already queued on the compute stream,
// and wait() makes the compute stream wait for the collectives, so compute queued in between (the
// rest of the backward pass, say) overlaps them. Host values (all_reduce_host) are staged through a
// small device buffer. In the emulator build the same class runs on the NCCL twin, with the ranks
// as threads of one process. Plain C++: no CUDA header here, so dartgolf's main can include it.
#pragma once

#include <memory>

#include "dist/communicator.h"
#include "dist/rendezvous.h"

namespace dg::cuda {

// Joins the job's NCCL communicator: rank 0 makes the unique id and hands it out through the
// rendezvous store. Call it once this rank's GPU is the current device (the backend picks it by
// LOCAL_RANK). `compute_stream` is the backend's cudaStream_t (null: the legacy default stream).
std::unique_ptr<dist::Communicator> make_nccl_communicator(dist::Rendezvous& rendezvous, void* compute_stream = nullptr);

// Makes NCCL the communicator for CUDA buffers (dist/make_communicator.h): dartgolf's main calls it
// in builds with NCCL.
void register_nccl_communicator();

}  // namespace dg::cuda
