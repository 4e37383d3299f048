#pragma once
// Reading a JSON object with simdjson's DOM parser, which validates the whole document (the
// on-demand parser checks only what is read: not for untrusted bodies). The object lives in
// `parser` until its next parse: copy what outlives it.
#include <simdjson.h>

#include <optional>
#include <string_view>

namespace recgw::reactor {

// `text` as one JSON object; nullopt for anything else (not JSON, an array, a string …).
inline std::optional<simdjson::dom::object> parseJsonObject(simdjson::dom::parser& parser,
                                                            std::string_view text) {
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  simdjson::dom::object object;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return std::nullopt;
  if (root.get_object().get(object) != simdjson::SUCCESS) return std::nullopt;
  return object;
}

}  // namespace recgw::reactor
