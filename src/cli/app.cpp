#include "cli/app.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <set>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/batch.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "soragen/error.h"
#include "soragen/output.h"
#include "soragen/pipeline.h"

namespace soragen::cli {
namespace {

namespace fs = std::filesystem;

// Set by SIGINT/SIGTERM; the pipeline checks it between steps and the writer
// between frames. The handler resets itself, so a second Ctrl-C kills at once.
std::atomic<bool> g_stop_requested{false};

extern "C" void on_stop_signal(int) { g_stop_requested.store(true); }

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Under a file-size limit (ulimit -f) a write past it would kill us with
  // SIGXFSZ and leave the temporary behind; ignored, it fails with EFBIG and
  // becomes an ordinary output error that cleans up.
  signal(SIGXFSZ, SIG_IGN);
}

Logger make_logger(const CliOptions& options) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto spd = std::make_shared<spdlog::logger>("soragen", sink);
  spd->set_pattern("soragen: %^%l%$: %v");
  spd->set_level(spdlog::level::trace);
  LogLevel level = options.quiet ? LogLevel::error : options.verbosity >= 2 ? LogLevel::debug : LogLevel::info;
  return Logger(
      [spd](LogLevel l, const std::string& message) {
        switch (l) {
          case LogLevel::debug: spd->debug(message); break;
          case LogLevel::info: spd->info(message); break;
          case LogLevel::warning: spd->warn(message); break;
          default: spd->error(message); break;
        }
      },
      level);
}

ProgressMode progress_mode(const CliOptions& options) {
  if (options.quiet) return ProgressMode::quiet;
  return isatty(STDERR_FILENO) ? ProgressMode::bar : ProgressMode::lines;
}

// Everything decided before the weights load.
struct Plan {
  bool batch = false;
  OutputFormat format = OutputFormat::mp4;
  std::vector<PromptItem> items;
  std::vector<PromptLineError> bad_lines;
};

Plan make_plan(const CLI::App& app, const CliOptions& options, const Logger& logger) {
  Plan plan;
  const bool has_prompt = app.count("--prompt") > 0;
  const bool has_file = app.count("--prompt-file") > 0;
  if (has_prompt && has_file) throw UsageError("--prompt and --prompt-file: give one or the other");
  if (!has_prompt && !has_file) throw UsageError("--prompt: required (or --prompt-file FILE)");
  plan.format = output_format_for(options.output, options.format);
  const GenerationRequest base = request_from_flags(options);

  if (has_prompt) {
    validate_request(base);
    check_output_target(options.output, plan.format);
    plan.items.push_back({0, base, std::nullopt});
    return plan;
  }

  plan.batch = true;
  PromptFile file = read_prompt_file(options.prompt_file, base);
  plan.bad_lines = std::move(file.errors);
  for (const auto& bad : plan.bad_lines) {
    logger.error("--prompt-file '" + options.prompt_file + "' line " + std::to_string(bad.line) + ": " + bad.message);
  }
  const bool pattern_varies = pattern_names_items(options.output);
  for (PromptItem& item : file.items) {
    if (!item.output && !pattern_varies && file.items.size() > 1) {
      throw UsageError("-o '" + options.output +
                       "': every item of the batch would write this one file; use a pattern such as "
                       "'out/{index:04}-{slug}.mp4'");
    }
  }
  plan.items = std::move(file.items);
  if (plan.items.empty() && plan.bad_lines.empty()) {
    throw UsageError("--prompt-file '" + options.prompt_file + "': has no prompts");
  }
  return plan;
}

std::string shortest(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string describe(const ResolvedRequest& r, bool two_experts) {
  char text[256];
  std::snprintf(text, sizeof text, "%dx%d, %d frames at %g fps, %d steps of %s, guidance %g, shift %g, seed %llu",
                r.width, r.height, r.frames, r.fps, r.steps, r.sampler.c_str(), r.guidance, r.shift,
                static_cast<unsigned long long>(r.seed));
  std::string out = text;
  if (two_experts) out += ", high-noise guidance " + shortest(r.guidance_high);
  if (!r.image.empty()) out += ", from '" + r.image + "'" + (r.last_image.empty() ? "" : " to '" + r.last_image + "'");
  return out;
}

// Resolves every item against the model's defaults, checks it against what
// the model takes (its images read), and names its output: all before the
// weights load.
std::vector<BatchJob> make_jobs(const Plan& plan, const CliOptions& options, const ModelInfo& model,
                                std::vector<PromptLineError>& bad_lines, const Logger& logger) {
  std::vector<BatchJob> jobs;
  std::set<fs::path> taken;
  int index = 0;
  for (const PromptItem& item : plan.items) {
    ++index;
    BatchJob job;
    job.index = index;
    job.line = item.line;
    try {
      job.request = resolve_request(item.request, model.defaults);
      check_request_for_model(item.request, job.request, model.inputs, options.vae_tile);
      job.output = item.output ? fs::path(*item.output)
                               : fs::path(expand_output_pattern(options.output, index, item.line,
                                                                job.request.prompt, job.request.seed));
      if (plan.batch) check_output_target(job.output, plan.format);
      if (!taken.insert(job.output.lexically_normal()).second) {
        throw UsageError("output '" + job.output.string() + "' is already written by an earlier item");
      }
    } catch (const Error& e) {
      if (!plan.batch) throw;
      logger.error("--prompt-file '" + options.prompt_file + "' line " + std::to_string(item.line) + ": " + e.what());
      bad_lines.push_back({item.line, e.what()});
      continue;
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

int run_checked(CLI::App& app, const CliOptions& options, const Logger& logger) {
  Plan plan = make_plan(app, options, logger);
  ModelSpec spec = model_spec_from_flags(app, options);
  RuntimeOptions runtime;
  runtime.device = options.device;
  runtime.dtype = options.dtype;
  runtime.threads = options.threads;
  runtime.text_encoder_device = options.text_encoder_device;
  runtime.offload = options.offload;
  runtime.vae_tile = options.vae_tile;
  // One render needs the 11 GB encoder once; a batch keeps it for the next items.
  runtime.free_text_encoder_after_use = !plan.batch;
  validate_runtime(runtime);
  // An unknown name, a bad request for this model or a bad image fails
  // here, before the weights load.
  const ModelInfo model = inspect_model(spec);
  std::vector<PromptLineError> bad_lines = plan.bad_lines;
  const std::vector<BatchJob> jobs = make_jobs(plan, options, model, bad_lines, logger);
  if (jobs.empty()) {  // every line of the batch was refused: nothing to load the weights for
    logger.warn("batch done: 0 ok, " + std::to_string(bad_lines.size()) + " failed, 0 skipped, 0.0 s");
    return static_cast<int>(ExitCode::batch_failed);
  }

  // The DiT loads with the first item's LoRAs; an item with others reloads it.
  spec.loras = jobs.front().request.lora;
  install_stop_handlers();
  ProgressReporter progress(progress_mode(options), std::cerr, logger);
  progress({Stage::load, 0, 1});
  Pipeline pipeline = Pipeline::load(spec, runtime, logger);
  progress({Stage::load, 1, 1});

  const RenderJob render = [&](const BatchJob& job) {
    logger.info((plan.batch ? "item " + std::to_string(job.index) + ": " : std::string()) + describe(job.request, pipeline.inputs().two_experts));
    VideoFrames frames = pipeline.generate(job.request, std::ref(progress), &g_stop_requested);
    OutputOptions output;
    output.fps = job.request.fps;
    output.crf = options.crf;
    output.metadata_json = generation_metadata(job.request, pipeline.source());
    output.cancel = &g_stop_requested;
    progress({Stage::write, 0, 1});
    write_video_file(job.output, frames, plan.format, output);
    progress({Stage::write, 1, 1});
    logger.info("wrote '" + job.output.string() + "'");
  };

  if (!plan.batch) {
    render(jobs.front());
    if (options.verbosity > 0) logger.info("timings: " + progress.timings());
    return 0;
  }
  const BatchSummary summary = run_batch(jobs, options.skip_existing, render, &g_stop_requested, logger);
  const int failed = summary.failed + static_cast<int>(bad_lines.size());
  char text[160];
  std::snprintf(text, sizeof text, "batch done: %d ok, %d failed, %d skipped, %.1f s", summary.ok, failed,
                summary.skipped, summary.seconds);
  (failed > 0 ? logger.warn(text) : logger.info(text));
  if (options.verbosity > 0) logger.info("timings: " + progress.timings());
  return failed > 0 ? static_cast<int>(ExitCode::batch_failed) : 0;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"soragen: turn a text prompt (and an image) into a video with open Wan2.1 and Wan2.2 models.", "soragen"};
  CliOptions options;
  add_options(app, options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "soragen: error: " << e.what() << "\nRun 'soragen --help' for the flags and their rules.\n";
    return static_cast<int>(ExitCode::usage);
  }

  const Logger logger = make_logger(options);
  set_codec_log_level(options.verbosity >= 2 ? LogLevel::info : LogLevel::error);
  try {
    return run_checked(app, options, logger);
  } catch (const Error& e) {
    logger.error(e.what());
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    logger.error(std::string("unexpected error: ") + e.what());
    return static_cast<int>(ExitCode::failure);
  }
}

}  // namespace soragen::cli
