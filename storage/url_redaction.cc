#include "storage/url_redaction.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <vector>

#include "reactor/char_search.h"
#include "storage/uri_encoding.h"

namespace recgw::storage {
namespace {

// Where the authority starts: after "scheme://" when the text begins with an RFC 3986
// scheme, otherwise at 0 ("user:pw@host:port", "host:port").
size_t authorityStart(std::string_view url) {
  size_t separator = url.find("://");
  if (separator == std::string_view::npos || separator == 0) return 0;
  if (!std::isalpha(static_cast<unsigned char>(url[0]))) return 0;
  for (size_t i = 1; i < separator; ++i) {
    auto c = static_cast<unsigned char>(url[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return 0;
  }
  return separator + 3;
}

// Calls visit(parameter, separator) for each parameter of "a=1&password=x;b" (a query or a
// fragment; MongoDB also separates options with ';'); separator is '\0' after the last.
template <class Visit>
void forEachParameter(std::string_view parameters, Visit visit) {
  size_t start = 0;
  while (true) {
    size_t end = parameters.find_first_of("&;", start);
    visit(parameters.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start),
          end == std::string_view::npos ? '\0' : parameters[end]);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
}

// The value of `parameter` ("password=x") when its name is a secret's.
std::optional<std::string_view> secretValue(std::string_view parameter) {
  size_t equals = parameter.find('=');
  if (equals == std::string_view::npos || !isSecretUrlParameter(parameter.substr(0, equals))) return std::nullopt;
  return parameter.substr(equals + 1);
}

// The parameters with every secret parameter's value masked.
void appendParameters(std::string& out, std::string_view parameters) {
  forEachParameter(parameters, [&out](std::string_view parameter, char separator) {
    if (auto secret = secretValue(parameter)) {
      out.append(parameter.substr(0, parameter.size() - secret->size()));
      out.append(kRedacted);
    } else {
      out.append(parameter);
    }
    if (separator) out.push_back(separator);
  });
}

// Appends the values of the secret parameters.
void collectSecretValues(std::string_view parameters, std::vector<std::string>& out) {
  forEachParameter(parameters, [&out](std::string_view parameter, char) {
    if (auto secret = secretValue(parameter)) out.emplace_back(*secret);
  });
}

}  // namespace

bool isSecretUrlParameter(std::string_view name) {
  std::string key = percentDecode(name).value_or(std::string(name));
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Whole names that are secrets but too short or too general to match as parts.
  static constexpr std::array<std::string_view, 10> kNames = {
      "pass", "pw", "pwd", "auth", "key", "sig", "awsaccesskeyid", "authmechanismproperties", "apikey",
      "jwt"};
  for (std::string_view n : kNames) {
    if (key == n) return true;
  }
  // Parts: tlsCertificateKeyFilePassword, sslClientCertificateKeyPassword, sessionToken,
  // access_token, X-Amz-Security-Token, X-Amz-Signature, X-Amz-Credential, client_secret…
  static constexpr std::array<std::string_view, 9> kParts = {
      "password", "passwd", "secret", "token", "signature", "credential", "api_key", "api-key", "private"};
  for (std::string_view part : kParts) {
    if (key.find(part) != std::string::npos) return true;
  }
  return false;
}

std::string redactUrl(std::string_view url) {
  std::string out;
  out.reserve(url.size() + kRedacted.size());
  size_t hostStart = authorityStart(url);
  out.append(url.substr(0, hostStart));
  size_t at = url.rfind('@');
  if (at != std::string_view::npos && at >= hostStart) {
    out.append(kRedacted);
    out.push_back('@');
    hostStart = at + 1;
  }
  std::string_view rest = url.substr(hostStart);
  size_t query = rest.find('?');
  size_t fragment = rest.find('#');
  if (query != std::string_view::npos && fragment != std::string_view::npos && fragment < query) {
    query = std::string_view::npos;  // a '?' inside the fragment is the fragment's
  }
  size_t pathEnd = std::min(query, fragment);
  out.append(rest.substr(0, pathEnd));
  if (query != std::string_view::npos) {
    out.push_back('?');
    size_t queryEnd = fragment == std::string_view::npos ? rest.size() : fragment;
    appendParameters(out, rest.substr(query + 1, queryEnd - query - 1));
  }
  if (fragment != std::string_view::npos) {
    out.push_back('#');
    appendParameters(out, rest.substr(fragment + 1));
  }
  return out;
}

std::string redactUrlSecretsIn(std::string_view text, std::string_view url) {
  std::vector<std::string> secrets;
  size_t hostStart = authorityStart(url);
  size_t at = url.rfind('@');
  if (at != std::string_view::npos && at >= hostStart) {
    std::string_view userinfo = url.substr(hostStart, at - hostStart);
    size_t colon = userinfo.find(':');
    secrets.emplace_back(colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1));
    hostStart = at + 1;
  }
  std::string_view rest = url.substr(hostStart);
  size_t query = reactor::findAny(rest, "?#");
  if (query != std::string_view::npos) {
    // Query and fragment alike; splitting at every '?' and '#' too can only find more.
    std::string parameters(rest.substr(query + 1));
    for (char& c : parameters) c = c == '?' || c == '#' ? '&' : c;
    collectSecretValues(parameters, secrets);
  }
  const size_t collected = secrets.size();
  for (size_t i = 0; i < collected; ++i) {
    auto decoded = percentDecode(secrets[i]);
    if (decoded && *decoded != secrets[i]) secrets.push_back(*decoded);
  }
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(secrets.begin(), secrets.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
  std::string out(text);
  for (const std::string& secret : secrets) {
    if (secret.empty() || secret == kRedacted) continue;
    for (size_t pos = out.find(secret); pos != std::string::npos;
         pos = out.find(secret, pos + kRedacted.size())) {
      out.replace(pos, secret.size(), kRedacted);
    }
  }
  return out;
}

}  // namespace recgw::storage
