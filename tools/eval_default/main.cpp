// soragen-eval: measures how well a model follows prompts of the procedural
// world. It renders plain prompts ("a small red circle moving to the right on
// a blue background") through the public Pipeline, reads each video back with
// the world's detector, and prints the accuracy of every attribute, per
// colour+shape+direction triple and overall.
//
//   soragen-eval                       # held-out triples, 8 samples each, embedded default
//   soragen-eval --split train --samples 4
//   soragen-eval --model DIR --steps 30 --json results.json
//   soragen-eval --guidance 7 --shift 5 --sampler euler   # sampler settings other than the model's
//   soragen-eval --cache fbcache:0.1                       # what step caching costs in accuracy
//   soragen-eval --model DIR --fp8-weights keep            # a converted DiT's int8 GEMM (soragen-convert)
//   soragen-eval --phrasing other                          # prompts worded as training's other phrasings
//   soragen-eval --split train --calibrate-cache tables.json
//       # renders without caching and fits TeaCache's polynomial and MagCache's
//       # ratios to the model: model.json's "step_cache" object
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>

#include "describe.h"
#include "detect.h"
#include "soragen/error.h"
#include "soragen/pipeline.h"

namespace sw = soragen::world;

namespace {

struct Tally {
  int total = 0, colour = 0, background = 0, direction = 0, shape = 0, all = 0;
  void add(const sw::Scene& s, const sw::Detection& d) {
    ++total;
    const bool c = d.colour == s.colour, b = d.background == s.background;
    const bool m = d.direction && *d.direction == s.direction, sh = d.shape && *d.shape == s.shape;
    colour += c;
    background += b;
    direction += m;
    shape += sh;
    all += c && b && m;
  }
  static double pct(int n, int d) { return d ? 100.0 * n / d : 0.0; }
  nlohmann::json json() const {
    return {{"samples", total}, {"colour", pct(colour, total)}, {"background", pct(background, total)},
            {"direction", pct(direction, total)}, {"shape", pct(shape, total)},
            {"colour_background_direction", pct(all, total)}};
  }
};

// The scenes to render: for each triple, `samples` scenes with varied size
// and background (never the object's colour), a fixed stream per seed.
std::vector<sw::Scene> evaluation_scenes(const std::string& split, int samples, std::uint64_t seed) {
  std::vector<sw::Scene> scenes;
  std::mt19937_64 rng(seed);
  if (split == "held-out") {
    for (const sw::HeldOut& h : sw::held_out_triples()) {
      for (int k = 0; k < samples; ++k) {
        sw::Scene s = sw::random_scene(rng, sw::Split::any);
        s.colour = h.colour;
        s.shape = h.shape;
        s.direction = h.direction;
        // Background: cycle through the other colours so each triple sees several.
        s.background = (h.colour + 1 + k) % static_cast<int>(sw::palette().size());
        if (s.background == s.colour) s.background = (s.background + 1) % static_cast<int>(sw::palette().size());
        scenes.push_back(s);
      }
    }
  } else {
    const int count = samples * static_cast<int>(sw::held_out_triples().size());
    for (int i = 0; i < count; ++i) scenes.push_back(sw::random_scene(rng, sw::Split::train));
  }
  return scenes;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Scores how well a model follows prompts of soragen's procedural world."};
  soragen::ModelSpec model;
  std::string split = "held-out", phrasing = "plain", json_path, calibration_path;
  int samples = 8, steps = 0, threads = 0;
  std::uint64_t seed = 7;
  bool verbose = false;
  app.add_option("--model", model.model, "model name or directory")->capture_default_str();
  app.add_option("--split", split, "held-out: the triples never trained on; train: random training scenes")
      ->check(CLI::IsMember({"held-out", "train"}))->capture_default_str();
  app.add_option("--samples", samples, "renders per held-out triple (train: 8 x this many scenes)")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--phrasing", phrasing,
                 "plain: \"a small red circle moving to the right on a blue background\"; other: one of the "
                 "world's other phrasings of the scene (\"red ball slides right, blue backdrop\", ...)")
      ->check(CLI::IsMember({"plain", "other"}))->capture_default_str();
  app.add_option("--steps", steps, "sampling steps (0: the model's default)");
  std::optional<double> guidance, shift;
  std::optional<std::string> sampler, guidance_method, cache;
  app.add_option("--guidance", guidance, "classifier-free guidance scale (default: the model's)");
  app.add_option("--shift", shift, "flow-matching sigma shift (default: the model's)");
  app.add_option("--sampler", sampler, "unipc | dpm++ | euler (default: the model's)");
  app.add_option("--guidance-method", guidance_method, "as soragen's --guidance-method (default: the model's)");
  app.add_option("--cache", cache, "step caching, as soragen's --cache (default: none)");
  std::string fp8_weights = "auto";
  app.add_option("--fp8-weights", fp8_weights, "as soragen's --fp8-weights: a converted DiT's codes")
      ->check(CLI::IsMember({"auto", "keep", "decode"}))->capture_default_str();
  app.add_option("--seed", seed, "seed of the scenes; render i uses seed + i")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0: all cores)");
  app.add_option("--json", json_path, "also write the results here");
  app.add_option("--calibrate-cache", calibration_path,
                 "render without step caching and write the TeaCache and MagCache tables fitted to these renders "
                 "here (model.json's \"step_cache\" object)");
  app.add_flag("-v,--verbose", verbose, "print every render's prompt and what was detected");
  CLI11_PARSE(app, argc, argv);

  try {
    const soragen::Logger quiet;  // no sink: the tool prints its own table
    soragen::RuntimeOptions runtime;
    runtime.threads = threads;
    runtime.fp8_weights = fp8_weights;
    soragen::Pipeline pipeline = soragen::Pipeline::load(model, runtime, quiet);
    const std::vector<sw::Scene> scenes = evaluation_scenes(split, samples, seed);
    if (!calibration_path.empty()) {
      if (cache && *cache != "none") throw soragen::UsageError("--calibrate-cache: renders without --cache");
      pipeline.begin_step_cache_calibration();
    }

    Tally overall;
    std::map<std::string, Tally> per_triple;
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < scenes.size(); ++i) {
      const sw::Scene& s = scenes[i];
      soragen::GenerationRequest request;
      if (phrasing == "plain") {
        request.prompt = sw::plain_prompt(s, i % 2 == 0);
      } else {
        // describe() lists the two plain phrasings first; the others in turn.
        const std::vector<std::string> all = sw::describe(s);
        request.prompt = all[2 + i % (all.size() - 2)];
      }
      request.seed = seed + i;
      if (steps > 0) request.steps = steps;
      request.guidance = guidance;
      request.shift = shift;
      request.sampler = sampler;
      request.guidance_method = guidance_method;
      request.cache = cache;
      const soragen::ResolvedRequest resolved = soragen::resolve_request(request, pipeline.defaults());
      const sw::Detection d = sw::detect(pipeline.generate(resolved, nullptr));
      overall.add(s, d);
      per_triple[std::string(sw::palette()[s.colour].name) + " " + sw::shape_name(s.shape) + " " +
                 sw::direction_name(s.direction)].add(s, d);
      if (verbose) std::printf("%-70s -> %s\n", request.prompt.c_str(), sw::describe_detection(d).c_str());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::printf("%-24s %7s %7s %7s %7s %7s %s\n", "triple", "renders", "colour", "backgr", "motion", "shape", "c+b+m");
    for (const auto& [name, t] : per_triple) {
      std::printf("%-24s %7d %6.1f%% %6.1f%% %6.1f%% %6.1f%% %6.1f%%\n", name.c_str(), t.total,
                  Tally::pct(t.colour, t.total), Tally::pct(t.background, t.total), Tally::pct(t.direction, t.total),
                  Tally::pct(t.shape, t.total), Tally::pct(t.all, t.total));
    }
    const Tally& t = overall;
    std::printf("%-24s %7d %6.1f%% %6.1f%% %6.1f%% %6.1f%% %6.1f%%\n", ("overall (" + split + ", " + phrasing + ")").c_str(), t.total,
                Tally::pct(t.colour, t.total), Tally::pct(t.background, t.total), Tally::pct(t.direction, t.total),
                Tally::pct(t.shape, t.total), Tally::pct(t.all, t.total));
    std::printf("%zu renders in %.1f s (%.2f s each)\n", scenes.size(), secs, secs / static_cast<double>(scenes.size()));
    if (!json_path.empty()) {
      nlohmann::json out = {{"split", split},
                             {"phrasing", phrasing},
                             {"overall", t.json()},
                             {"seconds_per_render", secs / scenes.size()}};
      for (const auto& [name, tally] : per_triple) out["triples"][name] = tally.json();
      std::ofstream(json_path) << out.dump(2) << "\n";
    }
    if (!calibration_path.empty()) {
      std::ofstream file(calibration_path);
      file << pipeline.step_cache_calibration() << "\n";
      if (!file) throw soragen::UsageError("--calibrate-cache '" + calibration_path + "': cannot write the file");
      std::printf("step-cache tables fitted to %zu renders: %s\n", scenes.size(), calibration_path.c_str());
    }
  } catch (const soragen::Error& e) {
    std::fprintf(stderr, "soragen-eval: %s\n", e.what());
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soragen-eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
