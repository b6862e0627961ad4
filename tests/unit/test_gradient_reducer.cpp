// The gradient average in buckets: whatever ranges backward reports, and in whatever order, every
// element of the buffer is averaged exactly once per step, wait() comes after the last collective,
// and a range reported twice or outside the buffer is refused instead of averaged twice.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "dist/communicator.h"
#include "train/gradient_reducer.h"

namespace dg {
namespace {

// Counts, per element, how often it was all-reduced, and records the order of calls.
class CountingCommunicator final : public dist::Communicator {
 public:
  explicit CountingCommunicator(std::vector<float>& buffer) : Communicator(0, 2), buffer_(buffer) {}
  const char* name() const override { return "counting"; }
  Device device() const override { return Device::CPU; }
  bool supports(DType) const override { return true; }
  void wait() override { events.push_back("wait"); }
  std::vector<std::string> events;

 protected:
  void do_all_reduce(const Tensor& t, dist::ReduceOp op) override {
    EXPECT_EQ(op, dist::ReduceOp::Avg);
    auto* p = static_cast<float*>(t.data);
    for (int64_t i = 0; i < t.numel(); ++i) p[i] += 1.0f;
    events.push_back("all_reduce " + std::to_string(p - buffer_.data()) + "+" + std::to_string(t.numel()));
  }
  void do_reduce_scatter(const Tensor&, const Tensor&, dist::ReduceOp) override { FAIL(); }
  void do_all_gather(const Tensor&, const Tensor&) override { FAIL(); }
  void do_broadcast(const Tensor&, int) override { FAIL(); }
  void do_barrier() override { FAIL(); }

 private:
  std::vector<float>& buffer_;
};

TEST(GradientReducer, EveryElementIsAveragedOnceWhateverWasReported) {
  std::vector<float> grads(100, 0.0f);
  CountingCommunicator comm(grads);
  GradientReducer reducer(comm, Tensor::f32(grads.data(), {100}));
  reducer.reduce_final(70, 90);  // reported last block first, as backward does
  reducer.reduce_final(40, 60);
  reducer.finish();
  for (size_t i = 0; i < grads.size(); ++i) ASSERT_EQ(grads[i], 1.0f) << i;
  EXPECT_EQ(reducer.early_buckets(), 2);
  EXPECT_EQ(comm.events, (std::vector<std::string>{"all_reduce 70+20", "all_reduce 40+20", "all_reduce 0+40",
                                                   "all_reduce 60+10", "all_reduce 90+10", "wait"}));

  // The next step starts afresh: nothing reported reduces the whole buffer in one call.
  comm.events.clear();
  reducer.finish();
  for (size_t i = 0; i < grads.size(); ++i) ASSERT_EQ(grads[i], 2.0f) << i;
  EXPECT_EQ(reducer.early_buckets(), 0);
  EXPECT_EQ(comm.events, (std::vector<std::string>{"all_reduce 0+100", "wait"}));

  // Ranges that cover the buffer to its ends leave nothing for the end.
  comm.events.clear();
  reducer.reduce_final(50, 100);
  reducer.reduce_final(0, 50);
  reducer.finish();
  for (size_t i = 0; i < grads.size(); ++i) ASSERT_EQ(grads[i], 3.0f) << i;
  EXPECT_EQ(comm.events, (std::vector<std::string>{"all_reduce 50+50", "all_reduce 0+50", "wait"}));
}

TEST(GradientReducer, RefusesARangeReportedTwiceOrOutsideTheBuffer) {
  std::vector<float> grads(10, 0.0f);
  CountingCommunicator comm(grads);
  GradientReducer reducer(comm, Tensor::f32(grads.data(), {10}));
  reducer.reduce_final(2, 6);
  try {
    reducer.reduce_final(5, 8);
    FAIL() << "an overlapping range was averaged twice";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("overlaps [2, 6)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(reducer.reduce_final(8, 11), Error);
  EXPECT_THROW(reducer.reduce_final(4, 4), Error);
  EXPECT_THROW(reducer.reduce_final(-1, 1), Error);
  reducer.finish();
  for (size_t i = 0; i < grads.size(); ++i) ASSERT_EQ(grads[i], 1.0f) << i;
}

}  // namespace
}  // namespace dg
