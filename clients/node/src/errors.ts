/** Every failed call rejects with a RecgwError carrying the API's error code and the request id. */

const CODE_BY_STATUS: Record<number, string> = {
  400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
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
}

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
  return new RecgwError(message, {
    status,
    code: code ?? CODE_BY_STATUS[status] ?? "http_error",
    requestId: headers.get("x-request-id") ?? undefined,
    body,
    retryAfter,
  });
}
