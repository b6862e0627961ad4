// A scratch data folder of random challenge shards and a very small `train` command line over it,
// for tests that run the dartgolf binary (each run takes well under a second).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "shard_fixtures.h"
#include "test_support.h"

namespace dg::test {

class SmallRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = shared_data("fineweb_1024_bpe.model");
    if (!std::filesystem::exists(tokenizer_)) GTEST_SKIP() << "needs " << tokenizer_;
    write_random_shards(dir_.path(), 20000, 3000, 1024, 42);
  }
  // `train` of a tiny gpt (d=32, seq 64, 256 tokens per step) into dir_/run, plus `extra` arguments.
  std::string small_run(const std::string& extra) const { return small_run_in(dir_ / "run", extra); }
  std::string small_run_in(const std::filesystem::path& out, const std::string& extra) const {
    return "train --preset tiny --out '" + out.string() + "' --set data_path='" + dir_.path().string() +
           "' --set tokenizer_path='" + tokenizer_.string() +
           "' --set model_dim=32 --set num_heads=2 --set num_kv_heads=1 --set train_seq_len=64"
           " --set train_batch_tokens=256 --set val_loss_every=0 --set threads=1 " + extra;
  }
  TempDir dir_;
  std::filesystem::path tokenizer_;
};

// The first capture group of the last match of `pattern` in `text` ("" when none).
inline std::string last_match(const std::string& text, const std::string& pattern) {
  std::smatch m;
  std::string last;
  std::string::const_iterator it = text.begin();
  const std::regex re(pattern);
  while (std::regex_search(it, text.end(), m, re)) last = m[1], it = m.suffix().first;
  return last;
}

}  // namespace dg::test
