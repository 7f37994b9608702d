#pragma once
// What a TLS client checks of a server, without OpenSSL: the CLI's HTTP client and the Docker
// engine client fill it in; core/tls does the work (tls_link.hpp).
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>

namespace berth {

struct TlsClientOptions {
  std::string server_name;  // the host name the certificate must carry (and SNI)
  std::string ca_file;      // CAs to verify against; empty: the system's
  // SHA-256 of the certificate the server must present (colon-separated or plain hex): when
  // set it replaces the CA and host name checks, as an ssh host key does (pin on first use).
  std::string pin_sha256;
  std::string cert_file;  // a client certificate and its key, for servers that require one
  std::string key_file;
  bool verify = true;  // false: encrypt, but take any certificate (Docker's --tls without --tlsverify)
  std::chrono::milliseconds deadline{std::chrono::seconds(30)};  // for the handshake
};

// "AB:CD:…", "sha256 ab:cd…" or "abcd…" as "AB:CD:…"; empty when it is not 32 bytes of hex.
inline std::string normal_fingerprint(const std::string& text) {
  std::string hex;
  std::string_view rest = text;
  for (std::string_view prefix : {"sha256:", "SHA256:", "sha256 ", "SHA256 ", "sha256=", "SHA256 Fingerprint="}) {
    if (rest.substr(0, prefix.size()) == prefix) rest.remove_prefix(prefix.size());
  }
  for (char c : rest) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return "";
    hex.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 64) return "";
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out += (i ? ":" : "") + hex.substr(i, 2);
  return out;
}

}  // namespace berth
