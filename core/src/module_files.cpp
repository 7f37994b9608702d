#include "module_files.hpp"

#include "atomic_file.hpp"
#include "codec.hpp"
#include "errors.hpp"
#include "home.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <map>
#include <system_error>

namespace fs = std::filesystem;

namespace berth {

namespace {

// Why a file or folder with these stat facts lets someone else change what berth loads.
std::string writable_by_others(const struct stat& info, const std::string& what) {
  if (info.st_uid != ::geteuid() && info.st_uid != 0) {
    return what + " is owned by another user (uid " + std::to_string(info.st_uid) + "); refusing to load it";
  }
  bool sticky_folder = S_ISDIR(info.st_mode) && (info.st_mode & S_ISVTX);
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_folder) {
    return what + " is writable by " + ((info.st_mode & S_IWOTH) ? "every user" : "its group") +
           "; refusing to load it (chmod go-w)";
  }
  return "";
}

}  // namespace

std::vector<ModuleFile> find_modules(const fs::path& folder, bool builtin) {
  std::map<std::string, ModuleFile> by_name;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const auto& path = entry.path();
    std::string extension = path.extension().string();
    if (extension != ".so" && extension != ".yaml") continue;
    std::string name = path.stem().string();
    auto& module = by_name[name];
    module.name = name;
    module.builtin = builtin;
    (extension == ".so" ? module.library : module.manifest) = path;
  }
  std::vector<ModuleFile> modules;
  for (auto& [name, module] : by_name) modules.push_back(std::move(module));
  return modules;
}

std::string module_file_problem(const ModuleFile& file) {
  if (file.library.empty()) return "manifest " + file.manifest.string() + " has no library " + file.name + ".so beside it";
  if (file.manifest.empty()) return "no manifest: " + file.name + ".yaml must lie beside " + file.library.filename().string();
  if (!file.builtin) {
    if (auto reason = unsafe_file_reason(file.library); !reason.empty()) return reason;
    if (auto reason = unsafe_file_reason(file.manifest); !reason.empty()) return reason;
  }
  return "";
}

ModuleManifest read_module_manifest(const fs::path& path, const std::string& expected_name) {
  auto text = read_file(path);
  if (!text) throw invalid("cannot read manifest " + path.string());
  return manifest_from_document(yaml_to_json(*text, path.string()), path, expected_name);
}

ModuleManifest manifest_from_document(Json document, const fs::path& path, const std::string& expected_name) {
  if (!document.is_object()) throw invalid("manifest " + path.string() + " must be a YAML map");
  ModuleManifest manifest;
  auto field = [&](const char* key, bool required) -> std::string {
    auto it = document.find(key);
    if (it == document.end() || !it->is_string() || it->get<std::string>().empty()) {
      if (required) throw invalid("manifest " + path.string() + " has no '" + key + "'");
      return "";
    }
    return it->get<std::string>();
  };
  manifest.name = field("name", true);
  manifest.version = field("version", true);
  manifest.api_version = field("api_version", true);
  manifest.description = field("description", false);
  manifest.document = std::move(document);
  if (manifest.name != expected_name) {
    throw invalid("manifest " + path.string() + " names '" + manifest.name + "' but the file is '" +
                  expected_name + "'");
  }
  if (!parse_api_version(manifest.api_version)) {
    throw invalid("manifest " + path.string() + " has api_version '" + manifest.api_version +
                  "', expected MAJOR.MINOR such as \"1.0\"");
  }
  return manifest;
}

ManifestCache::ManifestCache(fs::path file) : file_(std::move(file)), entries_(Json::object()) {
  if (auto text = read_file(file_)) {
    Json parsed = Json::parse(*text, nullptr, false);
    if (parsed.is_object()) entries_ = std::move(parsed);
  }
}

ModuleManifest ManifestCache::read(const fs::path& path, const std::string& expected_name) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw invalid("cannot read manifest " + path.string());
  std::string key = std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
                    std::to_string(info.st_mtim.tv_sec) + "." + std::to_string(info.st_mtim.tv_nsec);
  auto it = entries_.find(path.string());
  if (it != entries_.end() && it->is_object() && it->value("key", "") == key && it->contains("document")) {
    return manifest_from_document((*it)["document"], path, expected_name);
  }
  auto text = read_file(path);
  if (!text) throw invalid("cannot read manifest " + path.string());
  Json document = yaml_to_json(*text, path.string());
  entries_[path.string()] = Json{{"key", key}, {"document", document}};
  changed_ = true;
  return manifest_from_document(std::move(document), path, expected_name);
}

void ManifestCache::save() const {
  if (!changed_) return;
  try {
    create_private_folders(file_.parent_path());
    write_file_atomically(file_, entries_.dump());
  } catch (const std::exception&) {
    // A cache that cannot be written is only slower next time.
  }
}

std::string unsafe_file_reason(const fs::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return "cannot stat " + path.string();
  if (S_ISLNK(info.st_mode)) return path.string() + " is a symbolic link; a drop-in must be a regular file (copy it instead)";
  if (auto reason = writable_by_others(info, path.string()); !reason.empty()) return reason;
  fs::path folder = path.parent_path();
  if (::stat(folder.c_str(), &info) != 0) return "cannot stat " + folder.string();
  return writable_by_others(info, "folder " + folder.string());
}


int open_module_library(const fs::path& path, bool dropin) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (error == ELOOP) throw invalid(path.string() + " is a symbolic link; a provider must be a regular file (copy it instead)");
    throw invalid("cannot open " + path.string() + ": " + std::strerror(error));
  }
  auto refuse = [&](const std::string& reason) {
    ::close(fd);
    return invalid(reason);
  };
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) throw refuse(path.string() + " is not a regular file");
  if (!dropin) return fd;
  if (auto reason = writable_by_others(info, path.string()); !reason.empty()) throw refuse(reason);
  // The folders of the file as opened (not as named): whoever can write one can rename the
  // file away and put another in its place before the next load.
  std::error_code error;
  fs::path real = fs::read_symlink("/proc/self/fd/" + std::to_string(fd), error);
  if (error) throw refuse("cannot resolve the real path of " + path.string() + ": " + error.message());
  for (fs::path folder = real.parent_path(); !folder.empty(); folder = folder.parent_path()) {
    struct stat folder_info {};
    if (::stat(folder.c_str(), &folder_info) != 0) throw refuse("cannot stat " + folder.string());
    if (auto reason = writable_by_others(folder_info, "folder " + folder.string()); !reason.empty()) throw refuse(reason);
    if (folder == folder.root_path()) break;
  }
  return fd;
}

std::optional<ApiVersion> parse_api_version(const std::string& text) {
  size_t dot = text.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= text.size() || text.size() > 12) return std::nullopt;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i != dot && (text[i] < '0' || text[i] > '9')) return std::nullopt;
  }
  return ApiVersion{std::stoi(text.substr(0, dot)), std::stoi(text.substr(dot + 1))};
}

std::string to_string(ApiVersion version) {
  return std::to_string(version.major) + "." + std::to_string(version.minor);
}

std::string api_version_mismatch(ApiVersion module, ApiVersion host) {
  if (module.major != host.major) {
    return "built for SDK API " + to_string(module) + ", but this berth speaks " + to_string(host) +
           " (a different major version): rebuild it against this berth's SDK";
  }
  if (module.minor > host.minor) {
    return "built for SDK API " + to_string(module) + ", newer than this berth's " + to_string(host) +
           ": upgrade berth or rebuild it against this SDK";
  }
  return "";
}

}  // namespace berth
