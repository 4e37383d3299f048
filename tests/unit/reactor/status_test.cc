#include "reactor/status.h"

#include <gtest/gtest.h>

namespace recgw {
namespace {

Expected<int> half(int n) {
  if (n % 2 != 0) return fail("odd: " + std::to_string(n));
  return n / 2;
}

Status checkEven(int n) {
  auto h = half(n);
  if (!h) return tl::unexpected(h.error());
  return ok();
}

TEST(Status, CarriesTheValueOrTheSentence) {
  EXPECT_EQ(*half(8), 4);
  auto odd = half(3);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().message, "odd: 3");
  EXPECT_TRUE(checkEven(4));
  ASSERT_FALSE(checkEven(5));
  EXPECT_EQ(checkEven(5).error().message, "odd: 5");
}

}  // namespace
}  // namespace recgw
