// CpuBackend's pluggable block ops (backend.h, "Pluggable block ops"): argument validation, then
// the float instantiation of the kernels in ops_blocks.h. Kept apart from cpu_backend.cpp so the
// block ops grow without touching the core ops.
#include <utility>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/ops_blocks.h"
#include "backend/shape_checks.h"

namespace dg {

using namespace shape_checks;

namespace {

void f32(const char* op, const char* name, const Tensor& t) { require_f32(op, name, t, Device::CPU); }

// [n, R, k] streams and the [R, (n+1)·k] features they make.
void tau_features_shape(const char* op, const char* features_name, const Tensor& features, const char* streams_name,
                        const Tensor& streams) {
  require_rank(op, streams_name, streams, 3);
  const int64_t n = streams.dim(0), rows = streams.dim(1), k = streams.dim(2);
  DG_CHECK(n >= 1, op << ": " << streams_name << " " << describe(streams) << " must stack at least one stream");
  DG_CHECK(features.rows() == rows && features.dim(-1) == (n + 1) * k,
           op << ": " << features_name << " " << describe(features) << " must be [" << rows << ", " << (n + 1) * k
              << "] ((n + 1)·k for " << streams_name << " " << describe(streams) << ")");
  require_disjoint(op, features_name, features, streams_name, streams);
}

cpu::DaamShape daam_shape(const char* op, const Tensor& x, const Tensor& offset, const Tensor& scale,
                          const Tensor& mix) {
  require_rank(op, "offset", offset, 2);
  require_same_shape(op, "scale", scale, "offset", offset);
  cpu::DaamShape s{x.rows(), x.dim(-1), offset.dim(0), offset.dim(1)};
  DG_CHECK(s.groups >= 1 && s.gaussians >= 1,
           op << ": offset " << describe(offset) << " must be [groups >= 1, gaussians >= 1]");
  DG_CHECK(s.dim % s.groups == 0, op << ": x " << describe(x) << " has " << s.dim << " features, not divisible into "
                                     << s.groups << " groups (offset " << describe(offset) << ")");
  if (mix.ndim == 0) {
    DG_CHECK(s.gaussians == 1, op << ": mix is empty but offset " << describe(offset) << " has " << s.gaussians
                                  << " Gaussians per group; a mixture needs its weights");
  } else {
    f32(op, "mix", mix);
    require_same_shape(op, "mix", mix, "offset", offset);
  }
  return s;
}

void daam_stats_shape(const char* op, const cpu::DaamShape& s, const Tensor& mean, const Tensor& rstd) {
  f32(op, "mean", mean);
  f32(op, "rstd", rstd);
  require_numel(op, "mean", mean, s.rows * s.groups, "one per row and group");
  require_numel(op, "rstd", rstd, s.rows * s.groups, "one per row and group");
}

const float* optional_data(const Tensor& t) { return t.ndim == 0 ? nullptr : t.f32(); }

// x [..., H, hd] viewed as [R, H, hd] with its gate [R, H].
struct HeadGateShape {
  int64_t rows, heads, head_dim;
};
HeadGateShape head_gate_shape(const char* op, const char* x_name, const Tensor& x, const Tensor& gate) {
  DG_CHECK(x.ndim >= 3, op << ": " << x_name << " " << describe(x) << " must be [rows, heads, head_dim] or [B, T, heads, head_dim]");
  HeadGateShape s{0, x.dim(-2), x.dim(-1)};
  s.rows = s.heads * s.head_dim == 0 ? 0 : x.numel() / (s.heads * s.head_dim);
  require_numel(op, "gate", gate, s.rows * s.heads, "one per row and head");
  return s;
}

}  // namespace

void CpuBackend::tau_features_forward(const Tensor& features, const Tensor& streams) {
  const char* op = "tau_features_forward";
  f32(op, "features", features);
  f32(op, "streams", streams);
  tau_features_shape(op, "features", features, "streams", streams);
  cpu::tau_features_forward<float>(features.f32(), streams.f32(), streams.dim(0), streams.dim(1), streams.dim(2));
}

void CpuBackend::tau_features_backward(const Tensor& dstreams, const Tensor& dfeatures, const Tensor& streams) {
  const char* op = "tau_features_backward";
  for (auto [name, t] : {std::pair{"dstreams", &dstreams}, {"dfeatures", &dfeatures}, {"streams", &streams}})
    f32(op, name, *t);
  tau_features_shape(op, "dfeatures", dfeatures, "streams", streams);
  require_same_shape(op, "dstreams", dstreams, "streams", streams);
  require_disjoint(op, "dstreams", dstreams, "dfeatures", dfeatures);
  require_disjoint(op, "dstreams", dstreams, "streams", streams);
  cpu::tau_features_backward<float>(dstreams.f32(), dfeatures.f32(), streams.f32(), streams.dim(0), streams.dim(1),
                                    streams.dim(2));
}

void CpuBackend::gelu_forward(const Tensor& out, const Tensor& x) {
  const char* op = "gelu_forward";
  f32(op, "out", out);
  f32(op, "x", x);
  require_same_numel(op, "out", out, "x", x);
  cpu::gelu_forward<float>(out.f32(), x.f32(), x.numel());
}

void CpuBackend::gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  const char* op = "gelu_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dout", &dout}, {"x", &x}}) f32(op, name, *t);
  require_same_numel(op, "dx", dx, "x", x);
  require_same_numel(op, "dout", dout, "x", x);
  cpu::gelu_backward<float>(dx.f32(), dout.f32(), x.f32(), x.numel());
}

void CpuBackend::gated_add_forward(const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y) {
  const char* op = "gated_add_forward";
  for (auto [name, t] : {std::pair{"x", &x}, {"gate", &gate}, {"s", &s}, {"y", &y}}) f32(op, name, *t);
  require_same_rows(op, "gate", gate, "x", x);
  require_same_rows(op, "y", y, "x", x);
  require_numel(op, "s", s, x.dim(-1), "one per feature of x");
  for (auto [name, t] : {std::pair{"gate", &gate}, {"s", &s}, {"y", &y}}) require_disjoint(op, "x", x, name, *t);
  cpu::gated_add_forward<float>(x.f32(), gate.f32(), s.f32(), y.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::gated_add_backward(const Tensor& dy, const Tensor& dgate, const Tensor& ds, const Tensor& dx,
                                    const Tensor& gate, const Tensor& s, const Tensor& y) {
  const char* op = "gated_add_backward";
  for (auto [name, t] : {std::pair{"dy", &dy}, {"dgate", &dgate}, {"ds", &ds}, {"dx", &dx}, {"gate", &gate},
                         {"s", &s}, {"y", &y}})
    f32(op, name, *t);
  for (auto [name, t] : {std::pair{"dy", &dy}, {"dgate", &dgate}, {"dx", &dx}, {"gate", &gate}})
    require_same_rows(op, name, *t, "y", y);
  require_numel(op, "s", s, y.dim(-1), "one per feature of y");
  require_numel(op, "ds", ds, y.dim(-1), "one per feature of y");
  require_disjoint(op, "dy", dy, "dgate", dgate);
  require_disjoint(op, "dy", dy, "ds", ds);
  require_disjoint(op, "dgate", dgate, "ds", ds);
  for (auto [name, t] : {std::pair{"dy", &dy}, {"dgate", &dgate}, {"ds", &ds}}) require_disjoint(op, name, *t, "dx", dx);
  cpu::gated_add_backward<float>(dy.f32(), dgate.f32(), ds.f32(), dx.f32(), gate.f32(), s.f32(), y.f32(), y.rows(),
                                 y.dim(-1));
}

void CpuBackend::daam_gate_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                   const Tensor& offset, const Tensor& scale, const Tensor& mix, float eps,
                                   bool residual) {
  const char* op = "daam_gate_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"x", &x}, {"offset", &offset}, {"scale", &scale}}) f32(op, name, *t);
  const cpu::DaamShape s = daam_shape(op, x, offset, scale, mix);
  daam_stats_shape(op, s, mean, rstd);
  require_same_rows(op, "out", out, "x", x);
  DG_CHECK(eps > 0.0f, op << ": eps must be positive, got " << eps);
  for (auto [name, t] : {std::pair{"x", &x}, {"mean", &mean}, {"rstd", &rstd}}) require_disjoint(op, "out", out, name, *t);
  cpu::daam_gate_forward<float>(out.f32(), mean.f32(), rstd.f32(), x.f32(), offset.f32(), scale.f32(),
                                optional_data(mix), eps, residual, s);
}

void CpuBackend::daam_gate_backward(const Tensor& dx, const Tensor& doffset, const Tensor& dscale, const Tensor& dmix,
                                    const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                    const Tensor& offset, const Tensor& scale, const Tensor& mix, bool residual) {
  const char* op = "daam_gate_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"doffset", &doffset}, {"dscale", &dscale}, {"dout", &dout},
                         {"x", &x}, {"offset", &offset}, {"scale", &scale}})
    f32(op, name, *t);
  const cpu::DaamShape s = daam_shape(op, x, offset, scale, mix);
  daam_stats_shape(op, s, mean, rstd);
  require_same_rows(op, "dx", dx, "x", x);
  require_same_rows(op, "dout", dout, "x", x);
  require_same_numel(op, "doffset", doffset, "offset", offset);
  require_same_numel(op, "dscale", dscale, "scale", scale);
  DG_CHECK((dmix.ndim == 0) == (mix.ndim == 0),
           op << ": dmix must be empty exactly when mix is (mix " << (mix.ndim == 0 ? "empty" : describe(mix))
              << ", dmix " << (dmix.ndim == 0 ? "empty" : describe(dmix)) << ")");
  if (dmix.ndim != 0) {
    f32(op, "dmix", dmix);
    require_same_numel(op, "dmix", dmix, "mix", mix);
  }
  require_disjoint(op, "dx", dx, "dout", dout);
  require_disjoint(op, "dx", dx, "x", x);
  cpu::daam_gate_backward<float>(dx.f32(), doffset.f32(), dscale.f32(), dmix.ndim == 0 ? nullptr : dmix.f32(),
                                 dout.f32(), x.f32(), mean.f32(), rstd.f32(), offset.f32(), scale.f32(),
                                 optional_data(mix), residual, s);
}

void CpuBackend::daam_density_forward(const Tensor& density, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                      const Tensor& offset, const Tensor& scale, const Tensor& mix) {
  const char* op = "daam_density_forward";
  for (auto [name, t] : {std::pair{"density", &density}, {"x", &x}, {"offset", &offset}, {"scale", &scale}})
    f32(op, name, *t);
  const cpu::DaamShape s = daam_shape(op, x, offset, scale, mix);
  daam_stats_shape(op, s, mean, rstd);
  require_numel(op, "density", density, s.rows * s.groups, "one per row and group");
  cpu::daam_density_forward<float>(density.f32(), x.f32(), mean.f32(), rstd.f32(), offset.f32(), scale.f32(),
                                   optional_data(mix), s);
}

void CpuBackend::head_gate_forward(const Tensor& out, const Tensor& x, const Tensor& gate, float gain) {
  const char* op = "head_gate_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"x", &x}, {"gate", &gate}}) f32(op, name, *t);
  const HeadGateShape s = head_gate_shape(op, "x", x, gate);
  require_same_numel(op, "out", out, "x", x);
  require_disjoint(op, "out", out, "x", x);
  require_disjoint(op, "out", out, "gate", gate);
  cpu::head_gate_forward<float>(out.f32(), x.f32(), gate.f32(), gain, s.rows, s.heads, s.head_dim);
}

void CpuBackend::head_gate_backward(const Tensor& dx, const Tensor& dgate, const Tensor& dout, const Tensor& x,
                                    const Tensor& gate, float gain) {
  const char* op = "head_gate_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dgate", &dgate}, {"dout", &dout}, {"x", &x}, {"gate", &gate}})
    f32(op, name, *t);
  const HeadGateShape s = head_gate_shape(op, "x", x, gate);
  require_same_numel(op, "dx", dx, "x", x);
  require_same_numel(op, "dout", dout, "x", x);
  require_same_numel(op, "dgate", dgate, "gate", gate);
  require_disjoint(op, "dx", dx, "dgate", dgate);
  require_disjoint(op, "dx", dx, "dout", dout);
  require_disjoint(op, "dgate", dgate, "dout", dout);
  cpu::head_gate_backward<float>(dx.f32(), dgate.f32(), dout.f32(), x.f32(), gate.f32(), gain, s.rows, s.heads,
                                 s.head_dim);
}

}  // namespace dg
