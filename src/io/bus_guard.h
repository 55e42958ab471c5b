// Turns SIGBUS on a file mapping into an error instead of a crash.
//
// Reading a page of a mapped file past its current end raises SIGBUS: that is
// what happens when a weights file is truncated or rewritten in place while
// soragen has it mapped. The reads happen deep inside libtorch kernels, often
// on worker threads, where no longjmp can reach. So the handler instead maps
// a zero page over the faulting one, marks the mapping as damaged and lets the
// read go on; the loader asks afterwards (check_mappings_intact) and throws.
//
// Signal dispositions are process-wide by nature, so this is the one piece of
// process-global state in io/. A SIGBUS outside a guarded range goes to the
// previous handler (or kills the process as before).
#pragma once

#include <cstddef>
#include <string>

namespace soragen::io {

// Installs the handler on first use. Returns a slot for unguard(), or -1 when
// every slot is taken (the mapping then works unguarded).
int guard_mapping(const void* begin, size_t size, const std::string* label);
void unguard_mapping(int slot);

// True once a read through the slot's range faulted.
bool mapping_faulted(int slot);

// Throws ModelError "weights '<path>': ..." for the first guarded mapping
// whose file shrank under a read.
void check_mappings_intact();

}  // namespace soragen::io
