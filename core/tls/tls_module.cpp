// The berth-tls module: TLS for programs that must not link OpenSSL (the CLI, whose every
// command would pay for loading it). tls_loader.cpp in the core loads it when an address is
// https://. A plain C entry point, versioned by its name.
#include "tls_link.hpp"

#include <cstring>

extern "C" __attribute__((visibility("default"))) int berth_tls_connect_v1(int sock, const char* server_name, const char* ca_file,
                                                                         const char* pin_sha256, const char* cert_file,
                                                                         const char* key_file, int verify, long deadline_ms,
                                                                         char* error, size_t error_size, char* fingerprint,
                                                                         size_t fingerprint_size) {
  berth::TlsClientOptions options;
  options.server_name = server_name ? server_name : "";
  options.ca_file = ca_file ? ca_file : "";
  options.pin_sha256 = pin_sha256 ? pin_sha256 : "";
  options.cert_file = cert_file ? cert_file : "";
  options.key_file = key_file ? key_file : "";
  options.verify = verify != 0;
  options.deadline = std::chrono::milliseconds(deadline_ms);
  std::string message, presented;
  int plain = -1;
  try {
    plain = berth::tls::connect(sock, options, message, &presented);
  } catch (const std::exception& failure) {
    message = failure.what();
  }
  if (error && error_size) {
    std::strncpy(error, message.c_str(), error_size - 1);
    error[error_size - 1] = '\0';
  }
  if (fingerprint && fingerprint_size) {
    std::strncpy(fingerprint, presented.c_str(), fingerprint_size - 1);
    fingerprint[fingerprint_size - 1] = '\0';
  }
  return plain;
}
