// UniPC for flow matching (wan/utils/fm_solvers_unipc.py), configured as
// wan/text2video.py does: data prediction (predict_x0), B(h) = expm1(-h)
// ("bh2"), solver order 2, lower_order_final, corrector on every step but the
// first. Scalars are float32 as the reference computes them on 0-dim float32
// tensors; tensor ops follow the reference's operation order.
#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <array>

#include "sampling/flow_math.h"
#include "sampling/sampler.h"

namespace soragen::sampling {
namespace {

constexpr int kSolverOrder = 2;

// The order-2 corrector's rho from [[1, 1], [rk, 1]] rho = b, solved with
// torch.linalg.solve on the host as the reference does: LAPACK's pivoted LU
// rounds differently from a hand-written elimination, which moved UniPC steps
// by ~2e-7 against the golden loops.
std::array<float, 2> solve_corrector_rho(float rk, float b0, float b1) {
  RECORD_USER_SCOPE(kHostScalarScope);  // host tensors only: no device sync
  const auto host = at::TensorOptions().dtype(at::kFloat).device(at::kCPU);
  const at::Tensor r = at::tensor({1.0f, 1.0f, rk, 1.0f}, host).view({2, 2});
  const at::Tensor b = at::tensor({b0, b1}, host);
  const at::Tensor rho = at::linalg_solve(r, b).contiguous();
  return {rho.data_ptr<float>()[0], rho.data_ptr<float>()[1]};
}

class UniPCSampler final : public Sampler {
 public:
  explicit UniPCSampler(Schedule schedule) : Sampler(std::move(schedule)) {}
  const char* name() const override { return "unipc"; }

 protected:
  at::Tensor advance(const at::Tensor& velocity, const at::Tensor& sample, int64_t index) override {
    const float sigma = sigma_at(index);
    // The data prediction x0 = x - sigma * v is what both stages extrapolate.
    at::Tensor x0 = sample - velocity * sigma;

    // UniC refines the previous predictor's result with the new model output;
    // it keeps that predictor's order (1 at step 1, then 2). The first step of
    // a trajectory (step 0, or where start_at() joined) has none to refine.
    at::Tensor corrected = last_sample_.defined() ? correct(x0, index) : sample;

    previous_x0_ = std::move(current_x0_);
    current_x0_ = x0;

    // lower_order_final: order 1 on the last step; warm-up: order 1 on the first.
    int order = static_cast<int>(std::min<int64_t>(kSolverOrder, num_steps() - index));
    order = std::min(order, warmup_steps_ + 1);
    predictor_order_ = order;
    last_sample_ = corrected;
    at::Tensor next = predict(corrected, order, index);
    warmup_steps_ = std::min(warmup_steps_ + 1, kSolverOrder);
    return next;
  }

  void clear_history() override {
    previous_x0_ = at::Tensor();
    current_x0_ = at::Tensor();
    last_sample_ = at::Tensor();
    warmup_steps_ = 0;
    predictor_order_ = 0;
  }

 private:
  float sigma_at(int64_t index) const { return sigmas()[static_cast<size_t>(index)]; }

  // UniP from sigmas[index] to sigmas[index + 1]. At order 2 the reference
  // fixes rho_p = 0.5 instead of solving its 1x1 system.
  at::Tensor predict(const at::Tensor& x, int order, int64_t index) const {
    const float sigma_t = sigma_at(index + 1);
    const float sigma_s0 = sigma_at(index);
    const float alpha_t = 1.0f - sigma_t;
    const float lambda_s0 = flow_lambda(sigma_s0);
    const float h = flow_lambda(sigma_t) - lambda_s0;
    const float h_phi_1 = aten_expm1(-h);
    const float b_h = aten_expm1(-h);

    // On the last step sigma_t = 0: h = +inf, expm1(-inf) = -1, and this is
    // exactly current_x0_.
    at::Tensor x_t = x * (sigma_t / sigma_s0) - current_x0_ * (alpha_t * h_phi_1);
    if (order == 1) return x_t;
    const float rk = (flow_lambda(sigma_at(index - 1)) - lambda_s0) / h;
    const at::Tensor d1 = (previous_x0_ - current_x0_) / rk;
    return x_t - (d1 * 0.5f) * (alpha_t * b_h);
  }

  // UniC at sigmas[index], recomputed from the sample the last predictor
  // started from, with `model_x0` the data prediction at the predicted point.
  at::Tensor correct(const at::Tensor& model_x0, int64_t index) const {
    const int order = predictor_order_;
    const float sigma_t = sigma_at(index);
    const float sigma_s0 = sigma_at(index - 1);
    const float alpha_t = 1.0f - sigma_t;
    const float lambda_s0 = flow_lambda(sigma_s0);
    const float h = flow_lambda(sigma_t) - lambda_s0;
    const float hh = -h;
    const float h_phi_1 = aten_expm1(hh);
    const float b_h = aten_expm1(hh);

    // b_k = k! * h*phi_{k+1}(h) / B(h), with phi by the recurrence
    // phi_{k+1} = phi_k / hh - 1/(k+1)!, as the reference builds it.
    std::array<float, kSolverOrder> b{};
    float h_phi_k = h_phi_1 / hh - 1.0f;
    int64_t factorial = 1;
    for (int k = 1; k <= order; ++k) {
      b[static_cast<size_t>(k - 1)] = h_phi_k * static_cast<float>(factorial) / b_h;
      factorial *= k + 1;
      h_phi_k = h_phi_k / hh - static_cast<float>(1.0 / static_cast<double>(factorial));
    }

    const at::Tensor x_t = last_sample_ * (sigma_t / sigma_s0) - current_x0_ * (alpha_t * h_phi_1);
    const at::Tensor d1_t = model_x0 - current_x0_;
    at::Tensor correction;
    if (order == 1) {
      // The reference's simplified order-1 corrector: rho_c = 0.5.
      correction = d1_t * 0.5f;
    } else {
      const float rk = (flow_lambda(sigma_at(index - 2)) - lambda_s0) / h;
      const at::Tensor d1 = (previous_x0_ - current_x0_) / rk;
      // R = [rk^0; rk^1] over (rk, 1).
      const std::array<float, 2> rho = solve_corrector_rho(rk, b[0], b[1]);
      correction = d1 * rho[0] + d1_t * rho[1];
    }
    return x_t - correction * (alpha_t * b_h);
  }

  at::Tensor previous_x0_;  // data prediction one step back
  at::Tensor current_x0_;   // data prediction of the latest step
  at::Tensor last_sample_;  // the sample the latest predictor started from
  int warmup_steps_ = 0;    // the reference's lower_order_nums
  int predictor_order_ = 0; // the latest predictor's order, reused by UniC
};

}  // namespace

std::unique_ptr<Sampler> make_unipc_sampler(int64_t steps, double shift) {
  return std::make_unique<UniPCSampler>(unipc_schedule(steps, shift));
}

}  // namespace soragen::sampling
