// The CUDA backend's embedding and logit softcap + cross-entropy against the CPU reference: odd
// sizes (no block or tile divides them), single rows and columns, repeated and missing ids, a NaN
// logit, the ADD semantics of the backward ops, the CPU's argument errors, and bit-identical
// results under every emulator schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend_pair.h"
#include "core/error.h"
#include "core/rng.h"
#include "schedule_seeds.h"
#include "test_support.h"

namespace dg {
namespace {

using test::BackendPair;
using test::TensorPair;

constexpr double kU = 1.0 / (1 << 24);  // fp32 unit roundoff

// int32 ids with the given values on both backends.
TensorPair ids_from(BackendPair& pair, const std::vector<int32_t>& values) {
  TensorPair t = pair.ids({static_cast<int64_t>(values.size())}, 1, 0);
  pair.cpu().copy_from_host(t.cpu, values.data());
  pair.cuda().copy_from_host(t.cuda, values.data());
  return t;
}

std::vector<float> uniform(int64_t n, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.uniform(lo, hi));
  return v;
}

// ---- embedding --------------------------------------------------------------------------------------

// Ids in [0, 30) of a 37-row table (rows 30..36 never occur), with one id repeated in runs long enough
// to fill several tiles and the 8-load batches of the backward kernel, and then some.
std::vector<int32_t> skewed_ids(int64_t count, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (int64_t n = 0; n < count; ++n) ids[n] = (n % 3 == 0 || (n > 40 && n < 75)) ? 3 : static_cast<int32_t>(rng.below(30));
  return ids;
}

TEST(CudaLossOps, EmbeddingForwardGathersRows) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t dim : {int64_t{19}, int64_t{1}, int64_t{600}}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    const TensorPair table = pair.random({37, dim}, 1 + dim);
    const TensorPair ids = ids_from(pair, skewed_ids(115, 2));
    const TensorPair out = pair.random({5, 23, dim}, 3);  // overwritten
    pair.run([&](Backend& b, bool cuda) { b.embedding_forward(out.on(cuda), table.on(cuda), ids.on(cuda)); });
    EXPECT_TRUE(pair.identical(out));  // a copy: exact
  }
}

TEST(CudaLossOps, EmbeddingBackwardAddsInTokenOrderBitForBit) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // dim 19: 32-thread blocks (tiles of 32 ids); 600: 512 threads in two column chunks; 1: one column.
  for (int64_t dim : {int64_t{19}, int64_t{600}, int64_t{1}}) {
    for (int64_t count : {int64_t{1}, int64_t{700}}) {  // 700: 2 tiles of 512, 22 of 32
      SCOPED_TRACE("dim " + std::to_string(dim) + ", " + std::to_string(count) + " ids");
      const std::vector<float> start = uniform(37 * dim, 4 + dim, -1.0f, 1.0f);  // non-zero: ADD
      const TensorPair dtable = pair.from_host({37, dim}, start);
      const TensorPair dout = pair.random({count, dim}, 5 + count);
      const TensorPair ids = ids_from(pair, skewed_ids(count, 6));
      pair.run([&](Backend& b, bool cuda) { b.embedding_backward(dtable.on(cuda), dout.on(cuda), ids.on(cuda)); });
      // Each table row receives its tokens one at a time in token order, as on the CPU: same bits.
      EXPECT_TRUE(pair.identical(dtable));
      const std::vector<float> got = pair.cuda_values(dtable);
      for (int64_t v = 30; v < 37; ++v)  // ids never seen: untouched
        for (int64_t c = 0; c < dim; ++c) ASSERT_EQ(got[v * dim + c], start[v * dim + c]);
      if (count > 1) {
        EXPECT_NE(got[3 * dim], start[3 * dim]);
        EXPECT_TRUE(test::same_bits_every_schedule([&] {
          pair.cuda().copy_from_host(dtable.cuda, start.data());
          pair.cuda().embedding_backward(dtable.cuda, dout.cuda, ids.cuda);
          return pair.cuda_values(dtable);
        }));
      }
    }
  }
}

// ---- softcap + cross-entropy --------------------------------------------------------------------------

// Tolerances, from the fp32 rounding of the two implementations (u = 2^-24):
//  * capped = cap·tanh(z/cap): the CPU's tanh is within 1 ulp of the true value, CUDA's tanhf within
//    2, so the capped values differ by at most (3 + 1 for the product) u·cap;
//  * the loss moves by Σ_j p_j Δcapped_j − Δcapped_target ≤ 2·4u·cap, plus 2 roundings of the final
//    max + log − target (≤ 2u·cap), plus e^x (1 + 2 ulp) and log (1 ulp);
//  * Σ e^(capped − max) of positive terms: the CPU adds V/4 terms per lane, the GPU V/256 per thread
//    then 13 tree levels: relative error ≤ (V/4 + 20)u between them.
double ce_loss_atol(double cap, int64_t vocab) { return (10.0 * cap + static_cast<double>(vocab) / 4.0 + 24.0) * kU; }
// The gradient weight·(p_j − [j = t])·(1 − tanh²): p_j inherits the loss's relative error (≤ the
// same (8·cap + V/4 + 24)u), 1 − tanh² differs by ≤ 2·Δtanh + 2u ≤ 8u, and p_j·(1 − tanh²) ≤ 1.
double ce_grad_atol(double cap, int64_t vocab, double weight) {
  return weight * (8.0 * cap + static_cast<double>(vocab) / 4.0 + 24.0 + 16.0) * kU;
}
// Adding into a non-zero gradient rounds once more on each side.
constexpr double kAddRtol = 2.0 * kU;

struct CeCase {
  int64_t rows, vocab;
  float cap;
};

TEST(CudaLossOps, SoftcapCrossEntropyMatchesTheCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // V = 1001: four values per thread and a ragged end; 1024: the challenge's vocabulary; 1 and 7: tiny.
  for (const CeCase& k : {CeCase{37, 1001, 30.0f}, CeCase{3, 1024, 30.0f}, CeCase{5, 7, 15.0f}, CeCase{1, 1, 30.0f}}) {
    SCOPED_TRACE(std::to_string(k.rows) + " rows of " + std::to_string(k.vocab) + ", cap " + std::to_string(k.cap));
    // |z| up to 2·cap: tanh runs from its linear part into saturation.
    const TensorPair logits = pair.random({k.rows, k.vocab}, 10 + k.vocab, -2.0f * k.cap, 2.0f * k.cap);
    const TensorPair targets = pair.ids({k.rows}, k.vocab, 11);
    const TensorPair losses = pair.random({k.rows}, 12);  // overwritten
    pair.run([&](Backend& b, bool cuda) { b.softcap_ce_forward(losses.on(cuda), logits.on(cuda), targets.on(cuda), k.cap); });
    EXPECT_TRUE(pair.close(losses, ce_loss_atol(k.cap, k.vocab), 0.0));

    const float weight = 1.0f / static_cast<float>(k.rows);
    const std::vector<float> start = uniform(k.rows * k.vocab, 13, -weight, weight);  // non-zero: ADD
    const TensorPair dlogits = pair.from_host({k.rows, k.vocab}, start);
    pair.run([&](Backend& b, bool cuda) {
      b.softcap_ce_backward(dlogits.on(cuda), logits.on(cuda), targets.on(cuda), k.cap, weight);
    });
    EXPECT_TRUE(pair.close(dlogits, ce_grad_atol(k.cap, k.vocab, weight), kAddRtol));
    if (k.vocab > 1) EXPECT_NE(pair.cuda_values(dlogits), start);  // (one class: p = 1, nothing to add)

    EXPECT_TRUE(test::same_bits_every_schedule([&] {
      pair.cuda().softcap_ce_forward(losses.cuda, logits.cuda, targets.cuda, k.cap);
      return pair.cuda_values(losses);
    }));
    EXPECT_TRUE(test::same_bits_every_schedule([&] {
      pair.cuda().copy_from_host(dlogits.cuda, start.data());
      pair.cuda().softcap_ce_backward(dlogits.cuda, logits.cuda, targets.cuda, k.cap, weight);
      return pair.cuda_values(dlogits);
    }));
  }
}

// A diverged run must look diverged: a NaN logit makes its row's loss NaN and its row's whole
// gradient NaN (never a finite, uniform-looking row); other rows and infinite logits are unaffected.
TEST(CudaLossOps, NanLogitGivesNanLossAndGradientInItsRowOnly) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const int64_t rows = 6, vocab = 300;
  const float cap = 30.0f;
  std::vector<float> z = uniform(rows * vocab, 20, -40.0f, 40.0f);
  const std::vector<int32_t> target_values = {4, 250, 17, 0, 299, 100};
  z[2 * vocab + 17] = std::numeric_limits<float>::quiet_NaN();  // row 2: at its target
  z[4 * vocab + 33] = std::numeric_limits<float>::quiet_NaN();  // row 4: elsewhere
  z[1 * vocab + 7] = std::numeric_limits<float>::infinity();    // row 1: saturates to cap
  z[5 * vocab + 100] = -std::numeric_limits<float>::infinity();  // row 5: its target at −cap
  const TensorPair logits = pair.from_host({rows, vocab}, z);
  const TensorPair targets = ids_from(pair, target_values);
  const TensorPair losses = pair.zeros({rows});
  pair.run([&](Backend& b, bool cuda) { b.softcap_ce_forward(losses.on(cuda), logits.on(cuda), targets.on(cuda), cap); });
  EXPECT_TRUE(pair.close(losses, ce_loss_atol(cap, vocab), 0.0));  // NaN exactly where the CPU has NaN
  const std::vector<float> loss = pair.cuda_values(losses);
  for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(std::isnan(loss[r]), r == 2 || r == 4) << "row " << r;

  const float weight = 0.25f;
  const TensorPair dlogits = pair.random({rows, vocab}, 21, -0.1f, 0.1f);
  pair.run([&](Backend& b, bool cuda) {
    b.softcap_ce_backward(dlogits.on(cuda), logits.on(cuda), targets.on(cuda), cap, weight);
  });
  EXPECT_TRUE(pair.close(dlogits, ce_grad_atol(cap, vocab, weight), kAddRtol));
  const std::vector<float> grad = pair.cuda_values(dlogits);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < vocab; ++j)
      ASSERT_EQ(std::isnan(grad[r * vocab + j]), r == 2 || r == 4) << "row " << r << ", column " << j;
}

// The CPU backend's messages, word for word (the shapes are the same on both backends).
TEST(CudaLossOps, BadArgumentsAreTheCpuErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const TensorPair table = pair.random({10, 4}, 30), out = pair.zeros({6, 4}), wrong = pair.zeros({5, 4});
  const TensorPair ids = pair.ids({6}, 10, 31);
  const TensorPair logits = pair.random({3, 8}, 32), targets = pair.ids({3}, 8, 33), losses = pair.zeros({3});
  const TensorPair short_targets = pair.ids({2}, 8, 34), dlogits = pair.zeros({3, 8});
  const std::vector<std::function<void(Backend&, bool)>> mistakes = {
      [&](Backend& b, bool c) { b.embedding_forward(wrong.on(c), table.on(c), ids.on(c)); },
      [&](Backend& b, bool c) { b.embedding_backward(table.on(c), wrong.on(c), ids.on(c)); },
      [&](Backend& b, bool c) { b.embedding_forward(out.on(c), table.on(c).view({40}), ids.on(c)); },
      [&](Backend& b, bool c) { b.embedding_forward(out.on(c), table.on(c), logits.on(c)); },  // f32 ids
      [&](Backend& b, bool c) { b.softcap_ce_forward(losses.on(c), logits.on(c), targets.on(c), 0.0f); },
      [&](Backend& b, bool c) { b.softcap_ce_forward(losses.on(c), logits.on(c), short_targets.on(c), 30.0f); },
      [&](Backend& b, bool c) { b.softcap_ce_forward(wrong.on(c).slice(0, 1), logits.on(c), targets.on(c), 30.0f); },
      [&](Backend& b, bool c) { b.softcap_ce_backward(dlogits.on(c), logits.on(c), targets.on(c), -1.0f, 1.0f); },
      [&](Backend& b, bool c) { b.softcap_ce_backward(logits.on(c), logits.on(c), targets.on(c), 30.0f, 1.0f); },
      [&](Backend& b, bool c) { b.softcap_ce_backward(wrong.on(c), logits.on(c), targets.on(c), 30.0f, 1.0f); },
      [&](Backend& b, bool c) { b.softcap_ce_backward(dlogits.on(c), logits.on(c), short_targets.on(c), 30.0f, 1.0f); },
  };
  for (size_t i = 0; i < mistakes.size(); ++i) {
    const std::string cpu = test::error_of([&] { mistakes[i](pair.cpu(), false); });
    const std::string cuda = test::error_of([&] { mistakes[i](pair.cuda(), true); });
    EXPECT_FALSE(cpu.empty()) << "mistake " << i;
    EXPECT_EQ(cuda, cpu) << "mistake " << i;
  }
  // A CPU tensor handed to the CUDA backend.
  EXPECT_THROW(pair.cuda().softcap_ce_forward(losses.cpu, logits.cuda, targets.cuda, 30.0f), Error);
  EXPECT_THROW(pair.cuda().embedding_backward(table.cuda, out.cpu, ids.cuda), Error);
}

}  // namespace
}  // namespace dg
