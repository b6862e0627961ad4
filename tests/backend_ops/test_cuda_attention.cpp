// The CUDA attention (kernels/ops_attention.cu) against the CPU reference: forward (out, lse) and
// backward (dq, dk, dv, added into non-zero gradients) over every GQA ratio, head dims 32/64/128
// and padded ones (16, 48, 96), sequence lengths that are and are not multiples of the 64-row tile
// (T = 1 included), batch 2, sharp softmaxes whose row max moves from tile to tile; bit-identical
// results across runs and emulator schedules; the CPU backend's argument errors.
//
// Tolerance. Both backends compute the same formulas in fp32 in different orders (dot products over
// hd, sums over up to T keys or queries, their own exp/log), so neither is "the" answer: each is
// measured against the float64 instantiation of the CPU kernel on the same inputs
// (cpu::attention_*<double>, exact to ~1e-16 at these sizes), and for every output tensor the CUDA
// result's largest error may be at most twice the CPU float result's largest error plus 8 units of
// fp32 roundoff (2^-24) of the tensor's largest exact value. The factor 2 covers a different but
// equally long summation order (both sum a tile at a time) and exp/log within 2 ulp (CUDA's libm)
// instead of 1. The 8 units are a floor for values that come out of a cancellation, where the CPU's
// error can be small by luck: dS = P ⊙ (dP − delta) is the difference of two length-hd dot
// products computed in different orders (with T = 1 it is exactly 0, and dq, dk are the initial
// values plus pure rounding). A wrong mask, a wrong KV head, a lost rescale or a missing tile gives
// errors orders of magnitude above the limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>

#include "backend/cpu/ops_attention.h"
#include "backend_pair.h"
#include "core/error.h"
#ifdef DARTGOLF_CUDA_EMULATED
#include "emu/control.h"
#endif

namespace dg {
namespace {

constexpr double kRoundoff = 0x1p-24;  // fp32 unit roundoff

struct Case {
  int64_t batch, seq, heads, kv_heads, head_dim;
  float magnitude = 1.0f;  // q and k uniform in [-magnitude, magnitude]; v, dout in [-1, 1]
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << "B=" << c.batch << " T=" << c.seq << " H=" << c.heads << " K=" << c.kv_heads << " hd=" << c.head_dim
    << " |q|,|k| ≤ " << c.magnitude;
  return s.str();
}

cpu::AttentionShape shape_of(const Case& c) { return {c.batch, c.seq, c.heads, c.kv_heads, c.head_dim}; }
std::vector<int64_t> q_dims(const Case& c) { return {c.batch, c.seq, c.heads, c.head_dim}; }
std::vector<int64_t> kv_dims(const Case& c) { return {c.batch, c.seq, c.kv_heads, c.head_dim}; }
float scale_of(const Case& c) { return 1.0f / std::sqrt(static_cast<float>(c.head_dim)); }

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

double max_error(const std::vector<float>& x, const std::vector<double>& exact) {
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = std::abs(static_cast<double>(x[i]) - exact[i]);
    worst = std::isnan(e) ? INFINITY : std::max(worst, e);
  }
  return worst;
}

// The tolerance of the header: CUDA's largest error ≤ 2 × the CPU float's + 8·2^-24·max|exact|.
::testing::AssertionResult as_accurate_as_cpu(const char* what, const std::vector<float>& cuda,
                                              const std::vector<float>& cpu, const std::vector<double>& exact) {
  double largest = 0.0;
  for (double e : exact) largest = std::max(largest, std::abs(e));
  const double cuda_error = max_error(cuda, exact), cpu_error = max_error(cpu, exact);
  const double limit = 2.0 * cpu_error + 8.0 * kRoundoff * largest;
  std::ostringstream m;
  m.precision(3);
  m << what << ": largest error against float64 " << cuda_error << " (CUDA) vs " << cpu_error
    << " (CPU), limit " << limit << ", largest |value| " << largest;
  if (cuda_error <= limit) return ::testing::AssertionSuccess() << m.str();
  return ::testing::AssertionFailure() << m.str();
}

// Both backends throw, with the same message.
void expect_same_error(test::BackendPair& pair, const std::string& what,
                       const std::function<void(Backend&, bool)>& call) {
  std::string messages[2];
  for (bool cuda : {false, true}) {
    try {
      call(cuda ? pair.cuda() : pair.cpu(), cuda);
      ADD_FAILURE() << what << ": no error from the " << (cuda ? "CUDA" : "CPU") << " backend";
    } catch (const Error& e) {
      messages[cuda] = e.what();
    }
  }
  EXPECT_EQ(messages[0], messages[1]) << what;
  EXPECT_FALSE(messages[1].empty()) << what;
}

struct Inputs {
  test::TensorPair q, k, v;
};

Inputs random_inputs(test::BackendPair& pair, const Case& c, uint64_t seed) {
  return {pair.random(q_dims(c), seed, -c.magnitude, c.magnitude),
          pair.random(kv_dims(c), seed + 1, -c.magnitude, c.magnitude), pair.random(kv_dims(c), seed + 2)};
}

void check_forward(test::BackendPair& pair, const Case& c, const Inputs& in) {
  SCOPED_TRACE(describe(c));
  const float scale = scale_of(c);
  // Forward ops overwrite: start the outputs at a value they never take.
  const test::TensorPair out = pair.constant(q_dims(c), 7.0f), lse = pair.constant({c.batch, c.heads, c.seq}, 7.0f);
  pair.run([&](Backend& b, bool cuda) {
    b.attention_forward(out.on(cuda), lse.on(cuda), in.q.on(cuda), in.k.on(cuda), in.v.on(cuda), scale);
  });
  std::vector<double> out64(static_cast<size_t>(out.cpu.numel())), lse64(static_cast<size_t>(lse.cpu.numel()));
  cpu::attention_forward<double>(out64.data(), lse64.data(), widen(pair.cpu_values(in.q)).data(),
                                 widen(pair.cpu_values(in.k)).data(), widen(pair.cpu_values(in.v)).data(), shape_of(c),
                                 static_cast<double>(scale));
  EXPECT_TRUE(as_accurate_as_cpu("out", pair.cuda_values(out), pair.cpu_values(out), out64));
  EXPECT_TRUE(as_accurate_as_cpu("lse", pair.cuda_values(lse), pair.cpu_values(lse), lse64));
}

void check_backward(test::BackendPair& pair, const Case& c, const Inputs& in, uint64_t seed) {
  SCOPED_TRACE(describe(c));
  const float scale = scale_of(c);
  // out and lse from the CPU forward, given to both backends, so that the backward alone is compared.
  const test::TensorPair out = pair.zeros(q_dims(c)), lse = pair.zeros({c.batch, c.heads, c.seq});
  pair.cpu().attention_forward(out.cpu, lse.cpu, in.q.cpu, in.k.cpu, in.v.cpu, scale);
  const std::vector<float> out_values = pair.cpu_values(out), lse_values = pair.cpu_values(lse);
  pair.cuda().copy_from_host(out.cuda, out_values.data());
  pair.cuda().copy_from_host(lse.cuda, lse_values.data());
  const test::TensorPair dout = pair.random(q_dims(c), seed);
  // Backward ops add: the gradients start non-zero.
  const test::TensorPair dq = pair.random(q_dims(c), seed + 1), dk = pair.random(kv_dims(c), seed + 2),
                         dv = pair.random(kv_dims(c), seed + 3);
  std::vector<double> dq64 = widen(pair.cpu_values(dq)), dk64 = widen(pair.cpu_values(dk)),
                      dv64 = widen(pair.cpu_values(dv));
  pair.run([&](Backend& b, bool cuda) {
    b.attention_backward(dq.on(cuda), dk.on(cuda), dv.on(cuda), dout.on(cuda), in.q.on(cuda), in.k.on(cuda),
                         in.v.on(cuda), out.on(cuda), lse.on(cuda), scale);
  });
  cpu::attention_backward<double>(dq64.data(), dk64.data(), dv64.data(), widen(pair.cpu_values(dout)).data(),
                                  widen(pair.cpu_values(in.q)).data(), widen(pair.cpu_values(in.k)).data(),
                                  widen(pair.cpu_values(in.v)).data(), widen(out_values).data(),
                                  widen(lse_values).data(), shape_of(c), static_cast<double>(scale));
  EXPECT_TRUE(as_accurate_as_cpu("dq", pair.cuda_values(dq), pair.cpu_values(dq), dq64));
  EXPECT_TRUE(as_accurate_as_cpu("dk", pair.cuda_values(dk), pair.cpu_values(dk), dk64));
  EXPECT_TRUE(as_accurate_as_cpu("dv", pair.cuda_values(dv), pair.cpu_values(dv), dv64));
}

// Every GQA ratio H/K (1, 2, 3, 4, 8), the kernels' head dims 32, 64 and 128 and padded ones, T = 1,
// T below, at and above one 64-row tile and across several, batch 1 and 2.
const std::vector<Case>& cases() {
  static const std::vector<Case> all{
      {2, 1, 4, 2, 64},     // one position: a single visible key per row
      {3, 1, 8, 1, 32},     // one position, ratio 8
      {2, 70, 4, 4, 32},    // ratio 1, a partial second tile
      {1, 130, 4, 2, 64},   // ratio 2, three tiles, the last with 2 rows
      {2, 65, 4, 1, 128},   // ratio 4, a 1-row second tile
      {1, 100, 8, 1, 64},   // ratio 8
      {1, 128, 2, 1, 128},  // exactly two tiles
      {2, 64, 2, 2, 32},    // exactly one tile
      {1, 50, 2, 2, 16},    // head dim 16, padded to 32
      {2, 33, 4, 2, 48},    // head dim 48, padded to 64
      {1, 90, 3, 1, 96},    // head dim 96, padded to 128; ratio 3
  };
  return all;
}

TEST(CudaAttention, ForwardMatchesCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  uint64_t seed = 100;
  for (const Case& c : cases()) check_forward(pair, c, random_inputs(pair, c, seed += 10));
}

TEST(CudaAttention, BackwardAddsTheCpuGradients) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  uint64_t seed = 200;
  for (const Case& c : cases()) {
    const Inputs in = random_inputs(pair, c, seed += 10);
    check_backward(pair, c, in, seed + 5);
  }
}

// |q|, |k| ≤ 4: scores up to 16·√hd, so each row's softmax is nearly one-hot and its running max
// moves between KV tiles (the online rescaling and a max far above 0 are exercised).
TEST(CudaAttention, SharpSoftmaxMatchesCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (const Case& c : {Case{1, 150, 2, 1, 64, 4.0f}, Case{2, 97, 4, 2, 128, 4.0f}, Case{1, 80, 2, 2, 32, 4.0f}}) {
    const Inputs in = random_inputs(pair, c, 300 + c.head_dim);
    check_forward(pair, c, in);
    check_backward(pair, c, in, 400 + c.head_dim);
  }
}

// Scores that rise along the keys (q = 1, k[j] = 3·j/T + noise: scores from 0 to 24): every row's
// max sits in its last visible tile, so every earlier tile's accumulator is rescaled, by factors
// down to e^-24.
TEST(CudaAttention, RisingScoresRescaleEveryTile) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const Case c{1, 200, 2, 1, 64};
  std::vector<float> q(static_cast<size_t>(c.batch * c.seq * c.heads * c.head_dim), 1.0f);
  std::vector<float> k(static_cast<size_t>(c.batch * c.seq * c.kv_heads * c.head_dim));
  for (size_t i = 0; i < k.size(); ++i) {
    const int64_t t = static_cast<int64_t>(i) / (c.kv_heads * c.head_dim);
    k[i] = 3.0f * static_cast<float>(t) / static_cast<float>(c.seq) + 0.01f * static_cast<float>(i % 7);
  }
  const Inputs in{pair.from_host(q_dims(c), q), pair.from_host(kv_dims(c), k), pair.random(kv_dims(c), 5)};
  check_forward(pair, c, in);
  check_backward(pair, c, in, 6);
}

// The same inputs give the same bits: run after run, and under the emulator for every schedule.
TEST(CudaAttention, BitIdenticalAcrossRunsAndSchedules) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const Case c{2, 70, 4, 2, 64};
  const Inputs in = random_inputs(pair, c, 500);
  const test::TensorPair dout = pair.random(q_dims(c), 510);
  auto run = [&]() {
    const test::TensorPair out = pair.zeros(q_dims(c)), lse = pair.zeros({c.batch, c.heads, c.seq});
    const test::TensorPair dq = pair.zeros(q_dims(c)), dk = pair.zeros(kv_dims(c)), dv = pair.zeros(kv_dims(c));
    Backend& b = pair.cuda();
    b.attention_forward(out.cuda, lse.cuda, in.q.cuda, in.k.cuda, in.v.cuda, scale_of(c));
    b.attention_backward(dq.cuda, dk.cuda, dv.cuda, dout.cuda, in.q.cuda, in.k.cuda, in.v.cuda, out.cuda, lse.cuda,
                         scale_of(c));
    std::vector<float> all;
    for (const test::TensorPair* t : {&out, &lse, &dq, &dk, &dv}) {
      const std::vector<float> values = pair.cuda_values(*t);
      all.insert(all.end(), values.begin(), values.end());
    }
    return all;
  };
  std::vector<std::vector<float>> results;
#ifdef DARTGOLF_CUDA_EMULATED
  for (uint64_t seed : {0, 12345}) {
    emu::ScopedScheduleSeed scoped(seed);
    results.push_back(run());
  }
#else
  results.push_back(run());
  results.push_back(run());
#endif
  ASSERT_EQ(results[0].size(), results[1].size());
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)), 0);
}

// Both backends refuse the same mistakes with the same message.
TEST(CudaAttention, BadArgumentsAreTheSameErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const test::TensorPair q = pair.random({1, 5, 4, 8}, 1), k = pair.random({1, 5, 2, 8}, 2),
                         v = pair.random({1, 5, 2, 8}, 3), out = pair.zeros({1, 5, 4, 8}),
                         lse = pair.zeros({1, 4, 5});
  const test::TensorPair k3 = pair.random({1, 5, 3, 8}, 4), k_short = pair.random({1, 4, 2, 8}, 5),
                         lse_small = pair.zeros({1, 4, 4}), dq = pair.zeros({1, 5, 4, 8});
  const float s = 0.5f;
  // The op on the given pairs, runnable on either backend.
  auto forward = [&](test::TensorPair o, test::TensorPair l, test::TensorPair qq, test::TensorPair kk,
                     test::TensorPair vv) {
    return [=](Backend& b, bool c) { b.attention_forward(o.on(c), l.on(c), qq.on(c), kk.on(c), vv.on(c), s); };
  };
  auto backward = [&](test::TensorPair dq_, test::TensorPair dk_, test::TensorPair dv_) {
    return [=](Backend& b, bool c) {
      b.attention_backward(dq_.on(c), dk_.on(c), dv_.on(c), out.on(c), q.on(c), k.on(c), v.on(c), out.on(c),
                           lse.on(c), s);
    };
  };
  expect_same_error(pair, "k of another length", forward(out, lse, q, k_short, k_short));
  expect_same_error(pair, "heads not a multiple of KV heads", forward(out, lse, q, k3, k3));
  expect_same_error(pair, "v unlike k", forward(out, lse, q, k, k3));
  expect_same_error(pair, "lse too small", forward(out, lse_small, q, k, v));
  expect_same_error(pair, "out is q", forward(q, lse, q, k, v));
  expect_same_error(pair, "q of rank 3", forward(out, lse, q.view({5, 4, 8}), k, v));
  expect_same_error(pair, "dk is dv", backward(dq, k, k));
  expect_same_error(pair, "dq of another shape", backward(k, dq, v));
  // A CUDA-only limit: the kernels hold at most 128 head dims per tile row.
  const test::TensorPair wide = pair.random({1, 2, 1, 130}, 6), wide_lse = pair.zeros({1, 1, 2}),
                         wide_out = pair.zeros({1, 2, 1, 130});
  try {
    pair.cuda().attention_forward(wide_out.cuda, wide_lse.cuda, wide.cuda, wide.cuda, wide.cuda, s);
    ADD_FAILURE() << "head_dim 130 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention_forward: the CUDA backend supports head_dim up to 128"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace dg
