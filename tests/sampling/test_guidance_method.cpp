// --guidance-method texts: names, settings, defaults, and the messages of
// bad ones.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "expect_throw.h"
#include "sampling/guidance_method.h"

namespace soragen::sampling {
namespace {

TEST(GuidanceMethod, NamesWithoutSettingsTakeTheSourcesDefaults) {
  EXPECT_EQ(parse_guidance_method("cfg").kind, GuidanceKind::cfg);
  EXPECT_EQ(parse_guidance_method("cfg-zero-star").kind, GuidanceKind::cfg_zero_star);
  const GuidanceMethod apg = parse_guidance_method("apg");
  EXPECT_EQ(apg.kind, GuidanceKind::apg);
  EXPECT_EQ(apg.apg.eta, 0.0);
  EXPECT_EQ(apg.apg.momentum, -0.5);
  EXPECT_EQ(apg.apg.norm_threshold, 0.0);
  const GuidanceMethod slg = parse_guidance_method("slg");
  EXPECT_EQ(slg.slg.layers, std::vector<int>{9});
  EXPECT_EQ(slg.slg.start, 0.1);
  EXPECT_EQ(slg.slg.end, 0.9);
  const GuidanceMethod sd35 = parse_guidance_method("slg-sd35");
  EXPECT_EQ(sd35.slg.layers, (std::vector<int>{7, 8, 9}));
  EXPECT_EQ(sd35.slg.scale, 2.5);
  EXPECT_TRUE(parse_guidance_method("cfg").slg.layers.empty()) << "plain CFG skips nothing";
}

TEST(GuidanceMethod, SettingsOverrideTheDefaults) {
  const GuidanceMethod apg = parse_guidance_method("apg:eta=1,momentum=-0.75,norm=15");
  EXPECT_EQ(apg.apg.eta, 1.0);
  EXPECT_EQ(apg.apg.momentum, -0.75);
  EXPECT_EQ(apg.apg.norm_threshold, 15.0);
  const GuidanceMethod slg = parse_guidance_method("slg:layers=9+10,start=0,end=1");
  EXPECT_EQ(slg.slg.layers, (std::vector<int>{9, 10}));
  EXPECT_EQ(slg.slg.start, 0.0);
  EXPECT_EQ(slg.slg.end, 1.0);
  EXPECT_EQ(parse_guidance_method("slg-sd35:scale=3").slg.scale, 3.0);
}

// Wan2GP's rule for slg: int(0.1 * 10) = 1 <= i < int(0.9 * 10) = 9. SD3.5's
// strict one for slg-sd35 at 50 steps: 0.5 < i < 10.
TEST(GuidanceMethod, EachFormSkipsOnItsSourcesSteps) {
  const GuidanceMethod slg = parse_guidance_method("slg");
  std::vector<int> active;
  for (int i = 0; i < 10; ++i) {
    if (slg.skips_layers_at(i, 10)) active.push_back(i);
  }
  EXPECT_EQ(active, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  const GuidanceMethod sd35 = parse_guidance_method("slg-sd35");
  active.clear();
  for (int i = 0; i < 50; ++i) {
    if (sd35.skips_layers_at(i, 50)) active.push_back(i);
  }
  EXPECT_EQ(active, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_FALSE(parse_guidance_method("apg").skips_layers_at(3, 10));
  const GuidanceMethod always = parse_guidance_method("slg:start=0,end=1");
  EXPECT_TRUE(always.skips_layers_at(0, 4));
  EXPECT_TRUE(always.skips_layers_at(3, 4));
}

TEST(GuidanceMethod, BadTextsSayWhatIsWrong) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cgf", "'cgf': expected cfg, cfg-zero-star, apg, slg or slg-sd35"},
      {"cfg:scale=2", "cfg takes no settings"},
      {"apg:eta", "'eta': expected key=value"},
      {"apg:eta=x", "eta='x' is not a number"},
      {"apg:eta=1e999", "eta='1e999' is not a number"},
      {"apg:momentum=1", "momentum=1 must be in (-1, 1)"},
      {"apg:norm=-1", "norm=-1 must be 0 (no cap) or above"},
      {"apg:layers=3", "apg takes eta, momentum and norm, not 'layers'"},
      {"slg:scale=2", "slg takes layers, start and end, not 'scale'"},
      {"slg:layers=", "layers='': expected block indices joined by '+'"},
      {"slg:layers=9+-1", "layers='9+-1': expected block indices"},
      {"slg:start=0.5,end=0.2", "0 <= start <= end <= 1"},
      {"slg-sd35:end=1.5", "0 <= start <= end <= 1"},
  };
  for (const auto& [text, message] : cases) {
    const std::string error = guidance_method_error(text);
    EXPECT_NE(error.find(message), std::string::npos) << text << " gave: " << error;
    EXPECT_THROW(parse_guidance_method(text), std::invalid_argument) << text;
  }
  EXPECT_EQ(guidance_method_error("slg-sd35:layers=1+2,scale=2,start=0,end=0.5"), "");
}

}  // namespace
}  // namespace soragen::sampling
