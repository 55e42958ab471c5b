// Every golden file's tolerance (its __metadata__, which the parity tests
// read) is pinned to the pass rule of ../shared/golden/README.md, so an
// edited or regenerated data file cannot loosen a parity test silently: a
// file may be stricter than the README, never looser.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "golden_util.h"

namespace soragen::test {
namespace {

struct Rule {
  double atol;
  double rtol;
};

// The README's table, by file-name prefix.
const std::map<std::string, Rule>& readme_rules() {
  static const std::map<std::string, Rule> rules = {
      {"t5_encoder", {5e-5, 5e-5}}, {"dit", {2e-5, 2e-5}},       {"vae", {5e-5, 5e-5}},
      {"schedulers", {2e-5, 2e-5}}, {"pipeline", {1e-4, 1e-4}},
  };
  return rules;
}

TEST(GoldenTolerances, NoFileIsLooserThanTheReadme) {
  int files = 0;
  for (const auto& [prefix, rule] : readme_rules()) {
    for (const auto& path : golden_files(prefix)) {
      SCOPED_TRACE(path.string());
      const GoldenFile golden(path);
      EXPECT_LE(golden.atol(), rule.atol) << prefix << " atol";
      EXPECT_LE(golden.rtol(), rule.rtol) << prefix << " rtol";
      // The tight rule for the float64 keys: atol 1e-6, rtol 0.
      EXPECT_LE(golden.tight_atol(), 1e-6);
      EXPECT_LE(golden.tight_rtol(), 0.0);
      ++files;
    }
  }
  EXPECT_GE(files, static_cast<int>(readme_rules().size())) << "expected a golden file of every kind in "
                                                             << golden_dir();
}

// The README's "# Wan2.2" table, for the files of golden_dir() / "wan22" this
// checkout carries.
TEST(GoldenTolerances, NoWan22FileIsLooserThanTheReadme) {
  static const std::map<std::string, Rule> rules = {{"wan22_vae", {5e-5, 5e-5}}};
  int files = 0;
  for (const auto& [prefix, rule] : rules) {
    for (const auto& path : golden_files(golden_dir() / "wan22", prefix)) {
      SCOPED_TRACE(path.string());
      const GoldenFile golden(path);
      EXPECT_LE(golden.atol(), rule.atol) << prefix << " atol";
      EXPECT_LE(golden.rtol(), rule.rtol) << prefix << " rtol";
      EXPECT_LE(golden.tight_atol(), 1e-6);
      EXPECT_LE(golden.tight_rtol(), 0.0);
      ++files;
    }
  }
  EXPECT_GE(files, static_cast<int>(rules.size())) << "expected a golden file of every kind in "
                                                   << golden_dir() / "wan22";
}

}  // namespace
}  // namespace soragen::test
