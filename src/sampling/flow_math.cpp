#include "sampling/flow_math.h"

#include <ATen/ATen.h>

namespace soragen::sampling {
namespace {

template <typename Op>
float on_host_tensor(float x, Op op) {
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
