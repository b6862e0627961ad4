// The core pieces every command relies on: atomic writes, file listing, logging, metrics, RNG.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "test_support.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

TEST(AtomicWrite, ReplacesWholeFileOrNothing) {
  test::TempDir dir;
  const fs::path path = dir / "sub/out.bin";
  write_file_atomic(path, "first version");
  EXPECT_EQ(test::read_text(path), "first version");
  EXPECT_THROW(write_file_atomic(path,
                                 [](std::ostream& out) {
                                   out << "half of a new";
                                   throw Error("interrupted", __FILE__, __LINE__);
                                 }),
               Error);
  EXPECT_EQ(test::read_text(path), "first version");  // the old file is intact
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir / "sub")) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "out.bin");
  }
  EXPECT_EQ(entries, 1);  // no temporary left behind
}

// A writer killed with SIGKILL leaves "<file>.tmp.<pid>.<n>" behind; the next write into that folder
// removes the temporaries of processes that no longer run and keeps those of live writers.
TEST(AtomicWrite, RemovesTemporariesOfKilledWriters) {
  test::TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // its pid now names no process
  const std::string dead = "checkpoint_step000100.safetensors.tmp." + std::to_string(child) + ".0";
  const std::string alive = "final_model.safetensors.tmp." + std::to_string(::getppid()) + ".3";
  for (const std::string& name : {dead, alive, std::string("notes.tmp.txt")}) test::write_text(dir / name, "partial");
  write_file_atomic(dir / "metrics.json", "{}");
  EXPECT_FALSE(fs::exists(dir / dead));
  EXPECT_TRUE(fs::exists(dir / alive));
  EXPECT_TRUE(fs::exists(dir / "notes.tmp.txt"));  // not one of ours
  EXPECT_EQ(test::read_text(dir / "metrics.json"), "{}");
}

TEST(Files, ReadErrorsNameTheFile) {
  test::TempDir dir;
  try {
    read_file_bytes(dir / "missing.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json: no such file"), std::string::npos);
  }
  EXPECT_THROW(read_file_bytes(dir.path()), Error);
}

TEST(Files, GlobSortsByNameAndReportsNoMatch) {
  test::TempDir dir;
  for (const char* name : {"b_000010.bin", "b_000002.bin", "a.bin", "b_000001.bin"}) test::write_text(dir / name, "x");
  const auto files = glob_sorted((dir / "b_*.bin").string());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].filename(), "b_000001.bin");
  EXPECT_EQ(files[2].filename(), "b_000010.bin");
  try {
    glob_sorted((dir / "c_*.bin").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no files match"), std::string::npos);
  }
}

// A data_path such as "data[1]" was read as a glob pattern and found no shards.
TEST(Files, GlobTakesTheFolderLiterally) {
  test::TempDir dir;
  for (const char* folder : {"data[1]", "what?", "star*"}) {
    std::filesystem::create_directories(dir / folder);
    test::write_text(dir / folder / "fineweb_val_000000.bin", "x");
    test::write_text(dir / folder / ".hidden.bin", "x");  // '*' skips dot files, as Python's glob
    const auto files = glob_sorted((dir / folder / "*.bin").string());
    ASSERT_EQ(files.size(), 1u) << folder;
    EXPECT_EQ(files[0], dir / folder / "fineweb_val_000000.bin");
  }
  EXPECT_THROW(glob_sorted((dir / "missing_folder" / "*.bin").string()), Error);
}

TEST(Logging, LinesGoToTheFileAndMetricsAreJsonLines) {
  test::TempDir dir;
  {
    Logger log(dir / "logs/run.txt");
    log.log("step:1/2 train_loss:6.9000", /*console=*/false);
    log.log("model_params:42", /*console=*/false);
    MetricsWriter metrics(dir / "metrics.jsonl");
    metrics.write({{"event", "val"}, {"step", 2}, {"val_bpb", 1.25}});
    metrics.write({{"event", "train"}, {"step", 3}});
  }
  EXPECT_EQ(test::read_text(dir / "logs/run.txt"), "step:1/2 train_loss:6.9000\nmodel_params:42\n");
  std::istringstream lines(test::read_text(dir / "metrics.jsonl"));
  std::string line;
  std::vector<nlohmann::json> records;
  while (std::getline(lines, line)) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["val_bpb"], 1.25);
  EXPECT_EQ(records[1]["event"], "train");
  EXPECT_EQ(fixed(2.83974, 4), "2.8397");
  EXPECT_EQ(fixed(8699.4, 0), "8699");
}

TEST(Rng, SeedDeterminesTheStreamAndNormalsLookNormal) {
  Rng a(1337), b(1337), c(1338);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
  Rng r(7);
  double sum = 0, sum_sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal(0.0, 2.0);
    sum += x, sum_sq += x * x;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(std::sqrt(sum_sq / n), 2.0, 0.02);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.uniform(-0.5, 0.5);
    ASSERT_GE(u, -0.5);
    ASSERT_LT(u, 0.5);
  }
}

}  // namespace
}  // namespace dg
