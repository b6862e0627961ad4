// How the ranks of a job find each other: rank 0 runs the rendezvous store (dist/tcp_store.h) at
// MASTER_ADDR and WorldInfo::store_port(), every rank connects and announces itself, and a rank
// that does not arrive within the timeout fails the job with a message naming it. Afterwards the
// store carries the communicators' addresses (Gloo's, NCCL's unique id) and run-wide agreements.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "dist/key_value_store.h"
#include "dist/tcp_store.h"
#include "dist/world_info.h"

namespace dg::dist {

class Rendezvous {
 public:
  // Connects (rank 0 first starts the store) and waits until all WORLD_SIZE ranks have joined.
  Rendezvous(const WorldInfo& world, std::chrono::milliseconds timeout);

  const WorldInfo& world() const { return world_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  KeyValueStore& store() { return *client_; }
  // Keys of this job: prefixed with torchrun's TORCHELASTIC_RUN_ID (when set), so ranks of another
  // job that reach this store by mistake never read them.
  std::string key(const std::string& name) const { return prefix_ + name; }
  // "localhost:29500 (MASTER_PORT)": where the store is, for messages.
  const std::string& where() const { return where_; }

  // Every rank returns rank 0's `value` (other ranks' values are ignored): e.g. the run id.
  std::string share_from_rank0(const std::string& name, const std::string& value);
  // Throws on every rank unless all ranks passed the same `value`, naming the first rank that
  // differs from rank 0; `what` says what was compared ("settings"), `explain(theirs, rank0s)` how
  // they differ (default: both values, shortened).
  using Explain = std::function<std::string(const std::string& theirs, const std::string& rank0s)>;
  void check_same_on_all_ranks(const std::string& name, const std::string& value, const std::string& what,
                               const Explain& explain = {});

 private:
  WorldInfo world_;
  std::chrono::milliseconds timeout_;
  std::string prefix_, where_;
  std::unique_ptr<TcpStoreServer> server_;  // rank 0 only
  std::unique_ptr<TcpStoreClient> client_;
};

}  // namespace dg::dist
