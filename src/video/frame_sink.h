// The streaming interface between the decoder and the file writers: frames go
// in one at a time as 8-bit RGB, and nothing is visible at the target until
// commit() returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace soragen::video {

struct WriteOptions {
  // Frames per second. Wan2.1 renders at 16. Integers are exact; 23.976,
  // 29.97 and 59.94 mean the NTSC rates 24000/1001, 30000/1001, 60000/1001.
  double fps = 16.0;
  // x264 constant rate factor, 1 (best) .. 51 (worst). 18 is the usual
  // "visually lossless" point; 0 (lossless) is refused because it needs the
  // High 4:4:4 profile, which browsers do not play.
  int crf = 18;
  // x264 preset, "ultrafast" .. "placebo". x264's own default: 81 frames of
  // 832x480 take ~2 s on 2 cores; "slow" costs ~25 % more for ~4 % less size.
  std::string preset = "medium";
  // Generation parameters, stored in the MP4 "comment" tag and as params.json
  // (plus an iTXt chunk "soragen" in every PNG). Empty: nothing stored.
  std::string metadata_json;
  // Checked before each frame and while flushing; once set, the writer removes
  // its temporary output and throws InterruptedError.
  const std::atomic<bool>* cancel = nullptr;
};

class FrameSink {
 public:
  virtual ~FrameSink();  // without a successful commit(): aborts, removing the temporary output
  FrameSink() = default;
  FrameSink(const FrameSink&) = delete;
  FrameSink& operator=(const FrameSink&) = delete;

  // `rgb` holds width * height * 3 bytes, rows top to bottom, no padding.
  // Throws OutputError / InterruptedError; after a throw the sink is dead and
  // its temporary output already removed.
  virtual void write(const std::uint8_t* rgb) = 0;
  // Flushes the encoder and renames the result onto the target. At least one
  // frame must have been written.
  virtual void commit() = 0;
  virtual int frames_written() const = 0;
};

}  // namespace soragen::video
