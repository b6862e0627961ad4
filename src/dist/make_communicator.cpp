#include "dist/make_communicator.h"

#include <map>
#include <mutex>

#include "core/error.h"
#include "dist/gloo_communicator.h"

namespace dg::dist {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<Device, DeviceCommunicatorFactory> factories;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_device_communicator(Device device, DeviceCommunicatorFactory factory) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.factories[device] = std::move(factory);
}

std::unique_ptr<Communicator> make_communicator(Rendezvous* rendezvous, Backend& backend) {
  if (rendezvous == nullptr) return std::make_unique<SingleProcessCommunicator>(backend);
  DeviceCommunicatorFactory factory;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (const auto it = r.factories.find(backend.device()); it != r.factories.end()) factory = it->second;
  }
  if (factory) return factory(*rendezvous, backend);
  DG_CHECK(backend.device() == Device::CPU, "WORLD_SIZE=" << rendezvous->world().world_size << " with the "
                                                          << backend.name()
                                                          << " backend needs NCCL, and this dartgolf was built without it");
  return std::make_unique<GlooCommunicator>(*rendezvous);
}

}  // namespace dg::dist
