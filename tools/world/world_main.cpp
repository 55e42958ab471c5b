// soragen-world: the procedural world on the command line.
//
//   soragen-world corpus --clips 20000 --out corpus.txt   # prompts for spm_train
//   soragen-world check --clips 500                        # the detector on the world's own clips
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>

#include "describe.h"
#include "detect.h"
#include "render.h"

namespace sw = soragen::world;

int main(int argc, char** argv) {
  CLI::App app{"The procedural world soragen's default model is trained on."};
  app.require_subcommand(1);
  int clips = 20000;
  std::uint64_t seed = 1;
  std::string out;
  CLI::App* corpus = app.add_subcommand("corpus", "write every phrasing of random training scenes, one per line");
  corpus->add_option("--clips", clips, "scenes")->capture_default_str();
  corpus->add_option("--seed", seed, "seed")->capture_default_str();
  corpus->add_option("--out", out, "text file")->required();
  CLI::App* check = app.add_subcommand("check", "render random scenes and score the detector on them");
  check->add_option("--clips", clips, "scenes")->capture_default_str();
  check->add_option("--seed", seed, "seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::mt19937_64 rng(seed);
  if (app.got_subcommand(corpus)) {
    std::ofstream file(out);
    for (int i = 0; i < clips; ++i) {
      for (const std::string& line : sw::describe(sw::random_scene(rng, sw::Split::train))) file << line << "\n";
    }
    if (!file) {
      std::fprintf(stderr, "soragen-world: cannot write %s\n", out.c_str());
      return 1;
    }
    return 0;
  }
  int colour = 0, background = 0, direction = 0, shape = 0;
  for (int i = 0; i < clips; ++i) {
    const sw::Scene s = sw::random_scene(rng, sw::Split::any);
    const sw::Detection d = sw::detect(sw::render(s, 17, 64, 64));
    colour += d.colour == s.colour;
    background += d.background == s.background;
    direction += d.direction && *d.direction == s.direction;
    const bool shape_ok = d.shape && *d.shape == s.shape;
    shape += shape_ok;
    if (!shape_ok || d.colour != s.colour || d.background != s.background) {
      std::printf("miss: %s -> %s (fill %.2f)\n", sw::plain_prompt(s).c_str(), sw::describe_detection(d).c_str(), d.fill);
    }
  }
  std::printf("detector on %d world clips: colour %.1f%%  background %.1f%%  direction %.1f%%  shape %.1f%%\n", clips,
              100.0 * colour / clips, 100.0 * background / clips, 100.0 * direction / clips, 100.0 * shape / clips);
  return 0;
}
