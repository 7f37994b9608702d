// berth apikey create|list|revoke and berth profile add|use|list|remove: using a server elsewhere.
#include "atomic_file.hpp"
#include "codec.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "home.hpp"
#include "names.hpp"
#include "output.hpp"
#include "unix_http.hpp"

#include <unistd.h>

#include <iostream>

namespace berth::cli {
namespace {

void define_apikey(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n"
      "  berth server start --listen 127.0.0.1:7420\n"
      "  berth apikey create laptop           printed once; berth keeps only its hash\n"
      "  berth --server http://HOST:7420 --api-key KEY list\n"
      "  berth apikey revoke laptop");
  app.require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto admin = std::make_shared<bool>(false);
  auto* create = app.add_subcommand("create", "Make an API key for TCP clients; it is shown once, berth keeps only its hash");
  create->add_option("name", *name, "A name for the key (who or what uses it)")->required();
  create->add_flag("--admin", *admin, "The key may also create and revoke API keys over TCP (otherwise only the Unix socket can)");
  create->callback([&run, name, admin] {
    require_name_argument("API key", *name);
    Json request{{"name", *name}};
    if (*admin) request["admin"] = true;
    Json reply = Json::parse(run.session.api().call("POST", "/v1/apikeys", request.dump()).body);
    if (run.session.format() != OutputFormat::table) {
      print_document(run.session, reply);
      return;
    }
    std::cout << reply.value("key", "") << '\n';
    if (!run.session.options.quiet) {
      std::cerr << "API key '" << *name << "' created. Store it now: berth keeps only its hash.\n"
                << "Use it with --api-key KEY, BERTH_API_KEY, or berth profile add NAME --server URL --api-key KEY\n";
    }
  });
  auto* list = app.add_subcommand("list", "List API keys (names and creation times, never the keys)");
  list->alias("ls");
  list->callback([&run] {
    Json keys = Json::parse(run.session.api().call("GET", "/v1/apikeys").body);
    print_as(run.session, keys, [&] {
      std::vector<Row> rows;
      for (const auto& key : keys) rows.push_back({key.value("name", ""), key.value("scope", "use"), key.value("created_at", "")});
      print_table({"NAME", "SCOPE", "CREATED"}, rows);
    });
  });
  auto* revoke = app.add_subcommand("revoke", "Revoke an API key: it stops working at once");
  revoke->add_option("name", *name, "Key name")->required();
  revoke->callback([&run, name] {
    require_name_argument("API key", *name);
    run.session.api().call("DELETE", "/v1/apikeys/" + *name);
    if (!run.session.options.quiet) std::cout << "API key '" << *name << "' revoked\n";
  });
}

// For an https:// server that no CA of ours vouches for: pins its certificate's SHA-256, as
// ssh does with a host key on first contact. Returns the pin to record ("" when the
// certificate is trusted as it is).
std::string pin_on_first_use(const std::string& server, const TlsClientOptions& tls, const std::string& expected_pin, bool yes) {
  TlsProbe probe = probe_tls(server, tls);
  if (probe.accepted && expected_pin.empty()) return "";
  if (probe.fingerprint.empty()) throw unavailable(probe.error);
  if (!expected_pin.empty()) {
    std::string wanted = normal_fingerprint(expected_pin);
    if (wanted.empty()) throw invalid("--tls-pin '" + expected_pin + "' is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
    if (wanted != probe.fingerprint) {
      throw invalid("the server at " + server + " presented a certificate with SHA-256 " + probe.fingerprint + ", not the --tls-pin " + wanted +
                    "; nothing was saved (someone may be in between, or the pin is of another certificate)");
    }
    return wanted;
  }
  if (probe.error.find("not trusted") == std::string::npos) throw unavailable(probe.error);
  std::cerr << "berth: " << probe.error << "\n"
            << "The certificate's SHA-256 fingerprint is\n  " << probe.fingerprint << "\n"
            << "Compare it with the server's (on the server: openssl x509 -noout -fingerprint -sha256 -in CERT).\n";
  if (yes) return probe.fingerprint;
  if (::isatty(0) != 1) {
    throw invalid("not pinned: run again with --tls-pin " + probe.fingerprint + " once you have compared it, or give the CA with --tls-ca FILE");
  }
  std::cerr << "Pin it, and trust only this certificate for " << server << "? (yes/no) " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (answer != "yes" && answer != "y") throw invalid("not pinned: nothing was saved");
  return probe.fingerprint;
}

void define_profile(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n"
      "  berth profile add build-box --server http://build-box:7420 --api-key KEY\n"
      "  berth profile use build-box          every command now talks to it\n"
      "  berth profile use local              back to this home's own server\n"
      "  berth profile list");
  app.require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto server = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto tls = std::make_shared<TlsClientOptions>();
  auto yes = std::make_shared<bool>(false);
  auto* add = app.add_subcommand("add", "Remember a server (and its API key) under a name");
  add->add_option("name", *name, "Profile name")->required();
  add->add_option("--server", *server, "https://HOST:PORT, http://HOST:PORT or unix:///PATH")->required();
  add->add_option("--api-key", *key, "API key for that server");
  add->add_option("--tls-ca", tls->ca_file, "https: the CA certificate (PEM) that signed the server's certificate");
  add->add_option("--tls-cert", tls->cert_file, "https: a client certificate (PEM), for a server that requires one");
  add->add_option("--tls-key", tls->key_file, "https: the client certificate's private key (PEM)");
  add->add_option("--tls-pin", tls->pin_sha256,
                  "https: the SHA-256 fingerprint the server's certificate must have (pinned instead of asking, on first use)");
  add->add_flag("-y,--yes", *yes, "https: pin the certificate the server presents without asking");
  add->callback([&run, name, server, key, tls, yes] {
    require_name_argument("profile", *name);
    bool https = server->rfind("https://", 0) == 0;
    if (!https && server->rfind("http://", 0) != 0 && server->rfind("unix://", 0) != 0) {
      throw invalid("--server '" + *server + "' must be https://HOST:PORT, http://HOST:PORT or unix:///PATH");
    }
    bool any_tls = !tls->ca_file.empty() || !tls->cert_file.empty() || !tls->key_file.empty() || !tls->pin_sha256.empty();
    if (!https && any_tls) throw invalid("--tls-ca, --tls-cert, --tls-key and --tls-pin are for an https:// server, not " + *server);
    if (tls->cert_file.empty() != tls->key_file.empty()) throw invalid("--tls-cert and --tls-key go together: give both or neither");
    if (!tls->ca_file.empty() && !tls->pin_sha256.empty()) throw invalid("--tls-ca and --tls-pin are two ways to trust a server: give one");
    Json profile{{"server", *server}, {"api_key", *key}};
    auto absolute = [](const std::string& path) { return path.empty() ? path : fs::absolute(path).string(); };
    if (https) {
      for (const auto& [field, path] : {std::pair{"--tls-ca", tls->ca_file}, {"--tls-cert", tls->cert_file}, {"--tls-key", tls->key_file}}) {
        if (!path.empty() && !fs::is_regular_file(path)) throw invalid(std::string(field) + " " + path + ": no such file");
      }
      std::string pin = tls->ca_file.empty() ? pin_on_first_use(*server, *tls, tls->pin_sha256, *yes) : "";
      if (!tls->ca_file.empty()) profile["tls_ca"] = absolute(tls->ca_file);
      if (!tls->cert_file.empty()) profile["tls_cert"] = absolute(tls->cert_file);
      if (!tls->key_file.empty()) profile["tls_key"] = absolute(tls->key_file);
      if (!pin.empty()) profile["tls_pin"] = pin;
    }
    Json config = read_profiles(run.session);
    config["profiles"][*name] = profile;
    if (config.value("active", "").empty()) config["active"] = *name;
    write_profiles(run.session, config);
    if (!run.session.options.quiet) {
      std::cout << "profile '" << *name << "' added" << (config["active"] == *name ? " and in use" : "")
                << (profile.contains("tls_pin") ? "; the server's certificate is pinned (SHA-256 " + profile["tls_pin"].get<std::string>() + ")" : "")
                << '\n';
    }
  });
  auto* use = app.add_subcommand("use", "Make a profile the one berth talks to (\"local\": this home's own server)");
  use->add_option("name", *name, "Profile name, or local")->required();
  use->callback([&run, name] {
    Json config = read_profiles(run.session);
    if (*name != "local" && !config["profiles"].contains(*name)) throw not_found("profile '" + *name + "' does not exist (berth profile list)");
    config["active"] = *name == "local" ? "" : *name;
    write_profiles(run.session, config);
    if (!run.session.options.quiet) std::cout << "using " << (*name == "local" ? "the local server" : "profile '" + *name + "'") << '\n';
  });
  auto* list = app.add_subcommand("list", "List profiles");
  list->alias("ls");
  list->callback([&run] {
    Json config = read_profiles(run.session);
    Json shown = Json::array();
    for (const auto& [profile, entry] : config["profiles"].items()) {
      std::string tls = !entry.value("tls_pin", "").empty() ? "pinned " + entry.value("tls_pin", "").substr(0, 23) + "…"
                        : !entry.value("tls_ca", "").empty() ? "CA " + entry.value("tls_ca", "")
                        : entry.value("server", "").rfind("https://", 0) == 0 ? "system CAs" : "";
      shown.push_back({{"name", profile}, {"server", entry.value("server", "")}, {"api_key", entry.value("api_key", "").empty() ? "" : "********"},
                       {"tls", tls}, {"active", config.value("active", "") == profile}});
    }
    print_as(run.session, shown, [&] {
      std::vector<Row> rows;
      for (const auto& p : shown) {
        rows.push_back({p["name"].get<std::string>() + (p["active"].get<bool>() ? " *" : ""), p["server"], p["api_key"], p["tls"]});
      }
      print_table({"NAME", "SERVER", "API KEY", "TLS"}, rows);
    });
  });
  auto* remove = app.add_subcommand("remove", "Forget a profile");
  remove->alias("rm");
  remove->add_option("name", *name, "Profile name")->required();
  remove->callback([&run, name] {
    Json config = read_profiles(run.session);
    if (!config["profiles"].contains(*name)) throw not_found("profile '" + *name + "' does not exist (berth profile list)");
    config["profiles"].erase(*name);
    if (config.value("active", "") == *name) config["active"] = "";
    write_profiles(run.session, config);
  });
}

}  // namespace

Json read_profiles(const Session& session) {
  fs::path path = session.home().config_dir / "config.yaml";
  Json config = Json::object();
  if (auto text = read_file(path)) config = yaml_to_json(*text, path.string());
  if (!config.is_object()) throw invalid(path.string() + " must be a YAML map with 'profiles' and 'active'");
  if (!config.contains("profiles") || !config["profiles"].is_object()) config["profiles"] = Json::object();
  if (!config.contains("active") || !config["active"].is_string()) config["active"] = "";
  return config;
}

void write_profiles(const Session& session, const Json& config) {
  fs::path path = session.home().config_dir / "config.yaml";
  create_private_folders(path.parent_path());
  write_file_atomically(path, json_to_yaml(config), 0600);  // it holds API keys
}

void add_remote_commands(Registry& registry) {
  registry.push_back({"apikey", "Manage API keys for TCP clients (create, list, revoke)", "Remote access", define_apikey});
  registry.push_back({"profile", "Remember servers to talk to (add, use, list, remove)", "Remote access", define_profile});
}

}  // namespace berth::cli
