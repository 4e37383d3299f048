#include "reactor/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <string>

#ifdef RECGW_WITH_MIMALLOC
#include <mimalloc.h>
#endif

namespace recgw::reactor {

bool allocatorServesMalloc() {
#ifdef RECGW_WITH_MIMALLOC
  // mimalloc replaces malloc by symbol interposition (it is linked before libc), which a
  // preloaded allocator or a different link order would silently undo: ask mimalloc whether
  // a block malloc() returned lies in its heap.
  static const bool ours = [] {
    void* probe = std::malloc(64);
    const bool inHeap = probe != nullptr && mi_is_in_heap_region(probe);
    std::free(probe);
    return inHeap;
  }();
  return ours;
#else
  return true;
#endif
}

std::string allocatorDescription() {
#ifdef RECGW_WITH_MIMALLOC
  const int version = mi_version();  // 209 for 2.0.9
  std::string name = "mimalloc " + std::to_string(version / 100) + "." + std::to_string(version / 10 % 10) + "." +
                     std::to_string(version % 10);
  if (!allocatorServesMalloc()) name += " (not serving malloc)";
  return name;
#else
  return "glibc malloc";
#endif
}

void releaseFreeMemory() {
#ifdef RECGW_WITH_MIMALLOC
  if (allocatorServesMalloc()) {
    mi_collect(true);
    return;
  }
#endif
  ::malloc_trim(0);
}

}  // namespace recgw::reactor
