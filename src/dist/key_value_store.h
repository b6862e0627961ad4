// A key-value store every rank of a job reaches: how ranks find each other before any collective
// exists (Gloo's addresses, NCCL's unique id, run-wide agreements). Values are bytes.
#pragma once

#include <chrono>
#include <string>

namespace dg::dist {

class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  // Sets `key` for every rank; once it returns, every get() of the key sees `value`.
  virtual void set(const std::string& key, const std::string& value) = 0;
  // The value of `key`, waiting up to `timeout` for some rank to set it; throws dg::Error naming
  // the key after that. `what` says in a message what the key stands for ("rank 3's address").
  virtual std::string get(const std::string& key, std::chrono::milliseconds timeout, const std::string& what) = 0;
  // Whether `key` is set now (no waiting).
  virtual bool contains(const std::string& key) = 0;
};

}  // namespace dg::dist
