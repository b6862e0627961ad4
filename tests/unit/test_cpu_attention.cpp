// Attention properties the model relies on: causality (nothing at position t reaches an earlier
// output), GQA equals multi-head attention with each KV head repeated, lse is each row's
// log-sum-exp, and batches do not mix.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "cpu_test_util.h"

namespace dg::test {
namespace {

using FVec = std::vector<float>;

struct AttentionCase {
  int64_t batch, seq, heads, kv, hd;
  FVec q, k, v;
  AttentionCase(int64_t b, int64_t t, int64_t h, int64_t kvh, int64_t d, uint64_t seed)
      : batch(b), seq(t), heads(h), kv(kvh), hd(d) {
    q = to_float(random_vector(b * t * h * d, seed, -2, 2));
    k = to_float(random_vector(b * t * kvh * d, seed + 1, -2, 2));
    v = to_float(random_vector(b * t * kvh * d, seed + 2));
  }
  Tensor qv(FVec& d) const { return Tensor::f32(d.data(), {batch, seq, heads, hd}); }
  Tensor kv4(FVec& d) const { return Tensor::f32(d.data(), {batch, seq, kv, hd}); }
  FVec run(Backend& backend, FVec* lse_out = nullptr) {
    FVec out(q.size()), lse(batch * heads * seq);
    backend.attention_forward(qv(out), Tensor::f32(lse.data(), {batch, heads, seq}), qv(q), kv4(k), kv4(v),
                              1.0f / std::sqrt(static_cast<float>(hd)));
    if (lse_out) *lse_out = lse;
    return out;
  }
  int64_t q_index(int64_t b, int64_t t, int64_t h, int64_t d) const { return ((b * seq + t) * heads + h) * hd + d; }
  int64_t k_index(int64_t b, int64_t t, int64_t h, int64_t d) const { return ((b * seq + t) * kv + h) * hd + d; }
};

TEST(CpuAttention, FutureKeysAndValuesNeverReachEarlierOutputs) {
  auto backend = make_cpu_backend();
  for (int64_t kv : {1, 2, 4}) {
    AttentionCase c(2, 9, 4, kv, 8, 100 + kv);
    const FVec base = c.run(*backend);
    for (int64_t t = 1; t < c.seq; ++t) {
      AttentionCase changed = c;
      for (int64_t h = 0; h < kv; ++h)
        for (int64_t d = 0; d < c.hd; ++d) {
          changed.k[c.k_index(1, t, h, d)] += 1.5f;
          changed.v[c.k_index(1, t, h, d)] -= 2.0f;
        }
      const FVec out = changed.run(*backend);
      for (int64_t s = 0; s < c.seq; ++s)
        for (int64_t h = 0; h < c.heads; ++h)
          for (int64_t d = 0; d < c.hd; ++d) {
            const int64_t i1 = c.q_index(1, s, h, d), i0 = c.q_index(0, s, h, d);
            ASSERT_EQ(out[i0], base[i0]) << "batch 0 must not see batch 1's change";
            if (s < t) ASSERT_EQ(out[i1], base[i1]) << "position " << s << " saw key/value " << t << " (K=" << kv << ")";
          }
      EXPECT_NE(out[c.q_index(1, t, 0, 0)], base[c.q_index(1, t, 0, 0)]) << "position " << t << " must see itself";
    }
  }
}

TEST(CpuAttention, CausalAcrossQueryBlocks) {
  // Positions on both sides of the 64-row block boundary: a change at t reaches t and later only.
  auto backend = make_cpu_backend();
  AttentionCase c(1, 130, 2, 1, 8, 300);
  const FVec base = c.run(*backend);
  for (int64_t t : {1, 63, 64, 65, 129}) {
    AttentionCase changed = c;
    for (int64_t d = 0; d < c.hd; ++d) changed.v[c.k_index(0, t, 0, d)] += 3.0f;
    const FVec out = changed.run(*backend);
    for (int64_t s = 0; s < c.seq; ++s) {
      const int64_t i = c.q_index(0, s, 1, 0);
      if (s < t) ASSERT_EQ(out[i], base[i]) << "position " << s << " saw value " << t;
      else ASSERT_NE(out[i], base[i]) << "position " << s << " missed value " << t;
    }
  }
}

TEST(CpuAttention, FirstPositionCopiesItsValue) {
  auto backend = make_cpu_backend();
  AttentionCase c(1, 5, 4, 2, 8, 7);
  const FVec out = c.run(*backend);
  for (int64_t h = 0; h < c.heads; ++h)
    for (int64_t d = 0; d < c.hd; ++d) EXPECT_FLOAT_EQ(out[c.q_index(0, 0, h, d)], c.v[c.k_index(0, 0, h / 2, d)]);
}

TEST(CpuAttention, GqaEqualsRepeatedKvHeads) {
  auto backend = make_cpu_backend();
  AttentionCase gqa(2, 7, 6, 2, 8, 11);  // three query heads per KV head
  AttentionCase mha(2, 7, 6, 6, 8, 11);
  mha.q = gqa.q;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 7; ++t)
      for (int64_t h = 0; h < 6; ++h)
        for (int64_t d = 0; d < 8; ++d) {
          mha.k[mha.k_index(b, t, h, d)] = gqa.k[gqa.k_index(b, t, h / 3, d)];
          mha.v[mha.k_index(b, t, h, d)] = gqa.v[gqa.k_index(b, t, h / 3, d)];
        }
  EXPECT_EQ(gqa.run(*backend), mha.run(*backend));

  // Backward: the GQA key/value gradient is the sum over the query heads sharing the KV head.
  const FVec dout = to_float(random_vector(gqa.q.size(), 12));
  auto grads = [&](AttentionCase& c, FVec& dq, FVec& dk, FVec& dv) {
    FVec lse;
    FVec out = c.run(*backend, &lse);
    FVec g = dout;
    dq.assign(c.q.size(), 0.0f);
    dk.assign(c.k.size(), 0.0f);
    dv.assign(c.v.size(), 0.0f);
    backend->attention_backward(c.qv(dq), c.kv4(dk), c.kv4(dv), c.qv(g), c.qv(c.q), c.kv4(c.k), c.kv4(c.v),
                                c.qv(out), Tensor::f32(lse.data(), {c.batch, c.heads, c.seq}),
                                1.0f / std::sqrt(8.0f));
  };
  FVec dq_g, dk_g, dv_g, dq_m, dk_m, dv_m;
  grads(gqa, dq_g, dk_g, dv_g);
  grads(mha, dq_m, dk_m, dv_m);
  for (size_t i = 0; i < dq_g.size(); ++i) EXPECT_NEAR(dq_g[i], dq_m[i], 1e-6f);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 7; ++t)
      for (int64_t g = 0; g < 2; ++g)
        for (int64_t d = 0; d < 8; ++d) {
          float sk = 0.0f, sv = 0.0f;
          for (int64_t r = 0; r < 3; ++r) {
            sk += dk_m[mha.k_index(b, t, 3 * g + r, d)];
            sv += dv_m[mha.k_index(b, t, 3 * g + r, d)];
          }
          EXPECT_NEAR(dk_g[gqa.k_index(b, t, g, d)], sk, 1e-5f);
          EXPECT_NEAR(dv_g[gqa.k_index(b, t, g, d)], sv, 1e-5f);
        }
}

TEST(CpuAttention, LseIsRowLogSumExp) {
  auto backend = make_cpu_backend();
  AttentionCase c(2, 6, 4, 2, 8, 21);
  FVec lse;
  c.run(*backend, &lse);
  const double scale = 1.0 / std::sqrt(8.0);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t t = 0; t < 6; ++t) {
        double sum = 0.0;
        for (int64_t j = 0; j <= t; ++j) {
          double s = 0.0;
          for (int64_t d = 0; d < 8; ++d) s += double(c.q[c.q_index(b, t, h, d)]) * c.k[c.k_index(b, j, h / 2, d)];
          sum += std::exp(scale * s);
        }
        EXPECT_NEAR(lse[(b * 4 + h) * 6 + t], std::log(sum), 1e-5);
      }
}

}  // namespace
}  // namespace dg::test
