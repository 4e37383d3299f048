#pragma once
// The display form of a configured URL: what /readyz, /metrics labels, logs, diagnose and
// check-config may show. Configured URLs carry credentials in two places — userinfo
// (`http://user:pass@host`, which curl turns into Basic auth; `mongodb://u:p@h1,h2/db`;
// `redis://:pass@host`) and query options (`tlsCertificateKeyFilePassword=…`,
// `authMechanismProperties=AWS_SESSION_TOKEN:…`, `X-Amz-Signature=…`) — and a URL is shown
// only through redactUrl(). Pure functions: no I/O, safe from any thread.
#include <string>
#include <string_view>

namespace recgw::storage {

// The mask written in place of a secret.
inline constexpr std::string_view kRedacted = "***";

// `url` with its userinfo replaced by "***" and the value of every secret query (or
// fragment) parameter replaced by "***"; scheme, hosts (any number, IPv6 in brackets),
// ports, path and other options stay readable. Accepts any scheme (http, https, mongodb,
// mongodb+srv, redis, rediss, unix, …) and text without one ("user:pw@host:port").
//
// The userinfo is everything between the scheme (or the start) and the LAST '@': a
// password may hold an unencoded '@', '/', '?' or '#', and showing too little beats
// showing part of a password, so an '@' in a path or query hides what precedes it too.
// Idempotent: redactUrl(redactUrl(u)) == redactUrl(u).
std::string redactUrl(std::string_view url);

// `text` (e.g. a library's error about `url`, which may quote the password it rejects)
// with every secret `url` holds — the password (or a userinfo without one), the values of
// secret parameters, raw and percent-decoded — replaced by "***". Usernames are left.
std::string redactUrlSecretsIn(std::string_view text, std::string_view url);

// Whether a query parameter named `name` (raw, percent-encoded or not; any case) holds a
// secret: passwords, tokens, secrets, signatures, credentials, API keys, and MongoDB's
// authMechanismProperties (which can carry AWS_SESSION_TOKEN).
bool isSecretUrlParameter(std::string_view name);

}  // namespace recgw::storage
