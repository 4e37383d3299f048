#include "reactor/allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace recgw::reactor {
namespace {

TEST(AllocatorTest, MallocIsServedByTheAllocatorTheBuildLinks) {
  EXPECT_TRUE(allocatorServesMalloc()) << allocatorDescription();
#ifdef RECGW_WITH_MIMALLOC
  EXPECT_EQ(allocatorDescription().rfind("mimalloc 2.", 0), 0u) << allocatorDescription();
#else
  EXPECT_EQ(allocatorDescription(), "glibc malloc");
#endif
}

TEST(AllocatorTest, ReleasingFreeMemoryKeepsLiveBlocksIntact) {
  std::vector<char*> blocks;
  for (int i = 0; i < 256; ++i) {
    blocks.push_back(static_cast<char*>(std::malloc(4096)));
    blocks.back()[0] = static_cast<char>(i);
    blocks.back()[4095] = static_cast<char>(i);
  }
  for (size_t i = 0; i < blocks.size(); i += 2) std::free(blocks[i]);
  releaseFreeMemory();
  for (size_t i = 1; i < blocks.size(); i += 2) {
    EXPECT_EQ(blocks[i][0], static_cast<char>(i));
    EXPECT_EQ(blocks[i][4095], static_cast<char>(i));
    std::free(blocks[i]);
  }
}

}  // namespace
}  // namespace recgw::reactor
