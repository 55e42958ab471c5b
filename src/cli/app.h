// The soragen command: parses flags, validates everything before any weight is
// loaded, renders one prompt or a batch, and maps errors to exit codes.
#pragma once

namespace soragen::cli {

int run(int argc, char** argv);

}  // namespace soragen::cli
