#include "dist/world_info.h"

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace dg {
namespace {

const char* lookup(const std::function<const char*(const char*)>& getenv_fn, const char* name) {
  const char* text = getenv_fn ? getenv_fn(name) : std::getenv(name);
  return text != nullptr && *text != '\0' ? text : nullptr;
}

int env_int(const std::function<const char*(const char*)>& getenv_fn, const char* name, int fallback) {
  const char* text = lookup(getenv_fn, name);
  if (text == nullptr) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  DG_CHECK(end != nullptr && *end == '\0' && value >= -2147483647L && value <= 2147483647L,
           "environment variable " << name << "='" << text << "' is not an integer");
  return static_cast<int>(value);
}

void check_port(const char* name, int port) {
  DG_CHECK(port >= 1 && port <= 65535, "environment variable " << name << "=" << port << " is not a TCP port (1..65535)");
}

}  // namespace

WorldInfo WorldInfo::from_environment(const std::function<const char*(const char*)>& getenv_fn) {
  WorldInfo w;
  w.world_size = env_int(getenv_fn, "WORLD_SIZE", 1);
  w.rank = env_int(getenv_fn, "RANK", 0);
  DG_CHECK(w.world_size > 0, "environment variable WORLD_SIZE=" << w.world_size << " must be positive");
  DG_CHECK(w.rank >= 0 && w.rank < w.world_size,
           "environment variable RANK=" << w.rank << " is outside [0, WORLD_SIZE=" << w.world_size << ")");
  // Without LOCAL_WORLD_SIZE (a hand-made launch) every rank is taken to share this machine.
  w.local_world_size = env_int(getenv_fn, "LOCAL_WORLD_SIZE", w.world_size);
  w.local_rank = env_int(getenv_fn, "LOCAL_RANK", w.rank % w.local_world_size);
  DG_CHECK(w.local_world_size > 0 && w.local_world_size <= w.world_size,
           "environment variable LOCAL_WORLD_SIZE=" << w.local_world_size << " must be in [1, WORLD_SIZE=" << w.world_size
                                                    << "]");
  DG_CHECK(w.local_rank >= 0 && w.local_rank < w.local_world_size,
           "environment variable LOCAL_RANK=" << w.local_rank << " is outside [0, LOCAL_WORLD_SIZE=" << w.local_world_size
                                              << ")");
  if (const char* agent = lookup(getenv_fn, "TORCHELASTIC_USE_AGENT_STORE")) {
    const std::string v = agent;
    w.agent_store = v == "True" || v == "true" || v == "1";
  }
  w.store_port_override = env_int(getenv_fn, "DARTGOLF_STORE_PORT", 0);
  if (w.store_port_override != 0) check_port("DARTGOLF_STORE_PORT", w.store_port_override);
  if (!w.distributed()) return w;

  const char* addr = lookup(getenv_fn, "MASTER_ADDR");
  DG_CHECK(addr != nullptr, "WORLD_SIZE=" << w.world_size
                                          << " but MASTER_ADDR is not set: it names the machine of rank 0 (launch with "
                                             "torchrun or scripts/launch.sh, which set it)");
  w.master_addr = addr;
  DG_CHECK(lookup(getenv_fn, "MASTER_PORT") != nullptr,
           "WORLD_SIZE=" << w.world_size
                         << " but MASTER_PORT is not set: the port of rank 0's rendezvous (launch with torchrun or "
                            "scripts/launch.sh, which set it)");
  w.master_port = env_int(getenv_fn, "MASTER_PORT", 0);
  check_port("MASTER_PORT", w.master_port);
  DG_CHECK(w.store_port_override != 0 || !w.agent_store || w.master_port < 65535,
           "MASTER_PORT=65535 leaves no MASTER_PORT+1 for dartgolf's store next to torchrun's; set DARTGOLF_STORE_PORT");
  return w;
}

int WorldInfo::store_port() const {
  if (store_port_override != 0) return store_port_override;
  return agent_store ? master_port + 1 : master_port;
}

std::string WorldInfo::store_port_origin() const {
  if (store_port_override != 0) return "DARTGOLF_STORE_PORT";
  if (agent_store)
    return "MASTER_PORT+1, since TORCHELASTIC_USE_AGENT_STORE=True means torchrun's own store listens on MASTER_PORT=" +
           std::to_string(master_port);
  return "MASTER_PORT";
}

}  // namespace dg
