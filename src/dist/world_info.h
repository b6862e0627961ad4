// Who this process is in a data-parallel job, from the environment torchrun (and scripts/launch.sh)
// gives each worker: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and
// TORCHELASTIC_USE_AGENT_STORE. With none of them set, it is a single process (rank 0 of 1).
#pragma once

#include <functional>
#include <string>

namespace dg {

struct WorldInfo {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;  // this rank's place among the ranks on its machine
  std::string master_addr;                    // where rank 0 runs; required when world_size > 1
  int master_port = 0;
  // torch >= 2 (TORCHELASTIC_USE_AGENT_STORE=True): torchrun's agent already listens on MASTER_PORT.
  bool agent_store = false;
  // DARTGOLF_STORE_PORT: the port of dartgolf's rendezvous store when set (0: derived, store_port()).
  int store_port_override = 0;

  bool distributed() const { return world_size > 1; }
  // Where rank 0's rendezvous store listens: DARTGOLF_STORE_PORT when set, else MASTER_PORT, or
  // MASTER_PORT + 1 when torchrun's agent store already holds MASTER_PORT (docs/distributed.md).
  int store_port() const;
  // Why store_port() is that port, for messages: "MASTER_PORT", "MASTER_PORT+1 (...)", ...
  std::string store_port_origin() const;

  // Reads the variables through `getenv_fn` (std::getenv when empty) and checks them, naming the
  // variable at fault: RANK outside WORLD_SIZE, a non-numeric LOCAL_RANK, a missing MASTER_ADDR ...
  static WorldInfo from_environment(const std::function<const char*(const char*)>& getenv_fn = {});
};

}  // namespace dg
