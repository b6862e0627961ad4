// The communicator a run uses, chosen by where the backend keeps its buffers: the single-process one
// for WORLD_SIZE=1; Gloo for CPU buffers; for device buffers the communicator the program's main
// registered (dartgolf's main registers NCCL when it is built with CUDA). dartgolf_lib links no
// CUDA code, so this registry is how a device communicator reaches it.
#pragma once

#include <functional>
#include <memory>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "dist/rendezvous.h"

namespace dg::dist {

using DeviceCommunicatorFactory = std::function<std::unique_ptr<Communicator>(Rendezvous& rendezvous, Backend& backend)>;

// Makes `factory` the communicator for buffers on `device` (replacing an earlier registration).
void register_device_communicator(Device device, DeviceCommunicatorFactory factory);

// `rendezvous` is null for a single process. Throws naming the device when no communicator for it
// is registered (a build without NCCL asked to train on several GPUs).
std::unique_ptr<Communicator> make_communicator(Rendezvous* rendezvous, Backend& backend);

}  // namespace dg::dist
