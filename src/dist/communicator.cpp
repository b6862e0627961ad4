#include "dist/communicator.h"

#include <functional>

#include "backend/backend.h"
#include "core/error.h"

namespace dg::dist {
namespace {

bool overlap(const Tensor& a, const Tensor& b) {
  const char* a0 = static_cast<const char*>(a.data);
  const char* b0 = static_cast<const char*>(b.data);
  return a.bytes() > 0 && b.bytes() > 0 && std::less<const char*>()(a0, b0 + b.bytes()) &&
         std::less<const char*>()(b0, a0 + a.bytes());
}

}  // namespace

const char* reduce_op_name(ReduceOp op) { return op == ReduceOp::Sum ? "sum" : "avg"; }

Communicator::Communicator(int rank, int world_size) : rank_(rank), world_size_(world_size) {
  DG_CHECK(world_size >= 1 && rank >= 0 && rank < world_size,
           "communicator: rank " << rank << " is outside a world of " << world_size);
}

void Communicator::check_buffer(const char* op, const char* what, const Tensor& t) const {
  DG_CHECK(supports(t.dtype),
           op << ": the " << name() << " communicator does not take " << dtype_name(t.dtype) << " buffers (" << what << ")");
  DG_CHECK(t.device == device(), op << ": " << what << " is " << (t.device == Device::CPU ? "host" : "device")
                                    << " memory; the " << name() << " communicator takes "
                                    << (device() == Device::CPU ? "host" : "device") << " memory");
  DG_CHECK(t.data != nullptr || t.numel() == 0, op << ": " << what << " has no memory");
}

void Communicator::all_reduce(const Tensor& buffer, ReduceOp op) {
  check_buffer("all_reduce", "the buffer", buffer);
  if (buffer.numel() > 0) do_all_reduce(buffer, op);
}

void Communicator::check_blocks(const char* op, const Tensor& output, const Tensor& input, bool output_has_blocks) const {
  check_buffer(op, "the output", output);
  check_buffer(op, "the input", input);
  DG_CHECK(output.dtype == input.dtype,
           op << ": the output is " << dtype_name(output.dtype) << ", the input " << dtype_name(input.dtype));
  const Tensor& whole = output_has_blocks ? output : input;
  const Tensor& block = output_has_blocks ? input : output;
  DG_CHECK(whole.numel() == block.numel() * world_size_,
           op << ": the " << (output_has_blocks ? "output" : "input") << " has " << whole.numel()
              << " elements, expected WORLD_SIZE (" << world_size_ << ") x the " << (output_has_blocks ? "input" : "output")
              << "'s " << block.numel());
  DG_CHECK(!overlap(output, input), op << ": the output overlaps the input");
}

void Communicator::reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) {
  check_blocks("reduce_scatter", output, input, false);
  if (output.numel() > 0) do_reduce_scatter(output, input, op);
}

void Communicator::all_gather(const Tensor& output, const Tensor& input) {
  check_blocks("all_gather", output, input, true);
  if (input.numel() > 0) do_all_gather(output, input);
}

void Communicator::broadcast(const Tensor& buffer, int root) {
  check_buffer("broadcast", "the buffer", buffer);
  DG_CHECK(root >= 0 && root < world_size_, "broadcast: root rank " << root << " is outside a world of " << world_size_);
  if (buffer.numel() > 0) do_broadcast(buffer, root);
}

void Communicator::barrier() { do_barrier(); }

void Communicator::all_reduce_host(double* values, int64_t count, ReduceOp op) {
  DG_CHECK(count >= 0 && (values != nullptr || count == 0), "all_reduce_host: no values");
  if (count > 0) do_all_reduce_host(values, count, op);
}

void Communicator::do_all_reduce_host(double* values, int64_t count, ReduceOp op) {
  DG_CHECK(device() == Device::CPU && supports(DType::F64),
           "all_reduce_host: the " << name() << " communicator must stage host values through its own memory");
  do_all_reduce(Tensor::f64(values, {count}), op);
}

SingleProcessCommunicator::SingleProcessCommunicator(Backend& backend) : Communicator(0, 1), backend_(backend) {}

Device SingleProcessCommunicator::device() const { return backend_.device(); }

bool SingleProcessCommunicator::supports(DType dtype) const {
  return dtype == DType::F32 || dtype == DType::F64 || dtype == DType::BF16;
}

void SingleProcessCommunicator::do_reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp) {
  backend_.copy(output, input);
}

void SingleProcessCommunicator::do_all_gather(const Tensor& output, const Tensor& input) { backend_.copy(output, input); }

}  // namespace dg::dist
