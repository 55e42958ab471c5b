#include "sampling/flow_math.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

namespace soragen::sampling {
namespace {

// The scope marks host-only scalar maths in profiles, and lets the
// synchronisation test of the denoising loop tell this .item() on a host
// tensor (free) from one on the device's data (a sync on CUDA).
template <typename Op>
float on_host_tensor(float x, Op op) {
  RECORD_USER_SCOPE(kHostScalarScope);
  return op(at::scalar_tensor(x, at::TensorOptions().dtype(at::kFloat).device(at::kCPU))).template item<float>();
}

}  // namespace

float aten_log(float x) {
  return on_host_tensor(x, [](const at::Tensor& t) { return at::log(t); });
}
float aten_exp(float x) {
  return on_host_tensor(x, [](const at::Tensor& t) { return at::exp(t); });
}
float aten_expm1(float x) {
  return on_host_tensor(x, [](const at::Tensor& t) { return at::expm1(t); });
}

}  // namespace soragen::sampling
