// berth doctor: is the server reachable, is each provider loaded, is each target valid against
// its provider's manifest and its infrastructure reachable, is the home private.
#include <berth/plugin.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <ostream>

namespace fs = std::filesystem;

namespace {

struct Finding {
  std::string kind;
  std::string name;
  bool ok;
  std::string message;
};

std::string json_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The target's properties against the provider's manifest (secrets arrive masked).
std::string manifest_problem(const berth::Target& target, const berth::ProviderInfo& provider) {
  for (const auto& [name, value] : target.properties) {
    if (name == berth::target_timeout_property) continue;
    const std::string& wanted = name;  // a lambda may not capture a structured binding before C++20's P1091 (clang 14)
    auto spec = std::find_if(provider.target_manifest.begin(), provider.target_manifest.end(),
                             [&](const berth::PropertySpec& s) { return s.name == wanted; });
    if (spec == provider.target_manifest.end()) return "property '" + name + "' is not known to provider '" + provider.name + "'";
    if (spec->type == berth::PropertyType::enumeration &&
        std::find(spec->choices.begin(), spec->choices.end(), value) == spec->choices.end()) {
      return "property '" + name + "' has a value outside its choices";
    }
    if (spec->type == berth::PropertyType::boolean && value != "true" && value != "false") return "property '" + name + "' is not a bool";
  }
  for (const auto& spec : provider.target_manifest) {
    if (spec.required && !target.properties.count(spec.name)) return "required property '" + spec.name + "' is missing";
  }
  return "";
}

void check_home(const std::string& home, std::vector<Finding>& findings) {
  struct stat info {};
  if (::stat(home.c_str(), &info) != 0) {
    findings.push_back({"home", home, false, "cannot read it"});
    return;
  }
  if (info.st_mode & 077) {
    findings.push_back({"home", home, false, "is readable or writable by others (mode " + std::to_string(info.st_mode & 0777) +
                                                  " octal " + [&] { char b[8]; snprintf(b, sizeof b, "%o", info.st_mode & 0777); return std::string(b); }() +
                                                  "): chmod 700 " + home});
  } else {
    findings.push_back({"home", home, true, "private (0700)"});
  }
  fs::path socket = fs::path(home) / "berth.sock";
  if (::stat(socket.c_str(), &info) == 0 && (info.st_mode & 0777) != 0600) {
    findings.push_back({"home", socket.string(), false, "the socket should be 0600"});
  }
  for (const char* folder : {"providers", "plugins"}) {
    fs::path path = fs::path(home) / folder;
    if (::stat(path.c_str(), &info) == 0 && (info.st_mode & S_IWOTH)) {
      findings.push_back({"home", path.string(), false, "is writable by every user, so drop-ins there are refused: chmod o-w " + path.string()});
    }
  }
}

class Doctor : public berth::Plugin {
 public:
  int run(berth::Context& context, const std::string&, const std::vector<std::string>& args) override {
    if (!args.empty()) {
      context.err() << "berth doctor takes no arguments\n";
      return 2;
    }
    std::vector<Finding> findings;
    std::vector<berth::ProviderStatus> providers;
    bool server_ok = false;
    try {
      findings.push_back({"server", "berth serve", true, "reachable, version " + context.api().server_version()});
      server_ok = true;
      providers = context.providers();
    } catch (const std::exception& error) {
      findings.push_back({"server", "berth serve", false, error.what()});
    }
    for (const auto& provider : providers) {
      findings.push_back({"provider", provider.info.name, !provider.broken,
                          provider.broken ? "broken: " + provider.reason
                                          : "loaded, " + provider.info.version + " (" + provider.location + ")"});
    }
    if (server_ok) {
      for (const auto& target : context.api().list_targets()) {
        auto provider = std::find_if(providers.begin(), providers.end(),
                                     [&](const berth::ProviderStatus& p) { return p.info.name == target.provider && !p.broken; });
        if (provider == providers.end()) {
          findings.push_back({"target", target.name, false, "its provider '" + target.provider + "' is not loaded"});
          continue;
        }
        std::string problem = manifest_problem(target, provider->info);
        if (!problem.empty()) {
          findings.push_back({"target", target.name, false, problem});
          continue;
        }
        berth::TargetCheck check = context.api().check_target(target.name);
        findings.push_back({"target", target.name, check.ok, check.message});
      }
    }
    check_home(context.home_dir(), findings);

    bool all_ok = std::all_of(findings.begin(), findings.end(), [](const Finding& f) { return f.ok; });
    if (context.output_format() == berth::OutputFormat::table) {
      for (const auto& f : findings) {
        context.out() << (f.ok ? "[ok]   " : "[FAIL] ") << f.kind << std::string(10 - std::min<size_t>(9, f.kind.size()), ' ') << f.name
                      << ": " << f.message << '\n';
      }
      context.out() << (all_ok ? "everything looks fine\n" : "some checks failed: see [FAIL] above\n");
    } else {
      // JSON is also valid YAML, so one form serves both -o json and -o yaml.
      context.out() << "{\"ok\": " << (all_ok ? "true" : "false") << ", \"checks\": [";
      for (size_t i = 0; i < findings.size(); ++i) {
        const auto& f = findings[i];
        context.out() << (i ? ", " : "") << "{\"kind\": \"" << json_escape(f.kind) << "\", \"name\": \"" << json_escape(f.name)
                      << "\", \"ok\": " << (f.ok ? "true" : "false") << ", \"message\": \"" << json_escape(f.message) << "\"}";
      }
      context.out() << "]}\n";
    }
    return all_ok ? 0 : 1;
  }
};

}  // namespace

BERTH_PLUGIN(Doctor)
