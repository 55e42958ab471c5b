// Scalar helpers shared by the multistep solvers. The reference does this
// math on float32 0-dim CPU tensors (golden README trap 24), so it is float
// here, and the transcendental functions are ATen's own: glibc's logf, expf
// and expm1f differ from ATen's vectorised versions by one ulp on 1-10% of
// inputs, which would put every UniPC/DPM++ step ~1e-6 off the reference.
// These tensors live on the host; nothing here touches the sampling device.
#pragma once

namespace soragen::sampling {

// The name of the profiler scope around these host-tensor computations
// (RECORD_USER_SCOPE), so a trace or a test can tell them from device work.
inline constexpr const char* kHostScalarScope = "soragen::host_scalar_math";

float aten_log(float x);
float aten_exp(float x);
float aten_expm1(float x);

// lambda = log(alpha) - log(sigma) with alpha = 1 - sigma. Infinite at both
// ends on purpose (trap 23): sigma 0 gives +inf (the last UniPC/DPM++ step
// lands exactly on the data prediction), sigma 1 gives -inf (DPM++'s first
// two steps become first order).
inline float flow_lambda(float sigma) {
  const float alpha = 1.0f - sigma;
  return aten_log(alpha) - aten_log(sigma);
}

}  // namespace soragen::sampling
