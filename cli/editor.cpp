// berth code NAME: opens a workspace in an editor over its Remote-SSH support. The workspace's
// `Host NAME.berth` entry (berth ssh-config's) goes into ~/.ssh/berth.config, a file berth owns,
// which ~/.ssh/config includes: one `Include berth.config` line is put at its top once (an
// Include inside a Host block would apply to that host only); none of the user's own lines is
// ever changed. The editor then opens the workspace's folder on that host.
#include "atomic_file.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "ssh_config.hpp"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>

namespace berth::cli {
namespace {

constexpr const char* kIncludeLine = "Include berth.config";
constexpr const char* kBlockMark = "# berth workspace ";  // then NAME.berth: the start of a block berth wrote

fs::path ssh_folder() {
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw invalid("HOME is not set: berth code writes the workspace's entry to ~/.ssh/berth.config");
  return fs::path(home) / ".ssh";
}

// The file's bytes; "" only when it does not exist. Any other failure (unreadable, a folder)
// refuses, naming it: a file berth cannot read is never replaced.
std::string read_existing(const fs::path& path) {
  std::error_code error;
  fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found) return "";
  if (error || status.type() != fs::file_type::regular) {
    throw unavailable("cannot read " + path.string() + (error ? ": " + error.message() : ": it is not a regular file") +
                      "; berth code leaves it as it is");
  }
  std::optional<std::string> text = read_file(path);
  if (!text) throw unavailable("cannot read " + path.string() + "; berth code leaves it as it is");
  return *text;
}

// Whether a line is `Include berth.config` (keywords are case-insensitive; any spacing).
bool is_our_include(const std::string& line) {
  std::istringstream words(line);
  std::string keyword, argument, more;
  words >> keyword >> argument;
  for (auto& c : keyword) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return keyword == "include" && argument == "berth.config" && !(words >> more);
}

// ~/.ssh/config (or the file it links to) with `Include berth.config` at its top; the rest of
// it byte for byte. Returns whether it had to be added.
bool include_berth_config(const fs::path& folder) {
  fs::path config = folder / "config";
  std::error_code error;
  if (fs::is_symlink(config, error)) {
    fs::path target = fs::canonical(config, error);  // a dotfiles manager's link stays a link
    if (error) throw unavailable(config.string() + " is a symbolic link berth cannot follow (" + error.message() + "); berth code leaves it as it is");
    config = target;
  }
  std::string text = read_existing(config);
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (is_our_include(text.substr(at, end == std::string::npos ? std::string::npos : end - at))) return false;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  std::string head = std::string("# Added by berth code: the entries of berth's workspaces (berth ssh-config)\n") + kIncludeLine + "\n\n";
  write_file_atomically(config, head + text, 0600);
  return true;
}

// ~/.ssh/berth.config with this workspace's block written or replaced; the others kept.
void write_entry(const fs::path& folder, const std::string& host, const std::string& entry) {
  fs::path file = folder / "berth.config";
  std::string text = read_existing(file);
  std::string mark = kBlockMark + host + "\n";
  std::string kept;
  // Blocks start at a mark; one for this host is left out, everything else kept in order.
  size_t at = 0;
  bool skipping = false;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    size_t next = end == std::string::npos ? text.size() : end + 1;
    std::string line = text.substr(at, next - at);
    if (line.rfind(kBlockMark, 0) == 0) skipping = line == mark;
    if (!skipping) kept += line;
    at = next;
  }
  if (kept.empty()) kept = "# Written by berth code (berth ssh-config's entries); ~/.ssh/config includes it. Edits here are replaced.\n";
  while (kept.size() >= 2 && kept.compare(kept.size() - 2, 2, "\n\n") == 0) kept.pop_back();  // one blank line between blocks, not more each time
  if (kept.back() != '\n') kept += '\n';
  write_file_atomically(file, kept + "\n" + mark + entry, 0600);
}

// The folder the editor opens: the workspace's own (docker: workdir; host: its folder).
std::string folder_of(const Workspace& w) {
  for (const char* key : {"workdir", "path"}) {
    if (auto it = w.provider_data.find(key); it != w.provider_data.end() && !it->second.empty()) return it->second;
  }
  return "";
}

}  // namespace

void define_code(CLI::App& app, Invocation& run) {
  auto name = std::make_shared<std::string>();
  auto editor = std::make_shared<std::string>("code");
  auto print = std::make_shared<bool>(false);
  app.add_option("name", *name, "Workspace")->required();
  app.add_option("--editor", *editor, "The editor: code, code-insiders, cursor, windsurf (VS Code's Remote-SSH) or zed")
      ->check(CLI::IsMember({"code", "code-insiders", "cursor", "windsurf", "zed"}));
  app.add_flag("--print", *print, "Write the ssh entry and print the editor's command instead of running it");
  app.footer(
      "Examples:\n  berth code api\n  berth code api --editor cursor\n  berth code api --print     the command, for a script or another machine\n\n"
      "Writes 'Host NAME.berth' (berth ssh-config's entry) to ~/.ssh/berth.config and puts 'Include berth.config' at the top\n"
      "of ~/.ssh/config once; your own lines there are never changed. The workspace needs an OpenSSH server (sshd).");
  app.callback([&run, name, editor, print] {
    require_name_argument("workspace", *name);
    Workspace w = run.session.api().get_workspace(*name);
    if (w.state != WorkspaceState::started) {
      throw conflict("workspace '" + *name + "' is " + to_string(w.state) + ": an editor needs it started (berth start " + *name + ")");
    }
    std::string host = w.name + ".berth";
    fs::path folder = ssh_folder();
    std::error_code error;
    fs::create_directories(folder, error);
    fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace, error);
    write_entry(folder, host, ssh_config_entry(run.session, w, ensure_ssh_keys(run.session.home())));
    bool added = include_berth_config(folder);
    std::string path = folder_of(w);
    std::vector<std::string> argv{*editor};
    if (*editor == "zed") {
      argv.push_back("ssh://" + host + (path.empty() ? "" : path));
    } else {
      argv.insert(argv.end(), {"--folder-uri", "vscode-remote://ssh-remote+" + host + (path.empty() ? "/" : path)});
    }
    if (!run.session.options.quiet) {
      std::cerr << "wrote Host " << host << " to " << (folder / "berth.config").string()
                << (added ? " and 'Include berth.config' at the top of " + (folder / "config").string() : "") << "\n";
    }
    if (*print) {
      std::string line;
      for (const auto& arg : argv) line += (line.empty() ? "" : " ") + shell_quoted(arg);
      std::cout << line << "\n";
      return;
    }
    std::vector<char*> args;
    for (auto& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    std::cout.flush();
    ::execvp(args[0], args.data());
    throw unavailable("cannot run '" + *editor + "': " + std::strerror(errno) + " (is it installed and on PATH? berth code " + *name +
                      " --print shows the command)");
  });
}

}  // namespace berth::cli
