// The emulator's twin of dg::cuda::nccl (kernels/nccl_ops.h): the ranks of a communicator are
// threads of this process, device memory is the emulator's host memory, and each collective runs
// when the last rank calls it: that thread reduces every rank's input in rank order and writes every
// rank's output, then all return. Sums of floats accumulate in the element type, f32 and f64 exact
// to NCCL's for two ranks (a + b is a + b in any order); for more ranks NCCL's ring order may differ
// in the last bits, and bf16 here rounds once where NCCL rounds after each hop. Avg pre-multiplies
// each input by 1/n as NCCL does for floating types. A rank that never calls fails the others after
// the timeout, naming it, where NCCL would hang.
#include <cuda_bf16.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "emu/device_memory.h"
#include "emu/streams.h"
#include "nccl_ops.h"

namespace dg::cuda::nccl {
namespace {

const char* type_name(Type t) { return t == Type::F32 ? "f32" : t == Type::F64 ? "f64" : "bf16"; }
size_t type_bytes(Type t) { return t == Type::F64 ? 8 : t == Type::F32 ? 4 : 2; }

enum class Kind { AllReduce, ReduceScatter, AllGather, Broadcast };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::AllReduce: return "all_reduce";
    case Kind::ReduceScatter: return "reduce_scatter";
    case Kind::AllGather: return "all_gather";
    case Kind::Broadcast: return "broadcast";
  }
  return "?";
}

struct Call {
  Kind kind = Kind::AllReduce;
  const void* in = nullptr;
  void* out = nullptr;
  size_t count = 0;
  Type type = Type::F32;
  Op op = Op::Sum;
  int root = 0;
  std::string describe() const {
    std::ostringstream s;
    s << kind_name(kind) << " of " << count << " " << type_name(type);
    if (kind == Kind::Broadcast) s << " from rank " << root;
    return s.str();
  }
};

// The ranks of one communicator meeting at each collective.
struct Clique {
  explicit Clique(int n) : world_size(n), calls(static_cast<size_t>(n)), present(static_cast<size_t>(n), false) {}
  const int world_size;
  std::mutex mutex;
  std::condition_variable changed;
  int joined = 0;
  std::vector<Call> calls;
  std::vector<bool> present;
  int arrived = 0;
  uint64_t generation = 0;  // collectives completed
  std::string error;        // once set, every later call fails with it
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::shared_ptr<Clique>>& registry() {
  static std::map<std::string, std::shared_ptr<Clique>> r;
  return r;
}

std::string missing_ranks(const Clique& c) {
  std::string names;
  for (int r = 0; r < c.world_size; ++r)
    if (!c.present[static_cast<size_t>(r)]) names += (names.empty() ? "" : ", ") + std::to_string(r);
  return names;
}

// Element access in the accumulation type of each element type.
template <typename T>
struct Element {
  using Acc = T;
  static Acc load(const void* p, size_t i) { return static_cast<const T*>(p)[i]; }
  static void store(void* p, size_t i, Acc v) { static_cast<T*>(p)[i] = v; }
  static Acc scale(Acc v, int n) { return v * (static_cast<T>(1) / static_cast<T>(n)); }
};
template <>
struct Element<__nv_bfloat16> {
  using Acc = float;
  static Acc load(const void* p, size_t i) { return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]); }
  static void store(void* p, size_t i, Acc v) { static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v); }
  // NCCL multiplies in bf16: the product is rounded to bf16 before it is summed.
  static Acc scale(Acc v, int n) { return __bfloat162float(__float2bfloat16(v * (1.0f / static_cast<float>(n)))); }
};

// out_r[i] for every rank r: Σ over ranks q, in rank order, of in_q[block_of(r) + i] (Avg: each
// term scaled by 1/n first), accumulated in E::Acc and stored once.
template <typename T>
void reduce(const std::vector<Call>& calls, bool scatter) {
  using E = Element<T>;
  const int n = static_cast<int>(calls.size());
  const bool avg = calls[0].op == Op::Avg;
  const size_t count = calls[0].count;
  std::vector<typename E::Acc> sum(count * (scatter ? static_cast<size_t>(n) : 1));
  for (size_t j = 0; j < sum.size(); ++j) {
    auto term = [&](int q) {
      const typename E::Acc v = E::load(calls[static_cast<size_t>(q)].in, j);
      return avg ? E::scale(v, n) : v;
    };
    typename E::Acc acc = term(0);
    for (int q = 1; q < n; ++q) acc = acc + term(q);
    sum[j] = acc;
  }
  for (int r = 0; r < n; ++r) {
    const size_t first = scatter ? static_cast<size_t>(r) * count : 0;
    for (size_t i = 0; i < count; ++i) E::store(calls[static_cast<size_t>(r)].out, i, sum[first + i]);
  }
}

void run_reduction(const std::vector<Call>& calls, bool scatter) {
  switch (calls[0].type) {
    case Type::F32: return reduce<float>(calls, scatter);
    case Type::F64: return reduce<double>(calls, scatter);
    case Type::BF16: return reduce<__nv_bfloat16>(calls, scatter);
  }
}

// Runs the collective every rank has now called (on the last rank's thread).
void execute(const std::vector<Call>& calls) {
  const Call& first = calls[0];
  for (size_t r = 1; r < calls.size(); ++r) {
    const Call& c = calls[r];
    DG_CHECK(c.kind == first.kind && c.count == first.count && c.type == first.type && c.op == first.op &&
                 c.root == first.root,
             "NCCL twin: the ranks called different collectives: rank 0 " << first.describe() << ", rank " << r << " "
                                                                          << c.describe());
  }
  const size_t bytes = first.count * type_bytes(first.type);
  const size_t n = calls.size();
  switch (first.kind) {
    case Kind::AllReduce: return run_reduction(calls, false);
    case Kind::ReduceScatter: return run_reduction(calls, true);
    case Kind::AllGather: {
      std::vector<char> gathered(bytes * n);
      for (size_t q = 0; q < n; ++q) std::memcpy(gathered.data() + q * bytes, calls[q].in, bytes);
      for (const Call& c : calls) std::memcpy(c.out, gathered.data(), gathered.size());
      return;
    }
    case Kind::Broadcast: {
      std::vector<char> value(bytes);
      std::memcpy(value.data(), calls[static_cast<size_t>(first.root)].in, bytes);
      for (const Call& c : calls) std::memcpy(c.out, value.data(), bytes);
      return;
    }
  }
}

}  // namespace

struct Group {
  std::shared_ptr<Clique> clique;
  int rank = 0;
  std::chrono::milliseconds timeout{0};
};

namespace {

void check_memory(const void* p, size_t bytes, const char* role, const Call& call, int rank) {
  if (bytes == 0) return;
  const std::string problem = emu::check_device_range(p, bytes, role);
  DG_CHECK(problem.empty(), "NCCL twin: rank " << rank << ", " << call.describe() << ": " << problem);
}

void collective(Group* g, const Call& call, cudaStream_t stream) {
  DG_CHECK(g != nullptr && g->clique, "NCCL twin: " << call.describe() << " on a communicator that was left");
  DG_CHECK(emu::stream_is_valid(stream), "NCCL twin: " << call.describe() << " on stream " << stream
                                                       << ", which was not created by cudaStreamCreate or was destroyed");
  Clique& c = *g->clique;
  const size_t bytes = call.count * type_bytes(call.type), n = static_cast<size_t>(c.world_size);
  const bool whole_in = call.kind == Kind::ReduceScatter, whole_out = call.kind == Kind::AllGather;
  check_memory(call.in, whole_in ? bytes * n : bytes, "input", call, g->rank);
  check_memory(call.out, whole_out ? bytes * n : bytes, "output", call, g->rank);

  std::unique_lock<std::mutex> lock(c.mutex);
  DG_CHECK(c.error.empty(), c.error);
  c.calls[static_cast<size_t>(g->rank)] = call;
  c.present[static_cast<size_t>(g->rank)] = true;
  const uint64_t round = c.generation;
  if (++c.arrived == c.world_size) {
    try {
      execute(c.calls);
    } catch (const Error& e) {
      c.error = e.what();
    }
    c.arrived = 0;
    std::fill(c.present.begin(), c.present.end(), false);
    ++c.generation;
    c.changed.notify_all();
    DG_CHECK(c.error.empty(), c.error);
    return;
  }
  const bool done = c.changed.wait_for(lock, g->timeout, [&] { return c.generation != round || !c.error.empty(); });
  DG_CHECK(c.error.empty(), c.error);
  DG_CHECK(done, "NCCL twin: rank " << g->rank << " waited " << std::chrono::duration<double>(g->timeout).count()
                                    << " s in " << call.describe() << " for rank(s) " << missing_ranks(c)
                                    << " of " << c.world_size << ", which never called it");
}

}  // namespace

UniqueId new_unique_id() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  UniqueId id{};
  const uint64_t words[3] = {(static_cast<uint64_t>(rd()) << 32) | rd(), (static_cast<uint64_t>(rd()) << 32) | rd(),
                             counter++};
  std::memcpy(id.bytes, words, sizeof words);
  return id;
}

Group* join(const UniqueId& id, int world_size, int rank, std::chrono::milliseconds timeout) {
  DG_CHECK(world_size >= 1 && rank >= 0 && rank < world_size,
           "NCCL twin: rank " << rank << " is outside a communicator of " << world_size);
  const std::string key(id.bytes, sizeof id.bytes);
  std::shared_ptr<Clique> clique;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto& slot = registry()[key];
    if (!slot) slot = std::make_shared<Clique>(world_size);
    clique = slot;
  }
  DG_CHECK(clique->world_size == world_size, "NCCL twin: rank " << rank << " joins with " << world_size
                                                                << " ranks a communicator others joined with "
                                                                << clique->world_size);
  std::unique_lock<std::mutex> lock(clique->mutex);
  DG_CHECK(!clique->present[static_cast<size_t>(rank)], "NCCL twin: rank " << rank << " joined the communicator twice");
  clique->present[static_cast<size_t>(rank)] = true;
  if (++clique->joined == world_size) {
    std::fill(clique->present.begin(), clique->present.end(), false);
    {
      std::lock_guard<std::mutex> registry_lock(registry_mutex());
      registry().erase(key);  // complete: the id may not be joined again
    }
    clique->changed.notify_all();
  } else if (!clique->changed.wait_for(lock, timeout, [&] { return clique->joined == world_size; })) {
    const std::string missing = missing_ranks(*clique);
    DG_THROW("NCCL twin: rank " << rank << " waited " << std::chrono::duration<double>(timeout).count()
                                << " s for rank(s) " << missing << " to join the communicator of " << world_size);
  }
  return new Group{clique, rank, timeout};
}

void leave(Group* group) { delete group; }

void all_reduce(Group* g, const void* in, void* out, size_t count, Type type, Op op, cudaStream_t stream) {
  collective(g, Call{Kind::AllReduce, in, out, count, type, op, 0}, stream);
}

void reduce_scatter(Group* g, const void* in, void* out, size_t count, Type type, Op op, cudaStream_t stream) {
  collective(g, Call{Kind::ReduceScatter, in, out, count, type, op, 0}, stream);
}

void all_gather(Group* g, const void* in, void* out, size_t count, Type type, cudaStream_t stream) {
  collective(g, Call{Kind::AllGather, in, out, count, type, Op::Sum, 0}, stream);
}

void broadcast(Group* g, const void* in, void* out, size_t count, Type type, int root, cudaStream_t stream) {
  DG_CHECK(g != nullptr && g->clique && root >= 0 && root < g->clique->world_size,
           "NCCL twin: broadcast from rank " << root << " outside the communicator");
  collective(g, Call{Kind::Broadcast, in, out, count, type, Op::Sum, root}, stream);
}

void synchronize(Group* g, cudaStream_t stream, std::chrono::milliseconds) {
  // Every emulated operation finished when it was issued.
  DG_CHECK(g != nullptr, "NCCL twin: synchronize on a communicator that was left");
  DG_CHECK(emu::stream_is_valid(stream), "NCCL twin: synchronize on an invalid stream " << stream);
}

}  // namespace dg::cuda::nccl
