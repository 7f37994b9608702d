// berth completion bash|zsh|fish: generated from the same command tree that parses and helps.
#include "commands.hpp"
#include "errors.hpp"

#include <iostream>
#include <map>

namespace berth::cli {
namespace {

// "path" -> words that may follow it ("" is the top level).
void collect(const CLI::App& app, const std::string& path, std::map<std::string, std::vector<std::string>>& words) {
  auto& list = words[path];
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_group().empty()) continue;  // hidden (__complete)
    list.push_back(sub->get_name());
    collect(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), words);
  }
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) list.push_back("--" + name);
  }
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : " ") + word;
  return out;
}

// Which names a command takes, asked of the server when completing (`berth __complete KIND`).
std::string names_for(const std::string& path) {
  static const std::map<std::string, std::string> kinds = {
      {"info", "workspaces"},         {"start", "workspaces"},       {"stop", "workspaces"},       {"delete", "workspaces"},  {"rebuild", "workspaces"},
      {"exec", "workspaces"},         {"ssh", "workspaces"},         {"logs", "workspaces"},       {"target show", "targets"},
      {"target remove", "targets"},   {"target set-default", "targets"}, {"provider info", "providers"},
      {"provider enable", "providers"}, {"provider disable", "providers"}, {"provider logs", "providers"}};
  std::string key = path.rfind("workspace ", 0) == 0 ? path.substr(10) : path;
  auto it = kinds.find(key);
  return it == kinds.end() ? "" : " $(berth __complete " + it->second + " 2>/dev/null)";
}

void print_bash(const std::map<std::string, std::vector<std::string>>& words) {
  std::cout << "# berth bash completion: source <(berth completion bash)\n_berth() {\n"
               "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"\" word i\n"
               "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
               "    word=\"${COMP_WORDS[i]}\"; [[ $word == -* ]] && continue\n"
               "    path=\"${path:+$path }$word\"\n  done\n  case \"$path\" in\n";
  for (const auto& [path, list] : words) {
    std::cout << "    \"" << path << "\") COMPREPLY=($(compgen -W \"" << join(list) << names_for(path) << "\" -- \"$cur\")) ;;\n";
  }
  std::cout << "    *) COMPREPLY=() ;;\n  esac\n}\ncomplete -F _berth berth\n";
}

void print_zsh(const std::map<std::string, std::vector<std::string>>& words) {
  std::cout << "#compdef berth\n# berth zsh completion: source <(berth completion zsh)\n"
               "autoload -U +X bashcompinit && bashcompinit\n";
  print_bash(words);
}

void print_fish(const std::map<std::string, std::vector<std::string>>& words) {
  std::cout << "# berth fish completion: berth completion fish | source\n";
  for (const auto& word : words.at("")) {
    if (word.rfind("--", 0) == 0) continue;
    std::cout << "complete -c berth -n '__fish_use_subcommand' -a '" << word << "'\n";
  }
  for (const auto& [path, list] : words) {
    if (path.empty() || path.find(' ') != std::string::npos) continue;
    for (const auto& word : list) {
      if (word.rfind("--", 0) == 0) continue;
      std::cout << "complete -c berth -n '__fish_seen_subcommand_from " << path << "' -a '" << word << "'\n";
    }
  }
}

}  // namespace

void add_completion_command(Registry& registry) {
  // berth __complete workspaces|targets|providers: names for the shell's completion,
  // one a line, from a running server only; silent and empty when there is none.
  registry.push_back({"__complete", "", "", [](CLI::App& app, Invocation& run) {
                        auto kind = std::make_shared<std::string>();
                        app.add_option("kind", *kind)->required();
                        app.callback([&run, kind] {
                          run.session.options.no_autostart = true;
                          try {
                            auto& api = run.session.api();
                            if (*kind == "workspaces") {
                              for (const auto& w : api.list_workspaces()) std::cout << w.name << '\n';
                            } else if (*kind == "targets") {
                              for (const auto& t : api.list_targets()) std::cout << t.name << '\n';
                            } else if (*kind == "providers") {
                              for (const auto& p : api.list_providers()) std::cout << p.info.name << '\n';
                            }
                          } catch (const std::exception&) {
                            // No server, or none reachable: nothing to offer, and nothing to say.
                          }
                        });
                      }});
  registry.push_back({"completion", "Print a shell completion script (bash, zsh, fish)", "Other", [](CLI::App& app, Invocation&) {
                        auto shell = std::make_shared<std::string>();
                        app.add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
                        app.callback([&app, shell] {
                          const CLI::App* root = &app;
                          while (root->get_parent()) root = root->get_parent();
                          std::map<std::string, std::vector<std::string>> words;
                          collect(*root, "", words);
                          if (*shell == "bash") print_bash(words);
                          if (*shell == "zsh") print_zsh(words);
                          if (*shell == "fish") print_fish(words);
                        });
                      }});
}

}  // namespace berth::cli
