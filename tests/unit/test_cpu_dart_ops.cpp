// DART's CPU ops: double-precision finite-difference checks of every backward (L = Σ w ⊙ out for a
// random weighting w; the analytic backward fed dout = w must match central differences of L),
// the PR's per-row fake quantization against torch.quantile's semantics, and the float backend's
// argument checks.
#include <gtest/gtest.h>

#include <cmath>

#include "quant/quantizer.h"
#include "backend/backend.h"
#include "backend/cpu/ops_dart.h"
#include "core/error.h"
#include "cpu_test_util.h"

namespace dg::test {
namespace {

using Vec = std::vector<double>;
Vec zeros(size_t n) { return Vec(n, 0.0); }

TEST(CpuDartOpsGradient, MemoryConcat) {
  const int64_t batch = 3, mem = 2, tok = 4, dim = 5, seq = mem + tok;
  Vec memory = random_vector(mem * dim, 1), x = random_vector(batch * tok * dim, 2);
  const Vec w = random_vector(batch * seq * dim, 3);
  auto loss = [&] {
    Vec out(w.size());
    cpu::memory_concat_forward(out.data(), memory.data(), x.data(), batch, mem, tok, dim);
    return dot(w, out);
  };
  Vec out(w.size());
  cpu::memory_concat_forward(out.data(), memory.data(), x.data(), batch, mem, tok, dim);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < mem * dim; ++i) ASSERT_EQ(out[b * seq * dim + i], memory[i]);
    for (int64_t i = 0; i < tok * dim; ++i) ASSERT_EQ(out[(b * seq + mem) * dim + i], x[b * tok * dim + i]);
  }
  Vec dmemory = zeros(memory.size()), dx = zeros(x.size());
  cpu::memory_concat_backward(dmemory.data(), dx.data(), w.data(), batch, mem, tok, dim);
  expect_gradient("dmemory", memory, dmemory, loss);
  expect_gradient("dtok", x, dx, loss);
}

TEST(CpuDartOpsGradient, TokenRowsDropTheMemoryRows) {
  const int64_t batch = 2, seq = 7, tok = 4, dim = 3;
  Vec x = random_vector(batch * seq * dim, 4);
  const Vec w = random_vector(batch * tok * dim, 5);
  auto loss = [&] {
    Vec out(w.size());
    cpu::token_rows_forward(out.data(), x.data(), batch, seq, tok, dim);
    return dot(w, out);
  };
  Vec dx = zeros(x.size());
  cpu::token_rows_backward(dx.data(), w.data(), batch, seq, tok, dim);
  expect_gradient("dx", x, dx, loss);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < (seq - tok) * dim; ++i) ASSERT_EQ(dx[b * seq * dim + i], 0.0) << "memory rows are never scored";
}

TEST(CpuDartOpsGradient, AddVector) {
  const int64_t rows = 6, dim = 70;  // more than one column block
  Vec x = random_vector(rows * dim, 6), v = random_vector(dim, 7);
  const Vec w = random_vector(x.size(), 8);
  auto loss = [&] {
    Vec y = x;
    cpu::add_vector_forward(y.data(), v.data(), rows, dim);
    return dot(w, y);
  };
  Vec dv = zeros(dim);
  cpu::add_vector_backward(dv.data(), w.data(), rows, dim);
  expect_gradient("dv", v, dv, loss);
}

TEST(CpuDartOpsGradient, TileColumns) {
  const int64_t rows = 4, width = 3, copies = 3;
  Vec x = random_vector(rows * width, 9);
  const Vec w = random_vector(rows * width * copies, 10);
  auto loss = [&] {
    Vec out(w.size());
    cpu::tile_columns_forward(out.data(), x.data(), rows, width, copies);
    return dot(w, out);
  };
  Vec out(w.size());
  cpu::tile_columns_forward(out.data(), x.data(), rows, width, copies);
  EXPECT_EQ(out[(1 * copies + 2) * width + 1], x[1 * width + 1]);
  Vec dx = zeros(x.size());
  cpu::tile_columns_backward(dx.data(), w.data(), rows, width, copies);
  expect_gradient("dx", x, dx, loss);
}

TEST(CpuDartOpsGradient, DiffLambda) {
  const int64_t heads = 5;
  const double init = 0.8 - 0.6 * std::exp(-0.3);
  Vec lq1 = random_vector(heads, 11, -0.3, 0.3), lk1 = random_vector(heads, 12, -0.3, 0.3);
  Vec lq2 = random_vector(heads, 13, -0.3, 0.3), lk2 = random_vector(heads, 14, -0.3, 0.3);
  const Vec w = random_vector(heads, 15);
  Vec lambda(heads);
  cpu::diff_lambda_forward(lambda.data(), lq1.data(), lk1.data(), lq2.data(), lk2.data(), init, heads);
  EXPECT_NEAR(lambda[2], std::exp(lq1[2] + lk1[2]) - std::exp(lq2[2] + lk2[2]) + init, 1e-15);
  auto loss = [&] {
    Vec out(heads);
    cpu::diff_lambda_forward(out.data(), lq1.data(), lk1.data(), lq2.data(), lk2.data(), init, heads);
    return dot(w, out);
  };
  Vec d1 = zeros(heads), d2 = zeros(heads), d3 = zeros(heads), d4 = zeros(heads);
  cpu::diff_lambda_backward(d1.data(), d2.data(), d3.data(), d4.data(), w.data(), lq1.data(), lk1.data(), lq2.data(),
                            lk2.data(), heads);
  expect_gradient("dlq1", lq1, d1, loss);
  expect_gradient("dlk1", lk1, d2, loss);
  expect_gradient("dlq2", lq2, d3, loss);
  expect_gradient("dlk2", lk2, d4, loss);
}

TEST(CpuDartOpsGradient, Sigmoid) {
  const int64_t n = 30;
  Vec x = random_vector(n, 16, -4.0, 4.0);
  const Vec w = random_vector(n, 17);
  auto loss = [&] {
    Vec out(n);
    cpu::sigmoid_forward(out.data(), x.data(), n);
    return dot(w, out);
  };
  Vec out(n), dx = zeros(n);
  cpu::sigmoid_forward(out.data(), x.data(), n);
  EXPECT_NEAR(out[0], 1.0 / (1.0 + std::exp(-x[0])), 1e-15);
  cpu::sigmoid_backward(dx.data(), w.data(), out.data(), n);
  expect_gradient("dx", x, dx, loss);
}

void check_diff_combine(bool per_row_lambda, bool interleaved) {
  SCOPED_TRACE(std::string(per_row_lambda ? "per-token λ" : "per-head λ") + (interleaved ? ", interleaved" : ", halves"));
  const int64_t rows = 5, heads = 3, hd = 4;
  const cpu::DiffCombineShape shape{rows, heads, hd, per_row_lambda, interleaved};
  Vec a = random_vector(rows * 2 * heads * hd, 18);
  Vec lambda = random_vector(per_row_lambda ? rows * heads : heads, 19, 0.1, 0.9);
  const Vec w = random_vector(rows * heads * hd, 20);
  auto loss = [&] {
    Vec out(w.size());
    cpu::diff_combine_forward(out.data(), a.data(), lambda.data(), shape);
    return dot(w, out);
  };
  // Spot-check the pairing: row 2, output head 1, element 3.
  Vec out(w.size());
  cpu::diff_combine_forward(out.data(), a.data(), lambda.data(), shape);
  const int64_t r = 2, i = 1, d = 3;
  const int64_t h1 = interleaved ? 2 * i : i, h2 = interleaved ? 2 * i + 1 : heads + i;
  const double lam = per_row_lambda ? lambda[r * heads + i] : lambda[i];
  EXPECT_NEAR(out[(r * heads + i) * hd + d],
              a[(r * 2 * heads + h1) * hd + d] - lam * a[(r * 2 * heads + h2) * hd + d], 1e-15);
  Vec da = zeros(a.size()), dlambda = zeros(lambda.size());
  cpu::diff_combine_backward(da.data(), dlambda.data(), w.data(), a.data(), lambda.data(), shape);
  expect_gradient("da", a, da, loss);
  expect_gradient("dlambda", lambda, dlambda, loss);
}

TEST(CpuDartOpsGradient, DiffCombinePerHeadLambdaHalves) { check_diff_combine(false, false); }
TEST(CpuDartOpsGradient, DiffCombinePerTokenLambdaInterleaved) { check_diff_combine(true, true); }
TEST(CpuDartOpsGradient, DiffCombinePerHeadLambdaInterleaved) { check_diff_combine(false, true); }
TEST(CpuDartOpsGradient, DiffCombinePerTokenLambdaHalves) { check_diff_combine(true, false); }

// torch.quantile(|x|, 0.9999984) on a row of 5: rank = 0.9999984·4 = 3.9999936, so the clip is
// sorted[3] + 0.9999936·(sorted[4] − sorted[3]) (torch's lerp with weight ≥ 0.5).
TEST(CpuDartFakeQuant, ClipIsTorchQuantileWithLinearInterpolation) {
  const double row[5] = {0.5, -2.0, 1.0, 0.25, -1.5};
  double scratch[5];
  const double rank = 0.9999984 * 4;
  const double weight = rank - 3;
  const double expected = 2.0 - (2.0 - 1.5) * (1.0 - weight);
  EXPECT_DOUBLE_EQ(cpu::quantile_abs(row, 5, 0.9999984, scratch), expected);
  const double single[1] = {-3.0};
  EXPECT_EQ(cpu::quantile_abs(single, 1, 0.9999984, scratch), 3.0);
}

TEST(CpuDartFakeQuant, FloatClipMatchesTheArtifactQuantizersTorchQuantile) {
  // The artifact's quantizer reproduces torch.quantile bit for bit in fp32; the PR's QAT clip must
  // be the same number.
  for (int64_t cols : {1, 2, 7, 512, 1000}) {
    std::vector<float> row = to_float(random_vector(cols, 21 + cols, -0.2, 0.2)), scratch(cols);
    std::vector<float> artifact_scratch;
    EXPECT_EQ(cpu::quantile_abs(row.data(), cols, 99.99984 / 100.0, scratch.data()),
              quant::clip_quantile_abs(row.data(), cols, artifact_scratch))
        << cols << " columns";
  }
}

TEST(CpuDartFakeQuant, RowsSnapToAtMost255LevelsOfTheFp32Scale) {
  const int64_t rows = 3, cols = 64;
  std::vector<float> w = to_float(random_vector(rows * cols, 22, -3.0, 3.0));
  w[5] = 0.0f;
  for (int64_t c = 0; c < cols; ++c) w[2 * cols + c] *= 1e-3f;  // a row below the scale floor 1/127
  std::vector<float> out(w.size()), scratch(cols);
  cpu::fake_quant_rows_forward(out.data(), w.data(), rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float clip = cpu::quantile_abs(w.data() + r * cols, cols, 99.99984 / 100.0, scratch.data());
    const float scale = std::max(clip / 127.0f, static_cast<float>(1.0 / 127.0));
    for (int64_t c = 0; c < cols; ++c) {
      const float v = w[r * cols + c];
      const float level = std::nearbyint(std::max(std::min(v, clip), -clip) / scale);
      ASSERT_LE(std::fabs(level), 127.0f);
      ASSERT_EQ(out[r * cols + c], v + (level * scale - v)) << r << "," << c;
      ASSERT_LE(std::fabs(out[r * cols + c] - v), 0.5f * scale * 1.0001f + (std::fabs(v) - clip > 0 ? std::fabs(v) - clip : 0));
    }
  }
  EXPECT_EQ(out[5], 0.0f);
  // The floor: a row of tiny weights rounds to multiples of 1/127, here all to zero.
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(out[2 * cols + c], 0.0f);
  // Round half to even, as torch.round: 1.5 and 2.5 steps of the scale go to 2.
  std::vector<float> halves(127, 0.0f);
  halves[0] = halves[3] = 127.0f;  // the top two |w| equal: clip exactly 127, scale exactly 1
  halves[1] = 2.5f;
  halves[2] = -1.5f;
  std::vector<float> snapped(halves.size());
  cpu::fake_quant_rows_forward(snapped.data(), halves.data(), 1, 127);
  EXPECT_EQ(snapped[1], 2.0f);
  EXPECT_EQ(snapped[2], -2.0f);
  EXPECT_EQ(snapped[0], 127.0f);
}

TEST(CpuDartFakeQuant, InPlaceEqualsOutOfPlace) {
  const int64_t rows = 4, cols = 33;
  std::vector<float> w = to_float(random_vector(rows * cols, 23, -0.1, 0.1)), out(w.size());
  cpu::fake_quant_rows_forward(out.data(), w.data(), rows, cols);
  cpu::fake_quant_rows_forward(w.data(), w.data(), rows, cols);
  EXPECT_EQ(w, out);
}

// The float backend: the same kernels behind argument checks that name the op and the shapes.
TEST(CpuDartBackend, ValidatesShapesAndMatchesTheKernels) {
  auto backend = make_cpu_backend();
  std::vector<float> x(2 * 6 * 4), memory(2 * 4), tok(2 * 4 * 4);
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = static_cast<float>(i);
  for (size_t i = 0; i < memory.size(); ++i) memory[i] = -static_cast<float>(i);
  backend->memory_concat_forward(view(x, {2, 6, 4}), view(memory, {2, 4}), view(tok, {2, 4, 4}));
  EXPECT_EQ(x[6 * 4 + 1], -1.0f);
  EXPECT_EQ(x[6 * 4 + 2 * 4], 16.0f);
  std::vector<float> back(tok.size());
  backend->token_rows_forward(view(back, {2, 4, 4}), view(x, {2, 6, 4}));
  EXPECT_EQ(back, tok);
  std::vector<float> wrong(2 * 3 * 4);
  EXPECT_THROW(backend->memory_concat_forward(view(x, {2, 6, 4}), view(wrong, {3, 4}), view(tok, {2, 4, 4})), Error);

  std::vector<float> a(2 * 3 * 4 * 2), out(2 * 3 * 2 * 2), lam(2), lam_bad(3);
  try {
    backend->diff_combine_forward(view(out, {2, 3, 2, 2}), view(a, {2, 3, 4, 2}), view(lam_bad, {3}), false);
    ADD_FAILURE() << "a λ of the wrong size must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("diff_combine_forward: lambda"), std::string::npos) << e.what();
  }
  backend->diff_combine_forward(view(out, {2, 3, 2, 2}), view(a, {2, 3, 4, 2}), view(lam, {2}), false);

  std::vector<float> w = {1.0f, std::nanf(""), 0.5f, 0.25f};
  EXPECT_THROW(backend->fake_quant_rows_forward(view(w, {2, 2}), view(w, {2, 2})), Error);
}

}  // namespace
}  // namespace dg::test
