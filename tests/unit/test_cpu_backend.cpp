// The float CpuBackend against the double kernel templates on random inputs (the float path,
// sgemm and the vectorised exp/tanh included, must agree to ~1e-5 relative), the accumulate
// contract of every backward, memory ops, and the shape checks' error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_backend.h"
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
using FVec = std::vector<float>;

class CpuBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> backend = make_cpu_backend();
};

// Inputs are drawn in double, rounded to float, and the double reference runs on those rounded
// values, so the comparison sees only the float path's arithmetic error.
Vec rounded(const Vec& v) { return to_double(to_float(v)); }

TEST_F(CpuBackendTest, MemoryOps) {
  EXPECT_EQ(backend->device(), Device::CPU);
  void* raw = backend->allocate(1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(raw) % 256, 0u);
  const auto* bytes = static_cast<const unsigned char*>(raw);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(bytes[i], 0) << "allocate must zero-fill";
  Tensor t = Tensor::f32(static_cast<float*>(raw), {10, 25});
  backend->fill(t, 2.0f);
  FVec host(250);
  backend->copy_to_host(host.data(), t);
  EXPECT_EQ(host[249], 2.0f);
  for (int i = 0; i < 250; ++i) host[i] = static_cast<float>(i);
  backend->copy_from_host(t, host.data());
  FVec other(250);
  backend->copy(view(other, {250}), t);
  EXPECT_EQ(other[17], 17.0f);
  backend->scale(t, 0.5f);
  backend->axpy(t, 2.0f, view(other, {250}));  // 0.5·i + 2·i
  backend->copy_to_host(host.data(), t);
  EXPECT_FLOAT_EQ(host[10], 25.0f);
  double expected = 0.0;
  for (int i = 0; i < 250; ++i) expected += 6.25 * i * i;
  EXPECT_NEAR(backend->sum_squares(t), expected, 1e-9 * expected);
  backend->release(raw);
  void* empty = backend->allocate(0);
  EXPECT_NE(empty, nullptr);
  backend->release(empty);
}

TEST_F(CpuBackendTest, EmbeddingMatchesReference) {
  const int64_t vocab = 50, dim = 70, count = 33;
  const Vec table = rounded(random_vector(vocab * dim, 1)), dout = rounded(random_vector(count * dim, 2));
  std::vector<int32_t> ids = random_ids(count, vocab, 3);
  FVec ftable = to_float(table), fdout = to_float(dout), fout(count * dim), fdtable(vocab * dim);
  backend->embedding_forward(view(fout, {count, dim}), view(ftable, {vocab, dim}), view(ids, {count}));
  backend->embedding_backward(view(fdtable, {vocab, dim}), view(fdout, {count, dim}), view(ids, {count}));
  Vec out(count * dim), dtable(vocab * dim, 0.0);
  cpu::embedding_forward(out.data(), table.data(), ids.data(), count, dim);
  cpu::embedding_backward(dtable.data(), dout.data(), ids.data(), count, dim);
  expect_close("out", fout, out);
  expect_close("dtable", fdtable, dtable);
}

TEST_F(CpuBackendTest, RmsNormMatchesReference) {
  const int64_t rows = 9, dim = 96;
  const float eps = std::numeric_limits<float>::epsilon();
  const Vec x = rounded(random_vector(rows * dim, 4)), dout = rounded(random_vector(rows * dim, 5));
  FVec fx = to_float(x), fdout = to_float(dout), fout(x.size()), frstd(rows), fdx(x.size());
  backend->rmsnorm_forward(view(fout, {rows, dim}), view(frstd, {rows}), view(fx, {rows, dim}), eps);
  backend->rmsnorm_backward(view(fdx, {rows, dim}), view(fdout, {rows, dim}), view(fx, {rows, dim}),
                            view(frstd, {rows}));
  Vec out(x.size()), rstd(rows), dx(x.size(), 0.0);
  cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), rows, dim, static_cast<double>(eps));
  cpu::rmsnorm_backward(dx.data(), dout.data(), x.data(), rstd.data(), rows, dim);
  expect_close("out", fout, out);
  expect_close("rstd", frstd, rstd);
  expect_close("dx", fdx, dx);
}

TEST_F(CpuBackendTest, MatmulMatchesReferenceForEveryTranspose) {
  // Sizes past OpenBLAS's small-matrix paths and large enough to be split across threads, by rows
  // (m ≥ n) and by columns (n > m); odd on purpose.
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{67, 45, 129}, {45, 67, 129}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + " trans_a=" + (ta ? "1" : "0") +
                     " trans_b=" + (tb ? "1" : "0"));
        const Vec a = rounded(random_vector(m * k, 6)), b = rounded(random_vector(k * n, 7));
        const Vec c0 = rounded(random_vector(m * n, 8));
        FVec fa = to_float(a), fb = to_float(b), fc = to_float(c0);
        const Tensor ta_view = ta ? view(fa, {k, m}) : view(fa, {m, k});
        const Tensor tb_view = tb ? view(fb, {n, k}) : view(fb, {k, n});
        backend->matmul(view(fc, {m, n}), ta_view, ta, tb_view, tb, 0.75f, 1.0f);
        Vec c = c0;
        cpu::gemm(c.data(), a.data(), ta, b.data(), tb, m, n, k, 0.75, 1.0);
        expect_close("c", fc, c);
      }
    }
  }
}

TEST_F(CpuBackendTest, MatmulBetaZeroIgnoresGarbageInC) {
  FVec a = {1, 2, 3, 4}, b = {1, 0, 0, 1};
  FVec c = {std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f, std::numeric_limits<float>::infinity()};
  backend->matmul(view(c, {2, 2}), view(a, {2, 2}), false, view(b, {2, 2}), false, 1.0f, 0.0f);
  EXPECT_EQ(c, (FVec{1, 2, 3, 4}));
}

TEST_F(CpuBackendTest, MatmulTreatsLeadingDimensionsAsRows) {
  // A linear layer on [B, T, D] activations: y = x Wᵀ with x viewed as [B·T, D].
  const int64_t batch = 2, seq = 3, din = 4, dout = 5;
  const Vec x = rounded(random_vector(batch * seq * din, 9)), w = rounded(random_vector(dout * din, 10));
  FVec fx = to_float(x), fw = to_float(w), fy(batch * seq * dout);
  backend->matmul(view(fy, {batch, seq, dout}), view(fx, {batch, seq, din}), false, view(fw, {dout, din}), true, 1.0f,
                  0.0f);
  Vec y(fy.size());
  cpu::gemm(y.data(), x.data(), false, w.data(), true, batch * seq, dout, din, 1.0, 0.0);
  expect_close("y", fy, y);
}

TEST_F(CpuBackendTest, RopeMatchesReference) {
  const int64_t batch = 2, seq = 37, heads = 3, hd = 16, start = 4;
  const Vec x = rounded(random_vector(batch * seq * heads * hd, 11));
  FVec fx = to_float(x);
  backend->rope(view(fx, {batch, seq, heads, hd}), 10000.0f, start, false);
  Vec cos_t((seq - start) * hd / 2), sin_t(cos_t.size()), ref = x;
  cpu::rope_tables(cos_t.data(), sin_t.data(), seq - start, hd, 10000.0);
  cpu::rope_apply(ref.data(), cos_t.data(), sin_t.data(), batch, seq, heads, hd, start, false);
  expect_close("rope", fx, ref);
  backend->rope(view(fx, {batch, seq, heads, hd}), 10000.0f, start, true);
  expect_close("rope inverse round trip", fx, x);
}

TEST_F(CpuBackendTest, HeadScaleMatchesReference) {
  const int64_t batch = 2, seq = 5, heads = 4, hd = 8, rows = batch * seq;
  const Vec x = rounded(random_vector(rows * heads * hd, 12)), gain = rounded(random_vector(heads, 13, 0.5, 2.0));
  const Vec dout = rounded(random_vector(x.size(), 14));
  FVec fx = to_float(x), fgain = to_float(gain), fdout = to_float(dout), fout(x.size()), fdx(x.size()), fdgain(heads);
  const Tensor shape4 = view(fx, {batch, seq, heads, hd});
  backend->head_scale_forward(view(fout, {batch, seq, heads, hd}), shape4, view(fgain, {heads}));
  backend->head_scale_backward(view(fdx, {batch, seq, heads, hd}), view(fdgain, {heads}),
                               view(fdout, {batch, seq, heads, hd}), shape4, view(fgain, {heads}));
  Vec out(x.size()), dx(x.size(), 0.0), dgain(heads, 0.0);
  cpu::head_scale_forward(out.data(), x.data(), gain.data(), rows, heads, hd);
  cpu::head_scale_backward(dx.data(), dgain.data(), dout.data(), x.data(), gain.data(), rows, heads, hd);
  expect_close("out", fout, out);
  expect_close("dx", fdx, dx);
  expect_close("dgain", fdgain, dgain);
}

void compare_attention(Backend* backend, int64_t batch, int64_t seq, int64_t heads, int64_t kv, int64_t hd) {
  SCOPED_TRACE("B=" + std::to_string(batch) + " T=" + std::to_string(seq) + " H=" + std::to_string(heads) +
               " K=" + std::to_string(kv) + " hd=" + std::to_string(hd));
  const cpu::AttentionShape shape{batch, seq, heads, kv, hd};
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Vec q = rounded(random_vector(batch * seq * heads * hd, 15, -2, 2));
  const Vec k = rounded(random_vector(batch * seq * kv * hd, 16, -2, 2));
  const Vec v = rounded(random_vector(k.size(), 17)), dout = rounded(random_vector(q.size(), 18));
  FVec fq = to_float(q), fk = to_float(k), fv = to_float(v), fdout = to_float(dout);
  FVec fout(q.size()), flse(batch * heads * seq), fdq(q.size()), fdk(k.size()), fdv(v.size());
  auto q4 = [&](FVec& d) { return view(d, {batch, seq, heads, hd}); };
  auto k4 = [&](FVec& d) { return view(d, {batch, seq, kv, hd}); };
  backend->attention_forward(q4(fout), view(flse, {batch, heads, seq}), q4(fq), k4(fk), k4(fv), scale);
  backend->attention_backward(q4(fdq), k4(fdk), k4(fdv), q4(fdout), q4(fq), k4(fk), k4(fv), q4(fout),
                              view(flse, {batch, heads, seq}), scale);
  Vec out(q.size()), lse(flse.size()), dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  cpu::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), shape, static_cast<double>(scale));
  cpu::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                          lse.data(), shape, static_cast<double>(scale));
  expect_close("out", fout, out);
  expect_close("lse", flse, lse);
  expect_close("dq", fdq, dq);
  expect_close("dk", fdk, dk);
  expect_close("dv", fdv, dv);
}

TEST_F(CpuBackendTest, AttentionMatchesReference) {
  compare_attention(backend.get(), 2, 33, 4, 2, 16);
  compare_attention(backend.get(), 1, 150, 4, 2, 16);  // three query blocks, the last one partial
  compare_attention(backend.get(), 2, 64, 3, 1, 10);   // exactly one block; head_dim not a multiple of 4
}

TEST_F(CpuBackendTest, ElementwiseOpsMatchReference) {
  const int64_t rows = 6, dim = 130;  // dim spans more than one column block of the backward kernels
  const Vec x = rounded(random_vector(rows * dim, 19)), x0 = rounded(random_vector(rows * dim, 20));
  const Vec mix = rounded(random_vector(2 * dim, 21)), s = rounded(random_vector(dim, 22));
  const Vec dout = rounded(random_vector(rows * dim, 23));
  FVec fx = to_float(x), fx0 = to_float(x0), fmix = to_float(mix), fs = to_float(s), fdout = to_float(dout);
  auto m2 = [&](FVec& d) { return view(d, {rows, dim}); };

  FVec fr(x.size()), fdr(x.size());
  backend->relu2_forward(m2(fr), m2(fx));
  backend->relu2_backward(m2(fdr), m2(fdout), m2(fx));
  Vec r(x.size()), dr(x.size(), 0.0);
  cpu::relu2_forward(r.data(), x.data(), rows * dim);
  cpu::relu2_backward(dr.data(), dout.data(), x.data(), rows * dim);
  expect_close("relu2", fr, r);
  expect_close("relu2 dx", fdr, dr);

  FVec fm(x.size()), fdx(x.size()), fdx0(x.size()), fdmix(2 * dim);
  backend->resid_mix_forward(m2(fm), m2(fx), m2(fx0), view(fmix, {2, dim}));
  backend->resid_mix_backward(m2(fdx), m2(fdx0), view(fdmix, {2, dim}), m2(fdout), m2(fx), m2(fx0),
                              view(fmix, {2, dim}));
  Vec mo(x.size()), dx(x.size(), 0.0), dx0(x.size(), 0.0), dmix(2 * dim, 0.0);
  cpu::resid_mix_forward(mo.data(), x.data(), x0.data(), mix.data(), rows, dim);
  cpu::resid_mix_backward(dx.data(), dx0.data(), dmix.data(), dout.data(), x.data(), x0.data(), mix.data(), rows, dim);
  expect_close("resid_mix", fm, mo);
  expect_close("resid_mix dx", fdx, dx);
  expect_close("resid_mix dx0", fdx0, dx0);
  expect_close("resid_mix dmix", fdmix, dmix);

  FVec fa = fx, fdy(x.size()), fds(dim);
  backend->add_scaled_forward(m2(fa), view(fs, {dim}), m2(fx0));
  backend->add_scaled_backward(m2(fdy), view(fds, {dim}), m2(fdout), view(fs, {dim}), m2(fx0));
  Vec a = x, dy(x.size(), 0.0), ds(dim, 0.0);
  cpu::add_scaled_forward(a.data(), s.data(), x0.data(), rows, dim);
  cpu::add_scaled_backward(dy.data(), ds.data(), dout.data(), s.data(), x0.data(), rows, dim);
  expect_close("add_scaled", fa, a);
  expect_close("add_scaled dy", fdy, dy);
  expect_close("add_scaled ds", fds, ds);
}

TEST_F(CpuBackendTest, SoftcapCrossEntropyMatchesReference) {
  const int64_t count = 7, vocab = 1024;
  const float cap = 30.0f, weight = 1.0f / 7.0f;
  // Logits up to ±60 exercise both branches of the float tanh and saturation near the cap.
  const Vec z = rounded(random_vector(count * vocab, 24, -60, 60));
  std::vector<int32_t> targets = random_ids(count, static_cast<int32_t>(vocab), 25);
  FVec fz = to_float(z), flosses(count), fdz(z.size());
  backend->softcap_ce_forward(view(flosses, {count}), view(fz, {count, vocab}), view(targets, {count}), cap);
  backend->softcap_ce_backward(view(fdz, {count, vocab}), view(fz, {count, vocab}), view(targets, {count}), cap,
                               weight);
  Vec losses(count), dz(z.size(), 0.0);
  cpu::softcap_ce_forward(losses.data(), z.data(), targets.data(), count, vocab, static_cast<double>(cap));
  cpu::softcap_ce_backward(dz.data(), z.data(), targets.data(), count, vocab, static_cast<double>(cap),
                           static_cast<double>(weight));
  expect_close("losses", flosses, losses);
  expect_close("dlogits", fdz, dz);
}

// ---- accumulate semantics: a second backward call adds the same gradient again ----------------------

// Runs `backward` once, then again into the same buffers: the result must be twice the first
// (up to float rounding, since a sum over rows continues from the earlier value).
void expect_doubles(const std::string& what, std::vector<FVec*> grads, const std::function<void()>& backward) {
  for (FVec* g : grads) std::fill(g->begin(), g->end(), 0.0f);
  backward();
  std::vector<FVec> once;
  for (FVec* g : grads) once.push_back(*g);
  backward();
  for (size_t i = 0; i < grads.size(); ++i) {
    bool nonzero = false;
    for (size_t j = 0; j < once[i].size(); ++j) {
      ASSERT_NEAR((*grads[i])[j], 2.0f * once[i][j], 1e-5 * (1.0 + std::abs(once[i][j])))
          << what << " gradient " << i << " element " << j;
      nonzero = nonzero || once[i][j] != 0.0f;
    }
    EXPECT_TRUE(nonzero) << what << " gradient " << i << " is all zero: the test would prove nothing";
  }
}

TEST_F(CpuBackendTest, BackwardsAccumulate) {
  const int64_t rows = 6, dim = 8, heads = 2, hd = 4, vocab = 9;
  FVec x = to_float(random_vector(rows * dim, 26)), x0 = to_float(random_vector(rows * dim, 27));
  FVec dout = to_float(random_vector(rows * dim, 28)), mix = to_float(random_vector(2 * dim, 29));
  FVec gain = to_float(random_vector(heads, 30)), s = to_float(random_vector(dim, 31));
  FVec table = to_float(random_vector(vocab * dim, 32));
  std::vector<int32_t> ids = random_ids(rows, static_cast<int32_t>(vocab), 33);
  FVec g1(rows * dim), g2(rows * dim), g3(2 * dim), gh(heads), gs(dim), gt(vocab * dim), rstd(rows), tmp(rows * dim);
  auto m2 = [&](FVec& d) { return view(d, {rows, dim}); };
  auto h4 = [&](FVec& d) { return view(d, {1, rows, heads, hd}); };

  expect_doubles("embedding", {&gt}, [&] { backend->embedding_backward(view(gt, {vocab, dim}), m2(dout), view(ids, {rows})); });
  backend->rmsnorm_forward(m2(tmp), view(rstd, {rows}), m2(x), 1e-6f);
  expect_doubles("rmsnorm", {&g1}, [&] { backend->rmsnorm_backward(m2(g1), m2(dout), m2(x), view(rstd, {rows})); });
  expect_doubles("relu2", {&g1}, [&] { backend->relu2_backward(m2(g1), m2(dout), m2(x)); });
  expect_doubles("head_scale", {&g1, &gh},
                 [&] { backend->head_scale_backward(h4(g1), view(gh, {heads}), h4(dout), h4(x), view(gain, {heads})); });
  expect_doubles("resid_mix", {&g1, &g2, &g3}, [&] {
    backend->resid_mix_backward(m2(g1), m2(g2), view(g3, {2, dim}), m2(dout), m2(x), m2(x0), view(mix, {2, dim}));
  });
  expect_doubles("add_scaled", {&g1, &gs},
                 [&] { backend->add_scaled_backward(m2(g1), view(gs, {dim}), m2(dout), view(s, {dim}), m2(x)); });
  std::vector<int32_t> targets = random_ids(rows, static_cast<int32_t>(dim), 34);
  expect_doubles("softcap_ce", {&g1}, [&] {
    backend->softcap_ce_backward(m2(g1), m2(x), view(targets, {rows}), 30.0f, 0.5f);
  });

  const int64_t seq = 3, nh = 2, kvh = 1, d = 4;
  FVec q = to_float(random_vector(seq * nh * d, 35)), k = to_float(random_vector(seq * kvh * d, 36));
  FVec v = to_float(random_vector(seq * kvh * d, 37)), ado = to_float(random_vector(q.size(), 38));
  FVec out(q.size()), lse(nh * seq), dq(q.size()), dk(k.size()), dv(v.size());
  auto q4 = [&](FVec& b) { return view(b, {1, seq, nh, d}); };
  auto k4 = [&](FVec& b) { return view(b, {1, seq, kvh, d}); };
  backend->attention_forward(q4(out), view(lse, {1, nh, seq}), q4(q), k4(k), k4(v), 0.5f);
  expect_doubles("attention", {&dq, &dk, &dv}, [&] {
    backend->attention_backward(q4(dq), k4(dk), k4(dv), q4(ado), q4(q), k4(k), k4(v), q4(out),
                                view(lse, {1, nh, seq}), 0.5f);
  });
}

// ---- shape checks ---------------------------------------------------------------------------------------

void expect_error_mentions(const std::function<void()>& call, const std::vector<std::string>& needles) {
  try {
    call();
    ADD_FAILURE() << "expected dg::Error mentioning " << needles.front();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles)
      EXPECT_NE(message.find(needle), std::string::npos) << "message \"" << message << "\" lacks \"" << needle << "\"";
  }
}

TEST_F(CpuBackendTest, ShapeMismatchesThrowWithOpName) {
  FVec a(64), b(64), c(64), d(64);
  std::vector<int32_t> ids(8, 0);
  expect_error_mentions([&] { backend->rmsnorm_forward(view(a, {4, 16}), view(b, {4}), view(c, {8, 8}), 1e-6f); },
                        {"rmsnorm_forward", "[4, 16]", "[8, 8]"});
  expect_error_mentions([&] { backend->rmsnorm_forward(view(a, {4, 16}), view(b, {3}), view(c, {4, 16}), 1e-6f); },
                        {"rmsnorm_forward", "rstd"});
  expect_error_mentions(
      [&] { backend->matmul(view(a, {4, 4}), view(b, {4, 8}), false, view(c, {4, 8}), false, 1.0f, 0.0f); },
      {"matmul", "inner dimensions", "[4, 8]"});
  expect_error_mentions(
      [&] { backend->matmul(view(a, {8, 8}), view(b, {4, 8}), false, view(c, {8, 8}), false, 1.0f, 0.0f); },
      {"matmul", "c [8, 8]", "[4, 8]"});
  expect_error_mentions([&] { backend->matmul(view(a, {8, 8}), view(a, {8, 8}), false, view(c, {8, 8}), false, 1, 0); },
                        {"matmul", "share memory"});
  expect_error_mentions([&] { backend->rope(view(a, {2, 4, 2, 4}), 10000.0f, 5, false); }, {"rope", "start 5"});
  expect_error_mentions([&] { backend->rope(view(a, {4, 16}), 10000.0f, 0, false); }, {"rope", "4 dimensions"});
  expect_error_mentions(
      [&] {
        backend->attention_forward(view(a, {1, 4, 3, 4}), view(b, {12}), view(c, {1, 4, 3, 4}), view(d, {1, 4, 2, 4}),
                                   view(d, {1, 4, 2, 4}), 1.0f);
      },
      {"attention_forward", "multiple of KV heads"});
  expect_error_mentions(
      [&] {
        backend->attention_forward(view(a, {1, 4, 2, 4}), view(b, {7}), view(c, {1, 4, 2, 4}), view(d, {1, 4, 2, 4}),
                                   view(d, {1, 4, 2, 4}), 1.0f);
      },
      {"attention_forward", "lse"});
  expect_error_mentions([&] { backend->relu2_forward(view(a, {64}), view(b, {32})); }, {"relu2_forward", "[32]"});
  expect_error_mentions([&] { backend->resid_mix_forward(view(a, {4, 16}), view(b, {4, 16}), view(c, {4, 16}), view(d, {16})); },
                        {"resid_mix_forward", "mix"});
  expect_error_mentions([&] { backend->add_scaled_forward(view(a, {4, 16}), view(b, {8}), view(c, {4, 16})); },
                        {"add_scaled_forward", "s [8]"});
  expect_error_mentions([&] { backend->head_scale_forward(view(a, {1, 4, 4, 4}), view(b, {1, 4, 4, 4}), view(c, {3})); },
                        {"head_scale_forward", "gain"});
  ids[5] = 16;
  expect_error_mentions([&] { backend->embedding_forward(view(a, {8, 8}), view(b, {8, 8}), view(ids, {8})); },
                        {"embedding_forward", "ids[5] = 16", "[0, 8)"});
  expect_error_mentions(
      [&] { backend->softcap_ce_forward(view(a, {4}), view(b, {4, 16}), view(ids, {8}), 30.0f); },
      {"softcap_ce_forward", "targets"});
  expect_error_mentions([&] { backend->embedding_forward(view(a, {8, 8}), view(b, {8, 8}), view(a, {8})); },
                        {"embedding_forward", "ids must be i32"});
  expect_error_mentions([&] { backend->adam_update(view(a, {64}), view(b, {64}), view(c, {64}), view(d, {32}), {}); },
                        {"adam_update", "v [32]"});
  expect_error_mentions([&] { backend->newton_schulz(view(a, {4, 8}), view(b, {4, 8}), 5, view(c, {64})); },
                        {"newton_schulz", "workspace"});
}

}  // namespace
}  // namespace dg::test
