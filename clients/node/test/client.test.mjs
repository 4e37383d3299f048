// Every method of @recgw/client called for real against a gateway on the real stack, a
// resumed download after a cut connection, errors with code and request id, and the route
// table checked against /openapi.json. Run: npm run build && node --test test/
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  GoneError, LinkExpiredError, LinkRevokedError, Recgw, RecgwError, RecordingDeletedError, RecordingFailedError,
  RecordingNotReadyError, ROUTES, signReport,
} from "../dist/index.js";
import { startWorld } from "./world.mjs";

let world;
let admin;
let tenant;
let rooms;
let dir;

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

before(async () => {
  world = await startWorld();
  admin = new Recgw({ baseUrl: world.url, apiKey: world.admin_jwt, fleetSecret: world.fleet_secret });
  tenant = new Recgw({ baseUrl: world.url, apiKey: world.api_key, accountId: world.account });
  rooms = new Recgw({ baseUrl: world.url, apiKey: world.tenant_jwt });
  dir = await mkdtemp(join(tmpdir(), "recgw-node-"));
}, { timeout: 120000 });

after(async () => {
  if (world) await world.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function rejects(promise, check) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RecgwError, `not a RecgwError: ${e}`);
    check(e);
    return e;
  }
  assert.fail("expected a RecgwError");
}

// A loopback proxy that cuts the first `cuts` connections after `after` bytes of the answer.
async function cutProxy(target, afterBytes, cuts = 1) {
  const { hostname, port } = new URL(target);
  let left = cuts;
  const state = { cuts: 0 };
  const server = createServer((client) => {
    const cut = left > 0;
    if (cut) left -= 1;
    const upstream = connect(Number(port), hostname);
    client.pipe(upstream);
    let sent = 0;
    upstream.on("data", (data) => {
      if (cut && sent + data.length >= afterBytes) {
        client.write(data.subarray(0, afterBytes - sent));
        state.cuts += 1;
        upstream.destroy();
        client.destroy();
        return;
      }
      sent += data.length;
      client.write(data);
    });
    upstream.on("end", () => client.end());
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${server.address().port}`;
  state.close = () => new Promise((resolve) => server.close(resolve));
  return state;
}

describe("configuration", () => {
  test("new Recgw() reads RECGW_URL, RECGW_API_KEY and RECGW_ACCOUNT_ID", async () => {
    const call = await world.command("seed_call", {});
    const saved = { ...process.env };
    Object.assign(process.env, { RECGW_URL: world.url, RECGW_API_KEY: world.api_key, RECGW_ACCOUNT_ID: world.account });
    try {
      const client = new Recgw();
      assert.equal(client.baseUrl, world.url);
      const url = await client.recordings.get(call.session_id);
      assert.equal(url.expires_in, 300);
      assert.equal(url.url_kind, "storage_presigned");
      const bytes = Buffer.from(await (await fetch(url.url)).arrayBuffer());
      assert.equal(sha256(bytes), call.sha256);
    } finally {
      process.env = saved;
    }
  });
});

describe("links", () => {
  test("publicUrl, signedUrl, sessionRecordingUrl, accessibleUrls", async () => {
    const token = "N".repeat(43);
    const call = await world.command("seed_call", { token });
    assert.equal(tenant.links.publicUrl(token), `${world.url}/api/v1/public/recordings/${token}`);
    const signed = await tenant.links.signedUrl(call.session_id, 3);
    assert.equal(signed.expiration_minutes, 3);
    assert.equal(signed.file_name, call.key.split("/").pop());
    assert.equal(sha256(Buffer.from(await (await fetch(signed.signed_url)).arrayBuffer())), call.sha256);
    const sessionUrl = await tenant.links.sessionRecordingUrl(call.session_id);
    assert.equal(sessionUrl.expires_in, 300);
    const results = await admin.links.accessibleUrls([call.session_id, "sess-none"], 60);
    assert.equal(results[0].url_kind, "presigned");
    assert.equal(results[1].reason, "no_call");
  });
});

describe("admin", () => {
  test("mintToken, rotateToken, revokeToken", async () => {
    const call = await world.command("seed_call", {});
    const minted = await admin.admin.mintToken(call.session_id);
    assert.equal(minted.rotated, false);
    assert.equal((await fetch(minted.url)).status, 200);
    const rotated = await admin.admin.rotateToken(call.session_id);
    assert.equal(rotated.rotated, true);
    assert.equal((await fetch(minted.url)).status, 404);
    const revoked = await admin.admin.revokeToken(call.session_id);
    assert.equal(revoked.revoked, true);
    const gone = await fetch(rotated.url);
    assert.equal(gone.status, 410);
    assert.equal((await gone.json()).error, "link_revoked");
    // The public-link helpers say so with a specific error.
    const e = await rejects(admin.recordings.download(rotated.token, join(dir, "revoked.ogg")), (e) => {
      assert.ok(e instanceof LinkRevokedError && e instanceof GoneError);
      assert.equal(e.status, 410);
      assert.equal(e.code, "link_revoked");
      assert.equal(e.retryable, false);
      assert.ok(e.requestId);
    });
    assert.equal((await world.command("access", { request_id: e.requestId })).status, 410);
    await rejects(admin.recordings.head(rotated.token), (e) => {   // HEAD has no body: the generic code
      assert.ok(e instanceof GoneError);
      assert.equal(e.code, "gone");
    });
    await assert.rejects(stat(join(dir, "revoked.ogg.part")));
    assert.equal((await world.command("call", { session_id: call.session_id })).recording_access_token, null);
    assert.equal((await admin.admin.revokeToken(call.session_id)).revoked, false);
    const again = await admin.admin.mintToken(call.session_id);
    assert.equal(again.expires_at, undefined);
    assert.equal((await fetch(again.url)).status, 200);
  });

  test("mintToken with expiresInS / expiresAt", async () => {
    const call = await world.command("seed_call", {});
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 7200e3);
    const byInstant = await admin.admin.mintToken(call.session_id, { expiresAt: at });
    assert.equal(Date.parse(byInstant.expires_at), at.getTime());
    assert.equal((await world.command("call", { session_id: call.session_id })).recording_access_expires_at,
      at.toISOString().replace(/\.\d{3}Z$/, "Z"));
    const short = await admin.admin.rotateToken(call.session_id, { expiresInS: 2 });
    assert.equal(short.rotated, true);
    const left = Date.parse(short.expires_at) - Date.now();
    assert.ok(left > -1000 && left <= 3000, `expires in ${left} ms`);
    assert.equal((await admin.recordings.download(short.token, join(dir, "before-expiry.ogg"))).size, call.size);
    const deadline = Date.now() + 10000;
    let expired;
    while (!expired) {
      assert.ok(Date.now() < deadline, "the link never expired");
      try {
        await admin.recordings.download(short.token, join(dir, "after-expiry.ogg"));
        await new Promise((resolve) => setTimeout(resolve, 100));
      } catch (e) {
        if (!(e instanceof LinkExpiredError)) throw e;
        expired = e;
      }
    }
    assert.ok(expired instanceof GoneError);
    assert.equal(expired.status, 410);
    assert.equal(expired.code, "link_expired");
    await rejects(admin.admin.mintToken(call.session_id, { expiresInS: 5, expiresAt: at }), (e) => {
      assert.equal(e.code, "bad_request");
      assert.equal(e.status, undefined);   // refused before any request
    });
    await rejects(admin.admin.mintToken(call.session_id, { expiresAt: "2001-01-01T00:00:00Z" }), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, "bad_request");
    });
    assert.equal((await admin.admin.mintToken(call.session_id)).expires_at, undefined);
    assert.equal((await world.command("call", { session_id: call.session_id })).recording_access_expires_at, null);
  });

  for (const [status, cls, code] of [["processing", RecordingNotReadyError, "recording_not_ready"],
    ["uploading", RecordingNotReadyError, "recording_not_ready"], ["failed", RecordingFailedError, "recording_failed"],
    ["deleted", RecordingDeletedError, "recording_deleted"]]) {
    test(`a ${status} recording's link rejects with ${cls.name}`, async () => {
      const token = (status + "T".repeat(43)).slice(0, 43);
      await world.command("seed_call", { token, status });
      const path = join(dir, `${status}.ogg`);
      await rejects(admin.recordings.download(token, path), (e) => {
        assert.ok(e instanceof cls, `${e.name}`);
        assert.equal(e.code, code);
        assert.ok(e.requestId);
        if (cls === RecordingNotReadyError) {
          assert.equal(e.status, 503);
          assert.equal(e.retryAfter, 30);   // public.retry_after_s, default
          assert.equal(e.retryable, true);
        } else {
          assert.ok(e instanceof GoneError);
          assert.equal(e.status, 410);
          assert.equal(e.retryable, false);
        }
      });
      await assert.rejects(stat(path + ".part"));
    });
  }

  test("stats: per-link analytics; cacheStats", async () => {
    const token = "S".repeat(43);
    const call = await world.command("seed_call", { token, size: 50000 });
    assert.deepEqual((await admin.admin.stats(call.session_id)).links, []);
    for (const i of [0, 1]) await admin.recordings.download(token, join(dir, `stats-${i}.ogg`), { resume: false });
    const deadline = Date.now() + 10000;
    let link;
    // Both plays whole: opens and bytes may reach Redis in different flushes.
    while (!(link = (await admin.admin.stats(call.session_id)).forToken(token)) || link.opens < 2
      || link.bytes_sent < 2 * call.size) {
      assert.ok(Date.now() < deadline, "the analytics were never flushed");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const report = await admin.admin.stats(call.session_id);
    assert.equal(report.session_id, call.session_id);
    assert.deepEqual(report.links.map((x) => x.token_sha256), [sha256(token)]);
    assert.equal(link.opens, 2);
    assert.equal(link.unique_clients, 1);
    assert.equal(link.bytes_sent, 2 * call.size);
    assert.equal(link.furthest_byte, call.size);
    assert.equal(link.object_size, call.size);
    assert.equal(link.played_fraction, 1);
    assert.ok(link.first_access && link.last_access && link.first_access <= link.last_access);
    assert.equal(link.suspected_leak.warnings, 0);
    assert.equal(report.forToken("y".repeat(43)), undefined);
    await rejects(tenant.admin.stats(call.session_id), (e) => assert.equal(e.status, 401));
    const cache = await admin.admin.cacheStats();
    assert.equal(typeof cache.enabled, "boolean");
    if (cache.enabled) assert.ok(cache.budget_bytes > 0 && Array.isArray(cache.top));
  });

  test("warm, evict, diagnose, head", async () => {
    const token = "W".repeat(43);
    const call = await world.command("seed_call", { token });
    assert.equal((await admin.admin.warm({ tokens: [token, "x".repeat(43)] })).warmed, 1);
    const now = new Date();
    assert.ok((await admin.admin.warm({ since: new Date(now - 3600e3), limit: 100 })).warmed >= 1);
    assert.equal((await admin.admin.warm({ since: new Date(now - 7200e3), until: new Date(now - 3600e3) })).warmed, 0);
    assert.equal((await admin.admin.evict(token)).evicted, true);
    const diagnosis = await admin.admin.diagnose(token);
    assert.equal(diagnosis.servable, true);
    assert.ok(diagnosis.steps.length > 0);
    const head = await admin.recordings.head(token);
    assert.equal(head.size, call.size);
    assert.equal(head.etag, call.etag);
    assert.equal(head.acceptsRanges, true);
    assert.equal((await admin.recordings.head(call.session_id)).contentType, "audio/ogg");
  });
});

describe("recordings", () => {
  test("reportUpload signs the report; a repeat keeps the token", async () => {
    const call = await world.command("seed_call", { status: "uploading" });
    const report = { sessionId: call.session_id, key: call.key, size: call.size, etag: call.etag,
      contentType: "audio/ogg", durationS: 2.5 };
    const first = await admin.recordings.reportUpload(report);
    assert.equal(first.token_created, true);
    assert.equal((await fetch(first.public_url)).status, 200);
    const again = await admin.recordings.reportUpload(report);
    assert.equal(again.public_url, first.public_url);
    assert.equal(again.token_created, false);
    const wrong = new Recgw({ baseUrl: world.url, fleetSecret: "wrong" });
    await rejects(wrong.recordings.reportUpload(report), (e) => {
      assert.equal(e.status, 401);
      assert.equal(e.code, "signature_mismatch");
      assert.ok(e.requestId);
    });
    // The signature is the documented one.
    const body = JSON.stringify({ session_id: call.session_id, key: call.key, size: call.size, etag: call.etag,
      content_type: "audio/ogg" });
    const r = await fetch(`${world.url}/api/v1/fleet/recordings`, { method: "POST", body,
      headers: { "Content-Type": "application/json", "X-CXBCore-Signature": signReport(world.fleet_secret, body) } });
    assert.equal(r.status, 200);
  });

  test("download and redirect modes of the public link", async () => {
    const token = "M".repeat(43);
    const call = await world.command("seed_call", { token });
    const url = admin.links.publicUrl(token, { download: true });
    assert.equal(url, `${world.url}/api/v1/public/recordings/${token}?download=1`);
    assert.ok(admin.links.publicUrl(token, { redirect: true }).endsWith("?redirect=1"));
    assert.ok((await fetch(url)).headers.get("content-disposition").startsWith("attachment"));
    const saved = await admin.recordings.download(token, join(dir, "attachment.ogg"), { download: true });
    assert.equal(saved.disposition, "attachment");
    assert.equal(saved.filename, `${call.session_id}.ogg`);
    assert.equal(sha256(await readFile(join(dir, "attachment.ogg"))), call.sha256);
    const plain = await admin.recordings.download(token, join(dir, "inline.ogg"));
    assert.equal(plain.disposition, "inline");
    // redirect: the gateway answers 302 to storage, and the download follows it.
    assert.equal((await fetch(admin.links.publicUrl(token, { redirect: true }), { redirect: "manual" })).status, 302);
    const moved = await admin.recordings.download(token, join(dir, "redirected.ogg"), { redirect: true });
    assert.equal(moved.size, call.size);
    assert.equal(sha256(await readFile(join(dir, "redirected.ogg"))), call.sha256);
    await assert.rejects(admin.recordings.download(call.session_id, join(dir, "x.ogg"), { download: true }), TypeError);
  });

  test("download: whole, with progress", async () => {
    const token = "G".repeat(43);
    const call = await world.command("seed_call", { token, size: 300000 });
    const seen = [];
    const path = join(dir, "whole.ogg");
    const result = await tenant.recordings.download(token, path, { onProgress: (n, total) => seen.push([n, total]) });
    assert.equal(sha256(await readFile(path)), call.sha256);
    assert.equal(result.reconnects, 0);
    assert.deepEqual(seen.at(-1), [call.size, call.size]);
    await assert.rejects(stat(path + ".part"));
  });

  test("download resumes after a cut connection with identical bytes", async () => {
    const token = "K".repeat(43);
    const call = await world.command("seed_call", { token, size: 2000000 });
    const proxy = await cutProxy(world.url, 700000, 2);
    try {
      const path = join(dir, "cut.ogg");
      const result = await new Recgw({ baseUrl: proxy.url }).recordings.download(token, path);
      assert.equal(proxy.cuts, 2);
      assert.equal(result.reconnects, 2);
      assert.equal(sha256(await readFile(path)), call.sha256);
    } finally {
      await proxy.close();
    }
  });

  test("download continues a partial file from an earlier run", async () => {
    const token = "Q".repeat(43);
    const call = await world.command("seed_call", { token, size: 500000 });
    const proxy = await cutProxy(world.url, 200000, 1);
    const path = join(dir, "partial.ogg");
    try {
      await rejects(new Recgw({ baseUrl: proxy.url }).recordings.download(token, path, { maxReconnects: 0 }),
        (e) => assert.equal(e.code, "connection_failed"));
    } finally {
      await proxy.close();
    }
    const partial = (await stat(path + ".part")).size;
    assert.ok(partial > 0 && partial < call.size);
    const result = await tenant.recordings.download(token, path);
    assert.equal(result.resumedFrom, partial);
    assert.equal(sha256(await readFile(path)), call.sha256);
  });

  test("download by session id is the admin stream", async () => {
    const call = await world.command("seed_call", {});
    const path = join(dir, "session.ogg");
    await admin.recordings.download(call.session_id, path);
    assert.equal(sha256(await readFile(path)), call.sha256);
    const refused = join(dir, "refused.ogg");
    await rejects(tenant.recordings.download(call.session_id, refused), (e) => assert.equal(e.status, 401));
    await assert.rejects(stat(refused + ".part"), "a refused download leaves no empty .part behind");
  });
});

describe("errors", () => {
  test("carry the code and the request id", async () => {
    const missing = await rejects(admin.admin.mintToken("sess-does-not-exist"), (e) => {
      assert.equal(e.status, 404);
      assert.equal(e.code, "not_found");
    });
    const line = await world.command("access", { request_id: missing.requestId });
    assert.equal(line.status, 404);
    assert.equal(line.route, "admin_mint_token");
    await rejects(tenant.recordings.get("sess-does-not-exist"), (e) => {
      assert.equal(e.code, "not_found");
      assert.equal(e.message, "No recording for this session");
      assert.ok(e.requestId);
    });
    await rejects(new Recgw({ baseUrl: world.url, apiKey: "rgw_" + "A".repeat(43) }).links.signedUrl("x"),
      (e) => assert.equal(e.code, "unauthorized"));
    await rejects(new Recgw({ baseUrl: "http://127.0.0.1:1", apiKey: "k" }).admin.diagnose("x"), (e) => {
      assert.equal(e.code, "connection_failed");
      assert.equal(e.status, undefined);
    });
  });
});

describe("rooms", () => {
  test("the lifecycle, every call once", async () => {
    const r = rooms.rooms;
    const started = await r.start(world.room);
    assert.equal(started.status, "recording");
    await rejects(r.start(world.room), (e) => assert.equal(e.code, "already_recording"));
    assert.equal((await r.stop(world.room)).status, "processing");
    const prov = await world.command("provider_add", {});
    const synced = await r.sync(world.room);
    // The background poll (every second here) may have linked it first: then sync has nothing to do.
    assert.ok(synced.synced_count === 0 || synced.synced_count === 1);
    const linkedBy = Date.now() + 10000;
    while ((await r.get(started.id)).provider_recording_id !== prov.id) {
      assert.ok(Date.now() < linkedBy, "never linked to the provider recording");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal((await r.recover(started.id)).status, "processing");
    const ready = await world.command("provider_ready", { id: prov.id });
    const deadline = Date.now() + 15000;
    while ((await r.get(started.id)).status !== "ready") {
      assert.ok(Date.now() < deadline, "never ready");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const dl = await r.downloadUrl(started.id);
    assert.equal(dl.status, "ready");
    assert.equal(sha256(Buffer.from(await (await fetch(dl.download_url)).arrayBuffer())), ready.sha256);
    const listed = await r.list({ limit: 10, offset: 0 });
    assert.ok(listed.data.some((x) => x.id === started.id));
    assert.equal((await r.archive(started.id)).status, "archived");
    assert.equal((await r.delete(started.id)).deleted, true);
    await rejects(r.get(started.id), (e) => assert.equal(e.status, 404));
  });
});

// ---- the route table against /openapi.json ----------------------------------------------------

function resolve(doc, node) {
  while (node && node.$ref) {
    const [, , section, name] = node.$ref.split("/");
    node = doc.components[section][name];
  }
  return node ?? {};
}

function alternatives(doc, schema) {
  schema = resolve(doc, schema);
  let base = { ...(schema.properties ?? {}) };
  for (const member of schema.allOf ?? []) for (const props of alternatives(doc, member)) base = { ...base, ...props };
  const branches = [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])];
  if (!branches.length) return [base];
  return branches.flatMap((b) => alternatives(doc, b).map((props) => ({ ...base, ...props })));
}

function hasField(doc, schema, dotted) {
  const [head, ...restParts] = dotted.split(".");
  const rest = restParts.join(".");
  const items = head.endsWith("[]");
  const name = items ? head.slice(0, -2) : head;
  for (const props of alternatives(doc, schema)) {
    if (!(name in props)) continue;
    let child = resolve(doc, props[name]);
    if (items) child = resolve(doc, child.items);
    if (!rest || hasField(doc, child, rest)) return true;
  }
  return false;
}

describe("the route table matches /openapi.json", () => {
  let doc;
  before(async () => {
    doc = await (await fetch(`${world.url}/openapi.json`)).json();
  });

  for (const [name, route] of Object.entries(ROUTES)) {
    test(name, () => {
      const item = doc.paths[route.path];
      assert.ok(item, `${route.path} is not in /openapi.json`);
      const op = item[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.path} is not documented`);
      const declared = { path: new Set(), query: new Set(), header: new Set() };
      const required = [];
      for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => resolve(doc, p))) {
        const name = p.in === "header" ? p.name.toLowerCase() : p.name;
        declared[p.in]?.add(name);
        if (p.required && (p.in === "query" || p.in === "header")) required.push(`${p.in}:${name}`);
      }
      const sent = new Set([...(route.query ?? []).map((q) => `query:${q}`),
        ...(route.headers ?? []).map((h) => `header:${h.toLowerCase()}`)]);
      for (const r of required) assert.ok(sent.has(r), `required parameter ${r} is not sent`);
      const template = new Set([...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
      assert.deepEqual([...declared.path].sort(), [...template].sort());
      for (const q of route.query ?? []) assert.ok(declared.query.has(q), `query ${q} not declared`);
      for (const h of route.headers ?? []) assert.ok(declared.header.has(h.toLowerCase()), `header ${h} not declared`);
      if (route.bodyFields) {
        const schema = op.requestBody.content["application/json"].schema;
        for (const f of route.bodyFields) assert.ok(hasField(doc, schema, f), `request field ${f} not in the schema`);
      }
      if (route.responseFields) {
        const schema = op.responses["200"].content["application/json"].schema;
        for (const f of route.responseFields) assert.ok(hasField(doc, schema, f), `response field ${f} not in 200`);
      }
    });
  }

  test("the checker notices a field that is not there", () => {
    const schema = doc.paths["/api/v1/admin/recordings/{session_id}/token"].post.responses["200"]
      .content["application/json"].schema;
    assert.equal(hasField(doc, schema, "token"), true);
    assert.equal(hasField(doc, schema, "tokn"), false);
  });
});
