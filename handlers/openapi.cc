#include "handlers/openapi.h"

namespace recgw::handlers {

// Every route of recgw as OpenAPI 3.1 (JSON). Status codes and shapes follow the handlers:
// ops.cc, recordings.cc + stream_relay.cc, admin_cache.cc, signed_urls.cc, the CORS
// preflight in app/gateway.cc, and the router's own 400/404/405 in reactor/http_server.cc.
// tests/integration/test_presign.py validates it with openapi-spec-validator and checks
// that every registered route is listed.
std::string_view openApiDocument() {
  static constexpr std::string_view kDocument = R"json({
 "openapi": "3.1.0",
 "info": {
  "title": "recgw",
  "version": "0.1.0",
  "summary": "Recording gateway: short stable links to call recordings.",
  "description": "recgw turns a short, stable link into the bytes of a call recording, wherever those bytes live (S3-compatible object storage first, then fleet hosts). JSON errors are `{\"error\": \"<code>\", \"message\": \"<text>\"}` unless a compatible shape is stated. Every response carries `X-Request-Id` (a sane incoming `X-Request-Id` is echoed). A known path called with a method it does not accept answers 405 with `Allow`; an unknown path answers 404."
 },
 "tags": [
  {
   "name": "ops",
   "description": "Health, readiness, metrics and this document."
  },
  {
   "name": "streaming",
   "description": "Recording bytes (SPEC §2.1)."
  },
  {
   "name": "signed-urls",
   "description": "URLs instead of bytes (SPEC §2.4)."
  },
  {
   "name": "admin",
   "description": "Admin-only operations (JWT with the admin role)."
  },
  {
   "name": "lifecycle",
   "description": "Recording lifecycle of video rooms (SPEC §2.5)"
  }
 ],
 "security": [],
 "paths": {
  "/healthz": {
   "get": {
    "tags": [
     "ops"
    ],
    "summary": "Liveness",
    "operationId": "getHealthz",
    "responses": {
     "200": {
      "description": "The process is alive.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Health"
        }
       }
      }
     }
    }
   },
   "head": {
    "tags": [
     "ops"
    ],
    "summary": "Liveness (headers only)",
    "operationId": "headHealthz",
    "responses": {
     "200": {
      "description": "The process is alive.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     }
    }
   }
  },
  "/readyz": {
   "get": {
    "tags": [
     "ops"
    ],
    "summary": "Readiness",
    "operationId": "getReadyz",
    "description": "MongoDB is required; Redis and storage only degrade the service, so they are reported (with each origin's circuit breaker) but do not make the gateway unready.",
    "responses": {
     "200": {
      "description": "Ready (MongoDB answers).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Readiness"
        }
       }
      }
     },
     "503": {
      "description": "Not ready: MongoDB does not answer.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Readiness"
        }
       }
      }
     }
    }
   },
   "head": {
    "tags": [
     "ops"
    ],
    "summary": "Readiness (headers only)",
    "operationId": "headReadyz",
    "responses": {
     "200": {
      "description": "Ready.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "503": {
      "description": "Not ready.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "tags": [
     "ops"
    ],
    "summary": "Prometheus metrics",
    "operationId": "getMetrics",
    "responses": {
     "200": {
      "description": "Prometheus text exposition: requests by route and status, bytes out, upstream latency histograms, cache hits/misses per tier, active and paused streams, fallbacks.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "text/plain; version=0.0.4; charset=utf-8": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "tags": [
     "ops"
    ],
    "summary": "This document (OpenAPI 3.1)",
    "operationId": "getOpenApi",
    "responses": {
     "200": {
      "description": "The OpenAPI document.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/public/recordings/{token}": {
   "parameters": [
    {
     "$ref": "#/components/parameters/TokenPath"
    }
   ],
   "get": {
    "tags": [
     "streaming"
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/Range"
     },
     {
      "$ref": "#/components/parameters/IfRange"
     },
     {
      "$ref": "#/components/parameters/IfNoneMatch"
     },
     {
      "$ref": "#/components/parameters/IfModifiedSince"
     }
    ],
    "security": [],
    "summary": "Stream a recording by its public token",
    "description": "No authentication: the token is the secret. Looks the call up by `recording_access_token` (cached in L1 and Redis), then streams the object: object storage first, then each fleet host in order. Failed lookups are rate-limited per client address.",
    "operationId": "getPublicRecording",
    "responses": {
     "200": {
      "description": "The whole recording, relayed from object storage or a fleet host. A malformed or multi-range Range header is ignored and answered 200.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      },
      "content": {
       "*/*": {
        "schema": {
         "type": "string",
         "contentMediaType": "application/octet-stream",
         "description": "The recording's bytes. Content-Type is the origin's, else derived from the key's extension (ogg, opus, mp3, wav, m4a, webm, flac, mp4)."
        }
       }
      }
     },
     "206": {
      "description": "The requested single byte range (also suffix `bytes=-N` and open `bytes=N-`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       }
      },
      "content": {
       "*/*": {
        "schema": {
         "type": "string",
         "contentMediaType": "application/octet-stream",
         "description": "The recording's bytes. Content-Type is the origin's, else derived from the key's extension (ogg, opus, mp3, wav, m4a, webm, flac, mp4)."
        }
       }
      }
     },
     "304": {
      "description": "Not modified: If-None-Match matched the ETag, or the object is not newer than If-Modified-Since. No body.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      }
     },
     "400": {
      "description": "The path holds malformed percent-encoding (`bad_request`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "404": {
      "description": "`not_found`: no call with this token, no derivable key, or no source has the object. Invalid ids answer the same way.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "416": {
      "description": "`range_not_satisfiable`: the range lies outside the recording; Content-Range is `bytes */<size>`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "429": {
      "description": "`rate_limited`: too many failed lookups from this client address.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "Retry later: `lookup_unavailable` (MongoDB down and not cached), `overloaded` (global buffer cap reached), `no_sources` (neither storage nor a fleet host is configured) or `upstream_unavailable` (every source failed with an error).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   },
   "head": {
    "tags": [
     "streaming"
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/Range"
     },
     {
      "$ref": "#/components/parameters/IfRange"
     },
     {
      "$ref": "#/components/parameters/IfNoneMatch"
     },
     {
      "$ref": "#/components/parameters/IfModifiedSince"
     }
    ],
    "security": [],
    "summary": "Headers of a recording by its public token",
    "description": "The headers a GET would answer, with no body, without downloading the object.",
    "operationId": "headPublicRecording",
    "responses": {
     "200": {
      "description": "The whole recording, relayed from object storage or a fleet host. A malformed or multi-range Range header is ignored and answered 200.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      }
     },
     "206": {
      "description": "The requested single byte range (also suffix `bytes=-N` and open `bytes=N-`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       }
      }
     },
     "304": {
      "description": "Not modified: If-None-Match matched the ETag, or the object is not newer than If-Modified-Since. No body.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      }
     },
     "400": {
      "description": "The path holds malformed percent-encoding (`bad_request`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "404": {
      "description": "`not_found`: no call with this token, no derivable key, or no source has the object. Invalid ids answer the same way.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "416": {
      "description": "`range_not_satisfiable`: the range lies outside the recording; Content-Range is `bytes */<size>`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       }
      }
     },
     "429": {
      "description": "`rate_limited`: too many failed lookups from this client address.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      }
     },
     "503": {
      "description": "Retry later: `lookup_unavailable` (MongoDB down and not cached), `overloaded` (global buffer cap reached), `no_sources` (neither storage nor a fleet host is configured) or `upstream_unavailable` (every source failed with an error).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      }
     }
    }
   },
   "options": {
    "tags": [
     "streaming"
    ],
    "summary": "CORS preflight",
    "operationId": "preflightPublicRecording",
    "description": "Registered only when `server.cors_origins` is configured (otherwise 405).",
    "security": [],
    "parameters": [
     {
      "$ref": "#/components/parameters/Origin"
     },
     {
      "$ref": "#/components/parameters/AccessControlRequestMethod"
     }
    ],
    "responses": {
     "204": {
      "description": "Preflight accepted.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AccessControlAllowOrigin"
       },
       "Access-Control-Allow-Methods": {
        "$ref": "#/components/headers/AccessControlAllowMethods"
       },
       "Access-Control-Allow-Headers": {
        "$ref": "#/components/headers/AccessControlAllowHeaders"
       },
       "Access-Control-Max-Age": {
        "$ref": "#/components/headers/AccessControlMaxAge"
       }
      }
     }
    }
   }
  },
  "/api/v1/recordings/{session_id}": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SessionIdPath"
    }
   ],
   "get": {
    "tags": [
     "streaming"
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/Range"
     },
     {
      "$ref": "#/components/parameters/IfRange"
     },
     {
      "$ref": "#/components/parameters/IfNoneMatch"
     },
     {
      "$ref": "#/components/parameters/IfModifiedSince"
     }
    ],
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "summary": "Stream a recording by session id (admin)",
    "description": "Looks the call up by `session_id` (admin JWT required), then streams the object: object storage first, then each fleet host in order. Range, If-Range, If-None-Match and If-Modified-Since are honoured (RFC 9110). Ids that start with `rec_` are lifecycle recordings: any valid JWT of the tenant (not only admin) gets the recording as JSON with its room embedded; 404 for another tenant's ids.",
    "operationId": "getAdminRecording",
    "responses": {
     "200": {
      "description": "The whole recording, relayed from object storage or a fleet host. A malformed or multi-range Range header is ignored and answered 200.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      },
      "content": {
       "*/*": {
        "schema": {
         "type": "string",
         "contentMediaType": "application/octet-stream",
         "description": "The recording's bytes. Content-Type is the origin's, else derived from the key's extension (ogg, opus, mp3, wav, m4a, webm, flac, mp4)."
        }
       },
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "$ref": "#/components/schemas/LifecycleRecordingWithRoom"
          }
         }
        }
       }
      }
     },
     "206": {
      "description": "The requested single byte range (also suffix `bytes=-N` and open `bytes=N-`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       }
      },
      "content": {
       "*/*": {
        "schema": {
         "type": "string",
         "contentMediaType": "application/octet-stream",
         "description": "The recording's bytes. Content-Type is the origin's, else derived from the key's extension (ogg, opus, mp3, wav, m4a, webm, flac, mp4)."
        }
       }
      }
     },
     "304": {
      "description": "Not modified: If-None-Match matched the ETag, or the object is not newer than If-Modified-Since. No body.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      }
     },
     "400": {
      "description": "The path holds malformed percent-encoding (`bad_request`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "description": "`not_found`: no call with this session id, no derivable key, or no source has the object. Invalid ids answer the same way.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "416": {
      "description": "`range_not_satisfiable`: the range lies outside the recording; Content-Range is `bytes */<size>`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "Retry later: `lookup_unavailable` (MongoDB down and not cached), `overloaded` (global buffer cap reached), `no_sources` (neither storage nor a fleet host is configured) or `upstream_unavailable` (every source failed with an error).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   },
   "head": {
    "tags": [
     "streaming"
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/Range"
     },
     {
      "$ref": "#/components/parameters/IfRange"
     },
     {
      "$ref": "#/components/parameters/IfNoneMatch"
     },
     {
      "$ref": "#/components/parameters/IfModifiedSince"
     }
    ],
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "summary": "Headers of a recording by session id (admin)",
    "description": "The headers a GET would answer, with no body, without downloading the object.",
    "operationId": "headAdminRecording",
    "responses": {
     "200": {
      "description": "The whole recording, relayed from object storage or a fleet host. A malformed or multi-range Range header is ignored and answered 200.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      }
     },
     "206": {
      "description": "The requested single byte range (also suffix `bytes=-N` and open `bytes=N-`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Length": {
        "$ref": "#/components/headers/ContentLength"
       },
       "Content-Disposition": {
        "$ref": "#/components/headers/ContentDisposition"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       }
      }
     },
     "304": {
      "description": "Not modified: If-None-Match matched the ETag, or the object is not newer than If-Modified-Since. No body.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "ETag": {
        "$ref": "#/components/headers/ETag"
       },
       "Last-Modified": {
        "$ref": "#/components/headers/LastModified"
       }
      }
     },
     "400": {
      "description": "The path holds malformed percent-encoding (`bad_request`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "401": {
      "description": "`unauthorized`: no Bearer token, or it is invalid or expired.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "WWW-Authenticate": {
        "$ref": "#/components/headers/WWWAuthenticate"
       }
      }
     },
     "403": {
      "description": "`forbidden`: the token is valid but lacks the admin role.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "404": {
      "description": "`not_found`: no call with this session id, no derivable key, or no source has the object. Invalid ids answer the same way.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      }
     },
     "416": {
      "description": "`range_not_satisfiable`: the range lies outside the recording; Content-Range is `bytes */<size>`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Content-Range": {
        "$ref": "#/components/headers/ContentRange"
       },
       "Accept-Ranges": {
        "$ref": "#/components/headers/AcceptRanges"
       }
      }
     },
     "503": {
      "description": "Retry later: `lookup_unavailable` (MongoDB down and not cached), `overloaded` (global buffer cap reached), `no_sources` (neither storage nor a fleet host is configured) or `upstream_unavailable` (every source failed with an error).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      }
     }
    }
   },
   "options": {
    "tags": [
     "streaming"
    ],
    "summary": "CORS preflight",
    "operationId": "preflightAdminRecording",
    "description": "Registered only when `server.cors_origins` is configured (otherwise 405).",
    "security": [],
    "parameters": [
     {
      "$ref": "#/components/parameters/Origin"
     },
     {
      "$ref": "#/components/parameters/AccessControlRequestMethod"
     }
    ],
    "responses": {
     "204": {
      "description": "Preflight accepted.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Access-Control-Allow-Origin": {
        "$ref": "#/components/headers/AccessControlAllowOrigin"
       },
       "Access-Control-Allow-Methods": {
        "$ref": "#/components/headers/AccessControlAllowMethods"
       },
       "Access-Control-Allow-Headers": {
        "$ref": "#/components/headers/AccessControlAllowHeaders"
       },
       "Access-Control-Max-Age": {
        "$ref": "#/components/headers/AccessControlMaxAge"
       }
      }
     }
    }
   },
   "delete": {
    "tags": [
     "lifecycle"
    ],
    "summary": "Soft-delete a recording",
    "operationId": "deleteLifecycleRecording",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Path parameter: a lifecycle recording id (`rec_…`). Sets `deleted_at`: the recording disappears from lists and reads, its data and object are kept. Concurrent deletes: one 200, 404 for the rest.",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     }
    ],
    "responses": {
     "200": {
      "description": "Deleted.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "$ref": "#/components/schemas/LifecycleDeleted"
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/LifecycleNoTenant"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "404": {
      "description": "`not_found`: no such recording for this tenant, or already deleted.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "$ref": "#/components/responses/LifecycleStoreUnavailable"
     }
    }
   }
  },
  "/api/v1/admin/cache/{id}": {
   "parameters": [
    {
     "name": "id",
     "in": "path",
     "required": true,
     "description": "A public token or a session id; both readings are evicted.",
     "schema": {
      "$ref": "#/components/schemas/PathId"
     }
    }
   ],
   "delete": {
    "tags": [
     "admin"
    ],
    "summary": "Evict a token or session id from the lookup caches",
    "operationId": "evictCacheEntry",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Drops the entry from this worker's L1 and from Redis. Other workers' L1 entries expire within the L1 TTL.",
    "responses": {
     "200": {
      "description": "Evicted; `redis` is false when Redis could not be reached.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/EvictResponse"
        }
       }
      }
     },
     "400": {
      "description": "`bad_request`: invalid token or session id.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     }
    }
   }
  },
  "/api/v1/admin/cache/warm": {
   "post": {
    "tags": [
     "admin"
    ],
    "summary": "Bulk warm-up of the lookup cache",
    "operationId": "warmCache",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Reads the calls from MongoDB and writes them into Redis (pipelined). Give exactly one of `tokens`, `session_ids` or `since` (with an optional `limit`).",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/WarmRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "Counts of what was warmed.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/WarmResponse"
        }
       }
      }
     },
     "400": {
      "description": "`bad_request`: the body is not one valid form (the message says why).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "503": {
      "description": "`mongo_unavailable` or `busy` (MongoDB queue full).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/admin/diagnose/{id}": {
   "parameters": [
    {
     "name": "id",
     "in": "path",
     "required": true,
     "description": "A public token or a session id.",
     "schema": {
      "$ref": "#/components/schemas/PathId"
     }
    }
   ],
   "get": {
    "tags": [
     "admin"
    ],
    "summary": "Why does this link 404? A read-only trace",
    "operationId": "diagnoseRecording",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Traces how the token or session id would be served: cache tiers, the call document (which fields exist, never secret values), the derived key, the storage settings in force, a probe of storage and of each fleet host, and a verdict naming the first thing to fix. Never streams the object and never changes state. Every diagnosis counts against a per-address rate limit.",
    "parameters": [
     {
      "name": "format",
      "in": "query",
      "required": false,
      "description": "`text` for a plain-text report; JSON otherwise.",
      "schema": {
       "type": "string",
       "enum": [
        "json",
        "text"
       ],
       "default": "json"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "The report.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/DiagnosisReport"
        }
       },
       "text/plain; charset=utf-8": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "400": {
      "description": "`bad_request`: invalid token or session id.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "429": {
      "description": "`rate_limited`: too many diagnoses from this address.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/v1/call-recording/signed-url": {
   "post": {
    "tags": [
     "signed-urls"
    ],
    "summary": "Signed URL for a call's recording (compatible shape)",
    "operationId": "createCallRecordingSignedUrl",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "`call_id` is the session id. The caller must be admin or hold the call's account in the account claim; other accounts' calls answer 404. The object is checked in storage first: when it is there the answer is a SigV4 presigned storage URL; when it is not (it lives only on a fleet host) or storage is not configured but fleet hosts are, and the call has a public token, the gateway's own public link is returned instead (`url_kind: gateway_public_link`).",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SignedUrlRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "The URL.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SignedUrlResponse"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "404": {
      "description": "`not_found`: no such call, not visible to this account, or no recording.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "422": {
      "description": "Invalid body (not a JSON object, `call_id` missing or not a string, `expiration_url_in_minutes` not an integer from 1 to 10080).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ValidationError"
        }
       }
      }
     },
     "503": {
      "description": "`storage_not_configured`, or retry later: `storage_unavailable`, `lookup_unavailable` (these two carry Retry-After).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/sessions/{id}/recording": {
   "parameters": [
    {
     "name": "id",
     "in": "path",
     "required": true,
     "description": "The session id.",
     "schema": {
      "$ref": "#/components/schemas/PathId"
     }
    }
   ],
   "get": {
    "tags": [
     "signed-urls"
    ],
    "summary": "Presigned URL (5 minutes) for a session's recording",
    "operationId": "getSessionRecordingUrl",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Tenant-scoped: `X-Account-ID` must equal the token's account claim unless the token is admin, and only that account's calls are visible. When the object is not in storage the gateway's public link is returned (`url_kind: gateway_public_link`) if the call has a token.",
    "parameters": [
     {
      "$ref": "#/components/parameters/XAccountId"
     }
    ],
    "responses": {
     "200": {
      "description": "The URL, valid 300 seconds.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SessionRecordingUrl"
        }
       }
      }
     },
     "400": {
      "description": "`bad_request`: the X-Account-ID header is missing.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "description": "`forbidden`: X-Account-ID does not match the token's account.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "404": {
      "description": "`not_found`: no such call in this account, no derivable key, status `failed`, or the object is nowhere.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "409": {
      "description": "`not_ready`: the recording is not uploaded yet (status `pending` or `uploading`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "500": {
      "description": "`internal`: the recording index or the storage check failed.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "`storage_not_configured`: no complete storage settings.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/admin/recordings/{session_id}/token": {
   "parameters": [
    {
     "$ref": "#/components/parameters/SessionIdPath"
    }
   ],
   "post": {
    "tags": [
     "admin",
     "signed-urls"
    ],
    "summary": "Mint or rotate a call's public token",
    "operationId": "mintRecordingToken",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Stores a fresh token (32 bytes from a CSPRNG, base64url without padding) in MongoDB atomically and evicts the previous token from Redis and this worker's L1; other workers' L1 entries expire within the L1 TTL, after which the old link answers 404. No body.",
    "responses": {
     "200": {
      "description": "The new token and its public URL (built from `server.public_base_url`).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MintTokenResponse"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "404": {
      "description": "`not_found`: no such call.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "`mongo_unavailable` or `busy`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       },
       "Retry-After": {
        "$ref": "#/components/headers/RetryAfter"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/rooms/{room_id}/recordings/start": {
   "parameters": [
    {
     "$ref": "#/components/parameters/RoomIdPath"
    }
   ],
   "post": {
    "tags": [
     "lifecycle"
    ],
    "summary": "Start recording a room",
    "operationId": "startRoomRecording",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Creates a recording in `recording` state for the tenant's room. One recording per room at a time: concurrent starts give one 200 and 409 for the rest.",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     }
    ],
    "responses": {
     "200": {
      "description": "The new recording.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "$ref": "#/components/schemas/LifecycleRecording"
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/LifecycleNoTenant"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "404": {
      "description": "`not_found`: no such room for this tenant.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "409": {
      "description": "`already_recording`: the room is already recording.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "$ref": "#/components/responses/LifecycleStoreUnavailable"
     }
    }
   }
  },
  "/api/v1/rooms/{room_id}/recordings/stop": {
   "parameters": [
    {
     "$ref": "#/components/parameters/RoomIdPath"
    }
   ],
   "post": {
    "tags": [
     "lifecycle"
    ],
    "summary": "Stop the room's recording",
    "operationId": "stopRoomRecording",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Moves the room's active recording to `processing` with `stopped_at` and `duration_seconds`.",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     }
    ],
    "responses": {
     "200": {
      "description": "The recording, now processing.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "$ref": "#/components/schemas/LifecycleRecording"
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/LifecycleNoTenant"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "404": {
      "description": "`not_found`: no such room for this tenant, or nothing is recording in it.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "$ref": "#/components/responses/LifecycleStoreUnavailable"
     }
    }
   }
  },
  "/api/v1/rooms/{room_id}/recordings/sync": {
   "parameters": [
    {
     "$ref": "#/components/parameters/RoomIdPath"
    }
   ],
   "post": {
    "tags": [
     "lifecycle"
    ],
    "summary": "Import the media provider's recordings of a room",
    "operationId": "syncRoomRecordings",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Asks the media provider for the room's recordings. Each one not yet known (by provider recording id) is linked to a local recording of the room without one that started within the link window, or imported (`source: provider`). Idempotent: a second sync returns `synced_count: 0`.",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     }
    ],
    "responses": {
     "200": {
      "description": "What this call imported or linked.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "$ref": "#/components/schemas/LifecycleSyncResult"
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/LifecycleNoTenant"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "404": {
      "description": "`not_found`: no such room for this tenant.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "502": {
      "description": "`provider_error`: the media provider failed (after retries for 5xx) or refused.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "`provider_not_configured` (no media provider) or `store_unavailable`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "504": {
      "description": "`provider_timeout`: the media provider did not answer in time.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/recordings": {
   "get": {
    "tags": [
     "lifecycle"
    ],
    "summary": "List the tenant's recordings",
    "operationId": "listLifecycleRecordings",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Newest first (`created_at`); soft-deleted recordings are hidden.",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     },
     {
      "$ref": "#/components/parameters/Limit"
     },
     {
      "$ref": "#/components/parameters/Offset"
     }
    ],
    "responses": {
     "200": {
      "description": "A page of recordings.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/LifecycleRecordingPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/LifecycleNoTenant"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "422": {
      "description": "`validation_error`: `limit` or `offset` is not a valid integer (limit 1.., offset 0..).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "$ref": "#/components/responses/LifecycleStoreUnavailable"
     }
    }
   }
  },
  "/api/v1/recordings/{recording_id}/download": {
   "parameters": [
    {
     "$ref": "#/components/parameters/RecordingIdPath"
    }
   ],
   "get": {
    "tags": [
     "lifecycle"
    ],
    "summary": "Download URL for a recording",
    "operationId": "downloadLifecycleRecording",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "`ready`: a presigned GET URL to the object (`download_url_ttl_s`, default 1 h). `archived` in an instant-access storage class: a URL into the archive bucket. Otherwise (recording, processing, failed, or archived in GLACIER/DEEP_ARCHIVE) a message saying why there is no URL.",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     }
    ],
    "responses": {
     "200": {
      "description": "A URL, or why there is none yet.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "oneOf": [
            {
             "$ref": "#/components/schemas/LifecycleDownload"
            },
            {
             "$ref": "#/components/schemas/LifecycleDownloadPending"
            }
           ]
          }
         }
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/LifecycleNoTenant"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "404": {
      "description": "`not_found`: no such recording for this tenant (or deleted).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "`storage_not_configured` or `store_unavailable`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/recordings/{recording_id}/archive": {
   "parameters": [
    {
     "$ref": "#/components/parameters/RecordingIdPath"
    }
   ],
   "post": {
    "tags": [
     "lifecycle"
    ],
    "summary": "Move a ready recording to the archive bucket",
    "operationId": "archiveLifecycleRecording",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Only a `ready` recording in the hot bucket. Server-side copy (S3 CopyObject) to the archive bucket and storage class, verified (size, single-part ETag, storage class), then the hot copy is deleted and the state set to `archived` with `archived_at` — the state last. Re-running after a crash at any step finishes the job (an object already moved only needs the state).",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     }
    ],
    "responses": {
     "200": {
      "description": "The recording, archived.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "$ref": "#/components/schemas/LifecycleRecording"
          }
         }
        }
       }
      }
     },
     "400": {
      "description": "`invalid_state` (not ready), `not_in_hot_bucket` (no object in the hot bucket, or in neither bucket), or `bad_request` (admin token without X-Account-ID).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "404": {
      "description": "`not_found`: no such recording for this tenant (or deleted).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "409": {
      "description": "`archive_mismatch`: the hot copy is gone and the archive copy has another size (nothing changed), or `conflict`: the recording changed meanwhile.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "501": {
      "description": "`too_large`: objects over 5 GiB need a multipart copy.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "502": {
      "description": "`storage_error`: S3 failed or the copy did not verify; the hot copy is kept.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "`archive_not_configured`, `storage_not_configured` or `store_unavailable`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  },
  "/api/v1/recordings/{recording_id}/recover": {
   "parameters": [
    {
     "$ref": "#/components/parameters/RecordingIdPath"
    }
   ],
   "post": {
    "tags": [
     "lifecycle"
    ],
    "summary": "Ask the media provider to reprocess a recording",
    "operationId": "recoverLifecycleRecording",
    "security": [
     {
      "bearerAuth": []
     }
    ],
    "description": "Only a `processing` recording that has a provider recording id. Records `recover_requested_at`; the background poll picks up the outcome.",
    "parameters": [
     {
      "$ref": "#/components/parameters/LifecycleAccountId"
     }
    ],
    "responses": {
     "202": {
      "description": "Reprocessing was requested.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "data"
         ],
         "properties": {
          "data": {
           "$ref": "#/components/schemas/LifecycleRecording"
          }
         }
        }
       }
      }
     },
     "400": {
      "description": "`invalid_state` (not processing), `no_provider_recording` (no provider id), or `bad_request`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/LifecycleForbidden"
     },
     "404": {
      "description": "`not_found`: no such recording for this tenant (or deleted).",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "409": {
      "description": "`conflict`: the recording changed meanwhile.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "502": {
      "description": "`provider_error`: the media provider failed, refused, or does not know the recording.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "503": {
      "description": "`provider_not_configured` or `store_unavailable`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     },
     "504": {
      "description": "`provider_timeout`.",
      "headers": {
       "X-Request-Id": {
        "$ref": "#/components/headers/XRequestId"
       }
      },
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Error"
        }
       }
      }
     }
    }
   }
  }
 },
 "components": {
  "securitySchemes": {
   "bearerAuth": {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "HS256/384/512 with a shared secret, or RS256/ES256 with PEM public keys or a JWKS file (selected by `kid`). `alg: none` and algorithm confusion are rejected; `exp` and `nbf` are checked, `iss`/`aud` when configured. Admin routes need `admin` in the role claim (`role`, a `roles` array, or the configured claim); tenant routes compare the account claim (default `account_id`)."
   }
  },
  "headers": {
   "XRequestId": {
    "description": "The request id (echoed from the request when sane, else generated).",
    "schema": {
     "type": "string"
    }
   },
   "RetryAfter": {
    "description": "Seconds to wait before retrying.",
    "schema": {
     "type": "integer",
     "minimum": 0
    }
   },
   "ContentLength": {
    "description": "Body length in bytes, when known.",
    "schema": {
     "type": "integer",
     "minimum": 0
    }
   },
   "ContentDisposition": {
    "description": "`inline; filename=\"<sanitised basename>\"; filename*=UTF-8''<encoded>`",
    "schema": {
     "type": "string"
    }
   },
   "AcceptRanges": {
    "description": "Always `bytes`.",
    "schema": {
     "type": "string",
     "const": "bytes"
    }
   },
   "ETag": {
    "description": "Relayed from the origin.",
    "schema": {
     "type": "string"
    }
   },
   "LastModified": {
    "description": "Relayed from the origin (HTTP date).",
    "schema": {
     "type": "string"
    }
   },
   "ContentRange": {
    "description": "`bytes first-last/size`, or `bytes */size` on 416.",
    "schema": {
     "type": "string"
    }
   },
   "WWWAuthenticate": {
    "description": "`Bearer`, or `Bearer error=\"invalid_token\"`.",
    "schema": {
     "type": "string"
    }
   },
   "AccessControlAllowOrigin": {
    "description": "The allowed Origin, or `*`.",
    "schema": {
     "type": "string"
    }
   },
   "AccessControlAllowMethods": {
    "description": "`GET, HEAD, OPTIONS`.",
    "schema": {
     "type": "string"
    }
   },
   "AccessControlAllowHeaders": {
    "description": "`Range, Authorization, If-None-Match, If-Range, If-Modified-Since`.",
    "schema": {
     "type": "string"
    }
   },
   "AccessControlMaxAge": {
    "description": "Seconds the preflight may be cached.",
    "schema": {
     "type": "integer"
    }
   }
  },
  "parameters": {
   "TokenPath": {
    "name": "token",
    "in": "path",
    "required": true,
    "description": "The public recording access token.",
    "schema": {
     "$ref": "#/components/schemas/PathId"
    }
   },
   "SessionIdPath": {
    "name": "session_id",
    "in": "path",
    "required": true,
    "description": "The call's session id.",
    "schema": {
     "$ref": "#/components/schemas/PathId"
    }
   },
   "XAccountId": {
    "name": "X-Account-ID",
    "in": "header",
    "required": true,
    "description": "The tenant; must equal the token's account claim unless admin.",
    "schema": {
     "type": "string",
     "minLength": 1
    }
   },
   "Range": {
    "name": "Range",
    "in": "header",
    "required": false,
    "description": "A single byte range (`bytes=0-99`, `bytes=100-`, `bytes=-500`).",
    "schema": {
     "type": "string"
    }
   },
   "IfRange": {
    "name": "If-Range",
    "in": "header",
    "required": false,
    "description": "ETag or HTTP date; a stale validator turns a range request into 200.",
    "schema": {
     "type": "string"
    }
   },
   "IfNoneMatch": {
    "name": "If-None-Match",
    "in": "header",
    "required": false,
    "description": "ETags; a match answers 304.",
    "schema": {
     "type": "string"
    }
   },
   "IfModifiedSince": {
    "name": "If-Modified-Since",
    "in": "header",
    "required": false,
    "description": "HTTP date; not modified since answers 304.",
    "schema": {
     "type": "string"
    }
   },
   "Origin": {
    "name": "Origin",
    "in": "header",
    "required": false,
    "schema": {
     "type": "string"
    }
   },
   "AccessControlRequestMethod": {
    "name": "Access-Control-Request-Method",
    "in": "header",
    "required": false,
    "schema": {
     "type": "string"
    }
   },
   "RoomIdPath": {
    "name": "room_id",
    "in": "path",
    "required": true,
    "description": "The room id (`rooms.id`).",
    "schema": {
     "$ref": "#/components/schemas/PathId"
    }
   },
   "RecordingIdPath": {
    "name": "recording_id",
    "in": "path",
    "required": true,
    "description": "A lifecycle recording id.",
    "schema": {
     "type": "string",
     "pattern": "^rec_[^/]+$",
     "maxLength": 128
    }
   },
   "LifecycleAccountId": {
    "name": "X-Account-ID",
    "in": "header",
    "required": false,
    "description": "The tenant. Optional: defaults to the token's account claim; must equal it unless the token is admin, in which case it picks the tenant to act for (required for an admin token without an account claim).",
    "schema": {
     "type": "string",
     "minLength": 1
    }
   },
   "Limit": {
    "name": "limit",
    "in": "query",
    "required": false,
    "description": "Page size, 1..; above 100 is capped to 100.",
    "schema": {
     "type": "integer",
     "minimum": 1,
     "default": 20
    }
   },
   "Offset": {
    "name": "offset",
    "in": "query",
    "required": false,
    "description": "Items to skip.",
    "schema": {
     "type": "integer",
     "minimum": 0,
     "default": 0
    }
   }
  },
  "responses": {
   "Unauthorized": {
    "description": "`unauthorized`: no Bearer token, or it is invalid or expired.",
    "headers": {
     "X-Request-Id": {
      "$ref": "#/components/headers/XRequestId"
     },
     "WWW-Authenticate": {
      "$ref": "#/components/headers/WWWAuthenticate"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Forbidden": {
    "description": "`forbidden`: the token is valid but lacks the admin role.",
    "headers": {
     "X-Request-Id": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "LifecycleForbidden": {
    "description": "`forbidden`: `X-Account-ID` names another tenant and the token is not admin, or the token has no account claim.",
    "headers": {
     "X-Request-Id": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "LifecycleNoTenant": {
    "description": "`bad_request`: an admin token without an account claim must send `X-Account-ID`.",
    "headers": {
     "X-Request-Id": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "LifecycleStoreUnavailable": {
    "description": "`store_unavailable`: MongoDB is unavailable or its queue is full (Retry-After).",
    "headers": {
     "X-Request-Id": {
      "$ref": "#/components/headers/XRequestId"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   }
  },
  "schemas": {
   "PathId": {
    "type": "string",
    "minLength": 1,
    "maxLength": 256,
    "description": "No control characters and no `/` (invalid ids answer 404)."
   },
   "Error": {
    "type": "object",
    "required": [
     "error",
     "message"
    ],
    "properties": {
     "error": {
      "type": "string",
      "description": "A stable machine-readable code.",
      "examples": [
       "not_found"
      ]
     },
     "message": {
      "type": "string",
      "description": "Human-readable text."
     }
    }
   },
   "ValidationError": {
    "type": "object",
    "required": [
     "detail"
    ],
    "properties": {
     "detail": {
      "type": "array",
      "minItems": 1,
      "items": {
       "$ref": "#/components/schemas/ValidationErrorItem"
      }
     }
    }
   },
   "ValidationErrorItem": {
    "type": "object",
    "required": [
     "loc",
     "msg",
     "type"
    ],
    "properties": {
     "loc": {
      "type": "array",
      "items": {
       "type": [
        "string",
        "integer"
       ]
      },
      "examples": [
       [
        "body",
        "call_id"
       ]
      ]
     },
     "msg": {
      "type": "string",
      "examples": [
       "Field required"
      ]
     },
     "type": {
      "type": "string",
      "examples": [
       "missing",
       "string_type",
       "int_parsing",
       "model_attributes_type"
      ]
     }
    }
   },
   "Health": {
    "type": "object",
    "required": [
     "status"
    ],
    "properties": {
     "status": {
      "type": "string",
      "const": "ok"
     }
    }
   },
   "DependencyStatus": {
    "type": "object",
    "required": [
     "ok",
     "reason"
    ],
    "properties": {
     "ok": {
      "type": "boolean"
     },
     "reason": {
      "type": "string"
     }
    }
   },
   "Readiness": {
    "type": "object",
    "required": [
     "ready",
     "mongo",
     "redis",
     "storage",
     "breakers"
    ],
    "properties": {
     "ready": {
      "type": "boolean"
     },
     "mongo": {
      "$ref": "#/components/schemas/DependencyStatus"
     },
     "redis": {
      "$ref": "#/components/schemas/DependencyStatus"
     },
     "storage": {
      "$ref": "#/components/schemas/DependencyStatus"
     },
     "breakers": {
      "type": "object",
      "description": "Circuit breaker per origin (`<source label> <base URL>`), for origins this worker has used.",
      "additionalProperties": {
       "type": "string",
       "enum": [
        "closed",
        "open",
        "half_open"
       ]
      }
     }
    }
   },
   "EvictResponse": {
    "type": "object",
    "required": [
     "evicted",
     "redis"
    ],
    "properties": {
     "evicted": {
      "type": "boolean",
      "const": true
     },
     "redis": {
      "type": "boolean"
     }
    }
   },
   "WarmRequest": {
    "type": "object",
    "description": "Exactly one of `tokens`, `session_ids` or `since`.",
    "properties": {
     "tokens": {
      "type": "array",
      "maxItems": 100000,
      "items": {
       "type": "string",
       "minLength": 1,
       "maxLength": 256
      }
     },
     "session_ids": {
      "type": "array",
      "maxItems": 100000,
      "items": {
       "type": "string",
       "minLength": 1,
       "maxLength": 256
      }
     },
     "since": {
      "type": "string",
      "format": "date-time",
      "description": "Calls created at or after this ISO 8601 instant."
     },
     "limit": {
      "type": "integer",
      "minimum": 1,
      "maximum": 100000,
      "description": "With `since` only."
     }
    },
    "oneOf": [
     {
      "required": [
       "tokens"
      ]
     },
     {
      "required": [
       "session_ids"
      ]
     },
     {
      "required": [
       "since"
      ]
     }
    ]
   },
   "WarmResponse": {
    "type": "object",
    "required": [
     "warmed",
     "missing",
     "without_recording",
     "redis_failed"
    ],
    "properties": {
     "warmed": {
      "type": "integer",
      "minimum": 0,
      "description": "Entries written to Redis."
     },
     "missing": {
      "type": "integer",
      "minimum": 0,
      "description": "Ids with no call."
     },
     "without_recording": {
      "type": "integer",
      "minimum": 0,
      "description": "Calls with no derivable key (cached as misses)."
     },
     "redis_failed": {
      "type": "integer",
      "minimum": 0
     }
    }
   },
   "DiagnosisReport": {
    "type": "object",
    "required": [
     "subject",
     "servable",
     "verdict",
     "steps"
    ],
    "properties": {
     "subject": {
      "type": "string",
      "description": "The id, redacted."
     },
     "servable": {
      "type": "boolean"
     },
     "verdict": {
      "type": "string",
      "description": "The first thing to fix, or that all is well."
     },
     "steps": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/DiagnosisStep"
      }
     }
    }
   },
   "DiagnosisStep": {
    "type": "object",
    "required": [
     "step",
     "status",
     "summary",
     "details"
    ],
    "properties": {
     "step": {
      "type": "string",
      "examples": [
       "cache",
       "call",
       "key",
       "storage_settings",
       "storage",
       "fleet:0"
      ]
     },
     "status": {
      "type": "string",
      "enum": [
       "ok",
       "warn",
       "fail",
       "skip"
      ]
     },
     "summary": {
      "type": "string"
     },
     "details": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     }
    }
   },
   "UrlKind": {
    "type": "string",
    "enum": [
     "storage_presigned",
     "gateway_public_link"
    ],
    "description": "`storage_presigned`: a SigV4 presigned object-storage URL; `gateway_public_link`: the gateway's public token URL (the object is not in storage, e.g. only on a fleet host)."
   },
   "SignedUrlRequest": {
    "type": "object",
    "required": [
     "call_id"
    ],
    "properties": {
     "call_id": {
      "type": "string",
      "minLength": 1,
      "description": "The call's session id."
     },
     "expiration_url_in_minutes": {
      "type": "integer",
      "minimum": 1,
      "maximum": 10080,
      "default": 10
     }
    }
   },
   "SignedUrlResponse": {
    "type": "object",
    "required": [
     "file_name",
     "signed_url",
     "expiration_minutes",
     "expires_at",
     "url_kind"
    ],
    "properties": {
     "file_name": {
      "type": "string",
      "description": "The key's last path segment."
     },
     "signed_url": {
      "type": "string",
      "format": "uri"
     },
     "expiration_minutes": {
      "type": "integer",
      "minimum": 1,
      "maximum": 10080
     },
     "expires_at": {
      "type": "string",
      "format": "date-time",
      "description": "RFC 3339, UTC (`Z`)."
     },
     "url_kind": {
      "$ref": "#/components/schemas/UrlKind"
     }
    }
   },
   "SessionRecordingUrl": {
    "type": "object",
    "required": [
     "url",
     "expires_at",
     "expires_in",
     "url_kind"
    ],
    "properties": {
     "url": {
      "type": "string",
      "format": "uri"
     },
     "expires_at": {
      "type": "string",
      "format": "date-time",
      "description": "RFC 3339, UTC (`Z`)."
     },
     "expires_in": {
      "type": "integer",
      "const": 300
     },
     "url_kind": {
      "$ref": "#/components/schemas/UrlKind"
     }
    }
   },
   "MintTokenResponse": {
    "type": "object",
    "required": [
     "session_id",
     "token",
     "url",
     "rotated"
    ],
    "properties": {
     "session_id": {
      "type": "string"
     },
     "token": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{43}$"
     },
     "url": {
      "type": "string",
      "format": "uri",
      "description": "`{public_base_url}/api/v1/public/recordings/{token}`."
     },
     "rotated": {
      "type": "boolean",
      "description": "True when a previous token was replaced."
     }
    }
   },
   "LifecycleStatus": {
    "type": "string",
    "enum": [
     "recording",
     "processing",
     "ready",
     "archived",
     "failed"
    ]
   },
   "LifecycleStoredObject": {
    "type": "object",
    "required": [
     "provider",
     "bucket",
     "key",
     "storage_class"
    ],
    "properties": {
     "provider": {
      "type": "string",
      "examples": [
       "s3"
      ]
     },
     "bucket": {
      "type": "string",
      "description": "Empty: the hot bucket."
     },
     "key": {
      "type": "string"
     },
     "storage_class": {
      "type": [
       "string",
       "null"
      ]
     }
    }
   },
   "LifecycleRecording": {
    "type": "object",
    "required": [
     "id",
     "room_id",
     "tenant_id",
     "status",
     "source",
     "started_at",
     "stopped_at",
     "duration_seconds",
     "size_bytes",
     "storage",
     "provider_recording_id",
     "ready_at",
     "archived_at",
     "deleted_at",
     "created_at",
     "updated_at"
    ],
    "properties": {
     "id": {
      "type": "string",
      "examples": [
       "rec_3f9a1c0d2b7e4a6f8c1d2e3f"
      ]
     },
     "room_id": {
      "type": "string"
     },
     "tenant_id": {
      "type": "string"
     },
     "status": {
      "$ref": "#/components/schemas/LifecycleStatus"
     },
     "source": {
      "type": "string",
      "enum": [
       "api",
       "provider"
      ],
      "description": "`provider`: imported by sync."
     },
     "started_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     },
     "stopped_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     },
     "duration_seconds": {
      "type": [
       "number",
       "null"
      ]
     },
     "size_bytes": {
      "type": [
       "integer",
       "null"
      ]
     },
     "storage": {
      "oneOf": [
       {
        "$ref": "#/components/schemas/LifecycleStoredObject"
       },
       {
        "type": "null"
       }
      ]
     },
     "provider_recording_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "failure_reason": {
      "type": "string",
      "description": "Only when failed."
     },
     "ready_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     },
     "archived_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     },
     "deleted_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     },
     "recover_requested_at": {
      "type": "string",
      "format": "date-time",
      "description": "Only after a recover."
     },
     "created_at": {
      "type": "string",
      "format": "date-time"
     },
     "updated_at": {
      "type": "string",
      "format": "date-time"
     }
    }
   },
   "LifecycleRoom": {
    "type": "object",
    "required": [
     "id",
     "name",
     "tenant_id"
    ],
    "properties": {
     "id": {
      "type": "string"
     },
     "name": {
      "type": "string"
     },
     "tenant_id": {
      "type": "string"
     }
    }
   },
   "LifecycleRecordingWithRoom": {
    "allOf": [
     {
      "$ref": "#/components/schemas/LifecycleRecording"
     },
     {
      "type": "object",
      "required": [
       "room"
      ],
      "properties": {
       "room": {
        "oneOf": [
         {
          "$ref": "#/components/schemas/LifecycleRoom"
         },
         {
          "type": "null"
         }
        ]
       }
      }
     }
    ]
   },
   "LifecycleRecordingPage": {
    "type": "object",
    "required": [
     "data",
     "meta"
    ],
    "properties": {
     "data": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/LifecycleRecording"
      }
     },
     "meta": {
      "type": "object",
      "required": [
       "total",
       "limit",
       "offset"
      ],
      "properties": {
       "total": {
        "type": "integer"
       },
       "limit": {
        "type": "integer"
       },
       "offset": {
        "type": "integer"
       }
      }
     }
    }
   },
   "LifecycleSyncResult": {
    "type": "object",
    "required": [
     "synced_count",
     "recordings"
    ],
    "properties": {
     "synced_count": {
      "type": "integer",
      "minimum": 0
     },
     "recordings": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/LifecycleRecording"
      }
     }
    }
   },
   "LifecycleDownload": {
    "type": "object",
    "required": [
     "recording_id",
     "status",
     "download_url",
     "expires_at",
     "expires_in",
     "duration",
     "file_size",
     "provider"
    ],
    "properties": {
     "recording_id": {
      "type": "string"
     },
     "status": {
      "type": "string",
      "enum": [
       "ready",
       "archived"
      ]
     },
     "download_url": {
      "type": "string",
      "format": "uri"
     },
     "expires_at": {
      "type": "string",
      "format": "date-time"
     },
     "expires_in": {
      "type": "integer"
     },
     "duration": {
      "type": [
       "number",
       "null"
      ]
     },
     "file_size": {
      "type": [
       "integer",
       "null"
      ]
     },
     "provider": {
      "type": "string"
     }
    }
   },
   "LifecycleDownloadPending": {
    "type": "object",
    "required": [
     "recording_id",
     "status",
     "message"
    ],
    "properties": {
     "recording_id": {
      "type": "string"
     },
     "status": {
      "$ref": "#/components/schemas/LifecycleStatus"
     },
     "message": {
      "type": "string"
     }
    }
   },
   "LifecycleDeleted": {
    "type": "object",
    "required": [
     "id",
     "deleted",
     "deleted_at"
    ],
    "properties": {
     "id": {
      "type": "string"
     },
     "deleted": {
      "const": true
     },
     "deleted_at": {
      "type": "string",
      "format": "date-time"
     }
    }
   }
  }
 }
})json";
  return kDocument;
}

void registerOpenApiRoute(reactor::HttpServer& server) {
  server.route(reactor::kGet, "/openapi.json", "openapi",
               [](reactor::HttpExchange& ex) { ex.reply(200, openApiDocument()); });
}

}  // namespace recgw::handlers
