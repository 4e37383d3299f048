#include "handlers/openapi.h"

namespace recgw::handlers {

// Filled in by the OpenAPI change; until then a minimal valid document.
std::string_view openApiDocument() {
  return R"({"openapi":"3.1.0","info":{"title":"recgw","version":"0.1.0"},"paths":{}})";
}

void registerOpenApiRoute(reactor::HttpServer& server) {
  server.route(reactor::kGet, "/openapi.json", "openapi",
               [](reactor::HttpExchange& ex) { ex.reply(200, openApiDocument()); });
}

}  // namespace recgw::handlers
