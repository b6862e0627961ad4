// The rendezvous: torchrun's environment read and checked, the TCP store rank 0 serves, ranks that
// never arrive named after the timeout, a taken port refused, run-wide agreements.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <map>

#include "dist/rendezvous.h"
#include "dist/tcp_store.h"
#include "dist/world_info.h"
#include "dist_fixtures.h"
#include "test_support.h"

namespace dg {
namespace {
using namespace std::chrono_literals;
using test::error_of;

WorldInfo world_from(const std::map<std::string, std::string>& env) {
  return WorldInfo::from_environment([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(WorldInfo, ASingleProcessNeedsNoVariables) {
  const WorldInfo w = world_from({});
  EXPECT_EQ(w.rank, 0);
  EXPECT_EQ(w.world_size, 1);
  EXPECT_FALSE(w.distributed());
}

TEST(WorldInfo, ReadsTorchrunsVariables) {
  const WorldInfo w = world_from({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"},
                                  {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"},
                                  {"TORCHELASTIC_USE_AGENT_STORE", "False"}});
  EXPECT_EQ(w.rank, 5);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_world_size, 4);
  EXPECT_EQ(w.master_addr, "node0");
  EXPECT_EQ(w.store_port(), 29500);  // torch 1.13: no agent store, rank 0 listens on MASTER_PORT
  EXPECT_EQ(w.store_port_origin(), "MASTER_PORT");
}

TEST(WorldInfo, BesideTorchrunsAgentStoreTheStoreTakesTheNextPort) {
  std::map<std::string, std::string> env = {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "localhost"},
                                            {"MASTER_PORT", "29500"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
  EXPECT_EQ(world_from(env).store_port(), 29501);
  EXPECT_NE(world_from(env).store_port_origin().find("MASTER_PORT+1"), std::string::npos);
  env["DARTGOLF_STORE_PORT"] = "40000";
  EXPECT_EQ(world_from(env).store_port(), 40000);
  env["DARTGOLF_STORE_PORT"] = "";
  env["MASTER_PORT"] = "65535";
  EXPECT_NE(error_of([&] { world_from(env); }).find("DARTGOLF_STORE_PORT"), std::string::npos);
}

TEST(WorldInfo, BadVariablesAreNamed) {
  EXPECT_NE(error_of([] { world_from({{"RANK", "2"}, {"WORLD_SIZE", "2"}}); }).find("RANK=2 is outside [0, WORLD_SIZE=2)"),
            std::string::npos);
  EXPECT_NE(error_of([] { world_from({{"WORLD_SIZE", "two"}}); }).find("WORLD_SIZE='two' is not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { world_from({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}}); })
                .find("MASTER_ADDR is not set"),
            std::string::npos);
  EXPECT_NE(error_of([] { world_from({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}); })
                .find("MASTER_PORT is not set"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              world_from({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}});
            }).find("MASTER_PORT=70000 is not a TCP port"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              world_from({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "3"}, {"MASTER_ADDR", "h"},
                          {"MASTER_PORT", "1234"}});
            }).find("LOCAL_RANK=3 is outside [0, LOCAL_WORLD_SIZE=2)"),
            std::string::npos);
}

TEST(TcpStore, ClientsSeeEachOthersKeysAndGetWaitsForALaterSet) {
  const int port = test::free_port();
  dist::TcpStoreServer server(port, "test");
  dist::TcpStoreClient a("127.0.0.1", port, 5s), b("localhost", port, 5s);
  std::string binary("\0\x01\xff value", 9);
  a.set("k", binary);
  EXPECT_EQ(b.get("k", 1s, "k"), binary);
  EXPECT_FALSE(b.contains("later"));
  std::thread setter([&] {
    std::this_thread::sleep_for(50ms);
    a.set("later", "");
  });
  EXPECT_EQ(b.get("later", 10s, "the later key"), "");  // an empty value is a value
  setter.join();
  EXPECT_TRUE(b.contains("later"));
}

TEST(TcpStore, AGetThatTimesOutNamesWhatItWaitedFor) {
  const int port = test::free_port();
  dist::TcpStoreServer server(port, "test");
  dist::TcpStoreClient client("127.0.0.1", port, 5s);
  const std::string e = error_of([&] { client.get("never", 100ms, "rank 7's address"); });
  EXPECT_NE(e.find("timed out after 0.1 s waiting for rank 7's address (key 'never'"), std::string::npos) << e;
}

TEST(TcpStore, ATakenPortIsAClearError) {
  test::PortHolder holder;
  const std::string e = error_of([&] { dist::TcpStoreServer server(holder.port(), "MASTER_PORT"); });
  EXPECT_NE(e.find("cannot listen on port " + std::to_string(holder.port()) + " (MASTER_PORT)"), std::string::npos) << e;
  EXPECT_NE(e.find("in use"), std::string::npos) << e;
}

TEST(TcpStore, AStrangerSpeakingAnotherProtocolDoesNotStopTheStore) {
  const int port = test::free_port();
  dist::TcpStoreServer server(port, "test");
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const char junk[] = "GET / HTTP/1.0\r\n\r\n";
    ASSERT_GT(::send(fd, junk, sizeof junk, MSG_NOSIGNAL), 0);
    const char huge[] = "S\xff\xff\xff\xff";  // a key "longer" than allowed
    ::send(fd, huge, 5, MSG_NOSIGNAL);
    ::close(fd);
  }
  dist::TcpStoreClient client("127.0.0.1", port, 5s);
  client.set("still", "works");
  EXPECT_EQ(client.get("still", 1s, "still"), "works");
}

TEST(TcpStore, AListenerThatIsNotTheStoreIsRecognised) {
  test::PortHolder other_program;  // accepts connections (its backlog) and never answers
  const std::string e = error_of([&] { dist::TcpStoreClient client("127.0.0.1", other_program.port(), 200ms); });
  EXPECT_NE(e.find("something listens at 127.0.0.1:" + std::to_string(other_program.port()) +
                   " but does not answer as dartgolf's rendezvous store"),
            std::string::npos)
      << e;
}

TEST(TcpStore, AClientWithoutAServerGivesUpAtItsTimeout) {
  const int port = test::free_port();
  const std::string e = error_of([&] { dist::TcpStoreClient client("127.0.0.1", port, 200ms); });
  EXPECT_NE(e.find("could not connect to rank 0's rendezvous store at 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("Connection refused"), std::string::npos) << e;
}

TEST(Rendezvous, AllRanksJoinAndAgree) {
  const int port = test::free_port();
  std::vector<std::string> run_ids(3);
  test::run_ranks(3, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, 3, port), 10s);
    run_ids[static_cast<size_t>(rank)] = rv.share_from_rank0("run_id", "id-of-rank-" + std::to_string(rank));
    rv.check_same_on_all_ranks("settings", "same", "settings");
  });
  EXPECT_EQ(run_ids, std::vector<std::string>(3, "id-of-rank-0"));
}

TEST(Rendezvous, ADifferenceBetweenRanksFailsEveryRankNamingIt) {
  const int port = test::free_port();
  std::vector<std::string> errors(2);
  test::run_ranks(2, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, 2, port), 10s);
    errors[static_cast<size_t>(rank)] = error_of([&] {
      rv.check_same_on_all_ranks("settings", rank == 0 ? "lr 0.04" : "lr 0.05", "settings");
    });
  });
  for (const std::string& e : errors)
    EXPECT_NE(e.find("rank 1's settings differ from rank 0's: lr 0.05 against lr 0.04"), std::string::npos) << e;
}

TEST(Rendezvous, ARankThatNeverJoinsIsNamedAfterTheTimeout) {
  const int port = test::free_port();
  const std::string e = error_of([&] { dist::Rendezvous rv(test::loopback_world(0, 3, port), 300ms); });
  EXPECT_NE(e.find("rank 0 of 3: ranks 1, 2 did not join the rendezvous at 127.0.0.1:" + std::to_string(port) +
                   " (MASTER_PORT) within dist_timeout_seconds=0.3 s"),
            std::string::npos)
      << e;
}

TEST(Rendezvous, WithoutRankZeroTheOthersSaySo) {
  const int port = test::free_port();
  const std::string e = error_of([&] { dist::Rendezvous rv(test::loopback_world(1, 2, port), 300ms); });
  EXPECT_NE(e.find("rank 1 of 2: rank 0 did not open the rendezvous at 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace dg
