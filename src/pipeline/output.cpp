#include "soragen/output.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "soragen/error.h"
#include "soragen/request_fields.h"
#include "video/ffmpeg_log.h"
#include "video/writer.h"

namespace fs = std::filesystem;

namespace soragen {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_writable_directory(const std::string& flag, const fs::path& target, const fs::path& directory) {
  std::error_code ec;
  const std::string what = flag + " '" + target.string() + "': ";
  if (!fs::exists(directory, ec)) {
    throw OutputError(what + "directory '" + directory.string() + "' does not exist");
  }
  if (!fs::is_directory(directory, ec)) {
    throw OutputError(what + "'" + directory.string() + "' is not a directory");
  }
  if (access(directory.c_str(), W_OK | X_OK) != 0) {
    throw OutputError(what + "directory '" + directory.string() + "' is not writable: " + std::strerror(errno));
  }
}

}  // namespace

OutputFormat output_format_for(const std::string& target, const std::string& format) {
  if (format == "png" || (format == "auto" && ends_with(target, "/"))) return OutputFormat::png;
  if (format != "auto" && format != "mp4") throw UsageError("--format '" + format + "': expected auto, mp4 or png");
  std::string lower = target;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!ends_with(lower, ".mp4")) {
    throw UsageError("-o '" + target + "': an MP4 output needs a name ending in .mp4 (or end it with '/' for PNG frames)");
  }
  return OutputFormat::mp4;
}

void check_output_target(const fs::path& target, OutputFormat format, const std::string& flag) {
  std::string text = target.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  const fs::path path(text);
  fs::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  check_writable_directory(flag, target, directory);
  std::error_code ec;
  if (format == OutputFormat::mp4 && fs::is_directory(path, ec)) {
    throw OutputError(flag + " '" + target.string() + "': is a directory");
  }
  if (format == OutputFormat::png && fs::exists(path, ec) && !fs::is_directory(path, ec)) {
    throw OutputError(flag + " '" + target.string() + "': is a file, PNG frames need a directory");
  }
}

void check_fresh_output_target(const fs::path& target, OutputFormat format, const std::string& flag) {
  check_output_target(target, format, flag);
  std::error_code ec;
  if (format == OutputFormat::png && fs::is_directory(target, ec) && !fs::is_empty(target, ec)) {
    throw OutputError(flag + " '" + target.string() + "': directory is not empty; PNG frames need a new or empty one");
  }
}

void write_video_file(const fs::path& target, const VideoFrames& frames, OutputFormat format,
                      const OutputOptions& options) {
  video::WriteOptions write;
  write.fps = options.fps;
  write.crf = options.crf;
  write.metadata_json = options.metadata_json;
  write.cancel = options.cancel;
  video::write_video(target, frames, format == OutputFormat::png ? video::OutputFormat::png : video::OutputFormat::mp4,
                     write);
}

void set_codec_log_level(LogLevel level) { video::set_ffmpeg_log_level(level); }

std::string generation_metadata(const ResolvedRequest& r, const ModelSource& model) {
  nlohmann::ordered_json meta;
  meta["prompt"] = r.prompt;
  for (const AnyRequestField& any : request_fields()) {
    std::visit([&](const auto& field) { meta[field.key] = r.*field.resolved; }, any);
  }
  meta["model"] = model.name;
  meta["soragen_version"] = SORAGEN_VERSION;
  // Prompts may hold invalid UTF-8 only through the library API; replace it
  // rather than fail after minutes of rendering.
  return meta.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace soragen
