// The soragen executable as a user meets it: flags, messages, exit codes.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace soragen {
namespace {

test::CommandResult soragen(const std::string& arguments) {
  return test::run_command("'" + (test::build_dir() / "soragen").string() + "' " + arguments + " </dev/null");
}

int count_lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

// A usage error is one line that names the flag, and exit code 2.
void expect_usage_error(const std::string& arguments, const std::string& expected) {
  const test::CommandResult result = soragen(arguments);
  EXPECT_EQ(result.exit_code, 2) << arguments << "\n" << result.output;
  EXPECT_NE(result.output.find(expected), std::string::npos) << arguments << "\n" << result.output;
}

TEST(Cli, HelpExplainsFlagsAndExitCodes) {
  const test::CommandResult result = soragen("--help");
  EXPECT_EQ(result.exit_code, 0);
  for (const char* text : {"--prompt", "--prompt-file", "--negative-prompt", "--model", "--frames", "--width",
                           "--height", "--fps", "--steps", "--guidance", "--shift", "--sampler", "--seed",
                           "--device", "--dtype", "--threads", "--verbose", "--quiet", "--version",
                           "--skip-existing", "--image", "--last-image", "--guidance-high", "--preview", "--preview-every",
                           "--fast-decode", "--preview-decoder", "--fp8-weights", "Exit codes:", "5  some items of a batch failed",
                           "--rank-timeout", "--parallel", "ulysses=U,cfg=C", "7  another process of a multi-process run failed", "torchrun --nproc-per-node"}) {
    EXPECT_NE(result.output.find(text), std::string::npos) << text;
  }
}

// A launcher's variable soragen cannot use is one line naming it, before
// anything waits for other processes.
TEST(Cli, BadLauncherVariablesAreUsageErrors) {
  const auto run = [](const std::string& environment) {
    return test::run_command("env " + environment + " '" + (test::build_dir() / "soragen").string() +
                             "' --prompt 'a red ball' </dev/null");
  };
  const test::CommandResult bad_rank = run("RANK=first WORLD_SIZE=2 MASTER_ADDR=127.0.0.1");
  EXPECT_EQ(bad_rank.exit_code, 2) << bad_rank.output;
  EXPECT_EQ(bad_rank.output, "soragen: error: environment variable RANK='first': expected a whole number\n");
  const test::CommandResult no_master = run("-u MASTER_ADDR RANK=1 WORLD_SIZE=2");
  EXPECT_EQ(no_master.exit_code, 2) << no_master.output;
  EXPECT_NE(no_master.output.find("MASTER_ADDR is not"), std::string::npos) << no_master.output;
  EXPECT_EQ(count_lines(no_master.output), 1) << no_master.output;
}

// A store nobody serves (nothing listens on port 1): one line from soragen,
// none from libtorch's own logger, and exit code 7.
TEST(Cli, AnUnreachableStoreIsOneLine) {
  const test::CommandResult result =
      test::run_command("env RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 '" +
                        (test::build_dir() / "soragen").string() + "' --prompt 'a red ball' --rank-timeout 1 </dev/null");
  EXPECT_EQ(result.exit_code, 7) << result.output;
  EXPECT_NE(result.output.find("rank 1 of 2 could not reach the job's store at 127.0.0.1:1"), std::string::npos)
      << result.output;
  EXPECT_EQ(count_lines(result.output), 1) << result.output;
}

TEST(Cli, Version) {
  const test::CommandResult result = soragen("--version");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, std::string("soragen ") + SORAGEN_TEST_VERSION + "\n");
}

TEST(Cli, ValidationMessagesNameTheFlag) {
  expect_usage_error("", "--prompt: required (or --prompt-file FILE)");
  expect_usage_error("--prompt ''", "--prompt: must not be empty");
  expect_usage_error("--prompt x --frames 20", "--frames 20: must be of the form 4k+1");
  expect_usage_error("--prompt x --width 100", "--width 100: must be a multiple of 16");
  expect_usage_error("--prompt x --height 33", "--height 33: must be a multiple of 16");
  expect_usage_error("--prompt x --sampler ddim", "--sampler 'ddim': expected unipc, dpm++ or euler");
  expect_usage_error("--prompt x --steps 0", "--steps 0: must be between 1 and 1000");
  expect_usage_error("--prompt x --frames abc", "--frames");
  expect_usage_error("--prompt x --seed -5", "--seed");
  expect_usage_error("--prompt x --crf 60", "--crf");
  expect_usage_error("--prompt x --dtype fp8", "--dtype 'fp8': expected auto, bf16, fp16 or fp32");
  expect_usage_error("--prompt x --device gpu", "--device 'gpu'");
  expect_usage_error("--prompt x --fp8-weights always", "--fp8-weights");
  expect_usage_error("--prompt x --parallel cfg=3", "cfg=1 or cfg=2");
  expect_usage_error("--prompt x --parallel ulysses=2",
                     "--parallel ulysses=2,cfg=1 needs 2 processes; this job has 1 (start them with torchrun");
  expect_usage_error("--prompt x --bogus", "--bogus");
  expect_usage_error("--prompt x -o clip.avi", "-o 'clip.avi': an MP4 output needs a name ending in .mp4");
  expect_usage_error("--prompt x --model no-such-model", "--model 'no-such-model': not a directory and not a bundled model");
  expect_usage_error("--prompt x --prompt-file p.txt", "give one or the other");
  expect_usage_error("--prompt-file /no/such/file.txt", "--prompt-file '/no/such/file.txt': cannot be read");
}

// What the embedded default (TI2V-style: text or a first image, one DiT)
// refuses, before its weights load, in one line each.
TEST(Cli, ImageFlagsAreCheckedAgainstTheModel) {
  const std::string image = (test::data_dir() / "images" / "pattern.png").string();
  const std::string last = "--prompt x --image '" + image + "' --last-image '" + image + "'";
  expect_usage_error(last, "this ti2v model takes a first frame only");
  expect_usage_error("--prompt x --last-image '" + image + "'", "needs --image too");
  expect_usage_error("--prompt x --guidance-high 4", "--guidance-high 4: this model has one DiT");
  // Wan's slg default (block 9) is past the default's few blocks.
  expect_usage_error("--prompt x --guidance-method slg",
                     "--guidance-method slg: block 9 to skip; this model's DiT has blocks 0..");
  expect_usage_error("--prompt x --cache tea", "--cache 'tea': 'tea': expected none, fbcache[:THRESHOLD], teacache");
  expect_usage_error("--prompt x --cache magcache:k=0", "--cache 'magcache:k=0': k '0': expected a whole number");
  expect_usage_error("--prompt x --guidance-method apg:eta=2x",
                     "--guidance-method 'apg:eta=2x': eta='2x' is not a number");
  expect_usage_error("--prompt x --image ''", "--image '': must name an image file");
  expect_usage_error("--prompt x --image '" + (test::data_dir() / "images" / "absent.png").string() + "'",
                     "absent.png': no such file");
  const test::CommandResult result = soragen(last);
  EXPECT_EQ(count_lines(result.output), 1) << result.output;
}

TEST(Cli, ErrorsAreOneLine) {
  const test::CommandResult result = soragen("--prompt x --frames 20");
  EXPECT_EQ(count_lines(result.output), 1) << result.output;
}

TEST(Cli, EverythingIsValidatedBeforeTheModelLoads) {
  // The default model is the slow part; a bad size must fail before it.
  const test::CommandResult result = soragen("--prompt x --frames 20 --model default");
  EXPECT_EQ(result.exit_code, 2) << result.output;
}

TEST(Cli, OutputDirectoryMustExist) {
  const test::CommandResult result = soragen("--prompt x -o /no/such/dir/out.mp4");
  EXPECT_EQ(result.exit_code, 4) << result.output;
  EXPECT_NE(result.output.find("directory '/no/such/dir' does not exist"), std::string::npos) << result.output;
  const test::CommandResult file_parent = soragen("--prompt x -o /etc/hostname/out.mp4");
  EXPECT_EQ(file_parent.exit_code, 4) << file_parent.output;
  EXPECT_NE(file_parent.output.find("is not a directory"), std::string::npos) << file_parent.output;
}

// Writing PNG frames refuses a folder with files in it: say so before the render.
TEST(Cli, APngFolderWithFilesIsRefusedBeforeTheRender) {
  test::TempDir dir;
  std::ofstream(dir / "frame_00000.png") << "an earlier render";
  const test::CommandResult result = soragen("--prompt x -o '" + dir.path().string() + "/'");
  EXPECT_EQ(result.exit_code, 4) << result.output;
  EXPECT_NE(result.output.find("directory is not empty; PNG frames need a new or empty one"), std::string::npos)
      << result.output;
  EXPECT_EQ(count_lines(result.output), 1) << result.output;
}

TEST(Cli, UnwritableOutputDirectory) {
  test::TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec |
                                               std::filesystem::perms::others_read |
                                               std::filesystem::perms::others_exec);
  // root may write anywhere, so as root the command runs as nobody.
  const std::string as_user = geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  const test::CommandResult result =
      test::run_command(as_user + "'" + (test::build_dir() / "soragen").string() + "' --prompt x -o '" +
                        (dir / "out.mp4").string() + "' </dev/null");
  EXPECT_EQ(result.exit_code, 4) << result.output;
  EXPECT_NE(result.output.find("is not writable"), std::string::npos) << result.output;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
}

TEST(Cli, BatchNeedsAPatternThatNamesEachItem) {
  test::TempDir dir;
  std::ofstream(dir / "prompts.txt") << "a red ball\na blue cube\n";
  const test::CommandResult result =
      soragen("--prompt-file '" + (dir / "prompts.txt").string() + "' -o '" + (dir / "out.mp4").string() + "'");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("every item of the batch would write this one file"), std::string::npos)
      << result.output;
}

TEST(Cli, EmptyPromptFile) {
  test::TempDir dir;
  std::ofstream(dir / "prompts.txt") << "# nothing here\n\n";
  const test::CommandResult result = soragen("--prompt-file '" + (dir / "prompts.txt").string() + "'");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("has no prompts"), std::string::npos) << result.output;
}

TEST(Cli, MissingModelIsAModelErrorAndWritesNothing) {
  test::TempDir dir;
  const test::CommandResult result = soragen("--prompt x -o '" + (dir / "out.mp4").string() + "' --model '" +
                                             dir.path().string() + "'");
  EXPECT_EQ(result.exit_code, 3) << result.output;
  EXPECT_NE(result.output.find("no weights found"), std::string::npos) << result.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace soragen
