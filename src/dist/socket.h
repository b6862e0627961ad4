// The few TCP operations the rendezvous store needs, with deadlines and errors that say which
// address and port failed and why. IPv4 and IPv6.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace dg::dist {

using Deadline = std::chrono::steady_clock::time_point;

// An owned socket descriptor.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  // Wakes a thread blocked on this socket (its recv returns 0) without closing the descriptor.
  void shut_down();

 private:
  int fd_ = -1;
};

// Listens on every interface (IPv6 dual-stack where available, else IPv4) at `port`. Throws naming
// the port and `port_origin` when it is taken or not allowed.
Socket listen_on(int port, const std::string& port_origin);
// Connects to host:port, trying every address the name resolves to, again and again until
// `deadline`; throws with the last error. An empty Socket is never returned.
Socket connect_to(const std::string& host, int port, Deadline deadline, const std::string& what);

// Sends all of data; throws when the peer is gone. `what` names the peer in messages.
void send_all(const Socket& s, const void* data, size_t n, const std::string& what);
// Receives exactly n bytes. Returns false when the peer closed the connection before the first
// byte; throws when it closed part-way, on an error, or at `deadline`.
bool recv_all(const Socket& s, void* data, size_t n, Deadline deadline, const std::string& what);

}  // namespace dg::dist
