#include "tls_link.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace berth::tls {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kBufferLimit = 64 << 10;

// Relay threads may still be closing their connections when the process exits: OpenSSL must
// not free its tables under them from an atexit handler.
void initialise() {
  static std::once_flag once;
  std::call_once(once, [] { OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS, nullptr); });
}

std::string openssl_reason(const std::string& fallback) {
  std::string reason;
  while (unsigned long code = ERR_get_error()) {
    const char* text = ERR_reason_error_string(code);
    if (text) reason = text;  // the last one is the closest to the cause
  }
  return reason.empty() ? fallback : reason;
}

void set_blocking(int fd, bool blocking) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

int milliseconds_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<long long>(left, 0));
}

// SSL_accept or SSL_connect on a non-blocking socket, within deadline.
bool handshake(SSL* ssl, int sock, bool server, std::chrono::milliseconds deadline, std::string& error) {
  auto until = Clock::now() + deadline;
  set_blocking(sock, false);
  while (true) {
    ERR_clear_error();
    int rc = server ? SSL_accept(ssl) : SSL_connect(ssl);
    if (rc == 1) return true;
    int reason = SSL_get_error(ssl, rc);
    short events = reason == SSL_ERROR_WANT_READ ? POLLIN : reason == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      error = openssl_reason(reason == SSL_ERROR_SYSCALL || reason == SSL_ERROR_ZERO_RETURN ? "the peer closed the connection" : "handshake failed");
      return false;
    }
    pollfd ready{sock, events, 0};
    int left = milliseconds_until(until);
    if (left == 0 || ::poll(&ready, 1, left) == 0) {
      error = "no handshake within " + std::to_string(deadline.count() / 1000) + " s";
      return false;
    }
  }
}

// Carries bytes between a TLS connection and the plain end of a socket pair until both
// directions have ended (or one side is gone), then closes both.
void relay(SSL* ssl, int tls_sock, int plain) {
  set_blocking(tls_sock, false);
  set_blocking(plain, false);
  std::string to_plain, to_tls;
  bool tls_eof = false, plain_eof = false, plain_write_closed = false, tls_write_closed = false;
  bool read_wants_write = false, write_wants_read = false, broken = false;
  char buffer[16384];
  while (!broken) {
    bool progress = true;
    while (progress && !broken) {
      progress = false;
      if (!tls_eof && to_plain.size() < kBufferLimit) {
        ERR_clear_error();
        int n = SSL_read(ssl, buffer, sizeof buffer);
        read_wants_write = false;
        if (n > 0) {
          to_plain.append(buffer, static_cast<size_t>(n));
          progress = true;
        } else {
          int reason = SSL_get_error(ssl, n);
          if (reason == SSL_ERROR_WANT_WRITE) {
            read_wants_write = true;
          } else if (reason != SSL_ERROR_WANT_READ) {
            tls_eof = true;  // close_notify, or the peer went away
            progress = true;
          }
        }
      }
      if (!to_plain.empty()) {
        ssize_t n = ::send(plain, to_plain.data(), to_plain.size(), MSG_NOSIGNAL);
        if (n > 0) {
          to_plain.erase(0, static_cast<size_t>(n));
          progress = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          broken = true;  // the owner of the plain end closed it: nobody reads any more
        }
      }
      if (tls_eof && to_plain.empty() && !plain_write_closed) {
        ::shutdown(plain, SHUT_WR);
        plain_write_closed = true;
      }
      if (!plain_eof && to_tls.size() < kBufferLimit) {
        ssize_t n = ::recv(plain, buffer, sizeof buffer, 0);
        if (n > 0) {
          to_tls.append(buffer, static_cast<size_t>(n));
          progress = true;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          plain_eof = true;
          progress = true;
        }
      }
      if (!to_tls.empty() && !tls_write_closed) {
        ERR_clear_error();
        int n = SSL_write(ssl, to_tls.data(), static_cast<int>(std::min<size_t>(to_tls.size(), sizeof buffer)));
        write_wants_read = false;
        if (n > 0) {
          to_tls.erase(0, static_cast<size_t>(n));
          progress = true;
        } else {
          int reason = SSL_get_error(ssl, n);
          if (reason == SSL_ERROR_WANT_READ) {
            write_wants_read = true;
          } else if (reason != SSL_ERROR_WANT_WRITE) {
            broken = true;  // the peer is gone: what the plain side sends has nowhere to go
          }
        }
      }
      if (plain_eof && to_tls.empty() && !tls_write_closed) {
        SSL_shutdown(ssl);  // close_notify: the peer reads the end of our data
        tls_write_closed = true;
      }
    }
    if ((tls_eof && plain_eof && to_plain.empty() && to_tls.empty()) || broken) break;
    if (tls_eof && plain_write_closed && plain_eof) break;
    pollfd fds[2] = {{plain, 0, 0}, {tls_sock, 0, 0}};
    if (!plain_eof && to_tls.size() < kBufferLimit) fds[0].events |= POLLIN;
    if (!to_plain.empty()) fds[0].events |= POLLOUT;
    if ((!tls_eof && to_plain.size() < kBufferLimit && !read_wants_write) || write_wants_read) fds[1].events |= POLLIN;
    if ((!to_tls.empty() && !tls_write_closed && !write_wants_read) || read_wants_write) fds[1].events |= POLLOUT;
    if (fds[0].events == 0 && fds[1].events == 0) break;
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    // A peer that reset the connection: poll says so without any readable data.
    if ((fds[1].revents & (POLLERR | POLLNVAL)) && !(fds[1].revents & POLLIN)) tls_eof = true, broken = to_tls.size() > 0;
    if ((fds[0].revents & (POLLERR | POLLNVAL)) && !(fds[0].revents & POLLIN)) broken = true;
  }
  SSL_free(ssl);
  ::close(tls_sock);
  ::close(plain);
}

// Hands ssl (already through its handshake on sock) to a relay thread; returns the plain end.
int start_relay(SSL* ssl, int sock, std::string& error) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    error = std::string("cannot make a socket pair: ") + std::strerror(errno);
    SSL_free(ssl);
    ::close(sock);
    return -1;
  }
  try {
    std::thread(relay, ssl, sock, pair[1]).detach();
  } catch (const std::exception& thread_error) {
    error = std::string("cannot start a relay thread: ") + thread_error.what();
    SSL_free(ssl);
    ::close(sock);
    ::close(pair[0]);
    ::close(pair[1]);
    return -1;
  }
  return pair[0];
}

std::string fingerprint_of(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), digest, &size) != 1) return "";
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    if (i) out.push_back(':');
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

// Set on the handshaking thread when the server asked for a client certificate that the
// options do not give.
thread_local bool client_certificate_missing = false;
int note_certificate_request(SSL*, X509**, EVP_PKEY**) {
  client_certificate_missing = true;
  return 0;  // no certificate: the server decides whether that is acceptable
}

// One context per set of files, kept for the process's life: the Docker engine client
// connects often, and loading the CAs each time is waste.
SSL_CTX* client_context(const TlsClientOptions& options, std::string& error) {
  // Kept for the process's life and reachable to the end (allocated, never destroyed): relay
  // threads may still use a context while the process exits, and a map destroyed at exit
  // would drop the only pointers to them.
  static auto* mutex = new std::mutex;
  static auto* contexts = new std::map<std::string, SSL_CTX*>;
  std::string key = options.ca_file + '\n' + options.cert_file + '\n' + options.key_file;
  std::lock_guard lock(*mutex);
  if (auto it = contexts->find(key); it != contexts->end()) return it->second;
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  if (!context) {
    error = openssl_reason("cannot make a TLS context");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF);
  bool loaded = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(context) == 1
                                        : SSL_CTX_load_verify_locations(context, options.ca_file.c_str(), nullptr) == 1;
  if (!loaded) {
    error = "cannot read the CA certificates " + (options.ca_file.empty() ? std::string("of this system") : "in " + options.ca_file) + ": " +
            openssl_reason("not PEM certificates");
    SSL_CTX_free(context);
    return nullptr;
  }
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    if (options.cert_file.empty() || options.key_file.empty()) {
      error = "a client certificate needs both its certificate file and its key file";
      SSL_CTX_free(context);
      return nullptr;
    }
    if (SSL_CTX_use_certificate_chain_file(context, options.cert_file.c_str()) != 1) {
      error = "cannot read the client certificate " + options.cert_file + ": " + openssl_reason("not a PEM certificate");
      SSL_CTX_free(context);
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(context, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(context) != 1) {
      error = "cannot use the client key " + options.key_file + ": " + openssl_reason("not the certificate's PEM key");
      SSL_CTX_free(context);
      return nullptr;
    }
  } else {
    SSL_CTX_set_client_cert_cb(context, note_certificate_request);
  }
  (*contexts)[key] = context;
  return context;
}

bool is_ip_address(const std::string& host) {
  unsigned char bytes[16];
  return ::inet_pton(AF_INET, host.c_str(), bytes) == 1 || ::inet_pton(AF_INET6, host.c_str(), bytes) == 1;
}

}  // namespace

struct ServerContext::State {
  SSL_CTX* context = nullptr;
  ~State() { SSL_CTX_free(context); }
};

ServerContext::ServerContext(const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file)
    : state_(std::make_unique<State>()) {
  initialise();
  state_->context = SSL_CTX_new(TLS_server_method());
  SSL_CTX* context = state_->context;
  if (!context) throw std::runtime_error(openssl_reason("cannot make a TLS context"));
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(context, cert_file.c_str()) != 1) {
    throw std::runtime_error("--tls-cert " + cert_file + ": " + openssl_reason("not a PEM certificate") + " (expected a PEM certificate, then its chain)");
  }
  if (SSL_CTX_use_PrivateKey_file(context, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("--tls-key " + key_file + ": " + openssl_reason("not a PEM private key") + " (expected the certificate's PEM private key)");
  }
  if (SSL_CTX_check_private_key(context) != 1) {
    throw std::runtime_error("--tls-key " + key_file + " is not the key of --tls-cert " + cert_file);
  }
  if (!client_ca_file.empty()) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca_file.c_str());
    if (!names || SSL_CTX_load_verify_locations(context, client_ca_file.c_str(), nullptr) != 1) {
      if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
      throw std::runtime_error("--tls-client-ca " + client_ca_file + ": " + openssl_reason("no PEM certificates") + " (expected PEM CA certificates)");
    }
    SSL_CTX_set_client_CA_list(context, names);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
}

ServerContext::~ServerContext() = default;

int ServerContext::accept(int sock, std::chrono::milliseconds deadline, std::string& error) const {
  // A plain-HTTP client (http:// for https://) gets an answer it can show, not a dropped connection.
  pollfd ready{sock, POLLIN, 0};
  char first = 0;
  if (::poll(&ready, 1, static_cast<int>(deadline.count())) > 0 && ::recv(sock, &first, 1, MSG_PEEK) == 1 && std::isalpha(static_cast<unsigned char>(first))) {
    static const std::string body =
        R"({"error":{"code":"invalid","message":"this server speaks HTTPS only: use https:// in the server's address"}})";
    std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body;
    [[maybe_unused]] ssize_t sent = ::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::shutdown(sock, SHUT_WR);
    error = "a plain-HTTP request on the TLS listener";
    ::close(sock);
    return -1;
  }
  SSL* ssl = SSL_new(state_->context);
  if (!ssl || SSL_set_fd(ssl, sock) != 1) {
    error = openssl_reason("cannot start TLS");
    if (ssl) SSL_free(ssl);
    ::close(sock);
    return -1;
  }
  if (!handshake(ssl, sock, true, deadline, error)) {
    SSL_free(ssl);
    ::close(sock);
    return -1;
  }
  return start_relay(ssl, sock, error);
}

int connect(int sock, const TlsClientOptions& options, std::string& error, std::string* fingerprint) {
  initialise();
  auto fail = [&](SSL* ssl, const std::string& message) {
    error = message;
    if (ssl) SSL_free(ssl);
    ::close(sock);
    return -1;
  };
  SSL_CTX* context = client_context(options, error);
  if (!context) return fail(nullptr, error);
  SSL* ssl = SSL_new(context);
  if (!ssl || SSL_set_fd(ssl, sock) != 1) return fail(ssl, openssl_reason("cannot start TLS"));
  // The checks are made after the handshake (SSL_get_verify_result), so that a refused
  // certificate can still be named by its fingerprint.
  SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  const std::string& host = options.server_name;
  if (!host.empty()) {
    if (is_ip_address(host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, host.c_str());
      SSL_set1_host(ssl, host.c_str());
    }
  }
  client_certificate_missing = false;
  std::string reason;
  bool shaken = handshake(ssl, sock, false, options.deadline, reason);
  if (client_certificate_missing) {
    return fail(ssl, "the server requires a client certificate (mutual TLS) and none was given: "
                     "give one with --tls-cert FILE and --tls-key FILE (a profile's or a docker target's tls_cert and tls_key)");
  }
  if (!shaken) return fail(ssl, "TLS handshake failed: " + reason);
  X509* certificate = SSL_get1_peer_certificate(ssl);
  std::string presented = fingerprint_of(certificate);
  X509_free(certificate);
  if (fingerprint) *fingerprint = presented;
  if (presented.empty()) return fail(ssl, "the server presented no certificate");
  if (!options.pin_sha256.empty()) {
    std::string pinned = normal_fingerprint(options.pin_sha256);
    if (pinned != presented) {
      return fail(ssl, "the server's certificate is not the pinned one: it presented SHA-256 " + presented + ", the pin is " +
                           (pinned.empty() ? "'" + options.pin_sha256 + "' (not a SHA-256 fingerprint)" : pinned) +
                           ". If the server's certificate was changed on purpose, pin the new one (berth profile add again); otherwise someone may be in between");
    }
  } else if (options.verify) {
    long result = SSL_get_verify_result(ssl);
    if (result != X509_V_OK) {
      std::string why = X509_verify_cert_error_string(result);
      std::string hint = result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH
                             ? " (the certificate is not for '" + host + "')"
                         : result == X509_V_ERR_CERT_HAS_EXPIRED ? " (renew the server's certificate)"
                                                                 : " (trust the CA that signed it: --tls-ca FILE, or a profile's or docker target's tls_ca; or pin it: berth profile add)";
      return fail(ssl, "the server's certificate is not trusted: " + why + hint + "; its SHA-256 is " + presented);
    }
  }
  return start_relay(ssl, sock, error);
}

}  // namespace berth::tls
