#include "reactor/char_search.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>

namespace recgw::reactor {
namespace {

// Short and long texts (the long ones take the memchr path), against find_first_of.
TEST(CharSearchTest, AgreesWithFindFirstOfOnShortAndLongTexts) {
  std::mt19937 rng(7);
  const std::string_view sets[] = {std::string_view("\r\n\0", 3), "?#", "/?#", "&;", "x"};
  for (int round = 0; round < 2000; ++round) {
    size_t length = rng() % 300;
    std::string text(length, 'a');
    for (char& c : text) c = static_cast<char>('a' + rng() % 26);
    // Now and then plant one or two bytes of a set somewhere.
    std::string_view set = sets[rng() % std::size(sets)];
    for (int planted = static_cast<int>(rng() % 3); planted > 0 && length > 0; --planted)
      text[rng() % length] = set[rng() % set.size()];
    size_t from = length == 0 ? 0 : rng() % (length + 1);
    EXPECT_EQ(findAny(text, set, from), std::string_view(text).find_first_of(set, from))
        << "length " << length << " from " << from;
  }
}

TEST(CharSearchTest, ALineBreakLateInALongValueIsFound) {
  std::string value(200, 'v');
  value[199] = '\n';
  EXPECT_EQ(findAny(value, std::string_view("\r\n\0", 3)), 199u);
  value[150] = '\0';
  EXPECT_EQ(findAny(value, std::string_view("\r\n\0", 3)), 150u);
}

}  // namespace
}  // namespace recgw::reactor
