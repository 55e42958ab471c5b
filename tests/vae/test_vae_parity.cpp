// Parity of the C++ Wan2.1 VAE with the reference's golden tensors: every
// golden file whose name starts with "vae", its config from __metadata__, and
// every output.* and debug.* tensor it holds, within the file's tolerance.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "golden_util.h"
#include "stage_capture.h"
#include "vae/vae_config.h"
#include "vae/wan_vae.h"

namespace soragen::vae {
namespace {

using soragen::test::GoldenFile;
using test::StageCapture;


void check_file(const std::filesystem::path& path, const c10::Device& device) {
  std::cout << path.filename().string() << " on " << device << ":\n";
  GoldenFile golden(path);
  const VaeConfig config = VaeConfig::from_json(golden.config(), path.string());
  WanVAE vae(config);
  vae->load_weights(golden.source(), Logger{});
  vae->to(device);
  c10::InferenceMode inference;

  // The latent constants come from the config; the file states them too.
  for (const auto& [key, values] : {std::pair<std::string, const std::vector<float>*>{"input.latents_mean", &config.latents_mean},
                                    {"input.latents_std", &config.latents_std}}) {
    if (golden.has(key)) {
      EXPECT_TRUE(at::equal(at::tensor(*values, at::kFloat), golden.tensor(key))) << key;
    }
  }

  std::map<std::string, at::Tensor> produced;
  if (golden.has("input.video")) {
    StageCapture stages("debug.enc.");
    const auto moments = vae->encode_moments(golden.tensor("input.video"), stages.hook());
    produced["debug.mu_raw"] = moments.mu;
    produced["debug.log_var"] = moments.log_var;
    produced["output.latent"] = vae->normalize_latent(moments.mu);
    stages.collect(produced);
  }
  if (golden.has("input.z")) {
    StageCapture stages("debug.dec.");
    DecodeOptions options;
    options.clamp = false;
    options.hook = stages.hook();
    produced["debug.decoded_unclamped"] = vae->decode(golden.tensor("input.z"), options);
    produced["output.decoded"] = vae->decode(golden.tensor("input.z"));
    stages.collect(produced);
  }
  if (golden.has("input.image")) produced["output.image_latent"] = vae->encode(golden.tensor("input.image"));
  if (golden.has("input.z_image")) produced["output.image_decoded"] = vae->decode(golden.tensor("input.z_image"));

  const size_t checked = golden.expect_all_match(produced, path.filename().string());
  EXPECT_GT(checked, 0u) << path.filename() << " holds no output.* tensors";
}

void check_every_file(const c10::Device& device) {
  const auto files = soragen::test::golden_files("vae");
  ASSERT_FALSE(files.empty()) << "no vae*.safetensors in " << soragen::test::golden_dir();
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    check_file(file, device);
  }
}

TEST(vae_parity, every_golden_vae_file) { check_every_file(c10::kCPU); }

TEST(vae_parity, every_golden_vae_file_on_cuda) {
  const std::optional<c10::Device> cuda = soragen::test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << soragen::test::no_cuda_reason();
  check_every_file(*cuda);
}

}  // namespace
}  // namespace soragen::vae
