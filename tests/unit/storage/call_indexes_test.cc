#include "storage/call_indexes.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace recgw::storage {
namespace {

IndexSpec index(std::string field, int direction, bool unique = false) {
  return IndexSpec{field + "_x", {{field, direction}}, unique, false};
}

std::vector<std::string> missingFields(const std::vector<IndexSpec>& existing) {
  std::vector<std::string> out;
  for (const auto& m : missingCallIndexes(existing)) out.push_back(m.spec.keys.front().first);
  return out;
}

TEST(CallIndexes, OnlyTheDefaultIdIndexMeansAllThreeAreMissing) {
  EXPECT_EQ(missingFields({index("_id", 1)}),
            (std::vector<std::string>{"recording_access_token", "session_id", "created_at"}));
}

TEST(CallIndexes, AnyNameAndDirectionServesWhenTheFirstKeyMatches) {
  std::vector<IndexSpec> existing = {index("recording_access_token", -1, true), index("session_id", -1),
                                     {"compound", {{"created_at", 1}, {"account_id", 1}}, false, false}};
  EXPECT_TRUE(missingFields(existing).empty());
}

TEST(CallIndexes, TheTokenIndexMustBeUnique) {
  auto missing = missingFields({index("recording_access_token", 1, false), index("session_id", 1),
                                index("created_at", 1)});
  EXPECT_EQ(missing, std::vector<std::string>{"recording_access_token"});
}

TEST(CallIndexes, AFieldSecondInACompoundIndexDoesNotServe) {
  std::vector<IndexSpec> existing = {{"c", {{"account_id", 1}, {"session_id", 1}}, false, false}};
  auto missing = missingFields(existing);
  EXPECT_NE(std::find(missing.begin(), missing.end(), "session_id"), missing.end());
}

TEST(CallIndexes, AHashedIndexServesEqualityButNotTheRangeOfWarmSince) {
  auto missing = missingFields({index("recording_access_token", 1, true), index("session_id", 0),
                                index("created_at", 0)});
  EXPECT_EQ(missing, std::vector<std::string>{"created_at"});
}

TEST(CallIndexes, DescribeSaysWhichLookupScans) {
  auto missing = missingCallIndexes({});
  EXPECT_EQ(describeMissing(missing),
            "recording_access_token (unique; public links), session_id (admin lookups by session id), "
            "created_at (warm --since)");
}

}  // namespace
}  // namespace recgw::storage
