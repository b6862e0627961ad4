#include "backend/cpu/ops_blocks.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/parallel.h"
#include "backend/cpu/vec_math.h"

namespace dg::cpu {
namespace {

// Rows per task when a kernel sums parameter gradients over rows: every chunk writes its own
// partial sums, which are then added in chunk order. The chunk size is fixed (not derived from
// the thread count), so the result is the same on any number of threads.
constexpr int64_t kRowChunk = 64;

// Scratch owned by the calling thread, separate from thread_scratch's buffer (which the calling
// thread also uses as OpenMP's thread 0 inside the parallel regions below). Grows once.
template <class Real>
Real* caller_scratch(int64_t count) {
  thread_local std::vector<Real> buffer;
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

template <class Real>
inline Real sign_of(Real v) {
  return static_cast<Real>((v > Real(0)) - (v < Real(0)));
}

// π = softmax(mix[grp, :]) for every group into pi [groups, N]; all ones when mix is null (N = 1).
template <class Real>
void mixture_weights(Real* pi, const Real* mix, int64_t groups, int64_t gaussians) {
  for (int64_t grp = 0; grp < groups; ++grp) {
    Real* p = pi + grp * gaussians;
    if (mix == nullptr) {
      std::fill_n(p, gaussians, Real(1));
      continue;
    }
    const Real* w = mix + grp * gaussians;
    const Real top = *std::max_element(w, w + gaussians);
    Real total = 0;
    for (int64_t j = 0; j < gaussians; ++j) total += (p[j] = std::exp(w[j] - top));
    for (int64_t j = 0; j < gaussians; ++j) p[j] /= total;
  }
}

// Mean and 1/√(variance + eps) of one group's m features (two passes: the variance is formed from
// centred values, which keeps it exact-ish when the mean is large).
template <class Real>
void group_stats(const Real* xg, int64_t m, Real eps, Real& mu, Real& rs) {
  Real sum = 0;
  for (int64_t f = 0; f < m; ++f) sum += xg[f];
  mu = sum / static_cast<Real>(m);
  Real sq = 0;
  for (int64_t f = 0; f < m; ++f) {
    const Real c = xg[f] - mu;
    sq += c * c;
  }
  rs = Real(1) / std::sqrt(sq / static_cast<Real>(m) + eps);
}

// e[j·m + f] = exp(−((x_f − (μ + offset_j))·rstd)² / (2·scale_j)) for the N Gaussians of one group.
template <class Real>
void gaussian_terms(Real* e, const Real* xg, int64_t m, Real mu, Real rs, const Real* off, const Real* sc,
                    int64_t gaussians) {
  for (int64_t j = 0; j < gaussians; ++j) {
    Real* ej = e + j * m;
    const Real centre = mu + off[j], denom = Real(2) * sc[j];
    for (int64_t f = 0; f < m; ++f) {
      const Real u = (xg[f] - centre) * rs;
      ej[f] = -(u * u) / denom;
    }
    exp_shift_sum(ej, m, Real(0));  // ej ← exp(ej), vectorised for float
  }
}

// gate[f] = Σ_j π_j·e[j·m + f]; with one Gaussian the gate is e itself (π = 1, no rounding).
template <class Real>
void mix_gate(Real* gate, const Real* e, const Real* pi, int64_t m, int64_t gaussians) {
  if (gaussians == 1 && pi[0] == Real(1)) {
    std::copy_n(e, m, gate);
    return;
  }
  std::fill_n(gate, m, Real(0));
  for (int64_t j = 0; j < gaussians; ++j)
    for (int64_t f = 0; f < m; ++f) gate[f] += pi[j] * e[j * m + f];
}

}  // namespace

// ---- τ-fusion controller features ----------------------------------------------------------------

template <class Real>
void tau_features_forward(Real* features, const Real* streams, int64_t n, int64_t rows, int64_t k) {
  const int64_t width = (n + 1) * k, plane = rows * k;
#pragma omp parallel for schedule(static) if (rows * width * n > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    Real* row = features + r * width;
    for (int64_t i = 0; i < n; ++i) std::copy_n(streams + i * plane + r * k, k, row + i * k);
    Real* dis = row + n * k;
    std::fill_n(dis, k, Real(0));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) {
        const Real* a = streams + i * plane + r * k;
        const Real* b = streams + j * plane + r * k;
#pragma omp simd
        for (int64_t c = 0; c < k; ++c) dis[c] += std::abs(a[c] - b[c]);
      }
  }
}

template <class Real>
void tau_features_backward(Real* dstreams, const Real* dfeatures, const Real* streams, int64_t n, int64_t rows,
                           int64_t k) {
  const int64_t width = (n + 1) * k, plane = rows * k;
#pragma omp parallel for schedule(static) if (rows * width * n > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const Real* drow = dfeatures + r * width;
    const Real* ddis = drow + n * k;
    for (int64_t i = 0; i < n; ++i) {
      Real* di = dstreams + i * plane + r * k;
      const Real* si = streams + i * plane + r * k;
      for (int64_t c = 0; c < k; ++c) {
        Real pull = 0;
        for (int64_t j = 0; j < n; ++j)
          if (j != i) pull += sign_of(si[c] - streams[j * plane + r * k + c]);
        di[c] += drow[i * k + c] + pull * ddis[c];
      }
    }
  }
}

// ---- GELU -----------------------------------------------------------------------------------------

template <class Real>
void gelu_forward(Real* out, const Real* x, int64_t n) {
  const Real inv_sqrt2 = Real(0.70710678118654752440);
#pragma omp parallel for schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) out[i] = Real(0.5) * x[i] * (Real(1) + std::erf(x[i] * inv_sqrt2));
}

template <class Real>
void gelu_backward(Real* dx, const Real* dout, const Real* x, int64_t n) {
  const Real inv_sqrt2 = Real(0.70710678118654752440), inv_sqrt_2pi = Real(0.39894228040143267794);
#pragma omp parallel for schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    const Real cdf = Real(0.5) * (Real(1) + std::erf(x[i] * inv_sqrt2));
    const Real pdf = inv_sqrt_2pi * std::exp(Real(-0.5) * x[i] * x[i]);
    dx[i] += dout[i] * (cdf + x[i] * pdf);
  }
}

// ---- gated scaled add -----------------------------------------------------------------------------

template <class Real>
void gated_add_forward(Real* x, const Real* gate, const Real* s, const Real* y, int64_t rows, int64_t dim) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * dim;
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) x[base + c] += (gate[base + c] * s[c]) * y[base + c];
  }
}

template <class Real>
void gated_add_backward(Real* dy, Real* dgate, Real* ds, const Real* dx, const Real* gate, const Real* s,
                        const Real* y, int64_t rows, int64_t dim) {
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
  // Column blocks: each task owns ds[block] for all rows, so the row sums need no atomics.
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
    Real sum[kColumnBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t base = r * dim;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        const Real g = dx[base + c];
        dy[base + c] += gate[base + c] * s[c] * g;
        dgate[base + c] += s[c] * y[base + c] * g;
        sum[c - c0] += gate[base + c] * y[base + c] * g;
      }
    }
    for (int64_t c = c0; c < c1; ++c) ds[c] += sum[c - c0];
  }
}

// ---- DAAM density gate ----------------------------------------------------------------------------

template <class Real>
void daam_gate_forward(Real* out, Real* mean, Real* rstd, const Real* x, const Real* offset, const Real* scale,
                       const Real* mix, Real eps, bool residual, const DaamShape& s) {
  const int64_t g = s.groups, N = s.gaussians, m = s.dim / s.groups;
  Real* pi = caller_scratch<Real>(g * N);
  mixture_weights(pi, mix, g, N);
#pragma omp parallel for schedule(static) if (s.rows * s.dim * N > kParallelMinElements)
  for (int64_t r = 0; r < s.rows; ++r) {
    Real* e = thread_scratch<Real>((N + 1) * m);
    Real* gate = e + N * m;
    for (int64_t grp = 0; grp < g; ++grp) {
      const int64_t base = r * s.dim + grp * m;
      Real mu, rs;
      group_stats(x + base, m, eps, mu, rs);
      mean[r * g + grp] = mu;
      rstd[r * g + grp] = rs;
      gaussian_terms(e, x + base, m, mu, rs, offset + grp * N, scale + grp * N, N);
      mix_gate(gate, e, pi + grp * N, m, N);
      for (int64_t f = 0; f < m; ++f) {
        const Real xv = x[base + f];
        out[base + f] = residual ? xv + xv * gate[f] : xv * gate[f];
      }
    }
  }
}

template <class Real>
void daam_gate_backward(Real* dx, Real* doffset, Real* dscale, Real* dmix, const Real* dout, const Real* x,
                        const Real* mean, const Real* rstd, const Real* offset, const Real* scale, const Real* mix,
                        bool residual, const DaamShape& s) {
  if (s.rows == 0) return;
  const int64_t g = s.groups, N = s.gaussians, m = s.dim / s.groups;
  const int64_t chunks = (s.rows + kRowChunk - 1) / kRowChunk;
  const int64_t per_chunk = g * N * 3;  // (d offset, d scale, d π) per group and Gaussian
  Real* pi = caller_scratch<Real>(g * N + chunks * per_chunk);
  Real* partials = pi + g * N;
  mixture_weights(pi, mix, g, N);
  const Real res = residual ? Real(1) : Real(0), inv_m = Real(1) / static_cast<Real>(m);

#pragma omp parallel for schedule(static) if (s.rows * s.dim * N > kParallelMinElements)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    Real* part = partials + chunk * per_chunk;
    std::fill_n(part, per_chunk, Real(0));
    Real* e = thread_scratch<Real>((N + 2) * m);
    Real* gate = e + N * m;
    Real* local = gate + m;  // ∂L/∂x through the Gaussians' u, before the μ and σ² paths
    const int64_t r1 = std::min(s.rows, (chunk + 1) * kRowChunk);
    for (int64_t r = chunk * kRowChunk; r < r1; ++r) {
      for (int64_t grp = 0; grp < g; ++grp) {
        const int64_t base = r * s.dim + grp * m;
        const Real* xg = x + base;
        const Real* dg = dout + base;
        const Real mu = mean[r * g + grp], rs = rstd[r * g + grp];
        const Real* off = offset + grp * N;
        const Real* sc = scale + grp * N;
        const Real* pg = pi + grp * N;
        gaussian_terms(e, xg, m, mu, rs, off, sc, N);
        mix_gate(gate, e, pg, m, N);
        std::fill_n(local, m, Real(0));
        Real sum_du = 0, d_rs = 0;
        Real* pg_part = part + grp * N * 3;
        for (int64_t j = 0; j < N; ++j) {
          const Real* ej = e + j * m;
          const Real centre = mu + off[j], c = sc[j];
          Real d_off = 0, d_sc = 0, d_pi = 0;
          for (int64_t f = 0; f < m; ++f) {
            const Real gx = dg[f] * xg[f];  // ∂L/∂gate_f
            const Real t = gx * pg[j] * ej[f];
            const Real diff = xg[f] - centre, u = diff * rs;
            const Real du = -t * u / c;  // ∂L/∂u: e = exp(−u²/(2c)) ⇒ ∂e/∂u = −e·u/c
            local[f] += du * rs;
            sum_du += du;
            d_rs += du * diff;  // u = diff·rstd
            d_off -= du * rs;
            d_sc += t * u * u / (Real(2) * c * c);
            d_pi += gx * ej[f];
          }
          pg_part[j * 3 + 0] += d_off;
          pg_part[j * 3 + 1] += d_sc;
          pg_part[j * 3 + 2] += d_pi;
        }
        // μ enters every u with −rstd; rstd = (σ² + eps)^(−1/2) ⇒ ∂rstd/∂σ² = −rstd³/2, and
        // ∂σ²/∂x_f = 2(x_f − μ)/m (its μ path vanishes: Σ_f (x_f − μ) = 0).
        const Real d_mu = -rs * sum_du;
        const Real d_var = Real(-0.5) * d_rs * rs * rs * rs;
        for (int64_t f = 0; f < m; ++f)
          dx[base + f] += dg[f] * (gate[f] + res) + local[f] + d_mu * inv_m + d_var * Real(2) * (xg[f] - mu) * inv_m;
      }
    }
  }

  // Chunk partials summed in chunk order into chunk 0's slots.
  for (int64_t chunk = 1; chunk < chunks; ++chunk)
    for (int64_t i = 0; i < per_chunk; ++i) partials[i] += partials[chunk * per_chunk + i];
  for (int64_t grp = 0; grp < g; ++grp) {
    const Real* sums = partials + grp * N * 3;
    for (int64_t j = 0; j < N; ++j) {
      doffset[grp * N + j] += sums[j * 3 + 0];
      dscale[grp * N + j] += sums[j * 3 + 1];
    }
    if (dmix == nullptr) continue;
    // Softmax backward: ∂L/∂w_j = π_j·(∂L/∂π_j − Σ_k π_k·∂L/∂π_k).
    const Real* pg = pi + grp * N;
    Real weighted = 0;
    for (int64_t k = 0; k < N; ++k) weighted += pg[k] * sums[k * 3 + 2];
    for (int64_t j = 0; j < N; ++j) dmix[grp * N + j] += pg[j] * (sums[j * 3 + 2] - weighted);
  }
}

template <class Real>
void daam_density_forward(Real* density, const Real* x, const Real* mean, const Real* rstd, const Real* offset,
                          const Real* scale, const Real* mix, const DaamShape& s) {
  const int64_t g = s.groups, N = s.gaussians, m = s.dim / s.groups;
  Real* pi = caller_scratch<Real>(g * N);
  mixture_weights(pi, mix, g, N);
#pragma omp parallel for schedule(static) if (s.rows * s.dim * N > kParallelMinElements)
  for (int64_t r = 0; r < s.rows; ++r) {
    Real* e = thread_scratch<Real>((N + 1) * m);
    Real* gate = e + N * m;
    for (int64_t grp = 0; grp < g; ++grp) {
      const int64_t base = r * s.dim + grp * m;
      gaussian_terms(e, x + base, m, mean[r * g + grp], rstd[r * g + grp], offset + grp * N, scale + grp * N, N);
      mix_gate(gate, e, pi + grp * N, m, N);
      Real total = 0;
      for (int64_t f = 0; f < m; ++f) total += gate[f];
      density[r * g + grp] = total / static_cast<Real>(m);
    }
  }
}

// ---- per-(row, head) gate -------------------------------------------------------------------------

template <class Real>
void head_gate_forward(Real* out, const Real* x, const Real* gate, Real gain, int64_t rows, int64_t heads,
                       int64_t head_dim) {
  const int64_t count = rows * heads;
#pragma omp parallel for schedule(static) if (count * head_dim > kParallelMinElements)
  for (int64_t rh = 0; rh < count; ++rh) {
    const Real factor = gain * gate[rh];
    const int64_t base = rh * head_dim;
#pragma omp simd
    for (int64_t d = 0; d < head_dim; ++d) out[base + d] = x[base + d] * factor;
  }
}

template <class Real>
void head_gate_backward(Real* dx, Real* dgate, const Real* dout, const Real* x, const Real* gate, Real gain,
                        int64_t rows, int64_t heads, int64_t head_dim) {
  const int64_t count = rows * heads;
  // Every (row, head) owns its dgate entry: no reduction across tasks.
#pragma omp parallel for schedule(static) if (count * head_dim > kParallelMinElements)
  for (int64_t rh = 0; rh < count; ++rh) {
    const Real factor = gain * gate[rh];
    const int64_t base = rh * head_dim;
    Real total = 0;
#pragma omp simd reduction(+ : total)
    for (int64_t d = 0; d < head_dim; ++d) {
      dx[base + d] += dout[base + d] * factor;
      total += dout[base + d] * x[base + d];
    }
    dgate[rh] += gain * total;
  }
}

#define DG_INSTANTIATE_BLOCKS(Real)                                                                                \
  template void tau_features_forward<Real>(Real*, const Real*, int64_t, int64_t, int64_t);                        \
  template void tau_features_backward<Real>(Real*, const Real*, const Real*, int64_t, int64_t, int64_t);          \
  template void gelu_forward<Real>(Real*, const Real*, int64_t);                                                  \
  template void gelu_backward<Real>(Real*, const Real*, const Real*, int64_t);                                    \
  template void gated_add_forward<Real>(Real*, const Real*, const Real*, const Real*, int64_t, int64_t);          \
  template void gated_add_backward<Real>(Real*, Real*, Real*, const Real*, const Real*, const Real*, const Real*,  \
                                         int64_t, int64_t);                                                       \
  template void daam_gate_forward<Real>(Real*, Real*, Real*, const Real*, const Real*, const Real*, const Real*,   \
                                        Real, bool, const DaamShape&);                                            \
  template void daam_gate_backward<Real>(Real*, Real*, Real*, Real*, const Real*, const Real*, const Real*,        \
                                         const Real*, const Real*, const Real*, const Real*, bool,                \
                                         const DaamShape&);                                                       \
  template void daam_density_forward<Real>(Real*, const Real*, const Real*, const Real*, const Real*, const Real*, \
                                           const Real*, const DaamShape&);                                        \
  template void head_gate_forward<Real>(Real*, const Real*, const Real*, Real, int64_t, int64_t, int64_t);        \
  template void head_gate_backward<Real>(Real*, Real*, const Real*, const Real*, const Real*, Real, int64_t,      \
                                         int64_t, int64_t);

DG_INSTANTIATE_BLOCKS(float)
DG_INSTANTIATE_BLOCKS(double)

}  // namespace dg::cpu
