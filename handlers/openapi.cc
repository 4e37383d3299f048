#include "handlers/openapi.h"

namespace recgw::handlers {

// openApiDocument() is generated at build time from handlers/openapi.json (CMakeLists.txt),
// so the document stays a JSON file that tools can validate and edit.

void registerOpenApiRoute(reactor::HttpServer& server) {
  server.route(reactor::kGet, "/openapi.json", "openapi",
               [](reactor::HttpExchange& ex) { ex.reply(200, openApiDocument()); });
}

}  // namespace recgw::handlers
