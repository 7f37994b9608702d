// berth completion bash|zsh|fish: generated from the same command tree that parses and helps.
#include "commands.hpp"
#include "errors.hpp"
#include "plugins.hpp"

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

namespace berth::cli {
namespace {

// "path" -> words that may follow it ("" is the top level); "path alias" -> "path name".
void collect(const CLI::App& app, const std::string& path, std::map<std::string, std::vector<std::string>>& words,
             std::map<std::string, std::string>& aliases) {
  auto& list = words[path];
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_group().empty()) continue;  // hidden (__complete)
    list.push_back(sub->get_name());
    std::string prefix = path.empty() ? "" : path + " ";
    for (const auto& alias : sub->get_aliases()) aliases[prefix + alias] = prefix + sub->get_name();
    collect(*sub, prefix + sub->get_name(), words, aliases);
  }
  for (const auto* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) list.push_back("--" + name);
  }
}

std::string join(const std::vector<std::string>& words, const char* separator = " ") {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : separator) + word;
  return out;
}

// A workspace command's key without its `workspace ` prefix: `workspace stop` is `stop`.
std::string command_key(const std::string& path) { return path.rfind("workspace ", 0) == 0 ? path.substr(10) : path; }

// Which names a command's arguments are (`berth __complete KIND`); "" for none.
std::string names_kind(const std::string& path) {
  static const std::map<std::string, std::string> kinds = {{"info", "workspaces"},
                                                           {"start", "workspaces"},
                                                           {"stop", "workspaces"},
                                                           {"delete", "workspaces"},
                                                           {"rebuild", "workspaces"},
                                                           {"exec", "workspaces"},
                                                           {"ssh", "workspaces"},
                                                           {"ssh-config", "workspaces"},
                                                           {"code", "workspaces"},
                                                           {"forward", "workspaces"},
                                                           {"logs", "workspaces"},
                                                           {"target show", "targets"},
                                                           {"target remove", "targets"},
                                                           {"target set-default", "targets"},
                                                           {"provider info", "providers"},
                                                           {"provider enable", "providers"},
                                                           {"provider disable", "providers"},
                                                           {"provider logs", "providers"},
                                                           {"plugin enable", "plugins"},
                                                           {"plugin disable", "plugins"},
                                                           {"profile use", "profiles"},
                                                           {"profile remove", "profiles"}};
  auto it = kinds.find(command_key(path));
  return it == kinds.end() ? "" : it->second;
}

// Options whose value is a name or one of a few words: "" (any command) or a command key, the
// option, and the value's kind (`berth __complete KIND`).
struct OptionValues {
  const char* command;
  const char* option;
  const char* kind;
};
constexpr OptionValues kOptionValues[] = {
    {"create", "--target", "targets"}, {"create", "-t", "targets"}, {"list", "--target", "targets"},
    {"list", "--state", "states"},     {"", "--output", "formats"}, {"", "-o", "formats"},
};

std::string complete_names(const std::string& kind) { return "$(berth __complete " + kind + " 2>/dev/null)"; }

void print_bash(const std::map<std::string, std::vector<std::string>>& words, const std::map<std::string, std::string>& aliases) {
  std::vector<std::string> paths;
  for (const auto& entry : words) paths.push_back(entry.first);
  // A word extends the path only when the longer path is a command, so the names after a
  // command (`berth stop a b <TAB>`) and option values do not hide it.
  std::string alias_list;
  for (const auto& [alias, name] : aliases) alias_list += alias + "=" + name + "|";
  std::cout << "# berth bash completion: source <(berth completion bash)\n_berth() {\n"
               "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" path=\"\" word next i\n"
               "  local paths=\"|"
            << join(paths, "|") << "|\"\n  local aliases=\"|" << alias_list
            << "\"\n"
               "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
               "    word=\"${COMP_WORDS[i]}\"\n"
               "    [[ $word == -- ]] && { COMPREPLY=(); return; }  # the command's own arguments\n"
               "    [[ $word == -* ]] && continue\n"
               "    next=\"${path:+$path }$word\"\n"
               "    [[ $aliases == *\"|$next=\"* ]] && { next=\"${aliases#*|$next=}\"; next=\"${next%%|*}\"; }\n"
               "    [[ $paths == *\"|$next|\"* ]] && path=\"$next\"\n"
               "  done\n"
               "  case \"${path#workspace }:$prev\" in\n";
  for (const auto& value : kOptionValues) {
    std::cout << "    "
              << (*value.command ? std::string("\"") + value.command + ":" + value.option + "\"" : std::string("*:") + value.option)
              << ") COMPREPLY=($(compgen -W \"" << complete_names(value.kind) << "\" -- \"$cur\")); return ;;\n";
  }
  std::cout << "  esac\n  case \"$path\" in\n";
  for (const auto& [path, list] : words) {
    std::string kind = names_kind(path);
    std::cout << "    \"" << path << "\") COMPREPLY=($(compgen -W \"" << join(list) << (kind.empty() ? "" : " " + complete_names(kind))
              << "\" -- \"$cur\")) ;;\n";
  }
  std::cout << "    *) COMPREPLY=() ;;\n  esac\n}\ncomplete -F _berth berth\n";
}

void print_zsh(const std::map<std::string, std::vector<std::string>>& words, const std::map<std::string, std::string>& aliases) {
  std::cout << "#compdef berth\n# berth zsh completion: source <(berth completion zsh)\n"
               "autoload -U +X bashcompinit && bashcompinit\n";
  print_bash(words, aliases);
}

void print_fish(const std::map<std::string, std::vector<std::string>>& words, const std::map<std::string, std::string>& aliases) {
  auto subcommands_of = [&](const std::string& path) {
    std::vector<std::string> subcommands;
    for (const auto& word : words.at(path)) {
      if (word.rfind("--", 0) != 0) subcommands.push_back(word);
    }
    return subcommands;
  };
  // A command's words as typed: its name and its aliases (workspace ws, delete rm, ...).
  auto spellings = [&](const std::string& path) {
    std::string last = path.substr(path.rfind(' ') + 1);
    for (const auto& [alias, name] : aliases) {
      if (name == path) last += " " + alias.substr(alias.rfind(' ') + 1);
    }
    return last;
  };
  auto spellings_of_all = [&](const std::string& path, const std::vector<std::string>& subcommands) {
    std::string all;
    for (const auto& sub : subcommands) all += (all.empty() ? "" : " ") + spellings(path.empty() ? sub : path + " " + sub);
    return all;
  };
  auto names = [](const std::string& condition, const std::string& kind) {
    std::cout << "complete -c berth -f -n '" << condition << "' -a '(berth __complete " << kind << " 2>/dev/null)'\n";
  };
  std::cout << "# berth fish completion: berth completion fish | source\n";
  const std::vector<std::string> top = subcommands_of("");
  for (const auto& word : top) std::cout << "complete -c berth -f -n '__fish_use_subcommand' -a '" << word << "'\n";
  for (const auto& command : top) {
    const std::vector<std::string> subcommands = subcommands_of(command);
    const std::string seen = "__fish_seen_subcommand_from " + spellings(command);
    if (!subcommands.empty()) {
      // A group's subcommands until one is given; then that one's names.
      std::string condition = seen + "; and not __fish_seen_subcommand_from " + spellings_of_all(command, subcommands);
      for (const auto& sub : subcommands) std::cout << "complete -c berth -f -n '" << condition << "' -a '" << sub << "'\n";
      for (const auto& sub : subcommands) {
        std::string kind = names_kind(command + " " + sub);
        if (!kind.empty()) names(seen + "; and __fish_seen_subcommand_from " + spellings(command + " " + sub), kind);
      }
    } else if (std::string kind = names_kind(command); !kind.empty()) {
      // A shortcut such as stop, not a group's subcommand of that name (server stop).
      std::string groups;
      for (const auto& group : top) {
        const auto subs = subcommands_of(group);
        if (std::find(subs.begin(), subs.end(), command) != subs.end()) groups += " " + spellings(group);
      }
      names(seen + (groups.empty() ? "" : "; and not __fish_seen_subcommand_from" + groups), kind);
    }
  }
}

// Names of a kind, one a line: from the running server only (never started for this), or from
// this machine for plugins and profiles. Throws when there is nobody to ask.
void print_names(Invocation& run, const std::string& kind) {
  if (kind == "states") {
    for (const char* state : {"creating", "started", "starting", "stopping", "stopped", "deleting", "error"}) std::cout << state << '\n';
  } else if (kind == "formats") {
    std::cout << "table\njson\nyaml\n";
  } else if (kind == "plugins") {
    for (const auto& plugin : discover_plugins(plugin_folders(run.session.home()), {})) std::cout << plugin.name << '\n';
  } else if (kind == "profiles") {
    nlohmann::json config = read_profiles(run.session);
    std::cout << "local\n";
    if (config.contains("profiles") && config["profiles"].is_object()) {
      for (const auto& [name, profile] : config["profiles"].items()) std::cout << name << '\n';
    }
  } else {
    auto& api = run.session.api();
    if (kind == "workspaces") {
      for (const auto& w : api.list_workspaces("name")) std::cout << w.name << '\n';
    } else if (kind == "targets") {
      for (const auto& t : api.list_targets()) std::cout << t.name << '\n';
    } else if (kind == "providers") {
      for (const auto& p : api.list_providers()) std::cout << p.info.name << '\n';
    }
  }
}

}  // namespace

void add_completion_command(Registry& registry) {
  // berth __complete KIND: names for the shell's completion, one a line; silent and empty when
  // there is nobody to ask.
  registry.push_back({"__complete", "", "", [](CLI::App& app, Invocation& run) {
                        auto kind = std::make_shared<std::string>();
                        app.add_option("kind", *kind)->required();
                        app.callback([&run, kind] {
                          run.session.options.no_autostart = true;
                          try {
                            print_names(run, *kind);
                          } catch (const std::exception&) {
                            // No server, or none reachable: nothing to offer, and nothing to say.
                          }
                        });
                      }});
  registry.push_back({"completion", "Print a shell completion script (bash, zsh, fish)", "Other", [](CLI::App& app, Invocation&) {
                        app.footer(
                            "Examples:\n  source <(berth completion bash)      in ~/.bashrc\n"
                            "  source <(berth completion zsh)       in ~/.zshrc\n"
                            "  berth completion fish | source       in ~/.config/fish/config.fish\n"
                            "Workspace, target and provider names come from the running server (none running: no names).");
                        auto shell = std::make_shared<std::string>();
                        app.add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
                        app.callback([&app, shell] {
                          const CLI::App* root = &app;
                          while (root->get_parent()) root = root->get_parent();
                          std::map<std::string, std::vector<std::string>> words;
                          std::map<std::string, std::string> aliases;
                          collect(*root, "", words, aliases);
                          if (*shell == "bash") print_bash(words, aliases);
                          if (*shell == "zsh") print_zsh(words, aliases);
                          if (*shell == "fish") print_fish(words, aliases);
                        });
                      }});
}

}  // namespace berth::cli
