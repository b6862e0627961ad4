#include "dist/tcp_store.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <thread>

#include "core/error.h"

namespace dg::dist {
namespace {

constexpr uint32_t kMaxKeyBytes = 4096;
constexpr uint32_t kMaxValueBytes = 256u << 20;
// The server waits for its clients' next request as long as the job lives.
const Deadline kNever = Deadline::max();
const char kHello[] = "dartgolf-store/1";

void send_bytes(const Socket& s, const std::string& bytes, const std::string& what) {
  const uint32_t n = htonl(static_cast<uint32_t>(bytes.size()));
  send_all(s, &n, sizeof n, what);
  send_all(s, bytes.data(), bytes.size(), what);
}

std::string recv_bytes(const Socket& s, uint32_t limit, Deadline deadline, const std::string& what) {
  uint32_t n = 0;
  DG_CHECK(recv_all(s, &n, sizeof n, deadline, what), "lost the connection to " << what);
  n = ntohl(n);
  DG_CHECK(n <= limit, what << " sent a length of " << n << " bytes, more than the " << limit << " allowed");
  std::string bytes(n, '\0');
  DG_CHECK(n == 0 || recv_all(s, bytes.data(), n, deadline, what), "lost the connection to " << what);
  return bytes;
}

}  // namespace

TcpStoreServer::TcpStoreServer(int port, const std::string& port_origin)
    : listener_(listen_on(port, port_origin)), acceptor_([this] { accept_loop(); }) {}

TcpStoreServer::~TcpStoreServer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    listener_.shut_down();  // accept() returns
    for (auto& c : connections_) c->shut_down();  // each serve() sees its connection end
  }
  acceptor_.join();
  for (std::thread& t : threads_) t.join();
}

void TcpStoreServer::accept_loop() {
  while (true) {
    const int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (fd < 0) {
      // A connection that failed before it was accepted (ECONNABORTED), or no descriptors left for
      // a moment (EMFILE): keep listening without spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    connections_.push_back(std::make_unique<Socket>(fd));
    const int index = static_cast<int>(connections_.size()) - 1;
    threads_.emplace_back([this, index] { serve(index); });
  }
}

void TcpStoreServer::serve(int index) {
  const Socket* connection = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connection = connections_[static_cast<size_t>(index)].get();
  }
  const std::string what = "a rendezvous client";
  try {
    while (true) {
      char op = 0;
      if (!recv_all(*connection, &op, 1, kNever, what)) return;  // the client is done
      const std::string key = recv_bytes(*connection, kMaxKeyBytes, kNever, what);
      if (op == 'H') {
        if (key != kHello) return;  // another version or program: no answer it would misread
        send_all(*connection, "K", 1, what);
      } else if (op == 'S') {
        std::string value = recv_bytes(*connection, kMaxValueBytes, kNever, what);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          values_[key] = std::move(value);
        }
        send_all(*connection, "K", 1, what);
      } else if (op == 'G') {
        std::string value;
        bool found = false;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          const auto it = values_.find(key);
          if (it != values_.end()) value = it->second, found = true;
        }
        send_all(*connection, found ? "V" : "N", 1, what);
        if (found) send_bytes(*connection, value, what);
      } else {
        return;  // not our protocol (a port scanner, another program): drop it
      }
    }
  } catch (const Error&) {
    // One client's broken connection must not stop the store for the others.
  }
}

TcpStoreClient::TcpStoreClient(const std::string& host, int port, std::chrono::milliseconds timeout)
    : where_("rank 0's rendezvous store (" + host + ":" + std::to_string(port) + ")"), timeout_(timeout),
      socket_(connect_to(host, port, std::chrono::steady_clock::now() + timeout, "rank 0's rendezvous store")) {
  try {
    const char reply = request('H', kHello, nullptr);
    DG_CHECK(reply == 'K', "unexpected reply");
  } catch (const Error& e) {
    DG_THROW("something listens at " << host << ":" << port
                                     << " but does not answer as dartgolf's rendezvous store (" << e.what()
                                     << "): another program holds the port, e.g. torchrun's own store; "
                                        "docs/distributed.md explains which port dartgolf takes");
  }
}

char TcpStoreClient::request(char op, const std::string& key, const std::string* value) {
  send_all(socket_, &op, 1, where_);
  send_bytes(socket_, key, where_);
  if (value != nullptr) send_bytes(socket_, *value, where_);
  char reply = 0;
  DG_CHECK(recv_all(socket_, &reply, 1, std::chrono::steady_clock::now() + timeout_, where_),
           "lost the connection to " << where_ << ": rank 0 exited or was killed (see its output)");
  return reply;
}

void TcpStoreClient::set(const std::string& key, const std::string& value) {
  DG_CHECK(key.size() <= kMaxKeyBytes && value.size() <= kMaxValueBytes, "rendezvous store: key or value too long");
  std::lock_guard<std::mutex> lock(mutex_);
  DG_CHECK(request('S', key, &value) == 'K', "rendezvous store: " << where_ << " answered a set with garbage");
}

bool TcpStoreClient::request_get(const std::string& key, std::string* value) {
  std::lock_guard<std::mutex> lock(mutex_);
  const char reply = request('G', key, nullptr);
  DG_CHECK(reply == 'V' || reply == 'N', "rendezvous store: " << where_ << " answered a get with garbage");
  if (reply == 'N') return false;
  *value = recv_bytes(socket_, kMaxValueBytes, std::chrono::steady_clock::now() + timeout_, where_);
  return true;
}

std::string TcpStoreClient::get(const std::string& key, std::chrono::milliseconds timeout, const std::string& what) {
  const Deadline deadline = std::chrono::steady_clock::now() + timeout;
  std::string value;
  // Polling: rendezvous reads a few keys per rank, so a few milliseconds between asks cost nothing.
  for (int wait_ms = 1;; wait_ms = std::min(wait_ms * 2, 20)) {
    if (request_get(key, &value)) return value;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
  DG_THROW("timed out after " << std::chrono::duration<double>(timeout).count() << " s waiting for " << what
                              << " (key '" << key << "' in " << where_ << ")");
}

bool TcpStoreClient::contains(const std::string& key) {
  std::string value;
  return request_get(key, &value);
}

}  // namespace dg::dist
