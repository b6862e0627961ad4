// Finite-difference gradient checks of every CPU op with a backward, in double precision: for a
// random weighting w, L = Σ w ⊙ out(inputs), and the analytic backward (fed dout = w into zeroed
// gradients) must match central differences of L for every input element.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cpu/ops_attention.h"
#include "backend/cpu/ops_elementwise.h"
#include "backend/cpu/ops_loss.h"
#include "backend/cpu/ops_matmul.h"
#include "backend/cpu/ops_norm.h"
#include "backend/cpu/ops_rope.h"
#include "cpu_test_util.h"

namespace dg::test {
namespace {

using Vec = std::vector<double>;
Vec zeros(size_t n) { return Vec(n, 0.0); }

TEST(CpuOpsGradient, EmbeddingAccumulatesRepeatedIds) {
  const int64_t vocab = 11, dim = 6, count = 9;
  Vec table = random_vector(vocab * dim, 1);
  std::vector<int32_t> ids = random_ids(count, vocab, 2);
  ids[3] = ids[0];  // a repeated id must receive the sum of both rows' gradients
  const Vec w = random_vector(count * dim, 3);
  auto loss = [&] {
    Vec out(count * dim);
    cpu::embedding_forward(out.data(), table.data(), ids.data(), count, dim);
    return dot(w, out);
  };
  Vec dtable = zeros(table.size());
  cpu::embedding_backward(dtable.data(), w.data(), ids.data(), count, dim);
  expect_gradient("dtable", table, dtable, loss);
}

TEST(CpuOpsGradient, RmsNorm) {
  const int64_t rows = 5, dim = 12;
  const double eps = std::numeric_limits<float>::epsilon();
  Vec x = random_vector(rows * dim, 4);
  const Vec w = random_vector(rows * dim, 5);
  auto loss = [&] {
    Vec out(rows * dim), rstd(rows);
    cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), rows, dim, eps);
    return dot(w, out);
  };
  Vec out(rows * dim), rstd(rows), dx = zeros(x.size());
  cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), rows, dim, eps);
  cpu::rmsnorm_backward(dx.data(), w.data(), x.data(), rstd.data(), rows, dim);
  expect_gradient("dx", x, dx, loss);
}

TEST(CpuOpsGradient, RopeForwardAndInverse) {
  const int64_t batch = 2, seq = 5, heads = 3, hd = 8;
  for (int64_t start : {0, 2}) {
    SCOPED_TRACE("start " + std::to_string(start));
    Vec cos_t((seq - start) * hd / 2), sin_t(cos_t.size());
    cpu::rope_tables(cos_t.data(), sin_t.data(), seq - start, hd, 10000.0);
    Vec x = random_vector(batch * seq * heads * hd, 6);
    const Vec w = random_vector(x.size(), 7);
    auto loss = [&] {
      Vec y = x;
      cpu::rope_apply(y.data(), cos_t.data(), sin_t.data(), batch, seq, heads, hd, start, false);
      return dot(w, y);
    };
    // The rotation is orthogonal, so its backward (Jacobianᵀ · w) is the inverse rotation of w.
    Vec dx = w;
    cpu::rope_apply(dx.data(), cos_t.data(), sin_t.data(), batch, seq, heads, hd, start, true);
    expect_gradient("dx", x, dx, loss);

    Vec round_trip = x;
    cpu::rope_apply(round_trip.data(), cos_t.data(), sin_t.data(), batch, seq, heads, hd, start, false);
    cpu::rope_apply(round_trip.data(), cos_t.data(), sin_t.data(), batch, seq, heads, hd, start, true);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(round_trip[i], x[i], 1e-14) << i;
  }
}

TEST(CpuOpsGradient, HeadScale) {
  const int64_t rows = 6, heads = 4, hd = 5;
  Vec x = random_vector(rows * heads * hd, 8);
  Vec gain = random_vector(heads, 9, 0.5, 2.0);
  const Vec w = random_vector(x.size(), 10);
  auto loss = [&] {
    Vec out(x.size());
    cpu::head_scale_forward(out.data(), x.data(), gain.data(), rows, heads, hd);
    return dot(w, out);
  };
  Vec dx = zeros(x.size()), dgain = zeros(heads);
  cpu::head_scale_backward(dx.data(), dgain.data(), w.data(), x.data(), gain.data(), rows, heads, hd);
  expect_gradient("dx", x, dx, loss);
  expect_gradient("dgain", gain, dgain, loss);
}

void check_attention_gradient(int64_t batch, int64_t seq, int64_t heads, int64_t kv_heads, int64_t hd) {
  SCOPED_TRACE("B=" + std::to_string(batch) + " T=" + std::to_string(seq) + " H=" + std::to_string(heads) +
               " K=" + std::to_string(kv_heads) + " hd=" + std::to_string(hd));
  const cpu::AttentionShape shape{batch, seq, heads, kv_heads, hd};
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  // Spread of ±2 keeps the softmax far from uniform, so the gradient is not trivially small.
  Vec q = random_vector(batch * seq * heads * hd, 11, -2.0, 2.0);
  Vec k = random_vector(batch * seq * kv_heads * hd, 12, -2.0, 2.0);
  Vec v = random_vector(k.size(), 13);
  const Vec w = random_vector(q.size(), 14);
  auto loss = [&] {
    Vec out(q.size()), lse(batch * heads * seq);
    cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), shape, scale);
    return dot(w, out);
  };
  Vec out(q.size()), lse(batch * heads * seq);
  cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), shape, scale);
  Vec dq = zeros(q.size()), dk = zeros(k.size()), dv = zeros(v.size());
  cpu::attention_backward(dq.data(), dk.data(), dv.data(), w.data(), q.data(), k.data(), v.data(), out.data(),
                          lse.data(), shape, scale);
  expect_gradient("dq", q, dq, loss);
  expect_gradient("dk", k, dk, loss);
  expect_gradient("dv", v, dv, loss);
}

TEST(CpuOpsGradient, AttentionMultiHead) { check_attention_gradient(2, 7, 4, 4, 8); }
TEST(CpuOpsGradient, AttentionGqaTwoQueriesPerKvHead) { check_attention_gradient(2, 7, 4, 2, 8); }
TEST(CpuOpsGradient, AttentionGqaSingleKvHead) { check_attention_gradient(2, 7, 4, 1, 8); }
TEST(CpuOpsGradient, AttentionOddSequence) { check_attention_gradient(2, 5, 4, 2, 8); }
// Longer than one query block (kAttentionBlock = 64): later blocks read keys of earlier ones.
TEST(CpuOpsGradient, AttentionAcrossQueryBlocks) { check_attention_gradient(1, 70, 2, 1, 4); }

TEST(CpuOpsGradient, Relu2) {
  const int64_t n = 40;
  Vec x = random_away_from_zero(n, 15);
  const Vec w = random_vector(n, 16);
  auto loss = [&] {
    Vec out(n);
    cpu::relu2_forward(out.data(), x.data(), n);
    return dot(w, out);
  };
  Vec dx = zeros(n);
  cpu::relu2_backward(dx.data(), w.data(), x.data(), n);
  expect_gradient("dx", x, dx, loss);
}

TEST(CpuOpsGradient, ResidMix) {
  const int64_t rows = 5, dim = 7;
  Vec x = random_vector(rows * dim, 17), x0 = random_vector(rows * dim, 18), mix = random_vector(2 * dim, 19);
  const Vec w = random_vector(rows * dim, 20);
  auto loss = [&] {
    Vec out(rows * dim);
    cpu::resid_mix_forward(out.data(), x.data(), x0.data(), mix.data(), rows, dim);
    return dot(w, out);
  };
  Vec dx = zeros(x.size()), dx0 = zeros(x0.size()), dmix = zeros(mix.size());
  cpu::resid_mix_backward(dx.data(), dx0.data(), dmix.data(), w.data(), x.data(), x0.data(), mix.data(), rows, dim);
  expect_gradient("dx", x, dx, loss);
  expect_gradient("dx0", x0, dx0, loss);
  expect_gradient("dmix", mix, dmix, loss);
}

TEST(CpuOpsGradient, AddScaled) {
  const int64_t rows = 5, dim = 7;
  Vec x = random_vector(rows * dim, 21), y = random_vector(rows * dim, 22), s = random_vector(dim, 23);
  const Vec w = random_vector(rows * dim, 24);
  auto loss = [&] {
    Vec out = x;
    cpu::add_scaled_forward(out.data(), s.data(), y.data(), rows, dim);
    return dot(w, out);
  };
  Vec dy = zeros(y.size()), ds = zeros(s.size());
  cpu::add_scaled_backward(dy.data(), ds.data(), w.data(), s.data(), y.data(), rows, dim);
  expect_gradient("dy", y, dy, loss);
  expect_gradient("ds", s, ds, loss);
  expect_gradient("dx (passes through)", x, w, loss);
}

TEST(CpuOpsGradient, SoftcapCrossEntropy) {
  const int64_t count = 5, vocab = 37;
  const double cap = 3.0, weight = 0.37;  // a small cap makes the tanh clearly nonlinear on ±8 logits
  Vec z = random_vector(count * vocab, 25, -8.0, 8.0);
  const std::vector<int32_t> targets = random_ids(count, vocab, 26);
  auto loss = [&] {
    Vec losses(count);
    cpu::softcap_ce_forward(losses.data(), z.data(), targets.data(), count, vocab, cap);
    double total = 0.0;
    for (double l : losses) total += weight * l;
    return total;
  };
  Vec dz = zeros(z.size());
  cpu::softcap_ce_backward(dz.data(), z.data(), targets.data(), count, vocab, cap, weight);
  expect_gradient("dlogits", z, dz, loss);
}

TEST(CpuOpsGradient, MatmulAllTransposesWithAccumulate) {
  const int64_t m = 3, n = 5, k = 4;
  const double alpha = 0.7, beta = 1.0;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      SCOPED_TRACE(std::string("trans_a=") + (ta ? "1" : "0") + " trans_b=" + (tb ? "1" : "0"));
      Vec a = random_vector(m * k, 27), b = random_vector(k * n, 28), c0 = random_vector(m * n, 29);
      const Vec w = random_vector(m * n, 30);
      auto loss = [&] {
        Vec c = c0;
        cpu::gemm(c.data(), a.data(), ta, b.data(), tb, m, n, k, alpha, beta);
        return dot(w, c);
      };
      // The linear-layer backward rules from backend.h, generalised to every transpose pair.
      Vec da = zeros(a.size()), db = zeros(b.size()), dc0 = w;
      if (!ta) cpu::gemm(da.data(), w.data(), false, b.data(), !tb, m, k, n, alpha, 1.0);
      else cpu::gemm(da.data(), b.data(), tb, w.data(), true, k, m, n, alpha, 1.0);
      if (!tb) cpu::gemm(db.data(), a.data(), !ta, w.data(), false, k, n, m, alpha, 1.0);
      else cpu::gemm(db.data(), w.data(), true, a.data(), ta, n, k, m, alpha, 1.0);
      expect_gradient("da", a, da, loss);
      expect_gradient("db", b, db, loss);
      expect_gradient("dc (beta = 1 keeps C)", c0, dc0, loss);
    }
  }
}

TEST(CpuOpsGradient, MatmulMatchesNaiveProduct) {
  // The FD check above only proves self-consistency; pin gemm itself to a direct triple loop.
  const int64_t m = 4, n = 3, k = 5;
  const Vec a = random_vector(m * k, 31), b = random_vector(k * n, 32);
  Vec c = random_vector(m * n, 33);
  const Vec c_before = c;
  cpu::gemm(c.data(), a.data(), false, b.data(), false, m, n, k, 2.0, 0.5);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t p = 0; p < k; ++p) s += a[i * k + p] * b[p * n + j];
      EXPECT_NEAR(c[i * n + j], 2.0 * s + 0.5 * c_before[i * n + j], 1e-12);
    }
}

}  // namespace
}  // namespace dg::test
