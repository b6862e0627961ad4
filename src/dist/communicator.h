// The collectives data-parallel training needs, on flat buffers (dg::Tensor views), behind one
// interface so the trainer calls the same methods whatever moves the bytes:
//   - SingleProcessCommunicator: rank 0 of 1 (every collective is the identity or a copy);
//   - GlooCommunicator (dist/gloo_communicator.h): CPU buffers between processes over TCP;
//   - the NCCL communicator (kernels/nccl_communicator.h): device buffers, on its own CUDA stream,
//     registered by the program's main (dist/device_communicators.h); emulated on the CPU in CI.
// Every rank calls the same collectives in the same order with buffers of the same size and dtype.
// This header stays C++17 and free of CUDA and Gloo: nvcc compiles the NCCL communicator against it.
#pragma once

#include <cstdint>

#include "backend/tensor.h"

namespace dg {
class Backend;
}

namespace dg::dist {

enum class ReduceOp : uint8_t { Sum, Avg };
const char* reduce_op_name(ReduceOp op);

class Communicator {
 public:
  Communicator(int rank, int world_size);
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  virtual const char* name() const = 0;  // "single process", "gloo", "nccl"
  virtual Device device() const = 0;     // where the buffers it takes live
  virtual bool supports(DType dtype) const = 0;

  // In place: every rank ends with the element-wise sum (Avg: the sum / world_size) of all ranks'
  // `buffer`, bit-identical on every rank.
  void all_reduce(const Tensor& buffer, ReduceOp op);
  // `input` holds world_size blocks of output.numel() elements; rank r's `output` becomes the
  // reduction over all ranks of block r.
  void reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op);
  // `output` holds world_size blocks of input.numel() elements; block r becomes rank r's `input`.
  void all_gather(const Tensor& output, const Tensor& input);
  // In place: every rank's `buffer` becomes root's.
  void broadcast(const Tensor& buffer, int root);
  // Returns once every rank has called it.
  void barrier();
  // A few host values (a loss, stop flags, validation sums) reduced over all ranks in place, done
  // when it returns, whatever memory the communicator's buffers live in.
  void all_reduce_host(double* values, int64_t count, ReduceOp op);

  // Ordering. A CPU communicator completes each collective before returning. A device
  // communicator enqueues it on its own stream, after the work already queued on the compute
  // stream; wait() makes the compute stream wait for every collective enqueued so far, so compute
  // queued in between overlaps them. Buffers are read and written only after wait().
  virtual void wait() {}

 protected:
  virtual void do_all_reduce(const Tensor& buffer, ReduceOp op) = 0;
  virtual void do_reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) = 0;
  virtual void do_all_gather(const Tensor& output, const Tensor& input) = 0;
  virtual void do_broadcast(const Tensor& buffer, int root) = 0;
  virtual void do_barrier() = 0;
  // Host memory as it is for a CPU communicator; a device communicator stages it through its memory.
  virtual void do_all_reduce_host(double* values, int64_t count, ReduceOp op);

 private:
  void check_buffer(const char* op, const char* what, const Tensor& t) const;
  // Output and input of one dtype, not overlapping; one of them world_size blocks of the other's size.
  void check_blocks(const char* op, const Tensor& output, const Tensor& input, bool output_has_blocks) const;
  const int rank_, world_size_;
};

// Rank 0 of a world of 1: all_reduce and broadcast leave the buffer as it is, reduce_scatter and
// all_gather copy input to output (through the backend, so device buffers work too).
class SingleProcessCommunicator final : public Communicator {
 public:
  explicit SingleProcessCommunicator(Backend& backend);
  const char* name() const override { return "single process"; }
  Device device() const override;
  bool supports(DType dtype) const override;

 protected:
  void do_all_reduce(const Tensor&, ReduceOp) override {}
  void do_reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp) override;
  void do_all_gather(const Tensor& output, const Tensor& input) override;
  void do_broadcast(const Tensor&, int) override {}
  void do_barrier() override {}
  void do_all_reduce_host(double*, int64_t, ReduceOp) override {}  // one rank: sum and mean are the values

 private:
  Backend& backend_;
};

}  // namespace dg::dist
