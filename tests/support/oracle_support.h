// Helpers shared by the tests that compare dartgolf with the PyTorch oracle (scripts/reference/).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "test_support.h"
#include "train/safetensors.h"

namespace dg::test {

// Debian's python3-torch under /usr/bin/python3; oracle tests skip visibly without it.
inline bool torch_available() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
  return ok;
}

// Runs scripts/reference/oracle.py with `args`; a failure reports the command and its output.
inline void run_oracle(const std::string& args) {
  const std::string command = "/usr/bin/python3 " + quoted(repo_root() / "scripts/reference/oracle.py") + " " + args;
  const CommandResult r = run_command(command);
  ASSERT_EQ(r.exit_code, 0) << "oracle failed: " << command << "\n" << r.output;
}

inline std::vector<float> floats_of(const SafetensorsFile& file, const std::string& name) {
  const NamedTensorData* t = file.find(name);
  EXPECT_NE(t, nullptr) << "oracle output lacks " << name;
  if (t == nullptr) return {};
  std::vector<float> out(t->bytes.size() / 4);
  std::memcpy(out.data(), t->bytes.data(), t->bytes.size());
  return out;
}

// The oracle's batch file: "input_ids" and "target_ids", I32 [rows, seq].
inline void write_batch(const std::filesystem::path& path, const std::vector<int32_t>& x,
                        const std::vector<int32_t>& y, int64_t rows, int64_t seq) {
  SafetensorsFile file;
  auto add = [&](const char* name, const std::vector<int32_t>& ids) {
    file.tensors.push_back(NamedTensorData{name, "I32", {rows, seq},
                                           std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4)});
  };
  add("input_ids", x);
  add("target_ids", y);
  write_safetensors(path, file);
}

// max |ours − ref| ≤ rel · max |ref| + abs_floor, reporting the worst element.
inline void expect_close(const std::vector<float>& ours, const std::vector<float>& ref, double rel, double abs_floor,
                         const std::string& what) {
  ASSERT_EQ(ours.size(), ref.size()) << what;
  double scale = 0, worst = 0;
  size_t worst_i = 0;
  for (float r : ref) scale = std::max(scale, std::fabs(static_cast<double>(r)));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(static_cast<double>(ours[i]) - ref[i]);
    if (d > worst) worst = d, worst_i = i;
  }
  EXPECT_LE(worst, rel * scale + abs_floor)
      << what << ": worst element " << worst_i << " ours " << ours[worst_i] << " oracle " << ref[worst_i]
      << " (scale " << scale << ")";
}

}  // namespace dg::test
