/**
 * @recgw/client — Node client for the recgw recording gateway.
 *
 *   import { Recgw } from "@recgw/client";
 *   const client = new Recgw();                    // RECGW_URL, RECGW_API_KEY
 *   const url = await client.recordings.get("sess-1");
 *
 * No runtime dependencies: the global fetch of Node >= 18.
 */
import { createHash, createHmac } from "node:crypto";
import { open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";

import { RecgwError, errorFromResponse } from "./errors.js";
import { ROUTES, type Route, routePath } from "./routes.js";

export {
  GoneError, LinkExpiredError, LinkRevokedError, RecgwError, RecordingDeletedError, RecordingFailedError,
  RecordingNotReadyError,
} from "./errors.js";
export { ROUTES, type Route, type RouteName, routePath } from "./routes.js";

export const SIGNATURE_HEADER = "X-CXBCore-Signature";
const DEFAULT_URL = "http://127.0.0.1:8080";
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
const VERSION = "0.1.0";

export interface RecgwOptions {
  /** Default: RECGW_URL, else http://127.0.0.1:8080. */
  baseUrl?: string;
  /** An `rgw_…` API key or a JWT. Default: RECGW_API_KEY. */
  apiKey?: string;
  /** X-Account-ID of tenant routes. Default: RECGW_ACCOUNT_ID. */
  accountId?: string;
  /** For reportUpload only. Default: RECGW_FLEET_SECRET. */
  fleetSecret?: string;
  /** Per request (downloads excepted). Default 30000. */
  timeoutMs?: number;
}

export interface RecordingUrl {
  url: string;
  expires_at: string;
  expires_in: number;
  url_kind?: string | null;
}

export interface SignedUrl {
  file_name: string;
  signed_url: string;
  expiration_minutes: number;
  expires_at: string;
  url_kind?: string | null;
}

export interface AccessibleUrl {
  session_id: string;
  url: string | null;
  url_kind: string | null;
  expires_at: string | null;
  reason: string | null;
}

export interface TokenInfo {
  session_id: string;
  token: string;
  url: string;
  rotated: boolean;
  /** When the link stops working (410 `link_expired`), ISO 8601; absent when it does not expire. */
  expires_at?: string;
}

export interface MintTokenOptions {
  /** The link expires this many seconds from now (1 to 316224000). */
  expiresInS?: number;
  /** The link expires at this instant (a Date, or an ISO 8601 string). At most one of the two. */
  expiresAt?: Date | string;
}

/** The leaked-link signal: hours in which more distinct addresses than the gateway's
 * `analytics.leak_clients_per_hour` fetched the link, and the latest such hour. */
export interface SuspectedLeak {
  warnings: number;
  clients_in_hour?: number;
  at?: string;
}

/** The analytics of one public token the call had (current, rotated or revoked). */
export interface LinkStats {
  /** SHA-256 (hex) of the token; the gateway never stores the token itself. */
  token_sha256: string;
  /** GETs without Range or with a Range from byte 0. */
  opens: number;
  /** HyperLogLog estimate of distinct client addresses. */
  unique_clients: number;
  bytes_sent: number;
  /** One past the furthest byte delivered. */
  furthest_byte: number;
  object_size: number | null;
  /** furthest_byte / object_size, at most 1. */
  played_fraction: number | null;
  first_access: string | null;
  last_access: string | null;
  suspected_leak: SuspectedLeak;
}

/** `admin.stats(sessionId)`: per-link analytics of a call (flushed every `analytics.flush_ms`). */
export interface RecordingLinkStats {
  session_id: string;
  /** Empty when no link of the call was ever played. */
  links: LinkStats[];
  /** The stats of this token (matched by its SHA-256), or undefined if it was never played. */
  forToken(token: string): LinkStats | undefined;
}

/** `admin.cacheStats()`: the object cache of the gateway worker that answered. */
export interface ObjectCacheStats {
  /** false (and nothing else) when the cache is off. */
  enabled: boolean;
  budget_bytes?: number;
  object_max_bytes?: number;
  object_fresh_s?: number;
  object_admit_after?: number;
  bytes?: number;
  entries?: number;
  evictions?: number;
  top?: Array<{ key: string; hits: number; bytes: number; etag: string; validated_s_ago: number }>;
}

/** `?download=1` and `?redirect=1` of the public route. */
export interface PublicLinkOptions {
  /** Content-Disposition: attachment, with the gateway's file name. */
  download?: boolean;
  /** A 302 to a presigned storage URL (followed by downloads with their Range/If-Range). */
  redirect?: boolean;
}

export interface RevokeResult {
  session_id: string;
  revoked: boolean;
}

export interface WarmResult {
  warmed: number;
  missing: number;
  without_recording: number;
  redis_failed: number;
}

export interface EvictResult {
  evicted: boolean;
  redis: boolean;
}

export interface Diagnosis {
  subject: string;
  servable: boolean;
  verdict: string;
  steps: Array<Record<string, unknown>>;
  [more: string]: unknown;
}

/** What a HEAD on the recording says (`recordings.head`). */
export interface RecordingHead {
  size: number | null;
  contentType: string | null;
  etag: string | null;
  lastModified: string | null;
  acceptsRanges: boolean;
}

export interface UploadReport {
  sessionId: string;
  key: string;
  size: number;
  etag: string;
  contentType: string;
  durationS?: number;
  /** The reporting host's base URL as listed in the gateway's fleet hosts. */
  fleetHost?: string;
}

export interface UploadReportResult {
  session_id: string;
  /** null: the call's link was revoked, and a report does not bring it back. */
  public_url: string | null;
  token_created: boolean;
  /** true when the call's link had been revoked (no link was minted). */
  link_revoked?: boolean;
}

export interface DownloadOptions extends PublicLinkOptions {
  /** Continue `<path>.part` from an earlier run (default true). */
  resume?: boolean;
  /** Called per chunk with the bytes so far and the total (null when unknown). */
  onProgress?: (bytes: number, total: number | null) => void;
  /** "auto" (a 43-character id is a public token), "token" or "session" (admin stream). */
  kind?: "auto" | "token" | "session";
  /** Broken connections resumed with Range + If-Range before giving up (default 5). */
  maxReconnects?: number;
}

export interface DownloadResult {
  path: string;
  size: number;
  etag: string | null;
  /** Bytes already on disk when this call started. */
  resumedFrom: number;
  /** Connections that broke and were resumed during this call. */
  reconnects: number;
  /** Content-Disposition's type: "attachment" (download: true) or "inline"; null without one. */
  disposition: string | null;
  /** The file name the gateway suggested (`filename*` preferred); null without one. */
  filename: string | null;
}

export interface AccountOption {
  accountId?: string;
}

export type Json = Record<string, unknown>;

interface Call {
  route: Route;
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  auth?: "bearer" | "fleet" | "none";
}

/** The X-CXBCore-Signature value for `body` (the exact bytes sent), signed at `timestamp` (now). */
export function signReport(secret: string, body: string, timestamp?: number): string {
  const t = timestamp ?? Math.floor(Date.now() / 1000);
  const mac = createHmac("sha256", secret).update(`${t}.`).update(body).digest("hex");
  return `t=${t},v1=${mac}`;
}

function compactBody(doc: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (v !== undefined && v !== null) out[k] = v;
  return JSON.stringify(out);
}

function isoInstant(value: string | Date): string {
  return typeof value === "string" ? value : value.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function publicQuery(options: PublicLinkOptions): Record<string, string> {
  const query: Record<string, string> = {};
  if (options.download) query.download = "1";
  if (options.redirect) query.redirect = "1";
  return query;
}

/** The file name of a Content-Disposition header: RFC 6266 `filename*` first, else `filename`. */
export function dispositionFilename(value: string | null): string | null {
  if (!value) return null;
  let plain: string | null = null;
  for (const m of value.matchAll(/;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g)) {
    const name = m[1].toLowerCase();
    const raw = m[2].trim();
    if (name === "filename*" && raw.includes("''")) {
      const encoded = raw.slice(raw.indexOf("''") + 2);
      try {
        return decodeURIComponent(encoded);
      } catch {
        continue;
      }
    }
    if (name === "filename") plain = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
  }
  return plain;
}

function backoffMs(attempt: number): number {
  return Math.min(200 * 2 ** (attempt - 1), 5000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class Truncated extends Error {}

export class Recgw {
  readonly baseUrl: string;
  readonly recordings: Recordings;
  readonly links: Links;
  readonly rooms: Rooms;
  readonly admin: Admin;
  /** @internal */ readonly apiKey?: string;
  /** @internal */ readonly accountId?: string;
  /** @internal */ readonly fleetSecret?: string;
  /** @internal */ readonly timeoutMs: number;

  constructor(options: RecgwOptions = {}) {
    const env = process.env;
    this.baseUrl = (options.baseUrl ?? env.RECGW_URL ?? DEFAULT_URL).replace(/\/+$/, "");
    this.apiKey = options.apiKey ?? (env.RECGW_API_KEY || undefined);
    this.accountId = options.accountId ?? (env.RECGW_ACCOUNT_ID || undefined);
    this.fleetSecret = options.fleetSecret ?? (env.RECGW_FLEET_SECRET || undefined);
    this.timeoutMs = options.timeoutMs ?? 30000;
    this.recordings = new Recordings(this);
    this.links = new Links(this);
    this.rooms = new Rooms(this);
    this.admin = new Admin(this);
  }

  /** @internal */
  headersFor(call: Call): Record<string, string> {
    const headers: Record<string, string> = {
      Accept: "application/json",
      "User-Agent": `recgw-client-node/${VERSION}`,
      ...(call.headers ?? {}),
    };
    if (call.body !== undefined) headers["Content-Type"] = "application/json";
    const auth = call.auth ?? "bearer";
    if (auth === "bearer" && this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    if (auth === "fleet") {
      if (!this.fleetSecret) {
        throw new RecgwError("reportUpload needs the fleet secret (fleetSecret or RECGW_FLEET_SECRET)", {
          code: "no_fleet_secret",
        });
      }
      headers[SIGNATURE_HEADER] = signReport(this.fleetSecret, call.body ?? "");
    }
    return headers;
  }

  /** @internal */
  url(call: Call): string {
    const query = call.query && Object.keys(call.query).length ? "?" + new URLSearchParams(call.query) : "";
    return this.baseUrl + routePath(call.route, call.params) + query;
  }

  /** @internal */
  async send(call: Call): Promise<Response> {
    const headers = this.headersFor(call);
    let response: Response;
    try {
      response = await fetch(this.url(call), {
        method: call.route.method,
        headers,
        body: call.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new RecgwError(`${call.route.method} ${call.route.path}: ${(e as Error).message}`, {
        code: "connection_failed",
        cause: e,
      });
    }
    if (response.status >= 400) {
      throw errorFromResponse(response.status, response.headers, await response.text());
    }
    return response;
  }

  /** @internal */
  async json<T>(call: Call): Promise<T> {
    const response = await this.send(call);
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new RecgwError("the gateway answered something that is not JSON", {
        status: response.status,
        code: "invalid_response",
        requestId: response.headers.get("x-request-id") ?? undefined,
        cause: e,
      });
    }
  }

  /** @internal */
  account(accountId: string | undefined, required: boolean): Record<string, string> {
    const account = accountId ?? this.accountId;
    if (account) return { "X-Account-ID": account };
    if (required) {
      throw new RecgwError("this call needs an account id (accountId or RECGW_ACCOUNT_ID)", { code: "no_account_id" });
    }
    return {};
  }
}

function headCall(id: string): Call {
  return TOKEN_RE.test(id)
    ? { route: ROUTES.publicRecordingHead, params: { token: id }, auth: "none" }
    : { route: ROUTES.sessionStreamHead, params: { session_id: id } };
}

async function head(client: Recgw, id: string): Promise<RecordingHead> {
  const r = await client.send(headCall(id));
  const length = r.headers.get("content-length");
  return {
    size: length !== null && /^\d+$/.test(length) ? Number(length) : null,
    contentType: r.headers.get("content-type"),
    etag: r.headers.get("etag"),
    lastModified: r.headers.get("last-modified"),
    acceptsRanges: (r.headers.get("accept-ranges") ?? "").toLowerCase() === "bytes",
  };
}

export class Recordings {
  constructor(private readonly c: Recgw) {}

  /** The session's recording as a 5-minute presigned URL (GET /api/v1/sessions/{id}/recording). */
  get(id: string, options: AccountOption = {}): Promise<RecordingUrl> {
    return this.c.json<RecordingUrl>({
      route: ROUTES.sessionRecordingUrl,
      params: { id },
      headers: this.c.account(options.accountId, true),
    });
  }

  /**
   * Size, type and ETag (a HEAD: nothing is downloaded and no link analytics are counted), by
   * public token or session id (admin). A 410 here is a GoneError with the generic code `gone`
   * (HEAD answers have no body). Per-link analytics: `admin.stats`.
   */
  head(id: string): Promise<RecordingHead> {
    return head(this.c, id);
  }

  /**
   * Downloads to `path` through `<path>.part` (its ETag in `<path>.part.etag`). A broken
   * connection is resumed with Range + If-Range; with resume (default) an earlier partial
   * file is continued, and restarted when the object changed. For a public token, `download`
   * asks for `?download=1` (an attachment: see `disposition` and `filename`) and `redirect` for
   * `?redirect=1` (a 302 to storage, followed with the same headers). A link that will not play
   * rejects with a GoneError subclass (LinkRevokedError, LinkExpiredError, …); one still
   * processing with RecordingNotReadyError (retry after `retryAfter`).
   */
  async download(tokenOrSession: string, path: string, options: DownloadOptions = {}): Promise<DownloadResult> {
    const kind = options.kind ?? "auto";
    const isToken = kind === "token" || (kind === "auto" && TOKEN_RE.test(tokenOrSession));
    if (!isToken && (options.download || options.redirect)) {
      throw new TypeError("download and redirect apply to public tokens only (the admin stream has neither)");
    }
    const base: Call = isToken
      ? { route: ROUTES.publicRecording, params: { token: tokenOrSession }, query: publicQuery(options),
        auth: "none" }
      : { route: ROUTES.sessionStream, params: { session_id: tokenOrSession } };
    const part = path + ".part";
    const etagFile = part + ".etag";
    let offset = 0;
    let etag: string | null = null;
    if (options.resume ?? true) {
      try {
        etag = (await readFile(etagFile, "utf8")).trim() || null;
        offset = etag ? (await stat(part)).size : 0;
      } catch {
        etag = null;
        offset = 0;
      }
    }
    if (!offset) await writeFile(part, "");
    const resumedFrom = offset;
    let total: number | null = null;
    let disposition: string | null = null;
    let reconnects = 0;
    const maxReconnects = options.maxReconnects ?? 5;
    for (;;) {
      const headers: Record<string, string> = offset && etag ? { Range: `bytes=${offset}-`, "If-Range": etag } : {};
      const call: Call = { ...base, headers };
      let response: Response | undefined;
      let handle: Awaited<ReturnType<typeof open>> | undefined;
      try {
        try {
          response = await fetch(this.c.url(call), { headers: this.c.headersFor(call) });
        } catch (e) {
          throw new Truncated((e as Error).message);
        }
        const status = response.status;
        if (status === 416 && offset) {
          const size = (response.headers.get("content-range") ?? "").split("/")[1];
          await response.body?.cancel();
          if (size !== undefined && Number(size) === offset) {
            total = offset;
            break;
          }
          offset = 0;
          await writeFile(part, "");
          throw new Truncated("the object changed; starting again");
        }
        if (status >= 400) throw errorFromResponse(status, response.headers, await response.text());
        const range = response.headers.get("content-range") ?? "";
        if (status === 206) {
          const first = Number(range.replace(/^bytes /, "").split("-")[0]);
          if (first !== offset) {
            await response.body?.cancel();
            throw new RecgwError("the gateway answered another range than asked", {
              status,
              code: "invalid_range",
              requestId: response.headers.get("x-request-id") ?? undefined,
            });
          }
          const size = range.split("/")[1];
          total = size !== undefined && /^\d+$/.test(size) ? Number(size) : null;
          handle = await open(part, "a");
        } else {
          offset = 0;
          const length = response.headers.get("content-length");
          total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
          handle = await open(part, "w");
        }
        etag = response.headers.get("etag");
        disposition = response.headers.get("content-disposition");
        await writeFile(etagFile, etag ?? "");
        if (response.body) {
          const reader = response.body.getReader();
          for (;;) {
            let chunk: Awaited<ReturnType<typeof reader.read>>;
            try {
              chunk = await reader.read();
            } catch (e) {
              throw new Truncated((e as Error).message);
            }
            if (chunk.done) break;
            await handle.write(chunk.value);
            offset += chunk.value.length;
            options.onProgress?.(offset, total);
          }
        }
        await handle.close();
        handle = undefined;
        if (total !== null && offset < total) throw new Truncated(`${offset} of ${total} bytes`);
        break;
      } catch (e) {
        if (handle) await handle.close();
        // A partial file is kept to resume later; an empty one is not.
        const abandon = async () => {
          if (offset === 0) await Promise.all([rm(part, { force: true }), rm(etagFile, { force: true })]);
        };
        if (!(e instanceof Truncated)) {
          await abandon();
          throw e;
        }
        reconnects += 1;
        if (reconnects > maxReconnects) {
          await abandon();
          throw new RecgwError(`download of ${base.route.path} broke ${reconnects} times: ${e.message}`, {
            code: "connection_failed",
            cause: e,
          });
        }
        await sleep(backoffMs(reconnects));
      }
    }
    await rename(part, path);
    await rm(etagFile, { force: true });
    return {
      path, size: offset, etag, resumedFrom, reconnects,
      disposition: disposition ? disposition.split(";")[0].trim().toLowerCase() : null,
      filename: dispositionFilename(disposition),
    };
  }

  /** What a fleet host sends after an upload, signed with the fleet secret (POST /api/v1/fleet/recordings). */
  reportUpload(report: UploadReport): Promise<UploadReportResult> {
    return this.c.json<UploadReportResult>({
      route: ROUTES.reportUpload,
      body: compactBody({
        session_id: report.sessionId,
        key: report.key,
        size: report.size,
        etag: report.etag,
        content_type: report.contentType,
        duration_s: report.durationS,
        fleet_host: report.fleetHost,
      }),
      auth: "fleet",
    });
  }
}

export class Links {
  constructor(private readonly c: Recgw) {}

  /** The gateway's public link for a token (no request is made), with `?download=1` / `?redirect=1`. */
  publicUrl(token: string, options: PublicLinkOptions = {}): string {
    return this.c.url({ route: ROUTES.publicRecording, params: { token }, query: publicQuery(options) });
  }

  signedUrl(callId: string, minutes?: number): Promise<SignedUrl> {
    return this.c.json<SignedUrl>({
      route: ROUTES.signedUrl,
      body: compactBody({ call_id: callId, expiration_url_in_minutes: minutes }),
    });
  }

  sessionRecordingUrl(sessionId: string, accountId?: string): Promise<RecordingUrl> {
    return this.c.json<RecordingUrl>({
      route: ROUTES.sessionRecordingUrl,
      params: { id: sessionId },
      headers: this.c.account(accountId, true),
    });
  }

  /** Admin: for each call, a URL a client can play now, or the reason there is none. */
  async accessibleUrls(sessionIds: string[], expiresIn?: number): Promise<AccessibleUrl[]> {
    const r = await this.c.json<{ results: AccessibleUrl[] }>({
      route: ROUTES.accessibleUrls,
      body: compactBody({ session_ids: sessionIds, expires_in: expiresIn }),
    });
    return r.results;
  }
}

export class Rooms {
  constructor(private readonly c: Recgw) {}

  private async data(route: Route, id: string | undefined, options: AccountOption): Promise<Json> {
    const r = await this.c.json<{ data: Json }>({
      route,
      params: id === undefined ? {} : { id },
      headers: this.c.account(options.accountId, false),
    });
    return r.data;
  }

  start(roomId: string, options: AccountOption = {}): Promise<Json> {
    return this.data(ROUTES.roomStart, roomId, options);
  }

  stop(roomId: string, options: AccountOption = {}): Promise<Json> {
    return this.data(ROUTES.roomStop, roomId, options);
  }

  sync(roomId: string, options: AccountOption = {}): Promise<Json> {
    return this.data(ROUTES.roomSync, roomId, options);
  }

  /** `{data: [...], meta: {total, limit, offset}}` */
  list(options: AccountOption & { limit?: number; offset?: number } = {}): Promise<Json> {
    const query: Record<string, string> = {};
    if (options.limit !== undefined) query.limit = String(options.limit);
    if (options.offset !== undefined) query.offset = String(options.offset);
    return this.c.json<Json>({ route: ROUTES.recordingsList, query, headers: this.c.account(options.accountId, false) });
  }

  get(recordingId: string, options: AccountOption = {}): Promise<Json> {
    return this.data(ROUTES.recordingGet, recordingId, options);
  }

  /** `{recording_id, status, download_url, …}`; no URL while still processing. */
  downloadUrl(recordingId: string, options: AccountOption = {}): Promise<Json> {
    return this.c.json<Json>({
      route: ROUTES.recordingDownload,
      params: { id: recordingId },
      headers: this.c.account(options.accountId, false),
    });
  }

  archive(recordingId: string, options: AccountOption = {}): Promise<Json> {
    return this.data(ROUTES.recordingArchive, recordingId, options);
  }

  recover(recordingId: string, options: AccountOption = {}): Promise<Json> {
    return this.data(ROUTES.recordingRecover, recordingId, options);
  }

  delete(recordingId: string, options: AccountOption = {}): Promise<Json> {
    return this.data(ROUTES.recordingDelete, recordingId, options);
  }
}

export interface WarmOptions {
  since?: string | Date;
  /** With since: calls created before this instant. */
  until?: string | Date;
  tokens?: string[];
  sessionIds?: string[];
  limit?: number;
}

export class Admin {
  constructor(private readonly c: Recgw) {}

  /**
   * Gives the call a public token (replacing any it had: see `rotated`). `expiresInS` or
   * `expiresAt` (at most one) makes the link expire (410 `link_expired` after); the answer's
   * `expires_at` is then set. Without either the link does not expire.
   */
  mintToken(sessionId: string, options: MintTokenOptions = {}): Promise<TokenInfo> {
    const { expiresInS, expiresAt } = options;
    if (expiresInS !== undefined && expiresAt !== undefined) {
      return Promise.reject(new RecgwError("mintToken takes at most one of expiresInS and expiresAt", {
        code: "bad_request",
      }));
    }
    const body = expiresInS === undefined && expiresAt === undefined
      ? undefined
      : compactBody({
        expires_in_s: expiresInS,
        expires_at: expiresAt === undefined ? undefined : isoInstant(expiresAt),
      });
    return this.c.json<TokenInfo>({ route: ROUTES.mintToken, params: { session_id: sessionId }, body });
  }

  /** A fresh token (with an optional expiry, as mintToken); the old link answers 404. */
  rotateToken(sessionId: string, options: MintTokenOptions = {}): Promise<TokenInfo> {
    return this.mintToken(sessionId, options);
  }

  /**
   * Revokes the token: the old link answers 410 `link_revoked` (LinkRevokedError) on every
   * gateway at once. The call keeps its recording; mintToken gives a new link.
   */
  revokeToken(sessionId: string): Promise<RevokeResult> {
    return this.c.json<RevokeResult>({ route: ROUTES.revokeToken, params: { session_id: sessionId } });
  }

  /** Copies lookups from MongoDB into Redis: calls created since a time, or these ids. */
  warm(options: WarmOptions): Promise<WarmResult> {
    const given = [options.since, options.tokens, options.sessionIds].filter((x) => x !== undefined);
    if (given.length !== 1) {
      return Promise.reject(new RecgwError("warm takes exactly one of since, tokens or sessionIds", {
        code: "bad_request",
      }));
    }
    return this.c.json<WarmResult>({
      route: ROUTES.warm,
      body: compactBody({
        since: options.since === undefined ? undefined : isoInstant(options.since),
        until: options.until === undefined ? undefined : isoInstant(options.until),
        tokens: options.tokens,
        session_ids: options.sessionIds,
        limit: options.limit,
      }),
    });
  }

  evict(id: string): Promise<EvictResult> {
    return this.c.json<EvictResult>({ route: ROUTES.evict, params: { id } });
  }

  /** Why a token or session id does (not) play. */
  diagnose(id: string): Promise<Diagnosis> {
    return this.c.json<Diagnosis>({ route: ROUTES.diagnose, params: { id }, query: { format: "json" } });
  }

  /**
   * Per-link analytics of a call (GET /api/v1/admin/recordings/{session_id}/stats): for each
   * token it had, opens, unique clients, bytes sent, how far it was played and the leaked-link
   * signal. For size/type/ETag of the recording itself see `recordings.head`.
   */
  async stats(sessionId: string): Promise<RecordingLinkStats> {
    const r = await this.c.json<{ session_id: string; links: LinkStats[] }>({
      route: ROUTES.linkStats,
      params: { session_id: sessionId },
    });
    return {
      session_id: r.session_id,
      links: r.links,
      forToken(token: string): LinkStats | undefined {
        const digest = createHash("sha256").update(token).digest("hex");
        return r.links.find((link) => link.token_sha256 === digest);
      },
    };
  }

  /** The object cache (hot recordings in memory) of the gateway worker that answers. */
  cacheStats(): Promise<ObjectCacheStats> {
    return this.c.json<ObjectCacheStats>({ route: ROUTES.cacheStats });
  }
}
