// Parity of the C++ Wan2.2 VAE with the reference's golden tensors: every
// file in $SORAGEN_GOLDEN_DIR/wan22 whose name starts with "wan22_vae", built
// from its __metadata__ config, checking every output.* and debug.* tensor it
// holds within the file's own tolerance (golden README, the pass rule).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "golden_util.h"
#include "stage_capture.h"
#include "vae/wan22_config.h"
#include "vae/wan22_vae.h"

namespace soragen::vae {
namespace {

using soragen::test::GoldenFile;
using test::StageCapture;


std::filesystem::path wan22_dir() { return soragen::test::golden_dir() / "wan22"; }

void check_file(const std::filesystem::path& path, const c10::Device& device) {
  std::cout << path.filename().string() << " on " << device << ":\n";
  GoldenFile golden(path);
  const Vae22Config config = Vae22Config::from_json(golden.config(), path.string());
  WanVAE22 vae(config);
  vae->load_weights(golden.source(), Logger{});
  vae->to(device);
  c10::InferenceMode inference;

  // The latent constants come from the config; the file states them too,
  // 1/std as the reference formed it in float32 (exactly equal).
  const LatentScale scale(config.common.latents_mean, config.common.latents_std);
  if (golden.has("input.latents_mean")) {
    EXPECT_TRUE(at::equal(scale.mean(), golden.tensor("input.latents_mean"))) << "input.latents_mean";
  }
  if (golden.has("input.latents_inv_std")) {
    EXPECT_TRUE(at::equal(scale.inv_std(), golden.tensor("input.latents_inv_std"))) << "input.latents_inv_std";
  }

  std::map<std::string, at::Tensor> produced;
  if (golden.has("input.video")) {
    // The encoder's head output is the file's debug.enc.out (before conv1).
    StageCapture stages("debug.enc.", {{"head", "out"}});
    const auto moments = vae->encode_moments(golden.tensor("input.video"), stages.hook());
    produced["debug.mu_raw"] = moments.mu;
    produced["debug.log_var"] = moments.log_var;
    produced["output.latent"] = vae->normalize_latent(moments.mu);
    stages.collect(produced);
  }
  if (golden.has("input.z")) {
    StageCapture stages("debug.dec.");
    Vae22DecodeOptions options;
    options.clamp = false;
    options.hook = stages.hook();
    produced["debug.decoded_unclamped"] = vae->decode(golden.tensor("input.z"), options);
    produced["output.decoded"] = vae->decode(golden.tensor("input.z"));
    stages.collect(produced);
  }
  if (golden.has("input.image")) produced["output.image_latent"] = vae->encode(golden.tensor("input.image"));
  if (golden.has("input.z_image")) produced["output.image_decoded"] = vae->decode(golden.tensor("input.z_image"));

  const size_t outputs = golden.expect_all_match(produced, path.filename().string());
  // The pass rule requires the output.* tensors: a file without them proves nothing.
  for (const char* required : {"output.latent", "output.decoded", "output.image_latent", "output.image_decoded"}) {
    EXPECT_TRUE(golden.has(required)) << path.filename() << " lacks " << required;
  }
  EXPECT_GT(outputs, 0u) << path.filename() << " holds no output.* tensors";
}

void check_every_file(const c10::Device& device) {
  const auto files = soragen::test::golden_files(wan22_dir(), "wan22_vae");
  ASSERT_FALSE(files.empty()) << "no wan22_vae*.safetensors in " << wan22_dir();
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    check_file(file, device);
  }
}

TEST(vae22_parity, every_golden_wan22_vae_file) { check_every_file(c10::kCPU); }

TEST(vae22_parity, every_golden_wan22_vae_file_on_cuda) {
  const std::optional<c10::Device> cuda = soragen::test::parity_cuda_device();
  if (!cuda) GTEST_SKIP() << soragen::test::no_cuda_reason();
  check_every_file(*cuda);
}

}  // namespace
}  // namespace soragen::vae
