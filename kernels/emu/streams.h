// Streams and events under the emulator: every operation runs to completion when it is issued, a
// valid serialization of any stream order, so synchronization calls only check their handles and
// events carry host wall-clock times (not kernel timings).
#pragma once

#include <cuda_runtime.h>

namespace dg::emu {

// The null stream, cudaStreamLegacy, cudaStreamPerThread, or a stream from cudaStreamCreate not yet destroyed.
bool stream_is_valid(cudaStream_t stream);

}  // namespace dg::emu
