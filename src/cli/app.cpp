#include "cli/app.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/batch.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "soragen/distributed.h"
#include "soragen/error.h"
#include "soragen/output.h"
#include "soragen/pipeline.h"

namespace soragen::cli {
namespace {

namespace fs = std::filesystem;

// Set by SIGINT/SIGTERM; the pipeline checks it between steps and the writer
// between frames. The handler resets itself, so a second Ctrl-C kills at once.
// In a multi-process job another rank's failure sets it too; the second flag
// tells the two apart.
std::atomic<bool> g_stop_requested{false};
std::atomic<bool> g_signal_received{false};

extern "C" void on_stop_signal(int) {
  g_signal_received.store(true);
  g_stop_requested.store(true);
}

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

// In a multi-process job every line says which rank wrote it.
Logger make_logger(const CliOptions& options, const LaunchEnvironment& launch) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto spd = std::make_shared<spdlog::logger>("soragen", sink);
  const std::string rank = launch.several_processes() ? "rank " + std::to_string(launch.rank) + ": " : "";
  spd->set_pattern("soragen: " + rank + "%^%l%$: %v");
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

// Rank 0 alone shows progress: several bars on one terminal would garble it.
ProgressMode progress_mode(const CliOptions& options, const ProcessGroup* group) {
  if (options.quiet || (group && group->rank() != 0)) return ProgressMode::quiet;
  return isatty(STDERR_FILENO) ? ProgressMode::bar : ProgressMode::lines;
}

// The -v timings line, with this process's peak resident memory: in a
// multi-process job each rank reports its own.
std::string timings_line(const ProgressReporter& progress) {
  rusage usage{};
  std::string line = "timings: " + progress.timings();
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {  // ru_maxrss is in KiB on Linux
    char text[64];
    std::snprintf(text, sizeof text, "; peak memory %.2f GiB resident",
                  static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0));
    line += text;
  }
  return line;
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
    check_fresh_output_target(options.output, plan.format);
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

// Whether two output names are one file or folder ("out/" and "out" are).
bool same_target(const fs::path& a, const fs::path& b) {
  const auto normal = [](const fs::path& path) {
    std::string text = path.lexically_normal().string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
  };
  return normal(a) == normal(b);
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
      if (!job.request.preview.empty() && same_target(job.request.preview, job.output)) {
        throw UsageError("--preview '" + job.request.preview + "': is the -o output too; give the preview its own name");
      }
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

// How one --prompt render splits over the job's processes (--parallel);
// std::nullopt for one process or a --prompt-file batch, which is shared
// item by item instead. Called before the rendezvous too, so that every rank
// refuses a plan that does not fit alike, with no rank waiting on another.
std::optional<ParallelPlan> render_split(const CliOptions& options, const LaunchEnvironment& launch) {
  const std::optional<ParallelPlan> asked = parse_parallel(options.parallel);
  const bool batch = !options.prompt_file.empty();
  if (asked && batch && launch.several_processes()) {
    throw UsageError("--parallel splits one --prompt render; a --prompt-file batch is shared among the processes "
                     "item by item");
  }
  if (batch || (!launch.several_processes() && (!asked || asked->ulysses * asked->cfg == 1))) return std::nullopt;
  const ParallelPlan plan = asked.value_or(automatic_parallel_plan(launch.world_size));
  check_parallel_plan(plan, launch.world_size);
  return plan;
}

// How rank 0 names the split in its log ("Ulysses sequence parallelism
// over 2, times CFG parallelism: ...").
std::string describe_parallel(const ParallelPlan& plan) {
  std::string text;
  if (plan.ulysses > 1) text = "Ulysses sequence parallelism over " + std::to_string(plan.ulysses);
  if (plan.cfg > 1) {
    text += std::string(text.empty() ? "" : ", times ") +
            "CFG parallelism: conditional and unconditional passes apart";
  }
  return text.empty() ? "not split" : text;
}

// Every rank reads the same flags and prompt file, so every rank makes the
// same job list; a rank started with other arguments would render items of
// another batch into this one's names, so the lists are compared first.
void check_same_jobs(ProcessGroup& group, const std::vector<BatchJob>& jobs) {
  std::string list;
  for (const BatchJob& job : jobs) list += std::to_string(job.index) + "=" + job.output.string() + "\n";
  const std::vector<std::string> lists = group.all_gather("jobs", std::to_string(std::hash<std::string>{}(list)));
  for (int r = 1; r < group.world_size(); ++r) {
    if (lists[r] != lists[0]) {
      throw UsageError("rank " + std::to_string(r) + "'s batch differs from rank 0's: every process must be "
                       "started with the same flags and --prompt-file");
    }
  }
}

// Item k of the batch goes to rank k mod N: each output has one owner, so no
// two ranks ever write one file, and --skip-existing resumes each share.
std::vector<BatchJob> share_of_rank(const std::vector<BatchJob>& jobs, const ProcessGroup& group) {
  std::vector<BatchJob> share;
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    if (static_cast<int>(k % static_cast<std::size_t>(group.world_size())) == group.rank()) share.push_back(jobs[k]);
  }
  return share;
}

// The batch summary of all ranks: counts add up, the time is the slowest rank's.
BatchSummary summary_of_all_ranks(ProcessGroup& group, const BatchSummary& mine) {
  char text[96];
  std::snprintf(text, sizeof text, "%d %d %d %.6f", mine.ok, mine.failed, mine.skipped, mine.seconds);
  BatchSummary all;
  for (const std::string& rank_summary : group.all_gather("summary", text)) {
    BatchSummary one;
    if (std::sscanf(rank_summary.c_str(), "%d %d %d %lf", &one.ok, &one.failed, &one.skipped, &one.seconds) != 4) {
      throw InternalError("a rank sent the batch summary '" + rank_summary + "'");
    }
    all.ok += one.ok;
    all.failed += one.failed;
    all.skipped += one.skipped;
    all.seconds = std::max(all.seconds, one.seconds);
  }
  return all;
}

// Ranks on one machine share its cores unless --threads says otherwise.
int threads_for_rank(int threads, const LaunchEnvironment& launch) {
  if (threads > 0 || launch.local_world_size <= 1) return threads;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / launch.local_world_size);
}

int run_checked(CLI::App& app, const CliOptions& options, const Logger& logger, const LaunchEnvironment& launch,
                ProcessGroup* group) {
  // The prompt file's bad lines are the same on every rank: rank 0 says them.
  const Logger silent;
  const Logger& plan_logger = group && group->rank() != 0 ? silent : logger;
  Plan plan = make_plan(app, options, plan_logger);
  ModelSpec spec = model_spec_from_flags(app, options);
  const std::optional<ParallelPlan> parallel = render_split(options, launch);
  const bool split_render = parallel.has_value();
  RuntimeOptions runtime;
  runtime.device = group ? device_for_rank(options.device, launch) : options.device;
  runtime.dtype = options.dtype;
  runtime.threads = group ? threads_for_rank(options.threads, launch) : options.threads;
  runtime.text_encoder_device = options.text_encoder_device;
  runtime.offload = options.offload;
  runtime.vae_tile = options.vae_tile;
  runtime.fp8_weights = options.fp8_weights;
  // One render needs the 11 GB encoder once; a batch keeps it for the next items.
  runtime.free_text_encoder_after_use = !plan.batch;
  validate_runtime(runtime);
  // An unknown name, a bad request for this model or a bad image fails
  // here, before the weights load.
  const ModelInfo model = inspect_model(spec);
  std::vector<PromptLineError> bad_lines = plan.bad_lines;
  std::vector<BatchJob> jobs = make_jobs(plan, options, model, bad_lines, plan_logger);
  if (group) check_same_jobs(*group, jobs);
  if (jobs.empty()) {  // every line of the batch was refused: nothing to load the weights for
    if (!group || group->rank() == 0) {
      logger.warn("batch done: 0 ok, " + std::to_string(bad_lines.size()) + " failed, 0 skipped, 0.0 s");
    }
    return static_cast<int>(ExitCode::batch_failed);
  }
  if (group && !split_render) {
    if (group->rank() == 0) {
      logger.info("batch of " + std::to_string(jobs.size()) + " items over " + std::to_string(group->world_size()) +
                  " processes (" + launcher_name(launch.launcher) + "): item k on rank k mod " +
                  std::to_string(group->world_size()));
    }
    jobs = share_of_rank(jobs, *group);
  }

  install_stop_handlers();
  ProgressReporter progress(progress_mode(options, group), std::cerr, logger);
  // A rank whose share of the batch is empty loads no weights.
  std::optional<Pipeline> loaded;
  if (!jobs.empty()) {
    // The DiT loads with the first item's LoRAs; an item with others reloads it.
    spec.loras = jobs.front().request.lora;
    progress({Stage::load, 0, 1});
    loaded.emplace(Pipeline::load(spec, runtime, logger));
    progress({Stage::load, 1, 1});
  }
  if (split_render) {
    loaded->split_over(*group, *parallel);
    if (group->rank() == 0) logger.info("one render over " + std::to_string(group->world_size()) + " processes (" +
                                        describe_parallel(*parallel) + "); rank 0 writes the video");
  }

  const RenderJob render = [&](const BatchJob& job) {
    Pipeline& pipeline = *loaded;
    logger.info((plan.batch ? "item " + std::to_string(job.index) + ": " : std::string()) + describe(job.request, pipeline.inputs().two_experts));
    VideoFrames frames = pipeline.generate(job.request, std::ref(progress), &g_stop_requested);
    if (split_render && group->rank() != 0) return;  // the same frames as rank 0's, which writes them
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
    if (options.verbosity > 0) logger.info(timings_line(progress));
    return 0;
  }
  BatchSummary summary = run_batch(jobs, options.skip_existing, render, &g_stop_requested, logger);
  if (group) summary = summary_of_all_ranks(*group, summary);
  const int failed = summary.failed + static_cast<int>(bad_lines.size());
  char text[200];
  std::snprintf(text, sizeof text, "batch done: %d ok, %d failed, %d skipped, %.1f s", summary.ok, failed,
                summary.skipped, summary.seconds);
  std::string line = text;
  if (group) line += " (" + std::to_string(group->world_size()) + " processes)";
  if (!group || group->rank() == 0) (failed > 0 ? logger.warn(line) : logger.info(line));
  if (options.verbosity > 0) logger.info(timings_line(progress));
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

  LaunchEnvironment launch;
  try {
    launch = launch_environment_of_process();
  } catch (const Error& e) {
    std::cerr << "soragen: error: " << e.what() << "\n";
    return static_cast<int>(e.exit_code());
  }
  const Logger logger = make_logger(options, launch);
  set_codec_log_level(options.verbosity >= 2 ? LogLevel::info : LogLevel::error);
  set_libtorch_log_level(options.verbosity >= 2 ? LogLevel::debug : LogLevel::off);
  std::unique_ptr<ProcessGroup> group;
  // A rank that fails tells the others; a rank stopped by another's failure
  // says whose, and exits with ExitCode::rank_failed.
  const auto fail = [&](const std::string& message, ExitCode code) {
    if (group) {
      // Stopped by another rank: its failure ended a wait here, or set the
      // stop flag that interrupted a render (no signal came to this process).
      const std::optional<std::string> cause = group->failure();
      if (code == ExitCode::rank_failed || (code == ExitCode::interrupted && cause && !g_signal_received.load())) {
        logger.error("stopped: " + cause.value_or(message));
        return static_cast<int>(ExitCode::rank_failed);
      }
      group->report_failure(message);
    }
    logger.error(message);
    return static_cast<int>(code);
  };
  try {
    if (launch.several_processes()) {
      render_split(options, launch);
      const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(options.rank_timeout * 1000));
      group = ProcessGroup::join(launch, timeout, &g_stop_requested);
      if (group->rank() == 0) {
        logger.info(std::to_string(group->world_size()) + " processes joined through " + launcher_name(launch.launcher) +
                    " at " + launch.master_addr + ":" + std::to_string(launch.master_port));
      }
    }
    const int code = run_checked(app, options, logger, launch, group.get());
    if (group) group->leave();
    return code;
  } catch (const Error& e) {
    return fail(e.what(), e.exit_code());
  } catch (const std::exception& e) {
    return fail(std::string("unexpected error: ") + e.what(), ExitCode::failure);
  }
}

}  // namespace soragen::cli
