// Collectives between CPU processes with Gloo (Debian's libgloo-dev) over TCP: every pair of ranks
// connected through the rendezvous store. Buffers are host memory, f32 or f64. Every collective
// completes before it returns; one that a dead or stuck peer never completes throws dg::Error
// (a closed connection at once, a silent peer after the timeout), never hangs.
#pragma once

#include <chrono>
#include <memory>

#include "dist/communicator.h"
#include "dist/rendezvous.h"

namespace dg::dist {

class GlooCommunicator final : public Communicator {
 public:
  // Connects to every other rank, whose addresses come through `rendezvous`; waits up to its timeout.
  // The network interface: GLOO_SOCKET_IFNAME when set, loopback when every rank is on this machine
  // (LOCAL_WORLD_SIZE == WORLD_SIZE), else the address this machine's host name resolves to.
  explicit GlooCommunicator(Rendezvous& rendezvous);
  ~GlooCommunicator() override;

  const char* name() const override { return "gloo"; }
  Device device() const override { return Device::CPU; }
  bool supports(DType dtype) const override { return dtype == DType::F32 || dtype == DType::F64; }

 protected:
  void do_all_reduce(const Tensor& buffer, ReduceOp op) override;
  // Gloo has no reduce-scatter for unbound buffers: an all-reduce of a copy of the input, keeping
  // this rank's block (twice the traffic of a true reduce-scatter; training on CPU never uses it).
  void do_reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) override;
  void do_all_gather(const Tensor& output, const Tensor& input) override;
  void do_broadcast(const Tensor& buffer, int root) override;
  void do_barrier() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace dg::dist
