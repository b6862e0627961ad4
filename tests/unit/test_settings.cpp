// Settings resolve as documented: preset < --config < environment < --set, with typed values and
// helpful errors for unknown keys.
#include <gtest/gtest.h>

#include <map>

#include "core/error.h"
#include "model/settings.h"
#include "test_support.h"

namespace dg {
namespace {

std::function<const char*(const char*)> fake_env(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

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

}  // namespace
}  // namespace dg
