#include "video/metadata.h"

#include <fstream>
#include <iterator>
#include <system_error>

extern "C" {
#include <libavformat/avformat.h>
}

#include "video/av_error.h"
#include "video/av_handles.h"

namespace soragen::video {
namespace fs = std::filesystem;

namespace {

std::string read_sidecar(const fs::path& directory) {
  const fs::path file = directory / "params.json";
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad() || !in.is_open()) throw output_error(directory, "cannot read params.json");
  return text;
}

}  // namespace

std::string read_metadata_json(const fs::path& output) {
  std::error_code ec;
  if (fs::is_directory(output, ec)) return read_sidecar(output);

  AVFormatContext* raw = nullptr;
  const std::string url = "file:" + output.string();
  check_av(avformat_open_input(&raw, url.c_str(), nullptr, nullptr), output, "cannot open to read metadata");
  InputContextPtr input(raw);
  const AVDictionaryEntry* comment = av_dict_get(input->metadata, "comment", nullptr, 0);
  return comment ? comment->value : std::string();
}

}  // namespace soragen::video
