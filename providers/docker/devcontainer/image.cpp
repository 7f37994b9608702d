// The image of a devcontainer.json: pulled (image) or built through the Engine API's /build
// (build.dockerfile), reused while its inputs are unchanged; then its metadata merged.
#include "plan.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace docker::dc {
namespace {

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }


std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// What decides the built image: the devcontainer.json as written, the build options, and
// every file of the context (path, mode, content; .git left out, as it is from the context).
std::string content_hash(const Plan& plan, const fs::path& context, const Json& build) {
  std::string input = read_file(plan.config.file) + '\0' + build.dump() + '\0';
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::recursive_directory_iterator it(context, fs::directory_options::none, error), end; !error && it != end; it.increment(error)) {
    if (it->path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(error) || it->is_symlink(error)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto status = fs::symlink_status(file, error);
    input += fs::relative(file, context).string() + '\0' + std::to_string(static_cast<int>(status.permissions())) + '\0';
    input += fs::is_symlink(status) ? fs::read_symlink(file, error).string() : devcontainer::sha256_hex(read_file(file));
    input += '\0';
  }
  return devcontainer::sha256_hex(input);
}

// The context as a tar stream, without .git.
std::string tar_context(const fs::path& context) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw failed("pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::execlp("tar", "tar", "-C", context.c_str(), "--exclude=./.git", "-cf", "-", ".", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string tar;
  char buffer[65536];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) tar.append(buffer, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw failed("tar of the build context " + context.string() + " failed");
  return tar;
}

// Builds context (its Dockerfile at dockerfile, relative to it) into tag, the engine's output
// streamed to progress. No label of berth's own: with the classic builder each label is a layer
// (a whole copy on vfs); the tag carries the content hash instead.
void engine_build(Engine& engine, const fs::path& context, const std::string& dockerfile, const std::string& tag,
                  const std::string& options, const std::string& what, berth::ProgressSink& progress) {
  std::string query = "/build?t=" + url_escape(tag) + "&dockerfile=" + url_escape(dockerfile) + "&rm=1&forcerm=1" + options;
  std::string tar = tar_context(context);
  EventLines events;
  std::string stream_error, partial_line;
  Reply reply = engine.post_streaming(
      query,
      [&](std::string_view data) {
        events.feed(data, [&](const Json& event) {
          if (event.contains("error")) stream_error = event.value("error", "");
          partial_line += event.value("stream", "");
          size_t end;
          while ((end = partial_line.find('\n')) != std::string::npos) {
            std::string line = partial_line.substr(0, end);
            partial_line.erase(0, end + 1);
            if (!line.empty()) progress.line(line);
          }
        });
      },
      tar, "application/x-tar");
  if (!partial_line.empty()) progress.line(partial_line);
  if (reply.status >= 400 || !stream_error.empty()) {
    throw failed("cannot build " + what + ": " + (stream_error.empty() ? reply.message() : stream_error));
  }
}

// An image of this tag (whose tag is its inputs' whole sha256) is on the engine.
bool up_to_date(Engine& engine, const std::string& tag) { return engine.get("/images/" + url_escape(tag) + "/json").status == 200; }

std::string build_image(const Plan& plan, Engine& engine, berth::ProgressSink& progress) {
  const Json& root = plan.config.document.value;
  Json build = root.value("build", Json::object());
  if (root.contains("dockerFile")) build["dockerfile"] = root["dockerFile"];
  if (root.contains("context") && !build.contains("context")) build["context"] = root["context"];
  // Both inside the repository (repository.hpp): never a folder or file of the server.
  devcontainer::Repository repository(plan.checkout);
  const std::string& folder = plan.config.folder;
  std::string context_pointer = root.contains("build") && root["build"].contains("context") ? "/build/context" : "/context";
  std::string dockerfile_pointer = root.contains("dockerFile") ? "/dockerFile" : "/build/dockerfile";
  auto found_context = repository.resolve(folder, build.value("context", "."), devcontainer::Repository::Kind::folder,
                                          plan.config.document.where(context_pointer));
  auto found_dockerfile = repository.resolve(folder, build["dockerfile"].get<std::string>(), devcontainer::Repository::Kind::file,
                                             plan.config.document.where(dockerfile_pointer));
  fs::path context = found_context.path;
  fs::path dockerfile = found_dockerfile.path;
  fs::path inside = dockerfile.lexically_relative(context);
  if (inside.empty() || *inside.begin() == "..") {
    throw berth::Error("invalid", plan.config.document.where(dockerfile_pointer) + "must be inside the build context (" +
                                      (found_context.relative.empty() ? "." : found_context.relative) + ")");
  }
  std::string hash = content_hash(plan, context, build);
  std::string tag = "berth-devcontainer:" + hash;
  if (up_to_date(engine, tag)) {
    progress.line("image " + tag + " is up to date with " + plan.shown_as + " and its Dockerfile (not rebuilt)");
    return tag;
  }
  std::string options;
  if (build.contains("args")) options += "&buildargs=" + url_escape(build["args"].dump());
  if (build.contains("target")) options += "&target=" + url_escape(build["target"].get<std::string>());
  if (build.contains("cacheFrom")) {
    Json from = build["cacheFrom"].is_string() ? Json::array({build["cacheFrom"]}) : build["cacheFrom"];
    options += "&cachefrom=" + url_escape(from.dump());
  }
  progress.line("building " + tag + " from " + fs::relative(dockerfile, plan.checkout).string());
  engine_build(engine, context, inside.string(), tag, options, "the image of " + plan.shown_as, progress);
  return tag;
}


// 'text' for a POSIX shell.
std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// base with the plan's features installed, each in its own layer, in install order: install.sh
// runs as root with its options as upper-cased variables (and _REMOTE_USER, _CONTAINER_USER),
// the features' containerEnv set as ENV, their metadata appended to the base's label.
std::string install_features(const Plan& plan, Engine& engine, const std::string& base, berth::ProgressSink& progress) {
  Reply inspected = engine.get("/images/" + url_escape(base) + "/json");
  if (inspected.status != 200) throw failed("cannot inspect the image " + base + ": " + inspected.message());
  Json image = inspected.json();
  Json labels = image["Config"]["Labels"];
  Json entries = devcontainer::parse_metadata_label(labels.is_object() ? labels.value("devcontainer.metadata", "") : "");
  const Json& root = plan.config.document.value;
  const Json& config = image["Config"];
  std::string image_user = config.is_object() && config.contains("User") && config["User"].is_string() ? config["User"].get<std::string>() : "";
  std::string container_user = root.contains("containerUser") ? root["containerUser"].get<std::string>() : image_user;
  std::string remote_user = root.contains("remoteUser") ? root["remoteUser"].get<std::string>() : container_user;
  fs::path context = plan.checkout.parent_path().parent_path() / "features";
  fs::create_directories(context);  // inside this create's staging folder, which the clone made empty
  std::string dockerfile = "FROM " + base + "\nUSER root\n";
  for (size_t i = 0; i < plan.features.size(); ++i) {
    const auto& feature = plan.features[i];
    std::string name = std::to_string(i) + "-" + feature.id;
    // Links are copied as links (a link in a feature never brings the file it points at).
    fs::copy(feature.folder, context / name, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    std::string env = "_REMOTE_USER=" + quoted(remote_user.empty() ? "root" : remote_user) + "\n_CONTAINER_USER=" +
                      quoted(container_user.empty() ? "root" : container_user) + "\n";
    for (const auto& [option, value] : feature.options) env += devcontainer::option_variable(option) + "=" + quoted(value) + "\n";
    std::ofstream(context / name / "berth-feature.env") << env;
    if (feature.manifest.contains("containerEnv") && feature.manifest["containerEnv"].is_object()) {
      for (const auto& [key, value] : feature.manifest["containerEnv"].items()) {
        dockerfile += "ENV " + key + "=" + Json(value.is_string() ? value.get<std::string>() : value.dump()).dump() + "\n";
      }
    }
    dockerfile += "COPY " + name + "/ /tmp/berth-features/" + name + "/\n";
    dockerfile += "RUN cd /tmp/berth-features/" + name + " && set -a && . ./berth-feature.env && set +a && chmod +x install.sh && ./install.sh"
                  " && cd / && rm -rf /tmp/berth-features/" + name + "\n";
    entries.push_back(devcontainer::feature_metadata_entry(feature));
    progress.line("feature " + feature.reference + " (" + feature.id + ")");
  }
  if (!image_user.empty()) dockerfile += "USER " + image_user + "\n";
  dockerfile += "LABEL devcontainer.metadata=" + Json(entries.dump()).dump() + "\n";
  std::ofstream(context / "Dockerfile.berth-features") << dockerfile;
  std::string hash = content_hash(plan, context, Json{{"base", image.value("Id", "")}});
  std::string tag = "berth-features:" + hash;
  if (up_to_date(engine, tag)) {
    progress.line("image " + tag + " with the features is up to date (not rebuilt)");
    return tag;
  }
  progress.line("installing " + std::to_string(plan.features.size()) + " features into " + tag);
  engine_build(engine, context, "Dockerfile.berth-features", tag, "", "the features of " + plan.shown_as, progress);
  return tag;
}

}  // namespace

void prepare_image(Plan& plan, Engine& engine, const std::function<void(const std::string&)>& ensure_image, berth::ProgressSink& progress) {
  const Json& root = plan.config.document.value;
  if (root.contains("image") && !root.contains("build") && !root.contains("dockerFile")) {
    plan.image = root["image"].get<std::string>();
    ensure_image(plan.image);
  } else {
    plan.image = build_image(plan, engine, progress);
  }
  if (!plan.features.empty()) plan.image = install_features(plan, engine, plan.image, progress);
  Reply inspected = engine.get("/images/" + url_escape(plan.image) + "/json");
  if (inspected.status != 200) throw failed("cannot inspect the image " + plan.image + ": " + inspected.message());
  Json labels = inspected.json()["Config"]["Labels"];
  std::string label = labels.is_object() && labels.contains("devcontainer.metadata") && labels["devcontainer.metadata"].is_string()
                          ? labels["devcontainer.metadata"].get<std::string>()
                          : "";
  // The image's author wrote the label: read and merged in a child (untrusted.cpp).
  Json config = root;
  Json result = Json::parse(read_untrusted("the devcontainer.metadata label of image " + plan.image, [&] {
    Json entries;
    try {
      entries = devcontainer::parse_metadata_label(label);
    } catch (const berth::Error& error) {
      throw berth::Error("invalid", "image " + plan.image + ": " + error.what());
    }
    entries.push_back(devcontainer::metadata_entry(config));
    return Json{{"entries", entries}, {"merged", devcontainer::merge(config, entries)}}.dump();
  }));
  plan.entries = result["entries"];
  plan.merged = result["merged"];
  if (plan.entries.size() > 1) progress.line("merging " + std::to_string(plan.entries.size() - 1) + " metadata entries of image " + plan.image);
}

}  // namespace docker::dc
