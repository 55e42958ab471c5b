// soragen's public API in one include: text to video on open weights.
//
// Installed with `cmake --install`, it is found with
//   find_package(soragen REQUIRED)
//   target_link_libraries(app PRIVATE soragen::soragen)
// and needs neither libtorch's nor FFmpeg's headers. The bundled models come
// from <prefix>/share/soragen/models, or from $SORAGEN_MODELS_DIR when set.
//
// A complete program: it renders one prompt with the bundled `default` model
// into an MP4. tests/install builds and runs the text between the markers
// (with the leading "// " of each line removed) against an installed soragen,
// so it cannot fall out of step with the API.
//
// [example]
// #include <soragen/soragen.h>
//
// #include <iostream>
//
// int main(int argc, char** argv) {
//   if (argc != 3) {
//     std::cerr << "usage: " << argv[0] << " PROMPT OUT.mp4\n";
//     return 2;
//   }
//   try {
//     const soragen::Logger quiet;  // a default Logger discards the log lines
//     soragen::Pipeline pipe = soragen::Pipeline::load(soragen::ModelSpec{"default"}, {}, quiet);
//     soragen::GenerationRequest request;
//     request.prompt = argv[1];
//     request.seed = 7;  // unset: a random seed
//     const soragen::ResolvedRequest resolved = soragen::resolve_request(request, pipe.defaults());
//     const soragen::VideoFrames video = pipe.generate(resolved, {});
//     soragen::OutputOptions output;
//     output.fps = resolved.fps;
//     output.metadata_json = soragen::generation_metadata(resolved, pipe.source());
//     soragen::write_video_file(argv[2], video, soragen::OutputFormat::mp4, output);
//     std::cout << "wrote " << argv[2] << " with the model in " << pipe.source().directory.string() << "\n";
//     return 0;
//   } catch (const soragen::Error& e) {
//     std::cerr << e.what() << "\n";
//     return static_cast<int>(e.exit_code());
//   }
// }
// [/example]
#pragma once

#include "soragen/distributed.h"
#include "soragen/error.h"
#include "soragen/log.h"
#include "soragen/options.h"
#include "soragen/output.h"
#include "soragen/pipeline.h"
#include "soragen/video.h"
