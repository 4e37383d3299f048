#pragma once

#include <string>

namespace recgw::reactor {

// The heap allocator this build links. Release builds link mimalloc (CMake option
// RECGW_ALLOCATOR): per proxied request it costs about 38 k instructions less than glibc's
// malloc (docs/benchmarks.md §0h). Sanitizer and fuzzing builds keep glibc's, which their
// runtimes replace anyway.

// "mimalloc 2.0.9" or "glibc malloc"; with " (not serving malloc)" appended when the build links
// mimalloc but the process's malloc() resolved elsewhere (an LD_PRELOAD, a link order change).
std::string allocatorDescription();

// Whether malloc() in this process is served by the allocator the build links.
bool allocatorServesMalloc();

// Gives the heap's free pages back to the kernel: after a burst of streams ends, so the RSS
// an operator watches falls back instead of staying at the peak.
void releaseFreeMemory();

}  // namespace recgw::reactor
