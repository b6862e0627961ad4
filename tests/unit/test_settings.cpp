// Settings resolve as documented: preset < --config < environment < --set, with typed values and
// helpful errors for unknown keys.
#include <gtest/gtest.h>

#include <map>

#include "core/error.h"
#include "model/settings.h"
#include "train/settings_checks.h"
#include "test_support.h"

namespace dg {
namespace {

std::function<const char*(const char*)> fake_env(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

using test::error_of;

TEST(Settings, DefaultsAreTrainGptPys) {
  const Config c = resolve_run_config({});
  EXPECT_EQ(c.get_int("iterations"), 20000);
  EXPECT_EQ(c.get_int("train_batch_tokens"), 524288);
  EXPECT_EQ(c.get_int("train_seq_len"), 1024);
  EXPECT_DOUBLE_EQ(c.get_double("matrix_lr"), 0.04);
  EXPECT_DOUBLE_EQ(c.get_double("tied_embed_lr"), 0.05);
  EXPECT_DOUBLE_EQ(c.get_double("qk_gain_init"), 1.5);
  EXPECT_TRUE(c.get_bool("tie_embeddings"));
}

TEST(Settings, LayersApplyInOrder) {
  test::TempDir dir;
  test::write_text(dir / "c.json", R"({"iterations": 50, "seed": 7, "model_dim": 256})");
  RunConfigSources s;
  s.preset = "tiny";
  s.config_file = dir / "c.json";
  s.getenv_fn = fake_env({{"ITERATIONS", "60"}, {"TIE_EMBEDDINGS", "0"}, {"MATRIX_LR", "0.02"}});
  s.assignments = {"iterations=70"};
  const Config c = resolve_run_config(s);
  EXPECT_EQ(c.get_int("num_layers"), 2);          // preset
  EXPECT_EQ(c.get_int("model_dim"), 256);         // file over preset
  EXPECT_EQ(c.get_int("seed"), 7);                // file
  EXPECT_FALSE(c.get_bool("tie_embeddings"));     // environment, "0" as train_gpt.py's bool(int(...))
  EXPECT_DOUBLE_EQ(c.get_double("matrix_lr"), 0.02);
  EXPECT_EQ(c.get_int("iterations"), 70);         // --set over everything
  EXPECT_EQ(c.origins().at("iterations"), "--set");
  EXPECT_EQ(c.origins().at("matrix_lr"), "environment variable MATRIX_LR");
}

TEST(Settings, ErrorsNameTheSettingAndItsSource) {
  RunConfigSources s;
  s.assignments = {"iteratons=5"};
  EXPECT_NE(error_of([&] { resolve_run_config(s); }).find("did you mean 'iterations'"), std::string::npos);
  s.assignments = {"iterations=lots"};
  EXPECT_NE(error_of([&] { resolve_run_config(s); }).find("'iterations' expects integer"), std::string::npos);
  s.assignments = {"iterations"};
  EXPECT_NE(error_of([&] { resolve_run_config(s); }).find("expected key=value"), std::string::npos);
  s.assignments = {};
  s.getenv_fn = fake_env({{"TIE_EMBEDDINGS", "maybe"}});
  EXPECT_NE(error_of([&] { resolve_run_config(s); }).find("environment variable TIE_EMBEDDINGS"), std::string::npos);
  RunConfigSources p;
  p.preset = "huge";
  EXPECT_NE(error_of([&] { resolve_run_config(p); }).find("valid presets: gpt, tiny"), std::string::npos);
  test::TempDir dir;
  test::write_text(dir / "bad.json", "{\"iterations\": ");
  RunConfigSources f;
  f.config_file = dir / "bad.json";
  const std::string bad = error_of([&] { resolve_run_config(f); });
  EXPECT_NE(bad.find("bad.json"), std::string::npos);
  EXPECT_NE(bad.find("not valid JSON"), std::string::npos);
}

TEST(Settings, IntegersAcceptWholeFloatsButNotFractions) {
  Config c(default_settings());
  c.set("iterations=1e3");
  EXPECT_EQ(c.get_int("iterations"), 1000);
  EXPECT_THROW(c.set("iterations=2.5"), Error);
  c.set("matrix_lr=1");  // an integer where a float is expected is fine
  EXPECT_DOUBLE_EQ(c.get_double("matrix_lr"), 1.0);
}

// ITERATIONS=1e20 once printed ITERATIONS=-9223372036854775808: out-of-range integers are refused.
TEST(Settings, IntegersOutOfRangeAreRefusedNotWrapped) {
  Config c(default_settings());
  const std::string big = error_of([&] { c.set("iterations=1e20"); });
  EXPECT_NE(big.find("'iterations' = 1e+20 is out of the integer range"), std::string::npos) << big;
  EXPECT_NE(error_of([&] { c.set("iterations=18446744073709551615"); }).find("out of the integer range"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.set("seed=-9.3e18"); }).find("out of the integer range"), std::string::npos);
  c.set("iterations=9223372036854775807");  // the largest int64 itself is fine
  EXPECT_EQ(c.get_int("iterations"), std::numeric_limits<int64_t>::max());
  RunConfigSources env;
  env.getenv_fn = fake_env({{"ITERATIONS", "1e20"}});
  EXPECT_NE(error_of([&] { resolve_run_config(env); }).find("environment variable ITERATIONS"), std::string::npos);
}

// Negative or meaningless values were silently coerced (grad_accum_steps=-2 became 8, val_max_tokens=10
// one whole sequence); each is now an error naming the setting, its value and its source.
TEST(Settings, RunSettingsOutOfRangeNameTheSettingAndSource) {
  struct Case {
    std::string assignment, expected;
  };
  const std::vector<Case> cases = {
      {"val_max_tokens=-1", "val_max_tokens=-1 (from --set) must be >= 0 (0: the full validation split)"},
      {"grad_accum_steps=-2", "grad_accum_steps=-2 (from --set) must be >= 0"},
      {"warmdown_iters=-5", "warmdown_iters=-5 (from --set) must be >= 0"},
      {"train_seq_len=0", "train_seq_len=0 (from --set) must be >= 1"},
      {"train_batch_tokens=0", "train_batch_tokens=0 (from --set) must be >= 1"},
      {"iterations=-1", "iterations=-1 (from --set) must be >= 0"},
      {"muon_momentum=1.5", "muon_momentum=1.5 (from --set) must be in [0, 1)"},
      {"beta2=1", "beta2=1.0 (from --set) must be in [0, 1)"},
      {"adam_eps=0", "adam_eps=0.0 (from --set) must be > 0"},
      {"matrix_lr=-0.1", "matrix_lr=-0.1 (from --set) must be >= 0"},
      {"threads=-3", "threads=-3 (from --set) must be in [0, 4096]"},
      {"val_max_tokens=10", "val_max_tokens=10 is less than one validation sequence (train_seq_len=1024)"},
  };
  for (const Case& c : cases) {
    RunConfigSources s;
    s.assignments = {c.assignment};
    const Config config = resolve_run_config(s);
    const std::string message = error_of([&] { check_run_settings(config); });
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.assignment << " gave: " << message;
  }
  for (const std::string& preset : preset_names()) {
    RunConfigSources s;
    s.preset = preset;
    EXPECT_NO_THROW(check_run_settings(resolve_run_config(s))) << preset;
  }
}

}  // namespace
}  // namespace dg
