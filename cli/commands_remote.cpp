// berth apikey create|list|revoke and berth profile add|use|list|remove: using a server elsewhere.
#include "atomic_file.hpp"
#include "codec.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "home.hpp"
#include "names.hpp"
#include "output.hpp"

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
  auto* add = app.add_subcommand("add", "Remember a server (and its API key) under a name");
  add->add_option("name", *name, "Profile name")->required();
  add->add_option("--server", *server, "http://HOST:PORT or unix:///PATH")->required();
  add->add_option("--api-key", *key, "API key for that server");
  add->callback([&run, name, server, key] {
    require_name_argument("profile", *name);
    if (server->rfind("http://", 0) != 0 && server->rfind("unix://", 0) != 0) {
      throw invalid("--server '" + *server + "' must be http://HOST:PORT or unix:///PATH");
    }
    Json config = read_profiles(run.session);
    config["profiles"][*name] = Json{{"server", *server}, {"api_key", *key}};
    if (config.value("active", "").empty()) config["active"] = *name;
    write_profiles(run.session, config);
    if (!run.session.options.quiet) std::cout << "profile '" << *name << "' added" << (config["active"] == *name ? " and in use" : "") << '\n';
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
      shown.push_back({{"name", profile}, {"server", entry.value("server", "")}, {"api_key", entry.value("api_key", "").empty() ? "" : "********"},
                       {"active", config.value("active", "") == profile}});
    }
    print_as(run.session, shown, [&] {
      std::vector<Row> rows;
      for (const auto& p : shown) rows.push_back({p["name"].get<std::string>() + (p["active"].get<bool>() ? " *" : ""), p["server"], p["api_key"]});
      print_table({"NAME", "SERVER", "API KEY"}, rows);
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
