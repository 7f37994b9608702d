// ${localEnv:X} from the CLI's environment, and the question before initializeCommand.
#include "host_consent.hpp"

#include "errors.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <regex>
#include <set>

extern char** environ;

namespace berth::cli {
namespace {

using Json = nlohmann::json;

// git's standard output, or nullopt when it fails (not a repository, no HEAD, no such file).
std::optional<std::string> git_output(const std::vector<std::string>& arguments) {
  std::vector<char*> argv;
  std::vector<std::string> words{"git"};
  words.insert(words.end(), arguments.begin(), arguments.end());
  for (auto& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int spawned = ::posix_spawnp(&pid, "git", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string out;
  if (spawned == 0) {
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) out.append(buffer, static_cast<size_t>(n));
      if (out.size() > (4u << 20)) break;
    }
  }
  ::close(fds[0]);
  if (spawned != 0) return std::nullopt;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

bool is_variable_name(const std::string& name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
         name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

}  // namespace

std::string local_env_option(const std::string& repository, const std::string& devcontainer, const std::vector<std::string>& named) {
  std::set<std::string> names;
  for (const auto& name : named) {
    if (!is_variable_name(name)) throw invalid("--local-env '" + name + "' must be a variable name (letters, digits and '_')");
    names.insert(name);
  }
  std::error_code error;
  if (!repository.empty() && std::filesystem::is_directory(repository, error)) {
    std::vector<std::string> files;
    if (!devcontainer.empty()) {
      files.push_back(devcontainer);
    } else if (auto listed = git_output({"-C", repository, "ls-tree", "-r", "--name-only", "HEAD", "--", ".devcontainer", ".devcontainer.json"})) {
      size_t start = 0;
      while (start < listed->size()) {
        size_t end = listed->find('\n', start);
        std::string file = listed->substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (file.size() >= 17 && file.compare(file.size() - 17, 17, "devcontainer.json") == 0) files.push_back(file);
        if (end == std::string::npos) break;
        start = end + 1;
      }
    }
    static const std::regex variable(R"(\$\{(?:localEnv|env):([A-Za-z_][A-Za-z0-9_]*))");
    for (const auto& file : files) {
      auto text = git_output({"-C", repository, "show", "HEAD:" + file});
      if (!text) continue;
      for (std::sregex_iterator it(text->begin(), text->end(), variable), end; it != end; ++it) names.insert((*it)[1].str());
    }
  }
  Json values = Json::object();
  for (const auto& name : names) {
    // berth's own settings (BERTH_API_KEY, BERTH_SERVER, ...) are the CLI's credentials, never a
    // repository's to read.
    if (name.rfind("BERTH_", 0) == 0) continue;
    if (const char* value = std::getenv(name.c_str())) values[name] = value;
  }
  return values.empty() ? "" : values.dump();
}

std::optional<ConsentQuestion> consent_question(const Workspace& workspace) {
  auto found = workspace.provider_data.find("berth.consent");
  if (found == workspace.provider_data.end()) return std::nullopt;
  Json consent = Json::parse(found->second, nullptr, false);
  if (!consent.is_object() || !consent.contains("command")) return std::nullopt;
  ConsentQuestion question;
  question.file = consent.value("file", "");
  question.line = consent.value("line", 0);
  question.repository = consent.value("repository", "");
  const Json& command = consent["command"];
  if (command.is_string()) {
    question.command = command.get<std::string>();
  } else {
    question.command = command.dump(2);
  }
  return question;
}

std::optional<ConsentQuestion> asked_consent(Api& api, const std::string& name) {
  try {
    return consent_question(api.get_workspace(name));
  } catch (const Error&) {
    return std::nullopt;
  }
}

bool ask_consent(const ConsentQuestion& question) {
  if (::isatty(0) != 1 || ::isatty(2) != 1) return false;
  std::cerr << "\nThe repository " << question.repository << " has, in " << question.file << ":" << question.line
            << ", an initializeCommand.\nIt runs on the server's machine, as the server's user, outside any container:\n\n    "
            << question.command << "\n\nRun it? Answer yes only if you trust this repository (berth remembers the answer for this "
            << "repository and command). [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes" || answer == "Yes";
}

}  // namespace berth::cli
