// A process killed (SIGKILL) in the middle of writing any of dartgolf's files leaves the previous
// version of that file whole and loadable, and the next write clears the half-written temporary.
// The kill is real: a forked child writes with kill_writes_after_bytes_for_testing set and dies
// part-way through, as on `kill -9` or a power cut.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <vector>

#include "core/fs.h"
#include "data/shard.h"
#include "test_support.h"
#include "train/checkpoint.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

struct Writer {
  const char* name;
  std::function<void(const fs::path&, int version)> write;  // writes version 1 or 2 of the file
  std::function<int(const fs::path&)> read_version;         // loads the file; which version it holds
};

std::vector<Writer> writers() {
  return {
      {"checkpoint",
       [](const fs::path& path, int version) {
         std::vector<float> w(20000, static_cast<float>(version));
         CheckpointMeta meta;
         meta.config = nlohmann::json{{"model", "gpt"}};
         meta.step = version;
         save_checkpoint(path, {{"tok_emb.weight", {200, 100}, w.data()}}, meta);
       },
       [](const fs::path& path) {
         const LoadedCheckpoint c = load_checkpoint(path);  // verifies the checksum
         return static_cast<int>(c.tensors.at("tok_emb.weight").second[19999]);
       }},
      {"shard",
       [](const fs::path& path, int version) {
         data::write_shard(path, std::vector<uint16_t>(30000, static_cast<uint16_t>(version)));
       },
       [](const fs::path& path) { return static_cast<int>(data::read_shard(path, 1024).back()); }},
      {"text (manifest, submission, artifact bytes)",
       [](const fs::path& path, int version) { write_file_atomic(path, std::string(100000, static_cast<char>('0' + version))); },
       [](const fs::path& path) {
         const std::string text = read_file_bytes(path);
         EXPECT_EQ(text.size(), 100000u);
         return text.back() - '0';
       }},
  };
}

// Runs `write` in a child that SIGKILLs itself after `bytes` bytes; returns how the child ended.
int killed_writing(const std::function<void()>& write, int64_t bytes) {
  const pid_t child = ::fork();
  if (child == 0) {
    kill_writes_after_bytes_for_testing(bytes);
    try {
      write();
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);  // finished without being killed: the budget was larger than the file
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

TEST(CrashWrites, AKillAnywhereInAWriteKeepsThePreviousFile) {
  test::TempDir dir;
  const std::vector<Writer> all = writers();
  for (size_t i = 0; i < all.size(); ++i) {
    const Writer& w = all[i];
    SCOPED_TRACE(w.name);
    const fs::path path = dir / ("file_" + std::to_string(i) + ".bin");
    w.write(path, 1);
    ASSERT_EQ(w.read_version(path), 1);
    for (int64_t bytes : {int64_t{0}, int64_t{8}, int64_t{4096}, int64_t{19999}, int64_t{59999}}) {
      SCOPED_TRACE("killed after " + std::to_string(bytes) + " bytes");
      EXPECT_EQ(killed_writing([&] { w.write(path, 2); }, bytes), SIGKILL);
      EXPECT_EQ(w.read_version(path), 1);  // the previous file, whole
    }
    int temporaries = 0;
    for (const auto& entry : fs::directory_iterator(dir.path()))
      temporaries += entry.path().filename().string().find(".tmp.") != std::string::npos;
    EXPECT_GT(temporaries, 0);  // the dead writers' partial files are there...
    w.write(path, 2);
    EXPECT_EQ(w.read_version(path), 2);
    for (const auto& entry : fs::directory_iterator(dir.path()))  // ...until the next write clears them
      EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace dg
