// Reading and writing the fields of MongoDB documents (libbson), shared by the stores.
// Readers are lenient about numeric types (FerretDB and drivers differ in int/double) and
// answer "absent" for a field of the wrong type.
#pragma once

#include <bson/bson.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace recgw::storage::fields {

using TimePoint = std::chrono::system_clock::time_point;

int64_t toMillis(TimePoint t);
TimePoint fromMillis(int64_t ms);

void putString(bson_t* doc, const char* key, std::string_view value);
void putDate(bson_t* doc, const char* key, TimePoint t);

std::string getString(const bson_t* doc, const char* key);  // "" when absent or not a string
std::optional<TimePoint> getDate(const bson_t* doc, const char* key);
std::optional<double> getDouble(const bson_t* doc, const char* key);
std::optional<int64_t> getInt(const bson_t* doc, const char* key);
// A sub-document as a static bson_t view into `doc`; false when absent or not a document.
bool getDocument(const bson_t* doc, const char* key, bson_t& out);

}  // namespace recgw::storage::fields
