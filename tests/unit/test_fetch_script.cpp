// scripts/fetch_fineweb.sh must fail at once, with one clear line, when the hub cannot be reached.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <sys/wait.h>

#include "test_support.h"

namespace {

namespace fs = std::filesystem;

using dg::test::run_command;

const fs::path kScript = dg::test::repo_root() / "scripts" / "fetch_fineweb.sh";

TEST(FetchFineweb, UnreachableHubFailsFastWithOneLine) {
  // With a manifest already fetched the script goes straight to the shards, which may be present.
  if (fs::exists(dg::test::repo_root() / "data" / "manifest.json")) GTEST_SKIP() << "data/manifest.json exists";
  const auto start = std::chrono::steady_clock::now();
  // Port 9 on loopback: nothing listens, so the connection is refused at once, online or not.
  const auto result = run_command("HF_ENDPOINT=http://127.0.0.1:9 bash '" + kScript.string() + "' --train-shards 1");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_LT(seconds, 15.0);
  EXPECT_EQ(result.output.rfind("fetch_fineweb.sh: cannot download http://127.0.0.1:9/", 0), 0u) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << "one line: " << result.output;
  EXPECT_FALSE(fs::exists(dg::test::repo_root() / "data" / "manifest.json")) << "nothing half-downloaded is kept";
}

TEST(FetchFineweb, BadArgumentsAreRejected) {
  const auto bad_count = run_command("bash '" + kScript.string() + "' --train-shards many");
  EXPECT_EQ(bad_count.exit_code, 1);
  EXPECT_NE(bad_count.output.find("--train-shards must be a non-negative integer"), std::string::npos) << bad_count.output;
  const auto unknown = run_command("bash '" + kScript.string() + "' --shards 3");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("unknown argument: --shards"), std::string::npos) << unknown.output;
  const auto help = run_command("bash '" + kScript.string() + "' --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--train-shards N"), std::string::npos) << help.output;
}

}  // namespace
