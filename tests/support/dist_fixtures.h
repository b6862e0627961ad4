// Helpers for the data-parallel tests: free loopback ports, ranks as threads of the test process,
// and ranks as dartgolf processes with torchrun's environment.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "dist/world_info.h"
#include "test_support.h"

namespace dg::test {

// A TCP port nothing listens on right now (the kernel's pick for an ephemeral bind).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ADD_FAILURE() << "cannot find a free port";
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// True when nothing holds `port` (a bind to it succeeds).
inline bool port_is_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool free = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return free;
}

// A socket listening on a loopback port, as another program holding it (torchrun's agent store).
class PortHolder {
 public:
  PortHolder() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "cannot hold a port";
    port_ = ntohs(a.sin_port);
  }
  ~PortHolder() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

inline WorldInfo loopback_world(int rank, int world_size, int port) {
  WorldInfo w;
  w.rank = rank;
  w.world_size = world_size;
  w.local_rank = rank;
  w.local_world_size = world_size;
  w.master_addr = "127.0.0.1";
  w.master_port = port;
  return w;
}

// Runs body(rank) on world_size threads and rethrows the first failure after all have ended.
inline void run_ranks(int world_size, const std::function<void(int rank)>& body) {
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world_size));
  std::vector<std::thread> threads;
  for (int r = 0; r < world_size; ++r)
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Starts the dartgolf binary as rank `rank` of `world_size` (torchrun's variables), in `cwd`, output
// to `output`; `env` adds or overrides variables.
inline pid_t start_rank(int rank, int world_size, int port, const std::string& args, const std::filesystem::path& output,
                        const std::filesystem::path& cwd, const std::map<std::string, std::string>& env = {}) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::map<std::string, std::string> vars = {{"RANK", std::to_string(rank)},
                                               {"WORLD_SIZE", std::to_string(world_size)},
                                               {"LOCAL_RANK", std::to_string(rank)},
                                               {"LOCAL_WORLD_SIZE", std::to_string(world_size)},
                                               {"MASTER_ADDR", "127.0.0.1"},
                                               {"MASTER_PORT", std::to_string(port)}};
    for (const auto& [k, v] : env) vars[k] = v;
    for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    const std::string command = "exec '" + std::string(DG_BINARY) + "' " + args + " >" + quoted(output) + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

}  // namespace dg::test
