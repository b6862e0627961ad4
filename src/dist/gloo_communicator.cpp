#include "dist/gloo_communicator.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include <cstdlib>
#include <cstring>
#include <regex>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace dg::dist {
namespace {

// Gloo's rendezvous reaches dartgolf's store through this; its keys are the ranks' numbers.
class GlooStore final : public gloo::rendezvous::Store {
 public:
  explicit GlooStore(Rendezvous& rendezvous) : rendezvous_(rendezvous) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    rendezvous_.store().set(full(key), std::string(data.begin(), data.end()));
  }
  std::vector<char> get(const std::string& key) override {
    const std::string value = rendezvous_.store().get(full(key), rendezvous_.timeout(), what(key));
    return std::vector<char>(value.begin(), value.end());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, rendezvous_.timeout()); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    for (const std::string& key : keys) rendezvous_.store().get(full(key), timeout, what(key));
  }

 private:
  std::string full(const std::string& key) const { return rendezvous_.key("gloo/" + key); }
  static std::string what(const std::string& key) { return "Gloo's connection details '" + key + "' (from rank " + key + ")"; }
  Rendezvous& rendezvous_;
};

// Gloo's messages start with "[/build/.../pair.cc:589] ": its source location says nothing to a user.
std::string gloo_message(const std::exception& e) {
  static const std::regex location(R"(\[[^\]]*\.(cc|h|cpp):\d+\] ?)");
  return std::regex_replace(e.what(), location, "");
}

gloo::transport::tcp::attr device_attributes(const WorldInfo& world) {
  gloo::transport::tcp::attr attr;
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"); iface != nullptr && *iface != '\0') {
    attr.iface = iface;
  } else if (world.local_world_size == world.world_size) {
    attr.hostname = "127.0.0.1";  // one machine: loopback, whatever the host name resolves to
  }  // else: empty, Gloo resolves this machine's host name
  return attr;
}

template <typename T>
void scale(const Tensor& t, T factor) {
  T* p = static_cast<T*>(t.data);
  for (int64_t i = 0; i < t.numel(); ++i) p[i] *= factor;
}

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

}  // namespace

struct GlooCommunicator::State {
  std::shared_ptr<gloo::rendezvous::Context> context;
  std::chrono::milliseconds timeout;
  uint32_t next_tag = 0;

  // Runs one Gloo collective, turning its failure into a message that says what happened.
  template <typename F>
  void run(int rank, const char* op, int64_t elements, F&& collective) {
    try {
      collective(next_tag++);
    } catch (const std::exception& e) {
      const std::string what = gloo_message(e);
      std::ostringstream seconds;
      seconds << std::chrono::duration<double>(timeout).count();
      const bool timed_out = what.find("Timed out") != std::string::npos || what.find("timed out") != std::string::npos;
      DG_THROW("rank " << rank << ": " << op << " of " << elements << " elements over Gloo failed (" << what << "): "
                       << (timed_out ? "another rank did not reach this point within dist_timeout_seconds=" + seconds.str() +
                                           " (stuck, or far slower)"
                                     : std::string("another rank exited or was killed (see its output)")));
    }
  }
};

GlooCommunicator::GlooCommunicator(Rendezvous& rendezvous)
    : Communicator(rendezvous.world().rank, rendezvous.world().world_size), state_(std::make_unique<State>()) {
  const WorldInfo& world = rendezvous.world();
  state_->timeout = rendezvous.timeout();
  GlooStore store(rendezvous);
  try {
    auto device = gloo::transport::tcp::CreateDevice(device_attributes(world));
    state_->context = std::make_shared<gloo::rendezvous::Context>(world.rank, world.world_size);
    state_->context->setTimeout(state_->timeout);
    state_->context->connectFullMesh(store, device);
  } catch (const Error&) {
    throw;  // the store's own message (a rank that never sent its address)
  } catch (const std::exception& e) {
    DG_THROW("rank " << world.rank << ": connecting to the other ranks with Gloo failed: " << gloo_message(e)
                     << (std::getenv("GLOO_SOCKET_IFNAME") == nullptr
                             ? " (across machines, set GLOO_SOCKET_IFNAME to the network interface the ranks share)"
                             : ""));
  }
}

GlooCommunicator::~GlooCommunicator() = default;

void GlooCommunicator::do_all_reduce(const Tensor& buffer, ReduceOp op) {
  const bool f64 = buffer.dtype == DType::F64;
  state_->run(rank(), "all_reduce", buffer.numel(), [&](uint32_t tag) {
    gloo::AllreduceOptions opts(state_->context);
    if (f64) opts.setOutput(static_cast<double*>(buffer.data), static_cast<size_t>(buffer.numel()));
    else opts.setOutput(static_cast<float*>(buffer.data), static_cast<size_t>(buffer.numel()));
    opts.setReduceFunction(f64 ? static_cast<ReduceFn>(&gloo::sum<double>) : static_cast<ReduceFn>(&gloo::sum<float>));
    opts.setTag(tag);
    opts.setTimeout(state_->timeout);
    gloo::allreduce(opts);
  });
  // Every rank scales the same sum by the same factor, so the results stay bit-identical.
  if (op == ReduceOp::Avg && f64) scale(buffer, 1.0 / world_size());
  if (op == ReduceOp::Avg && !f64) scale(buffer, 1.0f / static_cast<float>(world_size()));
}

void GlooCommunicator::do_reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) {
  std::vector<char> copy(static_cast<size_t>(input.bytes()));
  std::memcpy(copy.data(), input.data, copy.size());
  Tensor whole = input;
  whole.data = copy.data();
  do_all_reduce(whole, op);
  std::memcpy(output.data, copy.data() + rank() * output.bytes(), static_cast<size_t>(output.bytes()));
}

void GlooCommunicator::do_all_gather(const Tensor& output, const Tensor& input) {
  const bool f64 = input.dtype == DType::F64;
  state_->run(rank(), "all_gather", input.numel(), [&](uint32_t tag) {
    gloo::AllgatherOptions opts(state_->context);
    const auto n = static_cast<size_t>(input.numel());
    if (f64) {
      opts.setInput(static_cast<double*>(input.data), n);
      opts.setOutput(static_cast<double*>(output.data), n * static_cast<size_t>(world_size()));
    } else {
      opts.setInput(static_cast<float*>(input.data), n);
      opts.setOutput(static_cast<float*>(output.data), n * static_cast<size_t>(world_size()));
    }
    opts.setTag(tag);
    opts.setTimeout(state_->timeout);
    gloo::allgather(opts);
  });
}

void GlooCommunicator::do_broadcast(const Tensor& buffer, int root) {
  state_->run(rank(), "broadcast", buffer.numel(), [&](uint32_t tag) {
    gloo::BroadcastOptions opts(state_->context);
    const auto n = static_cast<size_t>(buffer.numel());
    if (buffer.dtype == DType::F64) opts.setOutput(static_cast<double*>(buffer.data), n);
    else opts.setOutput(static_cast<float*>(buffer.data), n);
    opts.setRoot(root);
    opts.setTag(tag);
    opts.setTimeout(state_->timeout);
    gloo::broadcast(opts);
  });
}

void GlooCommunicator::do_barrier() {
  state_->run(rank(), "barrier", 0, [&](uint32_t tag) {
    gloo::BarrierOptions opts(state_->context);
    opts.setTag(tag);
    opts.setTimeout(state_->timeout);
    gloo::barrier(opts);
  });
}

}  // namespace dg::dist
