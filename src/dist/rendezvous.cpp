#include "dist/rendezvous.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/text.h"

namespace dg::dist {
namespace {

std::string seconds_text(std::chrono::milliseconds t) {
  std::ostringstream out;
  out << std::chrono::duration<double>(t).count() << " s";
  return out.str();
}

std::string shortened(const std::string& text) { return text.size() <= 160 ? text : text.substr(0, 157) + "..."; }

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

}  // namespace

Rendezvous::Rendezvous(const WorldInfo& world, std::chrono::milliseconds timeout) : world_(world), timeout_(timeout) {
  DG_CHECK(world.distributed(), "rendezvous: WORLD_SIZE=1 needs none");
  const char* run_id = std::getenv("TORCHELASTIC_RUN_ID");
  prefix_ = std::string("dartgolf/") + (run_id != nullptr ? run_id : "") + "/";
  const int port = world.store_port();
  where_ = world.master_addr + ":" + std::to_string(port) + " (" + world.store_port_origin() + ")";
  if (world.rank == 0) {
    server_ = std::make_unique<TcpStoreServer>(port, world.store_port_origin());
    // Rank 0 reaches its own store over loopback: MASTER_ADDR need not route back to this machine.
    client_ = std::make_unique<TcpStoreClient>("localhost", port, timeout);
  } else {
    try {
      client_ = std::make_unique<TcpStoreClient>(world.master_addr, port, timeout);
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.rfind("could not connect", 0) != 0) DG_THROW("rank " << world.rank << " of " << world.world_size << ": " << what);
      DG_THROW("rank " << world.rank << " of " << world.world_size << ": rank 0 did not open the rendezvous at "
                       << where_ << " within dist_timeout_seconds=" << seconds_text(timeout)
                       << ": it failed to start, failed early, or runs with another MASTER_ADDR/MASTER_PORT (" << what
                       << ")");
    }
  }
  client_->set(key("joined/" + std::to_string(world.rank)), host_name() + " pid " + std::to_string(::getpid()));

  // Wait for every rank, then name the ones that never came.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<int> missing;
  for (int r = 0; r < world.world_size; ++r) missing.push_back(r);
  while (true) {
    std::vector<int> still;
    for (int r : missing)
      if (!client_->contains(key("joined/" + std::to_string(r)))) still.push_back(r);
    missing = std::move(still);
    if (missing.empty()) return;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string names;
  for (int r : missing) names += (names.empty() ? "" : ", ") + std::to_string(r);
  DG_THROW("rank " << world.rank << " of " << world.world_size << ": rank" << (missing.size() > 1 ? "s " : " ") << names
                   << " did not join the rendezvous at " << where_ << " within dist_timeout_seconds="
                   << seconds_text(timeout) << " (" << missing.size() << " of WORLD_SIZE=" << world.world_size
                   << " missing): they failed to start, failed early, or run with another MASTER_ADDR/MASTER_PORT");
}

std::string Rendezvous::share_from_rank0(const std::string& name, const std::string& value) {
  const std::string k = key("share/" + name);
  if (world_.rank == 0) client_->set(k, value);
  return world_.rank == 0 ? value : client_->get(k, timeout_, "rank 0's " + name);
}

void Rendezvous::check_same_on_all_ranks(const std::string& name, const std::string& value, const std::string& what,
                                         const Explain& explain) {
  client_->set(key("same/" + name + "/" + std::to_string(world_.rank)), value);
  const std::string reference = world_.rank == 0 ? value : client_->get(key("same/" + name + "/0"), timeout_, "rank 0's " + what);
  for (int r = 1; r < world_.world_size; ++r) {
    const std::string theirs =
        r == world_.rank ? value : client_->get(key("same/" + name + "/" + std::to_string(r)), timeout_, "rank " + std::to_string(r) + "'s " + what);
    if (theirs == reference) continue;
    const std::string difference =
        explain ? explain(theirs, reference) : shortened(printable(theirs)) + " against " + shortened(printable(reference));
    DG_THROW("rank " << r << "'s " << what << " differ from rank 0's: " << difference
                     << ". Every rank must run the same dartgolf with the same settings and data");
  }
}

}  // namespace dg::dist
