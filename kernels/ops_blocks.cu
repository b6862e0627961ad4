// The CUDA backend's pluggable block ops (backend.h, "Pluggable block ops"; docs/blocks.md):
// τ-fusion features, the DAAM density gate and the headwise gate. (GELU and the gated add, which
// the blocks also use, are in ops_elementwise.cu.)
//
// Expressions follow the CPU reference (src/backend/cpu/ops_blocks.cpp) with the same association.
// Every op is per row; the DAAM parameter gradients (Σ over rows and features) are reduced per
// (row, group) by a warp in a fixed order, then over rows by column sums (column_sums.cuh).
//
// Performance left for later: DAAM gives a warp to each (row, group), which idles lanes when a
// group has fewer than 32 features, and its backward evaluates every Gaussian twice (once for the
// parameter sums, once for dx) rather than keeping N·m terms in shared memory; the per-(row, group)
// parameter partials go through global memory (rows·g·N·3 floats) before the column sums.
#include <cmath>

#include "backend/op_checks.h"
#include "column_sums.cuh"
#include "cuda_backend_impl.h"
#include "cuda_check.cuh"
#include "dialect.cuh"
#include "grid.cuh"
#include "warp_rows.cuh"

namespace dg::cuda {

namespace {

// ---- τ-fusion controller features: streams [n, rows, k] -> features [rows, (n + 1)·k] --------------------

__device__ inline float sign_of(float v) { return static_cast<float>((v > 0.0f) - (v < 0.0f)); }

// Thread per (row, feature c): the n copies and D = Σ_{i<j} |s_i − s_j| in the CPU's (i, j) order.
__global__ void tau_features_forward_kernel(float* features, const float* streams, int64_t n, int64_t rows, int64_t k) {
  const int64_t width = (n + 1) * k, plane = rows * k;
  for (int64_t c = tile_col(); c < k; c += tile_col_stride())
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) {
      const float* s = streams + r * k + c;  // stream i's value at s[i·plane]
      float* row = features + r * width + c;
      float dis = 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        row[i * k] = s[i * plane];
        for (int64_t j = i + 1; j < n; ++j) dis += fabsf(s[i * plane] - s[j * plane]);
      }
      row[n * k] = dis;
    }
}

__global__ void tau_features_backward_kernel(float* dstreams, const float* dfeatures, const float* streams, int64_t n,
                                             int64_t rows, int64_t k) {
  const int64_t width = (n + 1) * k, plane = rows * k;
  for (int64_t c = tile_col(); c < k; c += tile_col_stride())
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) {
      const float* s = streams + r * k + c;
      const float* drow = dfeatures + r * width + c;
      const float ddis = drow[n * k];
      for (int64_t i = 0; i < n; ++i) {
        float pull = 0.0f;
        for (int64_t j = 0; j < n; ++j)
          if (j != i) pull += sign_of(s[i * plane] - s[j * plane]);
        dstreams[i * plane + r * k + c] += drow[i * k] + pull * ddis;
      }
    }
}

// ---- DAAM density gate -------------------------------------------------------------------------------------

// π = softmax(mix[grp, :]) per group (all ones without mix), one thread per group, as the CPU's
// mixture_weights: the first maximum, exp(w − max), their sum in order, then each divided by it.
__global__ void daam_mixture_kernel(float* pi, const float* mix, int64_t groups, int64_t gaussians) {
  for (int64_t grp = global_index(); grp < groups; grp += global_stride()) {
    float* p = pi + grp * gaussians;
    if (mix == nullptr) {
      for (int64_t j = 0; j < gaussians; ++j) p[j] = 1.0f;
      continue;
    }
    const float* w = mix + grp * gaussians;
    float top = w[0];
    for (int64_t j = 1; j < gaussians; ++j)
      if (top < w[j]) top = w[j];
    float total = 0.0f;
    for (int64_t j = 0; j < gaussians; ++j) total += (p[j] = expf(w[j] - top));
    for (int64_t j = 0; j < gaussians; ++j) p[j] /= total;
  }
}

// One Gaussian's term exp(−((x − (μ + offset))·rstd)² / (2·scale)) (expf: within 2 ulp of e^x).
__device__ inline float gaussian_term(float xv, float mu, float rs, float off, float sc) {
  const float centre = mu + off, denom = 2.0f * sc;
  const float u = (xv - centre) * rs;
  return expf(-(u * u) / denom);
}

// gate = Σ_j π_j·e_j; with one Gaussian and π = 1 the gate is e itself (no rounding), as on the CPU.
__device__ inline float daam_gate_value(float xv, float mu, float rs, const float* off, const float* sc, const float* pg,
                                        int64_t gaussians) {
  if (gaussians == 1 && pg[0] == 1.0f) return gaussian_term(xv, mu, rs, off[0], sc[0]);
  float gate = 0.0f;
  for (int64_t j = 0; j < gaussians; ++j) gate += pg[j] * gaussian_term(xv, mu, rs, off[j], sc[j]);
  return gate;
}

// One warp per (row, group): mean and rstd by warp sums (two passes, the variance from centred
// values as on the CPU), then the gate per feature.
__global__ void daam_forward_kernel(float* out, float* mean, float* rstd, const float* x, const float* offset,
                                    const float* scale, const float* pi, float eps, bool residual, DaamShape s) {
  const int64_t g = s.groups, N = s.gaussians, m = s.dim / s.groups, items = s.rows * g;
  for (int64_t item = global_warp(); item < items; item += warp_count()) {
    const int64_t grp = item % g, base = (item / g) * s.dim + grp * m;
    const float* xg = x + base;
    float sum = 0.0f;
    for (int64_t f = warp_lane(); f < m; f += kWarpSize) sum += xg[f];
    const float mu = warp_sum(sum) / static_cast<float>(m);
    float sq = 0.0f;
    for (int64_t f = warp_lane(); f < m; f += kWarpSize) {
      const float c = xg[f] - mu;
      sq += c * c;
    }
    const float rs = 1.0f / sqrtf(warp_sum(sq) / static_cast<float>(m) + eps);
    if (warp_lane() == 0) {
      mean[item] = mu;
      rstd[item] = rs;
    }
    for (int64_t f = warp_lane(); f < m; f += kWarpSize) {
      const float xv = xg[f];
      const float gate = daam_gate_value(xv, mu, rs, offset + grp * N, scale + grp * N, pi + grp * N, N);
      out[base + f] = residual ? xv + xv * gate : xv * gate;
    }
  }
}

__global__ void daam_density_kernel(float* density, const float* x, const float* mean, const float* rstd,
                                    const float* offset, const float* scale, const float* pi, DaamShape s) {
  const int64_t g = s.groups, N = s.gaussians, m = s.dim / s.groups, items = s.rows * g;
  for (int64_t item = global_warp(); item < items; item += warp_count()) {
    const int64_t grp = item % g, base = (item / g) * s.dim + grp * m;
    const float mu = mean[item], rs = rstd[item];
    float total = 0.0f;
    for (int64_t f = warp_lane(); f < m; f += kWarpSize)
      total += daam_gate_value(x[base + f], mu, rs, offset + grp * N, scale + grp * N, pi + grp * N, N);
    total = warp_sum(total);
    if (warp_lane() == 0) density[item] = total / static_cast<float>(m);
  }
}

// One warp per (row, group), the CPU's math (cpu/ops_blocks.cpp, daam_gate_backward):
//  1. per Gaussian j, over the group's features: ∂L/∂u's sums for the μ and rstd paths, and the
//     (row, group)'s shares of d offset_j, d scale_j, d π_j, written to parts[item, j, 0..3);
//  2. per feature: dx += dout·(gate + residual) + the Gaussians' u path + the μ and σ² paths,
//     the Gaussian terms evaluated again (no per-feature storage).
__global__ void daam_backward_kernel(float* dx, float* parts, const float* dout, const float* x, const float* mean,
                                     const float* rstd, const float* offset, const float* scale, const float* pi,
                                     bool residual, DaamShape s) {
  const int64_t g = s.groups, N = s.gaussians, m = s.dim / s.groups, items = s.rows * g;
  const float res = residual ? 1.0f : 0.0f, inv_m = 1.0f / static_cast<float>(m);
  for (int64_t item = global_warp(); item < items; item += warp_count()) {
    const int64_t grp = item % g, base = (item / g) * s.dim + grp * m;
    const float* xg = x + base;
    const float* dg = dout + base;
    const float mu = mean[item], rs = rstd[item];
    const float* off = offset + grp * N;
    const float* sc = scale + grp * N;
    const float* pg = pi + grp * N;
    float sum_du = 0.0f, d_rs = 0.0f;
    for (int64_t j = 0; j < N; ++j) {
      const float centre = mu + off[j], c = sc[j];
      float d_off = 0.0f, d_sc = 0.0f, d_pi = 0.0f;
      for (int64_t f = warp_lane(); f < m; f += kWarpSize) {
        const float e = gaussian_term(xg[f], mu, rs, off[j], c);
        const float gx = dg[f] * xg[f];  // ∂L/∂gate_f
        const float t = gx * pg[j] * e;
        const float diff = xg[f] - centre, u = diff * rs;
        const float du = -t * u / c;  // ∂L/∂u: e = exp(−u²/(2c)) ⇒ ∂e/∂u = −e·u/c
        sum_du += du;
        d_rs += du * diff;  // u = diff·rstd
        d_off -= du * rs;
        d_sc += t * u * u / (2.0f * c * c);
        d_pi += gx * e;
      }
      d_off = warp_sum(d_off);
      d_sc = warp_sum(d_sc);
      d_pi = warp_sum(d_pi);
      if (warp_lane() == 0) {
        float* p = parts + (item * N + j) * 3;
        p[0] = d_off;
        p[1] = d_sc;
        p[2] = d_pi;
      }
    }
    // μ enters every u with −rstd; rstd = (σ² + eps)^(−1/2) ⇒ ∂rstd/∂σ² = −rstd³/2, and
    // ∂σ²/∂x_f = 2(x_f − μ)/m (its μ path vanishes: Σ_f (x_f − μ) = 0).
    const float d_mu = -rs * warp_sum(sum_du);
    const float d_var = -0.5f * warp_sum(d_rs) * rs * rs * rs;
    for (int64_t f = warp_lane(); f < m; f += kWarpSize) {
      const float xv = xg[f];
      const float gx = dg[f] * xv;
      float gate = 0.0f, local = 0.0f;  // local: ∂L/∂x through the Gaussians' u, summed over j in order
      for (int64_t j = 0; j < N; ++j) {
        const float e = gaussian_term(xv, mu, rs, off[j], sc[j]);
        const float t = gx * pg[j] * e;
        const float u = (xv - (mu + off[j])) * rs;
        const float du = -t * u / sc[j];
        local += du * rs;
        gate = (N == 1 && pg[0] == 1.0f) ? e : gate + pg[j] * e;
      }
      dx[base + f] += dg[f] * (gate + res) + local + d_mu * inv_m + d_var * 2.0f * (xv - mu) * inv_m;
    }
  }
}

// Per group, from the row sums of the parts: doffset and dscale, and through the softmax
// dmix_j += π_j·(∂L/∂π_j − Σ_k π_k·∂L/∂π_k).
__global__ void daam_parameter_grads_kernel(float* doffset, float* dscale, float* dmix, const float* sums,
                                            const float* pi, int64_t groups, int64_t gaussians) {
  for (int64_t grp = global_index(); grp < groups; grp += global_stride()) {
    const float* s = sums + grp * gaussians * 3;
    for (int64_t j = 0; j < gaussians; ++j) {
      doffset[grp * gaussians + j] += s[j * 3 + 0];
      dscale[grp * gaussians + j] += s[j * 3 + 1];
    }
    if (dmix == nullptr) continue;
    const float* pg = pi + grp * gaussians;
    float weighted = 0.0f;
    for (int64_t k = 0; k < gaussians; ++k) weighted += pg[k] * s[k * 3 + 2];
    for (int64_t j = 0; j < gaussians; ++j) dmix[grp * gaussians + j] += pg[j] * (s[j * 3 + 2] - weighted);
  }
}

// ---- per-(row, head) gate: x [rows·heads, head_dim] ---------------------------------------------------------

__global__ void head_gate_forward_kernel(float* out, const float* x, const float* gate, float gain, int64_t count,
                                         int64_t head_dim) {
  for (int64_t d = tile_col(); d < head_dim; d += tile_col_stride())
    for (int64_t rh = tile_row(); rh < count; rh += tile_row_stride())
      out[rh * head_dim + d] = x[rh * head_dim + d] * (gain * gate[rh]);
}

// One warp per (row, head): it owns dgate[row, head], so no sum crosses warps.
__global__ void head_gate_backward_kernel(float* dx, float* dgate, const float* dout, const float* x, const float* gate,
                                          float gain, int64_t count, int64_t head_dim) {
  for (int64_t rh = global_warp(); rh < count; rh += warp_count()) {
    const float factor = gain * gate[rh];
    const int64_t base = rh * head_dim;
    float total = 0.0f;
    for (int64_t d = warp_lane(); d < head_dim; d += kWarpSize) {
      dx[base + d] += dout[base + d] * factor;
      total += dout[base + d] * x[base + d];
    }
    total = warp_sum(total);
    if (warp_lane() == 0) dgate[rh] += gain * total;
  }
}

const float* optional_data(const Tensor& t) { return t.ndim == 0 ? nullptr : t.f32(); }

}  // namespace

// ---- τ-fusion controller features ----------------------------------------------------------------------------------

void CudaBackend::tau_features_forward(const Tensor& features, const Tensor& streams) {
  check_tau_features_forward(Device::CUDA, features, streams);
  const int64_t n = streams.dim(0), rows = streams.dim(1), k = streams.dim(2);
  if (rows == 0 || k == 0) return;
  launch<tau_features_forward_kernel>(tile_grid(rows, k), tile_block(), 0, stream(), features.f32(), streams.f32(), n,
                                      rows, k);
}

void CudaBackend::tau_features_backward(const Tensor& dstreams, const Tensor& dfeatures, const Tensor& streams) {
  check_tau_features_backward(Device::CUDA, dstreams, dfeatures, streams);
  const int64_t n = streams.dim(0), rows = streams.dim(1), k = streams.dim(2);
  if (rows == 0 || k == 0) return;
  launch<tau_features_backward_kernel>(tile_grid(rows, k), tile_block(), 0, stream(), dstreams.f32(), dfeatures.f32(),
                                       streams.f32(), n, rows, k);
}

// ---- DAAM density gate -------------------------------------------------------------------------------------------

void CudaBackend::daam_gate_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                    const Tensor& offset, const Tensor& scale, const Tensor& mix, float eps,
                                    bool residual) {
  const DaamShape s = check_daam_gate_forward(Device::CUDA, out, mean, rstd, x, offset, scale, mix, eps);
  if (s.rows == 0) return;
  auto* pi = static_cast<float*>(scratch(kReductionScratchSlot, s.groups * s.gaussians * sizeof(float)));
  launch<daam_mixture_kernel>(grid_for(s.groups), kThreads, 0, stream(), pi, optional_data(mix), s.groups, s.gaussians);
  launch<daam_forward_kernel>(grid_for(s.rows * s.groups * kWarpSize), kThreads, 0, stream(), out.f32(), mean.f32(), rstd.f32(),
                              x.f32(), offset.f32(), scale.f32(), pi, eps, residual, s);
}

void CudaBackend::daam_gate_backward(const Tensor& dx, const Tensor& doffset, const Tensor& dscale, const Tensor& dmix,
                                     const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& offset, const Tensor& scale, const Tensor& mix, bool residual) {
  const DaamShape s =
      check_daam_gate_backward(Device::CUDA, dx, doffset, dscale, dmix, dout, x, mean, rstd, offset, scale, mix);
  if (s.rows == 0) return;
  // Scratch: π [g, N] | parts [rows·g, N, 3] | the column sums' partials | sums [g, N, 3].
  const int64_t params = s.groups * s.gaussians, items = s.rows * s.groups;
  const ColumnSums plan(s.rows, params * 3);
  auto* pi = static_cast<float*>(
      scratch(kReductionScratchSlot, (params + items * s.gaussians * 3 + plan.partial_count() + params * 3) * sizeof(float)));
  float* parts = pi + params;
  float* partials = parts + items * s.gaussians * 3;
  float* sums = partials + plan.partial_count();
  launch<daam_mixture_kernel>(grid_for(s.groups), kThreads, 0, stream(), pi, optional_data(mix), s.groups, s.gaussians);
  launch<daam_backward_kernel>(grid_for(items * kWarpSize), kThreads, 0, stream(), dx.f32(), parts, dout.f32(), x.f32(), mean.f32(),
                               rstd.f32(), offset.f32(), scale.f32(), pi, residual, s);
  // parts viewed as [rows, g·N·3]: row r holds its groups' (d offset, d scale, d π) triples.
  DG_CUDA_CHECK(cudaMemsetAsync(sums, 0, params * 3 * sizeof(float), stream()));
  add_column_sums(sums, parts, s.rows, params * 3, 1.0f, partials, stream());
  launch<daam_parameter_grads_kernel>(grid_for(s.groups), kThreads, 0, stream(), doffset.f32(), dscale.f32(),
                                      dmix.ndim == 0 ? nullptr : dmix.f32(), sums, pi, s.groups, s.gaussians);
}

void CudaBackend::daam_density_forward(const Tensor& density, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                       const Tensor& offset, const Tensor& scale, const Tensor& mix) {
  const DaamShape s = check_daam_density_forward(Device::CUDA, density, x, mean, rstd, offset, scale, mix);
  if (s.rows == 0) return;
  auto* pi = static_cast<float*>(scratch(kReductionScratchSlot, s.groups * s.gaussians * sizeof(float)));
  launch<daam_mixture_kernel>(grid_for(s.groups), kThreads, 0, stream(), pi, optional_data(mix), s.groups, s.gaussians);
  launch<daam_density_kernel>(grid_for(s.rows * s.groups * kWarpSize), kThreads, 0, stream(), density.f32(), x.f32(), mean.f32(),
                              rstd.f32(), offset.f32(), scale.f32(), pi, s);
}

// ---- per-(row, head) gate -------------------------------------------------------------------------------------------

void CudaBackend::head_gate_forward(const Tensor& out, const Tensor& x, const Tensor& gate, float gain) {
  const HeadGateShape s = check_head_gate_forward(Device::CUDA, out, x, gate);
  const int64_t count = s.rows * s.heads;
  if (count == 0 || s.head_dim == 0) return;
  launch<head_gate_forward_kernel>(tile_grid(count, s.head_dim), tile_block(), 0, stream(), out.f32(), x.f32(),
                                   gate.f32(), gain, count, s.head_dim);
}

void CudaBackend::head_gate_backward(const Tensor& dx, const Tensor& dgate, const Tensor& dout, const Tensor& x,
                                     const Tensor& gate, float gain) {
  const HeadGateShape s = check_head_gate_backward(Device::CUDA, dx, dgate, dout, x, gate);
  const int64_t count = s.rows * s.heads;
  if (count == 0) return;
  launch<head_gate_backward_kernel>(grid_for(count * kWarpSize), kThreads, 0, stream(), dx.f32(), dgate.f32(), dout.f32(), x.f32(),
                                    gate.f32(), gain, count, s.head_dim);
}

}  // namespace dg::cuda
