// CpuBackend's pluggable block ops (backend.h, "Pluggable block ops"): argument validation
// (op_checks.h), then the float instantiation of the kernels in ops_blocks.h. Kept apart from
// cpu_backend.cpp so the block ops grow without touching the core ops.
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/ops_blocks.h"
#include "backend/op_checks.h"

namespace dg {

namespace {

const float* optional_data(const Tensor& t) { return t.ndim == 0 ? nullptr : t.f32(); }

}  // namespace

void CpuBackend::tau_features_forward(const Tensor& features, const Tensor& streams) {
  check_tau_features_forward(Device::CPU, features, streams);
  cpu::tau_features_forward<float>(features.f32(), streams.f32(), streams.dim(0), streams.dim(1), streams.dim(2));
}

void CpuBackend::tau_features_backward(const Tensor& dstreams, const Tensor& dfeatures, const Tensor& streams) {
  check_tau_features_backward(Device::CPU, dstreams, dfeatures, streams);
  cpu::tau_features_backward<float>(dstreams.f32(), dfeatures.f32(), streams.f32(), streams.dim(0), streams.dim(1),
                                    streams.dim(2));
}

void CpuBackend::gelu_forward(const Tensor& out, const Tensor& x) {
  check_gelu_forward(Device::CPU, out, x);
  cpu::gelu_forward<float>(out.f32(), x.f32(), x.numel());
}

void CpuBackend::gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  check_gelu_backward(Device::CPU, dx, dout, x);
  cpu::gelu_backward<float>(dx.f32(), dout.f32(), x.f32(), x.numel());
}

void CpuBackend::gated_add_forward(const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y) {
  check_gated_add_forward(Device::CPU, x, gate, s, y);
  cpu::gated_add_forward<float>(x.f32(), gate.f32(), s.f32(), y.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::gated_add_backward(const Tensor& dy, const Tensor& dgate, const Tensor& ds, const Tensor& dx,
                                    const Tensor& gate, const Tensor& s, const Tensor& y) {
  check_gated_add_backward(Device::CPU, dy, dgate, ds, dx, gate, s, y);
  cpu::gated_add_backward<float>(dy.f32(), dgate.f32(), ds.f32(), dx.f32(), gate.f32(), s.f32(), y.f32(), y.rows(),
                                 y.dim(-1));
}

void CpuBackend::daam_gate_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                   const Tensor& offset, const Tensor& scale, const Tensor& mix, float eps,
                                   bool residual) {
  const DaamShape s = check_daam_gate_forward(Device::CPU, out, mean, rstd, x, offset, scale, mix, eps);
  cpu::daam_gate_forward<float>(out.f32(), mean.f32(), rstd.f32(), x.f32(), offset.f32(), scale.f32(),
                                optional_data(mix), eps, residual, s);
}

void CpuBackend::daam_gate_backward(const Tensor& dx, const Tensor& doffset, const Tensor& dscale, const Tensor& dmix,
                                    const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                    const Tensor& offset, const Tensor& scale, const Tensor& mix, bool residual) {
  const DaamShape s =
      check_daam_gate_backward(Device::CPU, dx, doffset, dscale, dmix, dout, x, mean, rstd, offset, scale, mix);
  cpu::daam_gate_backward<float>(dx.f32(), doffset.f32(), dscale.f32(), dmix.ndim == 0 ? nullptr : dmix.f32(),
                                 dout.f32(), x.f32(), mean.f32(), rstd.f32(), offset.f32(), scale.f32(),
                                 optional_data(mix), residual, s);
}

void CpuBackend::daam_density_forward(const Tensor& density, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                      const Tensor& offset, const Tensor& scale, const Tensor& mix) {
  const DaamShape s = check_daam_density_forward(Device::CPU, density, x, mean, rstd, offset, scale, mix);
  cpu::daam_density_forward<float>(density.f32(), x.f32(), mean.f32(), rstd.f32(), offset.f32(), scale.f32(),
                                   optional_data(mix), s);
}

void CpuBackend::head_gate_forward(const Tensor& out, const Tensor& x, const Tensor& gate, float gain) {
  const HeadGateShape s = check_head_gate_forward(Device::CPU, out, x, gate);
  cpu::head_gate_forward<float>(out.f32(), x.f32(), gate.f32(), gain, s.rows, s.heads, s.head_dim);
}

void CpuBackend::head_gate_backward(const Tensor& dx, const Tensor& dgate, const Tensor& dout, const Tensor& x,
                                    const Tensor& gate, float gain) {
  const HeadGateShape s = check_head_gate_backward(Device::CPU, dx, dgate, dout, x, gate);
  cpu::head_gate_backward<float>(dx.f32(), dgate.f32(), dout.f32(), x.f32(), gate.f32(), gain, s.rows, s.heads,
                                 s.head_dim);
}

}  // namespace dg
