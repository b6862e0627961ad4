// dartgolf's rendezvous store: a small key-value server that rank 0 runs on a thread of its own,
// and the client every rank (rank 0 included) talks to it through. Debian's Gloo has file, hash and
// redis stores but no TCP one, and torch >= 2's store speaks a protocol of its own, so dartgolf has
// this one (docs/distributed.md). Gloo reaches it through GlooStore (dist/gloo_communicator.cpp).
//
// Protocol, one request and one reply at a time on a connection, lengths as big-endian uint32:
//   'H' "dartgolf-store/1" -> 'K'             hello: a client first checks it reached this store
//   'S' key value  -> 'K'                      set
//   'G' key        -> 'V' value  |  'N'        get (N: not set yet; the client asks again)
// A malformed request ends that connection only; the server keeps serving the others.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dist/key_value_store.h"
#include "dist/socket.h"

namespace dg::dist {

class TcpStoreServer {
 public:
  // Listens at once (so a taken port fails here, on rank 0, naming it) and serves until destroyed.
  TcpStoreServer(int port, const std::string& port_origin);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

 private:
  void accept_loop();
  void serve(int connection);

  Socket listener_;
  std::mutex mutex_;
  std::map<std::string, std::string> values_;
  std::vector<std::unique_ptr<Socket>> connections_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
  std::thread acceptor_;
};

class TcpStoreClient final : public KeyValueStore {
 public:
  // Connects to host:port, retrying until `timeout` has passed (rank 0 may start later), and checks
  // that what answers is this store (not, say, torchrun's). Each later request fails after `timeout`.
  TcpStoreClient(const std::string& host, int port, std::chrono::milliseconds timeout);
  void set(const std::string& key, const std::string& value) override;
  std::string get(const std::string& key, std::chrono::milliseconds timeout, const std::string& what) override;
  bool contains(const std::string& key) override;

 private:
  // One request/reply; false when the key is not set. Throws when rank 0's store is gone.
  bool request_get(const std::string& key, std::string* value);
  // Sends op + key (+ value), returns the one-byte reply; throws when none comes within timeout_.
  char request(char op, const std::string& key, const std::string* value);
  std::string where_;  // "rank 0's rendezvous store (host:port)"
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;    // Gloo may call from its own threads
  Socket socket_;
};

}  // namespace dg::dist
