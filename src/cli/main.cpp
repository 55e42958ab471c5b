#include "cli/app.h"

int main(int argc, char** argv) { return soragen::cli::run(argc, argv); }
