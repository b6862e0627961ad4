// Argument checks of the pluggable block ops (op_checks.h; backend.h, "Pluggable block ops").
#include <utility>

#include "backend/op_checks.h"
#include "backend/shape_checks.h"

namespace dg {

using namespace shape_checks;

namespace {

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

// offset and scale [g, N], mix [g, N] or empty (N = 1); x [R, D] with D divisible into g groups.
DaamShape daam_shape(Device device, const char* op, const Tensor& x, const Tensor& offset, const Tensor& scale,
                     const Tensor& mix) {
  require_rank(op, "offset", offset, 2);
  require_same_shape(op, "scale", scale, "offset", offset);
  DaamShape s{x.rows(), x.dim(-1), offset.dim(0), offset.dim(1)};
  DG_CHECK(s.groups >= 1 && s.gaussians >= 1,
           op << ": offset " << describe(offset) << " must be [groups >= 1, gaussians >= 1]");
  DG_CHECK(s.dim % s.groups == 0, op << ": x " << describe(x) << " has " << s.dim << " features, not divisible into "
                                     << s.groups << " groups (offset " << describe(offset) << ")");
  if (mix.ndim == 0) {
    DG_CHECK(s.gaussians == 1, op << ": mix is empty but offset " << describe(offset) << " has " << s.gaussians
                                  << " Gaussians per group; a mixture needs its weights");
  } else {
    require_f32(op, "mix", mix, device);
    require_same_shape(op, "mix", mix, "offset", offset);
  }
  return s;
}

// The per-(row, group) statistics a daam_gate_forward saves.
void daam_stats_shape(Device device, const char* op, const DaamShape& s, const Tensor& mean, const Tensor& rstd) {
  require_f32(op, "mean", mean, device);
  require_f32(op, "rstd", rstd, device);
  require_numel(op, "mean", mean, s.rows * s.groups, "one per row and group");
  require_numel(op, "rstd", rstd, s.rows * s.groups, "one per row and group");
}

HeadGateShape head_gate_shape(const char* op, const char* x_name, const Tensor& x, const Tensor& gate) {
  DG_CHECK(x.ndim >= 3, op << ": " << x_name << " " << describe(x)
                           << " must be [rows, heads, head_dim] or [B, T, heads, head_dim]");
  HeadGateShape s{0, x.dim(-2), x.dim(-1)};
  s.rows = s.heads * s.head_dim == 0 ? 0 : x.numel() / (s.heads * s.head_dim);
  require_numel(op, "gate", gate, s.rows * s.heads, "one per row and head");
  return s;
}

}  // namespace

void check_tau_features_forward(Device device, const Tensor& features, const Tensor& streams) {
  const char* op = "tau_features_forward";
  require_f32(op, "features", features, device);
  require_f32(op, "streams", streams, device);
  tau_features_shape(op, "features", features, "streams", streams);
}

void check_tau_features_backward(Device device, const Tensor& dstreams, const Tensor& dfeatures,
                                 const Tensor& streams) {
  const char* op = "tau_features_backward";
  for (auto [name, t] : {std::pair{"dstreams", &dstreams}, {"dfeatures", &dfeatures}, {"streams", &streams}})
    require_f32(op, name, *t, device);
  tau_features_shape(op, "dfeatures", dfeatures, "streams", streams);
  require_same_shape(op, "dstreams", dstreams, "streams", streams);
  require_disjoint(op, "dstreams", dstreams, "dfeatures", dfeatures);
  require_disjoint(op, "dstreams", dstreams, "streams", streams);
}

void check_gated_add_forward(Device device, const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y) {
  const char* op = "gated_add_forward";
  for (auto [name, t] : {std::pair{"x", &x}, {"gate", &gate}, {"s", &s}, {"y", &y}}) require_f32(op, name, *t, device);
  require_same_rows(op, "gate", gate, "x", x);
  require_same_rows(op, "y", y, "x", x);
  require_numel(op, "s", s, x.dim(-1), "one per feature of x");
  for (auto [name, t] : {std::pair{"gate", &gate}, {"s", &s}, {"y", &y}}) require_disjoint(op, "x", x, name, *t);
}

void check_gated_add_backward(Device device, const Tensor& dy, const Tensor& dgate, const Tensor& ds,
                              const Tensor& dx, const Tensor& gate, const Tensor& s, const Tensor& y) {
  const char* op = "gated_add_backward";
  for (auto [name, t] : {std::pair{"dy", &dy}, {"dgate", &dgate}, {"ds", &ds}, {"dx", &dx}, {"gate", &gate},
                         {"s", &s}, {"y", &y}})
    require_f32(op, name, *t, device);
  for (auto [name, t] : {std::pair{"dy", &dy}, {"dgate", &dgate}, {"dx", &dx}, {"gate", &gate}})
    require_same_rows(op, name, *t, "y", y);
  require_numel(op, "s", s, y.dim(-1), "one per feature of y");
  require_numel(op, "ds", ds, y.dim(-1), "one per feature of y");
  require_disjoint(op, "dy", dy, "dgate", dgate);
  require_disjoint(op, "dy", dy, "ds", ds);
  require_disjoint(op, "dgate", dgate, "ds", ds);
  for (auto [name, t] : {std::pair{"dy", &dy}, {"dgate", &dgate}, {"ds", &ds}}) require_disjoint(op, name, *t, "dx", dx);
}

DaamShape check_daam_gate_forward(Device device, const Tensor& out, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& x, const Tensor& offset, const Tensor& scale, const Tensor& mix,
                                  float eps) {
  const char* op = "daam_gate_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"x", &x}, {"offset", &offset}, {"scale", &scale}})
    require_f32(op, name, *t, device);
  const DaamShape s = daam_shape(device, op, x, offset, scale, mix);
  daam_stats_shape(device, op, s, mean, rstd);
  require_same_rows(op, "out", out, "x", x);
  DG_CHECK(eps > 0.0f, op << ": eps must be positive, got " << eps);
  for (auto [name, t] : {std::pair{"x", &x}, {"mean", &mean}, {"rstd", &rstd}}) require_disjoint(op, "out", out, name, *t);
  return s;
}

DaamShape check_daam_gate_backward(Device device, const Tensor& dx, const Tensor& doffset, const Tensor& dscale,
                                   const Tensor& dmix, const Tensor& dout, const Tensor& x, const Tensor& mean,
                                   const Tensor& rstd, const Tensor& offset, const Tensor& scale, const Tensor& mix) {
  const char* op = "daam_gate_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"doffset", &doffset}, {"dscale", &dscale}, {"dout", &dout},
                         {"x", &x}, {"offset", &offset}, {"scale", &scale}})
    require_f32(op, name, *t, device);
  const DaamShape s = daam_shape(device, op, x, offset, scale, mix);
  daam_stats_shape(device, op, s, mean, rstd);
  require_same_rows(op, "dx", dx, "x", x);
  require_same_rows(op, "dout", dout, "x", x);
  require_same_numel(op, "doffset", doffset, "offset", offset);
  require_same_numel(op, "dscale", dscale, "scale", scale);
  DG_CHECK((dmix.ndim == 0) == (mix.ndim == 0),
           op << ": dmix must be empty exactly when mix is (mix " << (mix.ndim == 0 ? "empty" : describe(mix))
              << ", dmix " << (dmix.ndim == 0 ? "empty" : describe(dmix)) << ")");
  if (dmix.ndim != 0) {
    require_f32(op, "dmix", dmix, device);
    require_same_numel(op, "dmix", dmix, "mix", mix);
  }
  require_disjoint(op, "dx", dx, "dout", dout);
  require_disjoint(op, "dx", dx, "x", x);
  return s;
}

DaamShape check_daam_density_forward(Device device, const Tensor& density, const Tensor& x, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& offset, const Tensor& scale, const Tensor& mix) {
  const char* op = "daam_density_forward";
  for (auto [name, t] : {std::pair{"density", &density}, {"x", &x}, {"offset", &offset}, {"scale", &scale}})
    require_f32(op, name, *t, device);
  const DaamShape s = daam_shape(device, op, x, offset, scale, mix);
  daam_stats_shape(device, op, s, mean, rstd);
  require_numel(op, "density", density, s.rows * s.groups, "one per row and group");
  return s;
}

HeadGateShape check_head_gate_forward(Device device, const Tensor& out, const Tensor& x, const Tensor& gate) {
  const char* op = "head_gate_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"x", &x}, {"gate", &gate}}) require_f32(op, name, *t, device);
  const HeadGateShape s = head_gate_shape(op, "x", x, gate);
  require_same_numel(op, "out", out, "x", x);
  require_disjoint(op, "out", out, "x", x);
  require_disjoint(op, "out", out, "gate", gate);
  return s;
}

HeadGateShape check_head_gate_backward(Device device, const Tensor& dx, const Tensor& dgate, const Tensor& dout,
                                       const Tensor& x, const Tensor& gate) {
  const char* op = "head_gate_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dgate", &dgate}, {"dout", &dout}, {"x", &x}, {"gate", &gate}})
    require_f32(op, name, *t, device);
  const HeadGateShape s = head_gate_shape(op, "x", x, gate);
  require_same_numel(op, "dx", dx, "x", x);
  require_same_numel(op, "dout", dout, "x", x);
  require_same_numel(op, "dgate", dgate, "gate", gate);
  require_disjoint(op, "dx", dx, "dgate", dgate);
  require_disjoint(op, "dx", dx, "dout", dout);
  require_disjoint(op, "dgate", dgate, "dout", dout);
  return s;
}

}  // namespace dg
