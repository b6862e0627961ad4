// One optimizer step on hand-computable tensors: Muon on a diagonal matrix (Newton–Schulz acts on
// each singular value through the scalar polynomial) and Adam's first step on a vector.
#include <gtest/gtest.h>

#include <cmath>

#include "core/config.h"
#include "model/param_layout.h"
#include "model/settings.h"
#include "train/optimizer.h"

namespace dg {
namespace {

double newton_schulz_scalar(double x, int steps) {
  for (int i = 0; i < steps; ++i) x = 3.4445 * x - 4.7750 * x * x * x + 2.0315 * x * x * x * x * x;
  return x;
}

TEST(Optimizer, FirstStepOfMuonAndAdamMatchesHandComputedValues) {
  ParamLayout layout;
  layout.add("w", {2, 2}, OptimGroup::Matrix, InitKind::Constant, 0.0f);
  layout.add("v", {3}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
  auto backend = make_cpu_backend();
  const int64_t n = layout.buffer_elements();
  void* p_mem = backend->allocate(n * 4);
  void* g_mem = backend->allocate(n * 4);
  const Tensor params(p_mem, DType::F32, Device::CPU, {n}), grads(g_mem, DType::F32, Device::CPU, {n});
  float* p = params.f32();
  float* g = grads.f32();
  const int64_t w = layout.find("w").offset, v = layout.find("v").offset;
  p[w + 0] = 1.0f, p[w + 3] = -1.0f, p[v + 0] = 0.5f, p[v + 1] = 0.5f, p[v + 2] = 0.5f;
  g[w + 0] = 3.0f, g[w + 3] = 4.0f;  // singular values 3 and 4: NS sees 0.6 and 0.8
  g[v + 0] = 2.0f, g[v + 1] = -0.001f, g[v + 2] = 0.0f;

  Config config(default_settings());
  Optimizer optimizer(layout, *backend, params, grads, OptimizerSettings::from_config(config));
  const double lr_mul = 0.5, momentum = 0.9;
  optimizer.step(lr_mul, momentum);

  // Muon: buffer = g; Nesterov g + m·buffer = (1+m)·g has the same direction, so the update is
  // NS5(g/‖g‖) = diag(f⁵(0.6), f⁵(0.8)); shape scale max(1, 2/2)^0.5 = 1; lr 0.04 · 0.5.
  const double matrix_lr = 0.04 * lr_mul;
  EXPECT_NEAR(p[w + 0], 1.0 - matrix_lr * newton_schulz_scalar(0.6, 5), 2e-6);
  EXPECT_NEAR(p[w + 3], -1.0 - matrix_lr * newton_schulz_scalar(0.8, 5), 2e-6);
  EXPECT_NEAR(p[w + 1], 0.0, 1e-7);
  EXPECT_NEAR(p[w + 2], 0.0, 1e-7);
  // Adam's first step: m̂ = g, v̂ = g², so the step is lr · g / (|g| + eps).
  const double scalar_lr = 0.04 * lr_mul, eps = 1e-8;
  EXPECT_NEAR(p[v + 0], 0.5 - scalar_lr * 2.0 / (2.0 + eps), 1e-7);
  EXPECT_NEAR(p[v + 1], 0.5 + scalar_lr * 0.001 / (0.001 + eps), 1e-7);
  EXPECT_EQ(p[v + 2], 0.5f);  // zero gradient, zero step
  EXPECT_EQ(optimizer.steps_taken(), 1);
  backend->release(p_mem);
  backend->release(g_mem);
}

TEST(Optimizer, ClippingScalesTheGlobalGradientNorm) {
  ParamLayout layout;
  layout.add("v", {2}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
  auto backend = make_cpu_backend();
  const int64_t n = layout.buffer_elements();
  void* p_mem = backend->allocate(n * 4);
  void* g_mem = backend->allocate(n * 4);
  const Tensor params(p_mem, DType::F32, Device::CPU, {n}), grads(g_mem, DType::F32, Device::CPU, {n});
  grads.f32()[0] = 3.0f, grads.f32()[1] = 4.0f;
  Config config(default_settings());
  config.set("grad_clip_norm=1");
  Optimizer optimizer(layout, *backend, params, grads, OptimizerSettings::from_config(config));
  EXPECT_NEAR(optimizer.step(1.0, 0.95), 5.0, 1e-6);  // norm before clipping
  EXPECT_NEAR(grads.f32()[0], 3.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(grads.f32()[1], 4.0 / (5.0 + 1e-6), 1e-6);
  backend->release(p_mem);
  backend->release(g_mem);
}

}  // namespace
}  // namespace dg
