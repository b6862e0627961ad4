// `dartgolf plot`: curves read back from metrics.jsonl exactly (latest attempt, resumed steps,
// throughput), and a PNG of two real runs overlaid.
#include <gtest/gtest.h>

#include "cli_fixtures.h"
#include "core/error.h"
#include "core/gnuplot.h"
#include "test_support.h"
#include "train/run_metrics.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

TEST(RunCurves, LatestAttemptResumedStepsAndThroughput) {
  test::TempDir dir;
  test::write_text(dir / "run/metrics.jsonl",
                   // an attempt that failed early, then the real run
                   R"({"event":"run_start","config":{"train_batch_tokens":999}})" "\n"
                   R"({"event":"train","step":1,"train_loss":9.0,"train_time_ms":10})" "\n"
                   R"({"event":"run_start","run_id":"a","config":{"train_batch_tokens":1000}})" "\n"
                   R"({"event":"val","step":0,"val_bpb":4.0,"train_time_ms":0})" "\n"
                   R"({"event":"train","step":1,"train_loss":6.0,"train_time_ms":1000})" "\n"
                   R"({"event":"train","step":2,"train_loss":5.0,"train_time_ms":2000})" "\n"
                   R"({"event":"train","step":3,"train_loss":4.9,"train_time_ms":3000})" "\n"
                   // killed after step 3, resumed from a checkpoint at step 2: step 3 again
                   R"({"event":"resume","step":2})" "\n"
                   R"({"event":"train","step":3,"train_loss":4.5,"train_time_ms":2500})" "\n"
                   R"({"event":"checkpoint","step":3})" "\n"
                   R"({"event":"train","step":4,"train_loss":4.0,"train_time_ms":3500})" "\n"
                   R"({"event":"train","step":5,"train_lo)");  // cut off by a kill
  const RunCurves c = read_run_curves(dir / "run");
  EXPECT_EQ(c.name, "run");
  ASSERT_EQ(c.train_loss.size(), 4u);
  EXPECT_EQ(c.train_loss[0].value, 6.0);
  EXPECT_EQ(c.train_loss[2].value, 4.5);  // the resumed step's record wins
  EXPECT_DOUBLE_EQ(c.train_loss[3].minutes, 3500.0 / 60000.0);
  ASSERT_EQ(c.val_bpb.size(), 1u);
  ASSERT_EQ(c.tokens_per_second.size(), 3u);
  EXPECT_DOUBLE_EQ(c.tokens_per_second[0].value, 1000.0);  // 1 step of 1000 tokens in 1 s
  EXPECT_DOUBLE_EQ(c.tokens_per_second[1].value, 2000.0);  // step 3 at 2.5 s: 0.5 s after step 2

  test::write_text(dir / "bad/metrics.jsonl", "{\"event\":\"train\"}\nnot json\n{}\n");
  try {
    read_run_curves(dir / "bad");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2: not a JSON object"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_run_curves(dir / "nowhere"), Error);
}

using PlotCli = test::SmallRunTest;

TEST_F(PlotCli, TwoRunsOverlaidInOnePng) {
  std::string why;
  if (find_gnuplot(&why).empty()) GTEST_SKIP() << why;
  ASSERT_EQ(test::run_dartgolf(small_run_in(dir_ / "base", "--set iterations=12 --set val_loss_every=4")).exit_code, 0);
  ASSERT_EQ(test::run_dartgolf(small_run_in(dir_ / "faster lr", "--set iterations=12 --set val_loss_every=4 "
                                                                "--set matrix_lr=0.08")).exit_code, 0);
  const auto r = test::run_dartgolf("plot " + test::quoted(dir_ / "base") + " " + test::quoted(dir_ / "faster lr") +
                                    " --out " + test::quoted(dir_ / "curves.png"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote"), std::string::npos);
  const std::string png = test::read_text(dir_ / "curves.png");
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  const auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  EXPECT_EQ(be32(16), 1400u);  // six panels
  EXPECT_EQ(be32(20), 1200u);

  const auto missing = test::run_dartgolf("plot " + test::quoted(dir_.path()) + " --out " + test::quoted(dir_ / "x.png"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no metrics.jsonl"), std::string::npos) << missing.output;
  const auto no_gnuplot = test::run_dartgolf("plot " + test::quoted(dir_ / "base") + " --out " + test::quoted(dir_ / "y.png"),
                                             "GNUPLOT=/nonexistent/gnuplot");
  EXPECT_EQ(no_gnuplot.exit_code, 1);
  EXPECT_NE(no_gnuplot.output.find("GNUPLOT=/nonexistent/gnuplot is not an executable file"), std::string::npos)
      << no_gnuplot.output;
}

}  // namespace
}  // namespace dg
