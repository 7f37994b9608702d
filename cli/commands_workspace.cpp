// berth workspace create|list|info|start|stop|delete|exec|ssh|logs, and their shortcuts.
#include "commands.hpp"
#include "stream_relay.hpp"
#include "errors.hpp"
#include "checkout_request.hpp"
#include "duration.hpp"
#include "names.hpp"
#include "host_consent.hpp"
#include "output.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <iostream>

namespace fs = std::filesystem;

namespace berth::cli {
namespace {

StringMap parse_env(const std::vector<std::string>& pairs) {
  StringMap env;
  for (const auto& pair : pairs) {
    size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) throw invalid("--env '" + pair + "' must be KEY=VALUE");
    env[pair.substr(0, equals)] = pair.substr(equals + 1);
  }
  return env;
}

StringMap parse_labels(const std::vector<std::string>& pairs) {
  StringMap labels;
  for (const auto& pair : pairs) {
    size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) throw invalid("--label '" + pair + "' must be KEY=VALUE");
    labels[pair.substr(0, equals)] = pair.substr(equals + 1);
  }
  return labels;
}

Row workspace_row(const Workspace& w) {
  std::string state = w.operation.empty() ? to_string(w.state) : to_string(w.state) + " (" + w.operation + ")";
  return {w.name, w.target, w.provider, state, w.repository.empty() ? "-" : w.repository, when(w.created_at)};
}

// What of the repository was asked and the commit the clone is at: "branch dev at 1a2b3c4d5e6f".
std::string checkout_of(const Workspace& w) {
  if (w.repository.empty()) return "-";
  auto option = [&](const char* key) {
    auto it = w.options.find(key);
    return it == w.options.end() ? std::string() : it->second;
  };
  std::string asked = !option("commit").empty() ? "commit " + option("commit")
                      : !option("ref").empty()  ? "ref " + option("ref")
                      : !option("branch").empty() ? (option("new_branch") == "true" ? "new branch " : "branch ") + option("branch")
                                                  : "default branch";
  auto commit = w.provider_data.find("commit");
  return commit == w.provider_data.end() ? asked : asked + " at " + commit->second.substr(0, 12);
}

void show_workspace(Session& session, const Workspace& w, const std::vector<Row>& extra = {}) {
  print_as(session, Json(w), [&] {
    // On a terminal, the time and how long ago: "2026-05-01T10:00:00Z (3 minutes ago)".
    auto with_age = [](const std::string& time) {
      std::string age = when(time);
      return age == time ? time : time + " (" + age + ")";
    };
    std::vector<Row> rows{{"name", w.name},
                          {"state", to_string(w.state) + (w.operation.empty() ? "" : " (" + w.operation + " in progress)")},
                          {"target", w.target},
                          {"provider", w.provider},
                          {"repository", w.repository.empty() ? "-" : w.repository},
                          {"checkout", checkout_of(w)},
                          {"image", w.image.empty() ? "-" : w.image},
                          {"created", with_age(w.created_at)},
                          {"updated", with_age(w.updated_at)}};
    for (const auto& [key, value] : w.labels) rows.push_back({"label." + key, value});
    for (const auto& [key, value] : w.env) rows.push_back({"env." + key, value});
    for (const auto& [key, value] : w.provider_data) rows.push_back({"provider." + key, value});
    if (!w.last_error.empty()) rows.push_back({"error", w.last_error});
    rows.insert(rows.end(), extra.begin(), extra.end());
    size_t key_width = 0;
    for (const auto& row : rows) key_width = std::max(key_width, row[0].size());
    for (const auto& row : rows) std::cout << row[0] << ":" << std::string(key_width - row[0].size() + 2, ' ') << row[1] << '\n';
  });
}

// Resolves a local repository path against the CLI's own folder, since the server's differs.
std::string resolve_repository(const std::string& repository) {
  if (repository.empty() || repository.find("://") != std::string::npos) return repository;
  std::error_code error;
  if (fs::exists(repository, error)) return fs::absolute(repository).lexically_normal().string();
  if (repository.find('@') != std::string::npos && repository.find(':') != std::string::npos) return repository;
  throw invalid("--repo '" + repository + "' is neither a URL nor an existing local path");
}

void define_create(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n"
      "  berth create api --repo https://example.org/api.git\n"
      "  berth create api --target local-docker --env DEBUG=1 --detach\n"
      "  berth logs -f api                  follow a create started with --detach");
  auto request = std::make_shared<WorkspaceRequest>();
  auto env = std::make_shared<std::vector<std::string>>();
  auto labels = std::make_shared<std::vector<std::string>>();
  auto detach = std::make_shared<bool>(false);
  auto devcontainer = std::make_shared<std::string>();
  auto no_devcontainer = std::make_shared<bool>(false);
  app.add_option("name", request->name, "Workspace name (lowercase letters, digits, '-')")->required();
  app.add_option("-t,--target", request->target, "Target to create it on (default: the default target)");
  app.add_option("-r,--repo", request->repository, "Git repository to clone into it: URL or local path");
  app.add_option("--image", request->image, "Image to use instead of the target's default");
  // One value per flag: -e A=1 NAME must not take NAME as a second variable (issue 22).
  app.add_option("-e,--env", *env, "Environment variable KEY=VALUE (repeatable)")->allow_extra_args(false);
  app.add_option("-l,--label", *labels, "Label KEY=VALUE, for berth list --label and on what the provider makes (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("-d,--detach", *detach, "Return at once; the operation goes on in the server");
  auto chosen = app.add_option("--devcontainer", *devcontainer,
                               "The repository's devcontainer.json to use, relative to its root (when it has several)");
  app.add_flag("--no-devcontainer", *no_devcontainer, "Ignore the repository's devcontainer.json; use the target's image")->excludes(chosen);
  auto trust = std::make_shared<bool>(false);
  auto local_env = std::make_shared<std::vector<std::string>>();
  app.add_flag("--trust", *trust,
               "Agree that the repository's initializeCommand runs on the server's machine, as the server's user (without it, "
               "berth asks on a terminal and refuses elsewhere; the answer is remembered per repository and command)");
  app.add_option("--local-env", *local_env,
                 "Send this variable of your environment for the definition's ${localEnv:NAME} (repeatable; those named in a "
                 "local repository's devcontainer.json are sent without it)")
      ->allow_extra_args(false);
  auto branch = std::make_shared<std::string>();
  auto commit = std::make_shared<std::string>();
  auto ref = std::make_shared<std::string>();
  auto new_branch = std::make_shared<bool>(false);
  app.add_option("-b,--branch", *branch, "Check out this branch of the repository (also: --repo URL@BRANCH)");
  app.add_flag("--new-branch", *new_branch, "Make --branch NAME from the default branch instead of checking out an existing one");
  app.add_option("--commit", *commit, "Leave the clone at this commit (also: --repo URL#SHA)");
  app.add_option("--ref", *ref, "Check out any ref the remote serves, e.g. refs/pull/123/head (also: --repo URL#pull/123/head)");
  auto auto_stop = std::make_shared<std::string>();
  auto keep_alive = std::make_shared<bool>(false);
  auto stop_option = app.add_option("--auto-stop", *auto_stop,
                                    "Stop it after this long idle (30m, 2h; off), instead of its target's auto_stop");
  app.add_flag("--keep-alive", *keep_alive, "Never stop or delete it for being idle (as --auto-stop off)")->excludes(stop_option);
  auto wait_for = std::make_shared<std::string>("all");
  app.add_option("--wait-for", *wait_for,
                 "all: return when every devcontainer.json lifecycle command has run, failing if one fails (the default); "
                 "ready: return at its waitFor, the rest goes on in the background")
      ->check(CLI::IsMember({"all", "ready"}));
  app.callback([&run, request, env, labels, detach, devcontainer, no_devcontainer, trust, local_env, branch, commit, ref, new_branch, auto_stop,
                keep_alive, wait_for] {
    if (!auto_stop->empty()) {
      if (!parse_duration(*auto_stop)) throw invalid("--auto-stop '" + auto_stop->substr(0, 40) + "' must be a duration such as 90s, 30m, 2h or 7d, or off");
      request->options["auto_stop"] = *auto_stop;
    }
    if (*keep_alive) request->options["auto_stop"] = "off";
    require_name_argument("workspace", request->name);
    if (!request->target.empty()) require_name_argument("target", request->target);
    // URL@BRANCH and URL#REF, unless the whole text names a local path.
    std::error_code error;
    if (!request->repository.empty() && !fs::exists(request->repository, error)) {
      request->repository = take_checkout_shorthand(request->repository, request->options);
    }
    if (!branch->empty()) request->options["branch"] = *branch;
    if (*new_branch) request->options["new_branch"] = "true";
    if (!commit->empty()) request->options["commit"] = *commit;
    if (!ref->empty()) request->options["ref"] = *ref;
    request->repository = resolve_repository(request->repository);
    check_checkout_options(request->options, request->repository);
    request->env = parse_env(*env);
    request->labels = parse_labels(*labels);
    if (!devcontainer->empty()) request->options["devcontainer"] = *devcontainer;
    if (*no_devcontainer) request->options["no_devcontainer"] = "true";
    if (*trust) request->options["trust"] = "true";
    // ${localEnv:X} is this person's environment: only the variables the definition names.
    if (!*no_devcontainer) {
      std::string values = local_env_option(request->repository, *devcontainer, *local_env);
      if (!values.empty()) request->options["local_env"] = values;
    }
    Session& session = run.session;
    auto& api = session.api();
    if (*detach) {
      Workspace w = api.create_workspace(*request, nullptr);
      if (!session.options.quiet) std::cerr << "creating workspace '" << w.name << "' (berth logs " << w.name << " -f)\n";
      if (session.format() != OutputFormat::table) show_workspace(session, w);
      return;
    }
    auto create = [&] {
      Progress progress(session, "creating " + request->name,
                        "the create goes on in the server (follow it: berth logs -f " + request->name + ")");
      Workspace made = api.create_workspace(*request, &progress);
      progress.finish();
      return made;
    };
    Workspace w;
    try {
      w = create();
    } catch (const Error&) {
      // Refused for want of agreement to run a command on the server's machine: asked here, on
      // a terminal; with a yes, the refused record (nothing was made) goes and the create runs again.
      auto question = *trust ? std::nullopt : asked_consent(api, request->name);
      if (!question || !ask_consent(*question)) throw;
      struct Quiet : ProgressSink {
        void line(std::string_view) override {}
      } quiet;
      api.delete_workspace(request->name, true, &quiet);
      request->options["trust"] = "true";
      w = create();
    }
    // The lifecycle commands past waitFor run on in the server: followed to their end unless
    // --wait-for ready, and a failure is this command's (as `devcontainer up` has it).
    Json outcome = Json::parse(api.last_outcome().empty() ? "{}" : api.last_outcome(), nullptr, false);
    if (*wait_for == "all" && outcome.is_object() && outcome.contains("after_ready") && outcome["after_ready"].is_object()) {
      const Json& after = outcome["after_ready"];
      std::string what = after.value("what", "the commands after waitFor");
      Progress progress(session, "running " + what, "it goes on in the server (follow it: berth logs -f " + request->name + ")");
      std::string ended_text;
      api.follow_log(request->name, after.value("offset", 0LL), progress, std::to_string(after.value("ticket", 0ULL)), &ended_text);
      progress.finish();
      Json ended = Json::parse(ended_text.empty() ? "{}" : ended_text, nullptr, false);
      if (ended.is_object() && !ended.value("ok", true)) {
        throw Error(ended.value("code", "provider_failed"), "workspace '" + request->name + "' is ready but " + what + " failed: " +
                                                                ended.value("message", "see berth logs " + request->name));
      }
      w = api.get_workspace(request->name);
    }
    if (session.format() != OutputFormat::table) {
      show_workspace(session, w);
    } else if (!session.options.quiet) {
      std::cout << "workspace '" << w.name << "' is " << to_string(w.state) << " (berth exec " << w.name << " -- CMD)\n";
    }
  });
}

void define_list(CLI::App& app, Invocation& run) {
  app.footer("Examples:\n  berth list --state error\n  berth -q list --target local | xargs berth stop\n  berth list -o json");
  app.alias("ls");
  auto state = std::make_shared<std::string>();
  auto target = std::make_shared<std::string>();
  auto labels = std::make_shared<std::vector<std::string>>();
  app.add_option("--state", *state, "Only workspaces in this state (started, stopped, error, ...)")
      ->check(CLI::IsMember({"creating", "started", "starting", "stopping", "stopped", "deleting", "error", "paused"}));
  app.add_option("--target", *target, "Only workspaces on this target");
  app.add_option("-l,--label", *labels, "Only workspaces with this label: KEY=VALUE, or KEY for any value (repeatable: all must hold)")
      ->allow_extra_args(false);
  app.callback([&run, state, target, labels] {
    std::vector<std::pair<std::string, std::optional<std::string>>> wanted;
    for (const auto& label : *labels) {
      size_t equals = label.find('=');
      if (equals == 0) throw invalid("--label '" + label + "' must be KEY=VALUE or KEY");
      wanted.emplace_back(label.substr(0, equals), equals == std::string::npos ? std::nullopt : std::optional(label.substr(equals + 1)));
    }
    auto keep = [&](const Workspace& w) {
      for (const auto& [key, value] : wanted) {
        auto it = w.labels.find(key);
        if (it == w.labels.end() || (value && it->second != *value)) return false;
      }
      return (state->empty() || to_string(w.state) == *state) && (target->empty() || w.target == *target);
    };
    if (run.session.format() != OutputFormat::table) {
      auto all = run.session.api().list_workspaces();
      std::erase_if(all, [&](const Workspace& w) { return !keep(w); });
      print_document(run.session, Json(all));
      return;
    }
    // The table asks only for its columns: a fraction of the bytes to send and read.
    if (run.session.options.quiet) {  // names only, one a line, as `docker ps -q` (for xargs)
      for (const auto& w : run.session.api().list_workspaces(wanted.empty() ? "name,state,target" : "name,state,target,labels")) {
        if (keep(w)) std::cout << w.name << '\n';
      }
      return;
    }
    auto workspaces = run.session.api().list_workspaces(std::string("name,target,provider,state,operation,repository,created_at") + (wanted.empty() ? "" : ",labels"));
    std::vector<Row> rows;
    rows.reserve(workspaces.size());
    for (const auto& w : workspaces) {
      if (keep(w)) rows.push_back(workspace_row(w));
    }
    print_table({"NAME", "TARGET", "PROVIDER", "STATE", "REPOSITORY", "CREATED"}, rows,
                TableOptions{.state_column = 3, .colour = run.session.colour(), .droppable = {2}});
  });
}

// "auto-stop: 30m (idle 2m, stops in 28m)", from the server's idle auto-stop; nothing when it
// is off or the server is older.
std::vector<Row> auto_stop_rows(Session& session, const std::string& name) {
  Json activity;
  try {
    activity = Json::parse(session.api().call("GET", "/v1/workspaces/" + name + "/activity").body);
  } catch (const std::exception&) {
    return {};
  }
  std::vector<Row> rows;
  std::string stop = activity.value("auto_stop", "off");
  if (stop != "off") {
    std::string when = " (the idle clock starts at the server's next look)";
    if (activity.value("watched", false)) {
      when = " (idle " + format_duration(std::chrono::seconds(activity.value("idle_seconds", 0LL))) + ", stops in " +
             format_duration(std::chrono::seconds(activity.value("stops_in_seconds", 0LL))) + " unless used)";
    } else if (activity.value("state", "") != "started") {
      when = "";
    }
    rows.push_back({"auto-stop", stop + when});
  }
  std::string remove = activity.value("auto_delete", "off");
  if (remove != "off") rows.push_back({"auto-delete", remove + " after it stopped"});
  return rows;
}

void define_info(CLI::App& app, Invocation& run) {
  app.footer("Examples:\n  berth info api\n  berth info api -o json | jq .provider_data");
  auto name = std::make_shared<std::string>();
  app.add_option("name", *name, "Workspace name")->required();
  app.callback([&run, name] {
    require_name_argument("workspace", *name);
    std::string status_error;
    Workspace workspace = run.session.api().get_workspace(*name, status_error);
    show_workspace(run.session, workspace, run.session.format() == OutputFormat::table ? auto_stop_rows(run.session, *name) : std::vector<Row>{});
    if (!status_error.empty()) {
      // What is shown is berth's record, not what is there: said, and not a success.
      std::cerr << "berth: provider '" << workspace.provider << "' could not tell the real state of '" << workspace.name
                << "', so this is the state berth last recorded: " << status_error << std::endl;
      run.exit_code = 1;
    }
  });
}

enum class Lifecycle { start, stop };

// Runs `one` for each name in order: a failure is reported with its name and the others still
// run; the exit code is the worst of them.
void for_each_name(Invocation& run, const std::vector<std::string>& names, const std::function<void(const std::string&)>& one) {
  for (const auto& name : names) {
    try {
      require_name_argument("workspace", name);
      one(name);
    } catch (const Error& error) {
      std::cerr << "berth: " << (names.size() > 1 ? name + ": " : "") << error.what() << std::endl;
      run.exit_code = std::max(run.exit_code, exit_code_for(error.code()));
    }
  }
}

void define_lifecycle(CLI::App& app, Invocation& run, Lifecycle which) {
  app.footer(which == Lifecycle::start
                 ? "Examples:\n  berth start api\n  berth start api web --detach\n  berth -q list --state stopped | xargs berth start"
                 : "Examples:\n  berth stop api\n  berth stop api web db\n  berth -q list --label team=web | xargs berth stop");
  auto names = std::make_shared<std::vector<std::string>>();
  auto detach = std::make_shared<bool>(false);
  app.add_option("names", *names, "Workspace names (one or more)")->required();
  app.add_flag("-d,--detach", *detach, "Return at once; the operation goes on in the server");
  app.callback([&run, names, detach, which] {
    for_each_name(run, *names, [&](const std::string& name) {
      auto& api = run.session.api();
      const char* verb = which == Lifecycle::start ? "starting " : "stopping ";
      Progress progress(run.session, verb + name,
                        std::string("the ") + (which == Lifecycle::start ? "start" : "stop") +
                            " goes on in the server (follow it: berth logs -f " + name + ")");
      ProgressSink* follow = *detach ? nullptr : &progress;
      Workspace w = which == Lifecycle::start ? api.start_workspace(name, follow) : api.stop_workspace(name, follow);
      progress.finish();
      if (run.session.format() != OutputFormat::table) {
        show_workspace(run.session, w);
      } else if (!run.session.options.quiet) {
        std::cout << "workspace '" << w.name << "' is " << to_string(w.state) << '\n';
      }
    });
  });
}

void define_rebuild(CLI::App& app, Invocation& run) {
  auto trust = std::make_shared<bool>(false);
  app.add_flag("--trust", *trust, "Agree that the definition's initializeCommand runs on the server's machine (see berth create --trust)");
  app.footer("Examples:\n  berth rebuild api                 after editing .devcontainer/devcontainer.json in the workspace\n"
             "  berth rebuild api --detach        follow it later: berth logs -f api");
  auto names = std::make_shared<std::vector<std::string>>();
  auto detach = std::make_shared<bool>(false);
  app.add_option("names", *names, "Workspace names (one or more)")->required();
  app.add_flag("-d,--detach", *detach, "Return at once; the operation goes on in the server");
  app.callback([&run, names, detach, trust] {
    for_each_name(run, *names, [&](const std::string& name) {
      auto rebuild = [&](bool agreed) {
        Progress progress(run.session, "rebuilding " + name, "the rebuild goes on in the server (follow it: berth logs -f " + name + ")");
        Workspace made = run.session.api().rebuild_workspace(name, *detach ? nullptr : &progress, agreed);
        progress.finish();
        return made;
      };
      Workspace w;
      try {
        w = rebuild(*trust);
      } catch (const Error&) {
        // As create: asked on a terminal; the refused rebuild changed nothing, so it runs again.
        auto question = *trust || *detach ? std::nullopt : asked_consent(run.session.api(), name);
        if (!question || !ask_consent(*question)) throw;
        w = rebuild(true);
      }
      if (run.session.format() != OutputFormat::table) {
        show_workspace(run.session, w);
      } else if (!run.session.options.quiet) {
        std::cout << "workspace '" << w.name << "' " << (*detach ? "is being rebuilt" : "rebuilt: " + to_string(w.state)) << '\n';
      }
    });
  });
}

void define_delete(CLI::App& app, Invocation& run) {
  app.footer("Examples:\n  berth delete api\n  berth delete api web --force      the records go even if the provider fails\n"
             "  berth delete api --keep-volume    keep the working tree's volume; berth create api finds it again");
  auto names = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  auto keep_volume = std::make_shared<bool>(false);
  auto detach = std::make_shared<bool>(false);
  app.alias("rm");
  app.add_option("names", *names, "Workspace names (one or more)")->required();
  app.add_flag("-f,--force", *force, "Remove the record even when the provider fails or the infrastructure is gone");
  app.add_flag("--keep-volume", *keep_volume, "Keep the volume holding the working tree (docker); a later create of the same name reuses it");
  app.add_flag("-d,--detach", *detach, "Return at once; the operation goes on in the server");
  app.callback([&run, names, force, keep_volume, detach] {
    for_each_name(run, *names, [&](const std::string& name) {
      Progress progress(run.session, "deleting " + name, "the delete goes on in the server (follow it: berth logs -f " + name + ")");
      std::string left_behind = run.session.api().delete_workspace(name, *force, *keep_volume, *detach ? nullptr : &progress);
      progress.finish();
      // Shown with the progress already; said anyway when -q hid it.
      if (!left_behind.empty() && run.session.options.quiet) {
        std::cerr << "berth: warning: " << name << ": what its provider made may be left behind: " << left_behind << std::endl;
      }
      if (!run.session.options.quiet) std::cout << "workspace '" << name << "' " << (*detach ? "is being deleted" : "deleted") << '\n';
    });
  });
}

class ConsoleOutput : public OutputSink {
 public:
  void write(OutputStream stream, std::string_view data) override {
    int fd = stream == OutputStream::stdout_stream ? 1 : 2;
    while (!data.empty()) {
      ssize_t written = ::write(fd, data.data(), data.size());
      if (written <= 0) return;
      data.remove_prefix(static_cast<size_t>(written));
    }
  }
};

void define_exec(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n  berth exec api -- make test\n  echo data | berth exec -i api -- wc -c\n  berth exec -it api -- top\n"
      "The command's exit code is berth exec's own. Ctrl-C is passed on to the command.");
  auto name = std::make_shared<std::string>();
  auto request = std::make_shared<ExecRequest>();
  auto env = std::make_shared<std::vector<std::string>>();
  auto with_stdin = std::make_shared<bool>(false);
  auto with_tty = std::make_shared<bool>(false);
  app.add_option("name", *name, "Workspace name")->required();
  app.add_option("command", request->command, "The command and its arguments, after --")->required();
  app.add_option("-e,--env", *env, "Environment variable KEY=VALUE for the command (repeatable)")->allow_extra_args(false);
  app.add_option("-w,--workdir", request->workdir, "Folder to run in (default: the workspace's own)");
  app.add_option("-u,--user", request->user, "User to run as (providers that support it)");
  app.add_flag("-i,--stdin", *with_stdin, "Stream this process's standard input to the command (any size, binary as is)");
  app.add_flag("-t,--tty", *with_tty, "Give the command a terminal (with -i: an interactive program, e.g. top)");
  app.callback([&run, name, request, env, with_stdin, with_tty] {
    require_name_argument("workspace", *name);
    request->env = parse_env(*env);
    bool tty = *with_tty && ::isatty(0) == 1;
    Json body{{"command", request->command}, {"env", request->env}, {"workdir", request->workdir}, {"user", request->user}, {"tty", tty}};
    if (tty) ask_for_terminal(body);
    auto& api = run.session.api();
    run.exit_code = relay_stream([&] { return api.open_stream("/v1/workspaces/" + *name + "/session", body.dump()); },
                                 RelayOptions{*with_stdin || tty ? 0 : -1, 1, 2, tty, !tty, "the command", ""});
  });
}

void define_logs(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n  berth logs api\n  berth logs -f api                    follow the running operation; exit 1 if it fails\n"
      "  berth create api --detach && berth logs -f api");
  auto name = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  app.add_option("name", *name, "Workspace name")->required();
  app.add_flag("-f,--follow", *follow, "Keep following while an operation runs");
  app.callback([&run, name, follow] {
    require_name_argument("workspace", *name);
    auto& api = run.session.api();
    if (!*follow) {
      std::cout << api.workspace_log(*name) << std::flush;
      return;
    }
    struct Printer : ProgressSink {
      void line(std::string_view text) override { std::cout << text << '\n' << std::flush; }
    } printer;
    std::string outcome;
    api.follow_log(*name, 0, printer, "", &outcome);
    // The operation followed failed: say so in the exit code too, as the command that ran it does.
    auto ended = nlohmann::json::parse(outcome.empty() ? "{}" : outcome, nullptr, false);
    if (ended.is_object() && ended.contains("ok") && !ended.value("ok", true)) run.exit_code = 1;
  });
}

struct WorkspaceCommand {
  const char* name;
  const char* summary;
  void (*define)(CLI::App&, Invocation&);
};

void define_start(CLI::App& app, Invocation& run) { define_lifecycle(app, run, Lifecycle::start); }
void define_stop(CLI::App& app, Invocation& run) { define_lifecycle(app, run, Lifecycle::stop); }

constexpr WorkspaceCommand kWorkspaceCommands[] = {
    {"create", "Create a workspace on a target, cloning a repository into it", define_create},
    {"list", "List workspaces", define_list},
    {"info", "Show one workspace", define_info},
    {"start", "Start a stopped workspace", define_start},
    {"stop", "Stop a workspace", define_stop},
    {"rebuild", "Make a workspace's container again from its (changed) definition, keeping its working tree", define_rebuild},
    {"delete", "Delete a workspace and what its provider made", define_delete},
    {"exec", "Run a command in a workspace: berth exec NAME -- CMD [ARGS...]", define_exec},
    {"ssh", "Open an interactive shell in a workspace (or speak SSH for OpenSSH clients: --stdio)", define_ssh},
    {"ssh-config", "Print OpenSSH 'Host NAME.berth' entries so ssh, scp, rsync and editors reach workspaces", define_ssh_config},
    {"code", "Open a workspace in VS Code (or --editor cursor, zed, ...) over Remote-SSH", define_code},
    {"forward", "Forward local TCP ports to ports in a workspace: berth forward NAME [LOCAL:]REMOTE ...", define_forward},
    {"logs", "Show a workspace's operation log", define_logs},
};

}  // namespace

void require_name_argument(const std::string& kind, const std::string& name) { require_valid_name(kind, name); }

void add_workspace_commands(Registry& registry) {
  registry.push_back({"workspace", "Manage workspaces (create, list, info, start, stop, delete, exec, ssh, logs)",
                      "Workspaces", [](CLI::App& app, Invocation& run) {
                        app.alias("ws");
                        app.footer(
                            "Examples:\n  berth workspace create api --repo https://example.org/api.git\n  berth ws ls\n"
                            "Each command is also a shortcut: berth create, berth list, ... (berth --help)");
                        app.require_subcommand(1);
                        for (const auto& command : kWorkspaceCommands) {
                          command.define(*app.add_subcommand(command.name, command.summary), run);
                        }
                      }});
  for (const auto& command : kWorkspaceCommands) {
    registry.push_back({command.name, command.summary, "Workspace shortcuts", command.define});
  }
}

}  // namespace berth::cli
