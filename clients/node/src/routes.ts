/**
 * Every gateway route this client calls, in one table. Requests are built from it only, and
 * the tests check each entry against the gateway's /openapi.json (method, path, parameters,
 * request and response fields), so the client and the document cannot drift apart.
 */

export interface Route {
  readonly method: "GET" | "HEAD" | "POST" | "DELETE";
  /** OpenAPI template, e.g. "/api/v1/admin/diagnose/{id}". */
  readonly path: string;
  readonly query?: readonly string[];
  readonly headers?: readonly string[];
  /** Fields of the request's JSON body. */
  readonly bodyFields?: readonly string[];
  /** Fields of the 200 JSON body this client reads ("data.id" walks into objects, "[]" into items). */
  readonly responseFields?: readonly string[];
}

const RECORDING = ["id", "room_id", "tenant_id", "status", "started_at", "stopped_at", "duration_seconds",
  "size_bytes", "created_at"];

const LINK_STATS = ["token_sha256", "opens", "unique_clients", "bytes_sent", "furthest_byte", "object_size",
  "played_fraction", "first_access", "last_access", "suspected_leak", "suspected_leak.warnings",
  "suspected_leak.clients_in_hour", "suspected_leak.at"];

export const ROUTES = {
  publicRecording: {
    method: "GET", path: "/api/v1/public/recordings/{token}", query: ["download", "redirect"],
    headers: ["Range", "If-Range"],
  },
  publicRecordingHead: { method: "HEAD", path: "/api/v1/public/recordings/{token}" },
  sessionStream: { method: "GET", path: "/api/v1/recordings/{session_id}", headers: ["Range", "If-Range"] },
  sessionStreamHead: { method: "HEAD", path: "/api/v1/recordings/{session_id}" },
  sessionRecordingUrl: {
    method: "GET", path: "/api/v1/sessions/{id}/recording", headers: ["X-Account-ID"],
    responseFields: ["url", "expires_at", "expires_in", "url_kind"],
  },
  signedUrl: {
    method: "POST", path: "/v1/call-recording/signed-url", bodyFields: ["call_id", "expiration_url_in_minutes"],
    responseFields: ["file_name", "signed_url", "expiration_minutes", "expires_at", "url_kind"],
  },
  accessibleUrls: {
    method: "POST", path: "/api/v1/admin/calls/accessible-urls", bodyFields: ["session_ids", "expires_in"],
    responseFields: ["results", "results[].session_id", "results[].url", "results[].url_kind",
      "results[].expires_at", "results[].reason"],
  },
  mintToken: {
    method: "POST", path: "/api/v1/admin/recordings/{session_id}/token", bodyFields: ["expires_in_s", "expires_at"],
    responseFields: ["session_id", "token", "url", "rotated", "expires_at"],
  },
  revokeToken: {
    method: "DELETE", path: "/api/v1/admin/recordings/{session_id}/token", responseFields: ["session_id", "revoked"],
  },
  warm: {
    method: "POST", path: "/api/v1/admin/cache/warm", bodyFields: ["tokens", "session_ids", "since", "until", "limit"],
    responseFields: ["warmed", "missing", "without_recording", "redis_failed"],
  },
  linkStats: {
    method: "GET", path: "/api/v1/admin/recordings/{session_id}/stats",
    responseFields: ["session_id", "links", ...LINK_STATS.map((f) => "links[]." + f)],
  },
  cacheStats: {
    method: "GET", path: "/api/v1/admin/cache/stats",
    responseFields: ["enabled", "budget_bytes", "object_max_bytes", "object_fresh_s", "object_admit_after", "bytes",
      "entries", "evictions", "top", "top[].key", "top[].hits", "top[].bytes", "top[].etag", "top[].validated_s_ago"],
  },
  evict: { method: "DELETE", path: "/api/v1/admin/cache/{id}", responseFields: ["evicted", "redis"] },
  diagnose: {
    method: "GET", path: "/api/v1/admin/diagnose/{id}", query: ["format"],
    responseFields: ["subject", "servable", "verdict", "steps"],
  },
  reportUpload: {
    method: "POST", path: "/api/v1/fleet/recordings",
    bodyFields: ["session_id", "key", "size", "etag", "content_type", "duration_s", "fleet_host"],
    responseFields: ["session_id", "public_url", "token_created", "link_revoked"],
  },
  roomStart: {
    method: "POST", path: "/api/v1/rooms/{id}/recordings/start", headers: ["X-Account-ID"],
    responseFields: ["data", "data.id", "data.room_id", "data.status", "data.started_at"],
  },
  roomStop: {
    method: "POST", path: "/api/v1/rooms/{id}/recordings/stop", headers: ["X-Account-ID"],
    responseFields: ["data", "data.id", "data.status", "data.stopped_at"],
  },
  roomSync: {
    method: "POST", path: "/api/v1/rooms/{id}/recordings/sync", headers: ["X-Account-ID"],
    responseFields: ["data", "data.synced_count", "data.recordings"],
  },
  recordingsList: {
    method: "GET", path: "/api/v1/recordings", query: ["limit", "offset"], headers: ["X-Account-ID"],
    responseFields: ["data", "meta", "meta.total", "meta.limit", "meta.offset", ...RECORDING.map((f) => "data[]." + f)],
  },
  recordingGet: {
    method: "GET", path: "/api/v1/recordings/{id}", headers: ["X-Account-ID"],
    responseFields: ["data", ...RECORDING.map((f) => "data." + f)],
  },
  recordingDownload: {
    method: "GET", path: "/api/v1/recordings/{id}/download", headers: ["X-Account-ID"],
    responseFields: ["recording_id", "status", "download_url"],
  },
  recordingArchive: {
    method: "POST", path: "/api/v1/recordings/{id}/archive", headers: ["X-Account-ID"],
    responseFields: ["data", "data.id", "data.status", "data.archived_at"],
  },
  recordingRecover: {
    method: "POST", path: "/api/v1/recordings/{id}/recover", headers: ["X-Account-ID"],
    responseFields: ["data", "data.id", "data.status"],
  },
  recordingDelete: {
    method: "DELETE", path: "/api/v1/recordings/{id}", headers: ["X-Account-ID"],
    responseFields: ["data", "data.id", "data.deleted", "data.deleted_at"],
  },
} as const satisfies Record<string, Route>;

export type RouteName = keyof typeof ROUTES;

/** The path with each {param} replaced by its percent-encoded value. */
export function routePath(route: Route, params: Record<string, string> = {}): string {
  let out = route.path;
  for (const [name, value] of Object.entries(params)) {
    out = out.replace(`{${name}}`, encodeURIComponent(value));
  }
  return out;
}
