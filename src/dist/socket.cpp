#include "dist/socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace dg::dist {
namespace {

int remaining_ms(Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left.count(), 1 << 30)));
}

// A listening socket of `family` bound to the wildcard address, or an invalid one with errno set.
Socket try_listen(int family, int port) {
  Socket s(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return s;
  const int one = 1, zero = 0;
  // SO_REUSEADDR lets a new job take a port whose last user is in TIME_WAIT; a port someone
  // listens on is still refused (EADDRINUSE), which is the error to report.
  ::setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = -1;
  if (family == AF_INET6) {
    ::setsockopt(s.fd(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 clients too
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0 || ::listen(s.fd(), 128) != 0) {
    const int saved = errno;
    s = Socket();
    errno = saved;
  }
  return s;
}

}  // namespace

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

int Socket::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void Socket::shut_down() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Socket listen_on(int port, const std::string& port_origin) {
  Socket s = try_listen(AF_INET6, port);
  int error = errno;
  // No IPv6 on this machine (a container without it): IPv4 alone. A taken port stays an error.
  if (!s.valid() && error != EADDRINUSE && error != EACCES) {
    s = try_listen(AF_INET, port);
    error = errno;
  }
  if (s.valid()) return s;
  if (error == EADDRINUSE)
    DG_THROW("rank 0 cannot listen on port " << port << " (" << port_origin
                                             << ") for the rendezvous store: the port is in use by another program. "
                                                "Choose a free MASTER_PORT (or set DARTGOLF_STORE_PORT); "
                                                "docs/distributed.md explains which port dartgolf takes");
  DG_THROW("rank 0 cannot listen on port " << port << " (" << port_origin << ") for the rendezvous store: "
                                           << std::strerror(error));
}

Socket connect_to(const std::string& host, int port, Deadline deadline, const std::string& what) {
  std::string last_error = "no attempt";
  const std::string service = std::to_string(port);
  while (true) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) {
      last_error = std::string("cannot resolve the name: ") + ::gai_strerror(rc);
    } else {
      for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        Socket s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (!s.valid()) {
          last_error = std::strerror(errno);
          continue;
        }
        if (::connect(s.fd(), a->ai_addr, a->ai_addrlen) == 0) {
          ::freeaddrinfo(found);
          const int one = 1;
          ::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          return s;
        }
        last_error = std::strerror(errno);
      }
      ::freeaddrinfo(found);
    }
    // The listener may not be up yet (rank 0 starts a moment later): try again until the deadline.
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50, remaining_ms(deadline))));
  }
  DG_THROW("could not connect to " << what << " at " << host << ":" << port << " before the timeout (last error: "
                                   << last_error << ")");
}

void send_all(const Socket& s, const void* data, size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::send(s.fd(), p, n, MSG_NOSIGNAL);  // a gone peer is an error, not SIGPIPE
    if (k < 0 && errno == EINTR) continue;
    DG_CHECK(k > 0, "lost the connection to " << what << ": " << std::strerror(errno));
    p += k;
    n -= static_cast<size_t>(k);
  }
}

bool recv_all(const Socket& s, void* data, size_t n, Deadline deadline, const std::string& what) {
  char* p = static_cast<char*>(data);
  const size_t total = n;
  while (n > 0) {
    pollfd pfd{s.fd(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    DG_CHECK(ready != 0, "timed out waiting for " << what);
    DG_CHECK(ready > 0, "waiting for " << what << ": " << std::strerror(errno));
    const ssize_t k = ::recv(s.fd(), p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k == 0 && n == total) return false;
    DG_CHECK(k > 0, "lost the connection to " << what << (k == 0 ? ": it closed" : ": ") << (k == 0 ? "" : std::strerror(errno)));
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

}  // namespace dg::dist
