// --preview FILE: what the video looks like while it denoises, rewritten
// every --preview-every steps. An .mp4 is replaced whole (a new file renamed
// over the old one); a folder of PNG frames is replaced frame by frame, each
// new frame renamed over its old self, so that a player or an image viewer
// watching it never reads a half-written file.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "soragen/output.h"
#include "soragen/video.h"

namespace soragen::pipeline {

// Before any weight loads: the target's directory exists and is writable,
// an .mp4 target is not a folder, and a PNG folder is new, empty or holds
// only an earlier preview (frame_NNNNN.png and params.json: a resumed batch
// rewrites its own). Throws OutputError naming --preview.
void check_preview_target(const std::string& target);

class PreviewWriter {
 public:
  // `metadata_json`: the render's generation metadata (generation_metadata),
  // stored with each preview beside the step it shows.
  PreviewWriter(std::string target, double fps, const std::string& metadata_json,
                const std::atomic<bool>* cancel);

  // The frames of step `step` of `steps`, in window `window` of `windows`.
  // Throws OutputError / InterruptedError as the output writers do.
  void write(const VideoFrames& frames, int step, int steps, int window, int windows);

 private:
  std::filesystem::path target_;
  OutputFormat format_;
  double fps_;
  std::string metadata_json_;
  const std::atomic<bool>* cancel_;
};

}  // namespace soragen::pipeline
