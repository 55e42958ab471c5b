#include "pipeline/preview.h"

#include <stdlib.h>

#include <cctype>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "soragen/error.h"

namespace fs = std::filesystem;

namespace soragen::pipeline {
namespace {

constexpr const char* kFlag = "--preview";

// The names the PNG writer gives (video/png_writer.h): frame_00000.png ... and params.json.
bool is_preview_file(const std::string& name) {
  if (name == "params.json") return true;
  if (name.size() != 15 || name.compare(0, 6, "frame_") != 0 || name.compare(11, 4, ".png") != 0) return false;
  for (size_t i = 6; i < 11; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  return true;
}

OutputError preview_error(const fs::path& target, const std::string& problem) {
  return OutputError(std::string(kFlag) + " '" + target.string() + "': " + problem);
}

// The names in `folder`, read before any is moved or removed.
std::vector<std::string> file_names(const fs::path& folder, const fs::path& target) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) throw preview_error(target, "cannot read '" + folder.string() + "': " + ec.message());
  return names;
}

// A hidden sibling folder of `folder`, removed with what it holds when the
// scope ends: the next preview is written there whole before its frames
// replace the old ones.
class StagingFolder {
 public:
  explicit StagingFolder(const fs::path& folder) {
    fs::path parent = folder.parent_path();
    if (parent.empty()) parent = ".";
    std::string pattern = (parent / ("." + folder.filename().string() + ".next-XXXXXX")).string();
    if (!::mkdtemp(pattern.data())) throw preview_error(folder, "cannot make a folder beside it for the next preview");
    path_ = pattern;
  }
  ~StagingFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// `folder` (an earlier preview) gets the new frames one rename at a time;
// frames past the new count (an earlier, longer preview) go.
void replace_png_frames(const fs::path& folder, const VideoFrames& frames, const OutputOptions& options) {
  const StagingFolder staging(folder);
  write_video_file(staging.path(), frames, OutputFormat::png, options);
  std::set<std::string> written;
  for (const std::string& name : file_names(staging.path(), folder)) {
    std::error_code ec;
    fs::rename(staging.path() / name, folder / name, ec);
    if (ec) throw preview_error(folder, "cannot replace '" + name + "': " + ec.message());
    written.insert(name);
  }
  for (const std::string& name : file_names(folder, folder)) {
    if (!is_preview_file(name) || written.count(name)) continue;
    std::error_code ec;
    fs::remove(folder / name, ec);
    if (ec) throw preview_error(folder, "cannot remove the earlier preview's '" + name + "': " + ec.message());
  }
}

}  // namespace

void check_preview_target(const std::string& target) {
  // The field's rule has held it to an .mp4 name or a folder ending in '/'.
  const OutputFormat format = !target.empty() && target.back() == '/' ? OutputFormat::png : OutputFormat::mp4;
  check_output_target(target, format, kFlag);
  std::error_code ec;
  if (format != OutputFormat::png || !fs::is_directory(target, ec)) return;
  for (const std::string& name : file_names(target, target)) {
    if (!is_preview_file(name)) {
      throw preview_error(target, "the folder holds '" + name +
                                      "', which is no preview's; PNG previews need a new or empty folder");
    }
  }
}

PreviewWriter::PreviewWriter(std::string target, double fps, const std::string& metadata_json,
                             const std::atomic<bool>* cancel)
    : target_(std::move(target)),
      format_(!target_.empty() && target_.string().back() == '/' ? OutputFormat::png : OutputFormat::mp4),
      fps_(fps),
      metadata_json_(metadata_json),
      cancel_(cancel) {}

void PreviewWriter::write(const VideoFrames& frames, int step, int steps, int window, int windows) {
  nlohmann::ordered_json meta = nlohmann::ordered_json::parse(metadata_json_);
  meta["preview_step"] = step;
  meta["preview_steps"] = steps;
  if (windows > 1) meta["preview_window"] = std::to_string(window) + "/" + std::to_string(windows);
  OutputOptions options;
  options.fps = fps_;
  options.metadata_json = meta.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  options.cancel = cancel_;
  std::error_code ec;
  const fs::path folder = fs::path(target_.string().substr(0, target_.string().find_last_not_of('/') + 1));
  if (format_ == OutputFormat::png && fs::is_directory(folder, ec)) {
    replace_png_frames(folder, frames, options);
  } else {
    write_video_file(target_, frames, format_, options);
  }
}

}  // namespace soragen::pipeline
