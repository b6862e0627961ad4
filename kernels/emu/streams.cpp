// The emulated stream and event part of the CUDA runtime API (C functions with the signatures of
// cuda_runtime_api.h).
#include "emu/streams.h"

#include <chrono>
#include <mutex>
#include <set>
#include <sstream>

#include "emu/runtime_errors.h"

struct CUstream_st {
  unsigned flags;
};

struct CUevent_st {
  unsigned flags;
  bool recorded;
  std::chrono::steady_clock::time_point when;
};

namespace dg::emu {
namespace {

std::mutex& handles_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::set<cudaStream_t>& streams() {
  static std::set<cudaStream_t> live;
  return live;
}

std::set<cudaEvent_t>& events() {
  static std::set<cudaEvent_t> live;
  return live;
}

bool event_is_valid(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(handles_mutex());
  return events().count(event) != 0;
}

cudaError_t bad_stream(const char* call, cudaStream_t stream) {
  std::ostringstream msg;
  msg << call << ": stream " << stream << " was not created by cudaStreamCreate or was destroyed";
  return runtime_failure(cudaErrorInvalidResourceHandle, msg.str());
}

cudaError_t bad_event(const char* call, cudaEvent_t event) {
  std::ostringstream msg;
  msg << call << ": event " << event << " was not created by cudaEventCreate or was destroyed";
  return runtime_failure(cudaErrorInvalidResourceHandle, msg.str());
}

}  // namespace

bool stream_is_valid(cudaStream_t stream) {
  if (stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return true;
  std::lock_guard<std::mutex> lock(handles_mutex());
  return streams().count(stream) != 0;
}

}  // namespace dg::emu

using dg::emu::bad_event;
using dg::emu::bad_stream;
using dg::emu::event_is_valid;
using dg::emu::runtime_failure;
using dg::emu::stream_is_valid;

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (stream == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaStreamCreate: null output pointer");
  *stream = new CUstream_st{flags};
  std::lock_guard<std::mutex> lock(dg::emu::handles_mutex());
  dg::emu::streams().insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(dg::emu::handles_mutex());
    if (dg::emu::streams().erase(stream) == 1) {
      delete stream;
      return cudaSuccess;
    }
  }
  return bad_stream("cudaStreamDestroy", stream);
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return stream_is_valid(stream) ? cudaSuccess : bad_stream("cudaStreamSynchronize", stream);
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return stream_is_valid(stream) ? cudaSuccess : bad_stream("cudaStreamQuery", stream);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  if (!stream_is_valid(stream)) return bad_stream("cudaStreamWaitEvent", stream);
  return event_is_valid(event) ? cudaSuccess : bad_event("cudaStreamWaitEvent", event);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (event == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaEventCreate: null output pointer");
  *event = new CUevent_st{flags, false, {}};
  std::lock_guard<std::mutex> lock(dg::emu::handles_mutex());
  dg::emu::events().insert(*event);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  {
    std::lock_guard<std::mutex> lock(dg::emu::handles_mutex());
    if (dg::emu::events().erase(event) == 1) {
      delete event;
      return cudaSuccess;
    }
  }
  return bad_event("cudaEventDestroy", event);
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!stream_is_valid(stream)) return bad_stream("cudaEventRecord", stream);
  if (!event_is_valid(event)) return bad_event("cudaEventRecord", event);
  event->recorded = true;
  event->when = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return event_is_valid(event) ? cudaSuccess : bad_event("cudaEventSynchronize", event);
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  return event_is_valid(event) ? cudaSuccess : bad_event("cudaEventQuery", event);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (ms == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaEventElapsedTime: null output pointer");
  if (!event_is_valid(start)) return bad_event("cudaEventElapsedTime", start);
  if (!event_is_valid(end)) return bad_event("cudaEventElapsedTime", end);
  if ((start->flags | end->flags) & cudaEventDisableTiming)
    return runtime_failure(cudaErrorInvalidResourceHandle,
                           "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
  if (!start->recorded || !end->recorded)
    return runtime_failure(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
