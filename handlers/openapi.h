#pragma once
// GET /openapi.json: every route of recgw described as OpenAPI 3.1.
#include <string_view>

#include "reactor/http_server.h"

namespace recgw::handlers {

std::string_view openApiDocument();
void registerOpenApiRoute(reactor::HttpServer& server);

}  // namespace recgw::handlers
