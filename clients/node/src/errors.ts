/** Every failed call rejects with a RecgwError carrying the API's error code and the request id. */

const CODE_BY_STATUS: Record<number, string> = {
  400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 410: "gone",
  422: "validation_error", 429: "rate_limited", 500: "internal", 502: "bad_gateway", 503: "unavailable",
  504: "gateway_timeout",
};

export interface RecgwErrorInit {
  status?: number;
  code: string;
  requestId?: string;
  body?: unknown;
  retryAfter?: number;
  cause?: unknown;
}

export class RecgwError extends Error {
  /** HTTP status; undefined when the gateway could not be reached. */
  readonly status?: number;
  /** The API's `error` field, or a code derived from the status for plain-string bodies. */
  readonly code: string;
  /** The gateway's X-Request-Id (also in its access log). */
  readonly requestId?: string;
  readonly body?: unknown;
  /** Seconds, from Retry-After (429, 503). */
  readonly retryAfter?: number;

  constructor(message: string, init: RecgwErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "RecgwError";
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.body = init.body;
    this.retryAfter = init.retryAfter;
  }

  /** True when the same call may succeed later: 429, 503 (wait `retryAfter` seconds when
   * given) or a connection that could not be made. */
  get retryable(): boolean {
    return this.status === 429 || this.status === 503 || this.code === "connection_failed";
  }
}

/**
 * 410: the public link will not play again. `code` says why: `link_revoked`, `link_expired`,
 * `recording_deleted` or `recording_failed` (each has its own subclass). A HEAD answer has no
 * body: its code is the generic `gone`.
 */
export class GoneError extends RecgwError {
  constructor(message: string, init: RecgwErrorInit) {
    super(message, init);
    this.name = new.target.name;
  }
}

/** 410 `link_revoked`: the token was revoked (`admin.revokeToken`); mint a new one. */
export class LinkRevokedError extends GoneError {}

/** 410 `link_expired`: past the link's `expires_at`; mint a new one. */
export class LinkExpiredError extends GoneError {}

/** 410 `recording_deleted`: the call's recording was deleted. */
export class RecordingDeletedError extends GoneError {}

/** 410 `recording_failed`: the recording failed and there is nothing to play. */
export class RecordingFailedError extends GoneError {}

/** 503 `recording_not_ready`: still processing or uploading; retry after `retryAfter` seconds. */
export class RecordingNotReadyError extends RecgwError {
  constructor(message: string, init: RecgwErrorInit) {
    super(message, init);
    this.name = "RecordingNotReadyError";
  }
}

type ErrorClass = new (message: string, init: RecgwErrorInit) => RecgwError;

const CLASS_BY_CODE: Record<string, ErrorClass> = {
  "410:link_revoked": LinkRevokedError,
  "410:link_expired": LinkExpiredError,
  "410:recording_deleted": RecordingDeletedError,
  "410:recording_failed": RecordingFailedError,
  "503:recording_not_ready": RecordingNotReadyError,
};

/** The error for an answer with status >= 400. */
export function errorFromResponse(status: number, headers: Headers, text: string): RecgwError {
  let body: unknown = undefined;
  let code: string | undefined;
  let message = `HTTP ${status}`;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text.slice(0, 500) || undefined;
  }
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const o = body as Record<string, unknown>;
    if (typeof o.error === "string") code = o.error;
    if (typeof o.message === "string") message = o.message;
    else if (o.detail !== undefined) message = JSON.stringify(o.detail).slice(0, 500);
  } else if (typeof body === "string" && body) {
    message = body;
  }
  const retry = headers.get("retry-after");
  const retryAfter = retry !== null && retry !== "" && !Number.isNaN(Number(retry)) ? Number(retry) : undefined;
  const finalCode = code ?? CODE_BY_STATUS[status] ?? "http_error";
  const cls = CLASS_BY_CODE[`${status}:${finalCode}`] ?? (status === 410 ? GoneError : RecgwError);
  return new cls(message, {
    status,
    code: finalCode,
    requestId: headers.get("x-request-id") ?? undefined,
    body,
    retryAfter,
  });
}
