// The TI2V image preprocessing against the reference: Wan's
// best_output_size, then PIL's LANCZOS resize and the centre crop, byte for
// byte on the golden file's image (debug.i2v.image_to_tensor is the cropped
// image / 255), and -1..1 as it enters the VAE (debug.i2v.image).
#include <gtest/gtest.h>

#include "golden_util.h"
#include "soragen/error.h"
#include "video/image_fit.h"

namespace soragen::video {
namespace {

std::vector<std::filesystem::path> ti2v_files() {
  const std::filesystem::path dir = test::golden_dir() / "wan22";
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("wan22_ti2v_pipeline", 0) == 0 && entry.path().extension() == ".safetensors") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

RgbImage image_from(const at::Tensor& hwc) {
  const at::Tensor bytes = hwc.to(at::kByte).contiguous();
  RgbImage image;
  image.height = static_cast<int>(bytes.size(0));
  image.width = static_cast<int>(bytes.size(1));
  image.pixels.assign(bytes.data_ptr<std::uint8_t>(), bytes.data_ptr<std::uint8_t>() + bytes.numel());
  return image;
}

// [3, H, W] in 0..1, as torchvision's to_tensor gives it.
at::Tensor to_tensor(const RgbImage& image) {
  const at::Tensor hwc = at::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                                       {image.height, image.width, 3}, at::kByte);
  return hwc.permute({2, 0, 1}).to(at::kFloat).div(255);
}

TEST(ImageFitParity, Ti2vPreprocessingMatchesTheReference) {
  const auto files = ti2v_files();
  ASSERT_FALSE(files.empty()) << "no wan22_ti2v_pipeline*.safetensors in " << (test::golden_dir() / "wan22");
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const test::GoldenFile golden(path);
    const auto& config = golden.config();
    // Blocks of vae_stride * patch_size pixels: 16 * 2 for TI2V.
    const int dh = config.at("vae_stride")[1].get<int>() * config.at("patch_size")[1].get<int>();
    const int dw = config.at("vae_stride")[2].get<int>() * config.at("patch_size")[2].get<int>();
    const RgbImage image = image_from(golden.tensor("input.i2v.image_u8"));
    const std::int64_t max_area = golden.tensor("input.i2v.max_area").item<std::int64_t>();

    const auto [width, height] = best_output_size(image.width, image.height, dw, dh, max_area);
    EXPECT_EQ(width, config.at("i2v").at("output_size_wh")[0].get<int>());
    EXPECT_EQ(height, config.at("i2v").at("output_size_wh")[1].get<int>());

    const RgbImage fitted = cover_and_center_crop(image, width, height);
    ASSERT_EQ(fitted.width, width);
    ASSERT_EQ(fitted.height, height);
    const at::Tensor ours = to_tensor(fitted);
    // Byte-exact: the reference's values are k / 255 in float32.
    const at::Tensor reference_bytes = golden.tensor("debug.i2v.image_to_tensor").mul(255).round();
    EXPECT_TRUE(ours.mul(255).round().equal(reference_bytes)) << "max |diff| in bytes "
        << (ours.mul(255).round() - reference_bytes).abs().max().item<float>();
    EXPECT_TRUE(golden.matches("debug.i2v.image_to_tensor", ours));
    EXPECT_TRUE(golden.matches("debug.i2v.image", ours.mul(2).sub(1).unsqueeze(1)));
  }
}

// The reference's own cases, from wan/utils/utils.py's arithmetic worked by
// hand: a square area takes the 32-multiple closest in aspect ratio.
TEST(ImageFit, BestOutputSizeKeepsTheAspectRatio) {
  EXPECT_EQ(best_output_size(80, 72, 32, 32, 4096), std::make_pair(64, 64));
  EXPECT_EQ(best_output_size(1280, 704, 32, 32, 1280 * 704), std::make_pair(1280, 704));
  EXPECT_EQ(best_output_size(704, 1280, 32, 32, 1280 * 704), std::make_pair(704, 1280));
  const auto [w, h] = best_output_size(1920, 1080, 32, 32, 1280 * 704);
  EXPECT_EQ(w % 32, 0);
  EXPECT_EQ(h % 32, 0);
  EXPECT_LE(static_cast<std::int64_t>(w) * h, 1280 * 704);
  EXPECT_THROW(best_output_size(4000, 10, 32, 32, 4096), UsageError);
}

}  // namespace
}  // namespace soragen::video
