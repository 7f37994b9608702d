#include "plugin_manifest.hpp"

#include "errors.hpp"
#include "home.hpp"
#include "names.hpp"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <optional>
#include <variant>

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace berth {
namespace {

using Step = std::variant<std::string, size_t>;

// The line of the node at steps in the manifest (0 when it cannot be told): only read again
// when something is wrong, so a good manifest is parsed once.
int line_of(const fs::path& path, const std::vector<Step>& steps) {
  try {
    YAML::Node node = YAML::LoadFile(path.string());
    YAML::Mark mark = node.Mark();
    for (const auto& step : steps) {
      if (const auto* key = std::get_if<std::string>(&step)) {
        if (!node.IsMap()) break;
        bool found = false;
        for (const auto& item : node) {
          if (item.first.IsScalar() && item.first.Scalar() == *key) {
            mark = item.first.Mark();
            node = item.second;
            found = true;
            break;
          }
        }
        if (!found) break;
      } else {
        size_t index = std::get<size_t>(step);
        if (!node.IsSequence() || index >= node.size()) break;
        node = node[index];
        mark = node.Mark();
      }
    }
    return mark.line + 1;
  } catch (const std::exception&) {
    return 0;
  }
}

std::string dotted(const std::vector<Step>& steps) {
  std::string text;
  for (const auto& step : steps) {
    if (const auto* key = std::get_if<std::string>(&step)) {
      text += (text.empty() ? "" : ".") + *key;
    } else {
      text += "[" + std::to_string(std::get<size_t>(step)) + "]";
    }
  }
  return text;
}

class Reader {
 public:
  Reader(const fs::path& path, std::string name) : path_(path), name_(std::move(name)) {}

  [[noreturn]] void fail(const std::vector<Step>& at, const std::string& what) const {
    int line = line_of(path_, at);
    throw invalid(path_.string() + (line > 0 ? ":" + std::to_string(line) : "") + ": " + dotted(at) + ": " + what);
  }

  const Json& map(const Json& value, const std::vector<Step>& at, std::initializer_list<const char*> keys) const {
    if (!value.is_object()) fail(at, "must be a map");
    for (const auto& [key, ignored] : value.items()) {
      bool known = false;
      std::string allowed;
      for (const char* name : keys) {
        known = known || key == name;
        allowed += (allowed.empty() ? "" : ", ") + std::string(name);
      }
      if (!known) fail(with(at, key), "unknown key (expected one of: " + allowed + ")");
    }
    return value;
  }

  std::string text(const Json& parent, const std::vector<Step>& at, const char* key, bool required) const {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) {
      if (required) fail(with(at, key), "is missing");
      return "";
    }
    if (!it->is_string() || it->get<std::string>().empty()) fail(with(at, key), "must be a non-empty string");
    const std::string& value = it->get_ref<const std::string&>();
    for (unsigned char c : value) {
      if (c < 0x20 || c == 0x7f) fail(with(at, key), "must not hold control characters");
    }
    if (value.size() > 200) fail(with(at, key), "is longer than 200 characters");
    return value;
  }

  // A path inside the plugin's folder: relative, no '..', no empty or hidden parts.
  std::string relative_path(const Json& parent, const std::vector<Step>& at, const char* key, bool required) const {
    std::string value = text(parent, at, key, required);
    if (value.empty()) return value;
    if (value.front() == '/') fail(with(at, key), "must be a path inside the plugin's folder, not an absolute one ('" + value + "')");
    for (const auto& part : fs::path(value)) {
      std::string piece = part.string();
      if (piece.empty() || piece == "." || piece == ".." || piece.front() == '.' || piece.find('\\') != std::string::npos) {
        fail(with(at, key), "must be a path inside the plugin's folder without '.', '..' or hidden parts ('" + value + "')");
      }
    }
    return fs::path(value).lexically_normal().string();
  }

  const Json& list(const Json& value, const std::vector<Step>& at) const {
    if (!value.is_array()) fail(at, "must be a list");
    return value;
  }

  static std::vector<Step> with(std::vector<Step> at, Step step) {
    at.push_back(std::move(step));
    return at;
  }

 private:
  fs::path path_;
  std::string name_;
};

// A whole number as YAML gives it (a scalar may arrive as a string); nullopt when it is not one.
std::optional<long> whole_number(const Json& value) {
  if (value.is_number_integer()) return value.get<long>();
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stol(text);
}

PluginTab read_tab(const Reader& reader, const Json& value, const std::vector<Step>& at, const std::string& default_root) {
  reader.map(value, at, {"title", "root", "src", "icon"});
  PluginTab tab{reader.text(value, at, "title", true), reader.relative_path(value, at, "root", default_root.empty()),
                reader.relative_path(value, at, "src", true), reader.relative_path(value, at, "icon", false)};
  if (tab.root.empty()) tab.root = default_root;
  return tab;
}

}  // namespace

const std::vector<std::string>& plugin_permission_names() {
  static const std::vector<std::string> names{"workspaces:read", "workspaces:write", "workspaces:exec", "targets:read",
                                              "targets:write",   "providers:read",   "logs:read",       "host-binaries"};
  return names;
}

namespace {

// One field of a cron line: '*', N, A-B, lists of those, each with an optional /STEP.
bool parse_cron_field(const std::string& text, int low, int high, std::vector<bool>& allowed) {
  allowed.assign(static_cast<size_t>(high + 1), false);
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string::npos) {
      std::string step_text = part.substr(slash + 1);
      if (step_text.empty() || step_text.size() > 2 || step_text.find_first_not_of("0123456789") != std::string::npos) return false;
      step = std::stoi(step_text);
      if (step < 1) return false;
      part = part.substr(0, slash);
    }
    int from = low, to = high;
    if (part != "*") {
      size_t dash = part.find('-');
      std::string a = part.substr(0, dash), b = dash == std::string::npos ? a : part.substr(dash + 1);
      for (const auto& number : {a, b}) {
        if (number.empty() || number.size() > 2 || number.find_first_not_of("0123456789") != std::string::npos) return false;
      }
      from = std::stoi(a);
      to = std::stoi(b);
      if (dash == std::string::npos && step > 1) to = high;  // N/STEP: from N on
      if (from < low || to > high || from > to) return false;
    }
    for (int value = from; value <= to; value += step) allowed[static_cast<size_t>(value)] = true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

}  // namespace

bool CronSchedule::matches(int minute, int hour, int day, int month, int weekday) const {
  return minutes[static_cast<size_t>(minute)] && hours[static_cast<size_t>(hour)] && days[static_cast<size_t>(day)] &&
         months[static_cast<size_t>(month)] && weekdays[static_cast<size_t>(weekday)];
}

std::optional<CronSchedule> parse_cron(const std::string& text, std::string& error) {
  std::vector<std::string> fields;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) fields.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  if (fields.size() != 5) {
    error = "must be five fields: minute hour day-of-month month day-of-week (for instance \"0 3 * * *\"), not '" + text.substr(0, 60) + "'";
    return std::nullopt;
  }
  CronSchedule schedule;
  schedule.text = text;
  const char* names[] = {"minute (0-59)", "hour (0-23)", "day of month (1-31)", "month (1-12)", "day of week (0-7, 0 and 7 are Sunday)"};
  std::vector<bool>* targets[] = {&schedule.minutes, &schedule.hours, &schedule.days, &schedule.months, &schedule.weekdays};
  int lows[] = {0, 0, 1, 1, 0}, highs[] = {59, 23, 31, 12, 7};
  for (size_t i = 0; i < 5; ++i) {
    if (!parse_cron_field(fields[i], lows[i], highs[i], *targets[i])) {
      error = "its " + std::string(names[i]) + " field '" + fields[i] + "' is not a number, range, list or step in range";
      return std::nullopt;
    }
  }
  if (schedule.weekdays[7]) schedule.weekdays[0] = true;
  return schedule;
}

PluginExtensions read_plugin_extensions(const Json& document, const fs::path& path, const std::string& name,
                                        const std::vector<std::string>& command_names) {
  Reader reader(path, name);
  PluginExtensions extensions;
  extensions.folder = path.parent_path() / name;
  for (const auto& [key, ignored] : document.items()) {
    static const std::set<std::string> known{"name",     "version",     "api_version", "min_berth_version", "description", "commands",
                                             "permissions", "ui",      "host",        "error_codes",       "service",     "routes",
                                             "jobs"};
    if (!known.count(key)) {
      reader.fail({key}, "unknown key (expected: name, version, api_version, min_berth_version, description, commands, permissions, "
                         "ui, host, error_codes, service, routes, jobs)");
    }
  }

  if (auto it = document.find("permissions"); it != document.end()) {
    extensions.scoped = true;
    if (!it->is_null()) {
      const auto& names = plugin_permission_names();
      size_t index = 0;
      for (const auto& permission : reader.list(*it, {"permissions"})) {
        std::string value = permission.is_string() ? permission.get<std::string>() : "";
        if (std::find(names.begin(), names.end(), value) == names.end()) {
          std::string allowed;
          for (const auto& known : names) allowed += (allowed.empty() ? "" : ", ") + known;
          reader.fail({"permissions", index}, "'" + (permission.is_string() ? value : permission.dump()) + "' is not a permission (one of: " + allowed + ")");
        }
        extensions.permissions.insert(value);
        ++index;
      }
    }
  }

  if (auto it = document.find("host"); it != document.end()) {
    const Json& host = reader.map(*it, {"host"}, {"binaries"});
    if (auto binaries = host.find("binaries"); binaries != host.end()) {
      size_t index = 0;
      for (const auto& binary : reader.list(*binaries, {"host", "binaries"})) {
        Json holder{{"path", binary}};
        std::vector<Step> at{"host", "binaries", index};
        if (!binary.is_string()) reader.fail(at, "must be a path in the plugin's folder (a string)");
        std::string relative = reader.relative_path(holder, {"host", "binaries"}, "path", true);
        PluginHostBinary entry{fs::path(relative).filename().string(), extensions.folder / relative};
        if (!is_valid_name(entry.name)) reader.fail(at, "the file's name must be lowercase letters, digits and '-' ('" + entry.name + "')");
        for (const auto& other : extensions.binaries) {
          if (other.name == entry.name) reader.fail(at, "a second binary named '" + entry.name + "'");
        }
        extensions.binaries.push_back(std::move(entry));
        ++index;
      }
    }
    if (!extensions.binaries.empty() && !extensions.permissions.count("host-binaries")) {
      reader.fail({"host", "binaries"}, "a plugin with host binaries must ask for the 'host-binaries' permission");
    }
  }

  if (auto it = document.find("ui"); it != document.end()) {
    const Json& ui = reader.map(*it, {"ui"}, {"dashboard-tab", "workspace-tab", "widgets", "menu", "row-actions"});
    std::string root;
    if (auto tab = ui.find("dashboard-tab"); tab != ui.end()) {
      extensions.dashboard_tabs.push_back(read_tab(reader, *tab, {"ui", "dashboard-tab"}, ""));
      root = extensions.dashboard_tabs.back().root;
    }
    if (auto tab = ui.find("workspace-tab"); tab != ui.end()) {
      extensions.workspace_tabs.push_back(read_tab(reader, *tab, {"ui", "workspace-tab"}, root));
      if (root.empty()) root = extensions.workspace_tabs.back().root;
    }
    if (auto widgets = ui.find("widgets"); widgets != ui.end()) {
      size_t index = 0;
      for (const auto& widget : reader.list(*widgets, {"ui", "widgets"})) {
        std::vector<Step> at{"ui", "widgets", index};
        reader.map(widget, at, {"location", "title", "root", "src", "height"});
        PluginWidget entry{reader.text(widget, at, "location", true), reader.text(widget, at, "title", true),
                           reader.relative_path(widget, at, "src", true), 160};
        if (entry.location != "home" && entry.location != "workspace") {
          reader.fail(Reader::with(at, "location"), "must be 'home' or 'workspace', not '" + entry.location + "'");
        }
        std::string own_root = reader.relative_path(widget, at, "root", root.empty());
        if (!own_root.empty() && own_root != root && !root.empty()) {
          reader.fail(Reader::with(at, "root"), "must be the ui's one root ('" + root + "')");
        }
        if (root.empty()) root = own_root;
        if (auto height = widget.find("height"); height != widget.end()) {
          auto pixels = whole_number(*height);
          if (!pixels || *pixels < 40 || *pixels > 1200) reader.fail(Reader::with(at, "height"), "must be a whole number of pixels from 40 to 1200");
          entry.height = static_cast<int>(*pixels);
        }
        extensions.widgets.push_back(std::move(entry));
        ++index;
      }
    }
    if (!extensions.dashboard_tabs.empty() && !extensions.workspace_tabs.empty() &&
        extensions.workspace_tabs.front().root != extensions.dashboard_tabs.front().root) {
      reader.fail({"ui", "workspace-tab", "root"}, "must be the ui's one root ('" + extensions.dashboard_tabs.front().root + "')");
    }
    if (auto menu = ui.find("menu"); menu != ui.end()) {
      size_t index = 0;
      for (const auto& entry : reader.list(*menu, {"ui", "menu"})) {
        std::vector<Step> at{"ui", "menu", index};
        reader.map(entry, at, {"title", "url"});
        PluginMenuEntry item{reader.text(entry, at, "title", true), reader.text(entry, at, "url", true)};
        if (item.url.rfind("https://", 0) != 0 && item.url.rfind("http://", 0) != 0) {
          reader.fail(Reader::with(at, "url"), "must be an http:// or https:// address");
        }
        extensions.menu.push_back(std::move(item));
        ++index;
      }
    }
    if (auto actions = ui.find("row-actions"); actions != ui.end()) {
      size_t index = 0;
      for (const auto& action : reader.list(*actions, {"ui", "row-actions"})) {
        std::vector<Step> at{"ui", "row-actions", index};
        reader.map(action, at, {"title", "binary", "args"});
        PluginRowAction entry{reader.text(action, at, "title", true), reader.text(action, at, "binary", true), {}};
        bool listed = std::any_of(extensions.binaries.begin(), extensions.binaries.end(), [&](const auto& b) { return b.name == entry.binary; });
        if (!listed) reader.fail(Reader::with(at, "binary"), "'" + entry.binary + "' is not one of host.binaries");
        if (auto args = action.find("args"); args != action.end()) {
          for (const auto& arg : reader.list(*args, Reader::with(at, "args"))) {
            if (!arg.is_string()) reader.fail(Reader::with(at, "args"), "must be a list of strings");
            entry.args.push_back(arg.get<std::string>());
          }
        }
        extensions.row_actions.push_back(std::move(entry));
        ++index;
      }
    }
    extensions.ui_root = root;
    if (!ui.empty() && !extensions.scoped) {
      reader.fail({"ui"}, "a plugin with a ui must list the 'permissions' it needs (an empty list is fine)");
    }
  }

  if (auto it = document.find("service"); it != document.end()) {
    const Json& service = reader.map(*it, {"service"}, {"path", "args", "env"});
    PluginService entry;
    entry.path = extensions.folder / reader.relative_path(service, {"service"}, "path", true);
    if (auto args = service.find("args"); args != service.end()) {
      for (const auto& arg : reader.list(*args, {"service", "args"})) {
        if (!arg.is_string()) reader.fail({"service", "args"}, "must be a list of strings");
        entry.args.push_back(arg.get<std::string>());
      }
    }
    if (auto env = service.find("env"); env != service.end()) {
      if (!env->is_object()) reader.fail({"service", "env"}, "must be a map of NAME: value");
      for (const auto& [key, value] : env->items()) {
        bool good = !key.empty() && key.size() < 100 && key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos &&
                    !std::isdigit(static_cast<unsigned char>(key[0])) && key.rfind("BERTH_", 0) != 0;
        if (!good) reader.fail({"service", "env", key}, "must be a variable name (letters, digits, '_'; not starting with BERTH_, which berth sets)");
        if (!value.is_string()) reader.fail({"service", "env", key}, "must be a string");
        entry.env.emplace_back(key, value.get<std::string>());
      }
    }
    if (!extensions.scoped) reader.fail({"service"}, "a plugin with a service must list the 'permissions' it needs (an empty list is fine)");
    extensions.service = std::move(entry);
  }

  if (auto it = document.find("routes"); it != document.end()) {
    if (!extensions.service) reader.fail({"routes"}, "routes are answered by the plugin's service: add a 'service' section");
    size_t index = 0;
    for (const auto& route : reader.list(*it, {"routes"})) {
      std::vector<Step> at{"routes", index};
      reader.map(route, at, {"method", "path"});
      PluginRoute entry{reader.text(route, at, "method", true), reader.text(route, at, "path", true)};
      static const std::set<std::string> methods{"GET", "POST", "PUT", "DELETE", "PATCH"};
      if (!methods.count(entry.method)) reader.fail(Reader::with(at, "method"), "must be GET, POST, PUT, DELETE or PATCH");
      static const std::set<std::string> taken{"token", "log", "exec", "enable", "disable", "service", "jobs"};
      std::string first = entry.path.size() > 1 ? entry.path.substr(1, entry.path.find('/', 1) - 1) : "";
      if (entry.path.front() != '/' || entry.path.find("..") != std::string::npos || entry.path.find_first_of("?#%\\ ") != std::string::npos || first.empty() ||
          taken.count(first)) {
        reader.fail(Reader::with(at, "path"), "must start with '/', hold no '..', '?', '#', '%' or spaces, and not begin with berth's own "
                                               "token, log, exec, enable, disable, service or jobs");
      }
      extensions.routes.push_back(std::move(entry));
      ++index;
    }
  }

  if (auto it = document.find("jobs"); it != document.end()) {
    size_t index = 0;
    for (const auto& job : reader.list(*it, {"jobs"})) {
      std::vector<Step> at{"jobs", index};
      reader.map(job, at, {"id", "schedule", "command", "timeout", "enabled"});
      PluginJob entry;
      entry.id = reader.text(job, at, "id", true);
      if (!is_valid_name(entry.id)) reader.fail(Reader::with(at, "id"), "must be lowercase letters, digits and '-'");
      for (const auto& other : extensions.jobs) {
        if (other.id == entry.id) reader.fail(Reader::with(at, "id"), "a second job named '" + entry.id + "'");
      }
      std::string error;
      auto schedule = parse_cron(reader.text(job, at, "schedule", true), error);
      if (!schedule) reader.fail(Reader::with(at, "schedule"), error);
      entry.schedule = std::move(*schedule);
      auto command = job.find("command");
      if (command == job.end()) reader.fail(Reader::with(at, "command"), "is missing");
      for (const auto& word : reader.list(*command, Reader::with(at, "command"))) {
        if (!word.is_string()) reader.fail(Reader::with(at, "command"), "must be a list of strings");
        entry.command.push_back(word.get<std::string>());
      }
      if (entry.command.empty()) reader.fail(Reader::with(at, "command"), "must name one of the plugin's commands or host binaries");
      bool own_command = std::find(command_names.begin(), command_names.end(), entry.command.front()) != command_names.end();
      bool own_binary = std::any_of(extensions.binaries.begin(), extensions.binaries.end(), [&](const auto& b) { return b.name == entry.command.front(); });
      if (!own_command && !own_binary) {
        reader.fail(Reader::with(at, "command"), "'" + entry.command.front() + "' is neither one of the plugin's commands nor one of its host binaries");
      }
      if (auto timeout = job.find("timeout"); timeout != job.end()) {
        auto seconds = whole_number(*timeout);
        if (!seconds || *seconds < 1 || *seconds > 86400) reader.fail(Reader::with(at, "timeout"), "must be a whole number of seconds from 1 to 86400");
        entry.timeout_seconds = static_cast<int>(*seconds);
      }
      if (auto enabled = job.find("enabled"); enabled != job.end()) {
        if (enabled->is_boolean()) {
          entry.enabled = enabled->get<bool>();
        } else if (enabled->is_string() && (*enabled == "true" || *enabled == "false")) {
          entry.enabled = *enabled == "true";
        } else {
          reader.fail(Reader::with(at, "enabled"), "must be true or false");
        }
      }
      extensions.jobs.push_back(std::move(entry));
      ++index;
    }
  }

  if (auto it = document.find("error_codes"); it != document.end()) {
    size_t index = 0;
    for (const auto& code : reader.list(*it, {"error_codes"})) {
      std::vector<Step> at{"error_codes", index};
      reader.map(code, at, {"code", "status", "message"});
      PluginErrorCode entry{reader.text(code, at, "code", true), 500, reader.text(code, at, "message", false)};
      if (!is_valid_name(entry.code)) reader.fail(Reader::with(at, "code"), "must be lowercase letters, digits and '-'");
      if (auto status = code.find("status"); status != code.end()) {
        auto number = whole_number(*status);
        if (!number || *number < 400 || *number > 599) reader.fail(Reader::with(at, "status"), "must be an HTTP error status, 400 to 599");
        entry.status = static_cast<int>(*number);
      }
      extensions.error_codes.push_back(std::move(entry));
      ++index;
    }
  }
  return extensions;
}

Json extensions_json(const PluginExtensions& extensions) {
  auto tab = [](const PluginTab& t) {
    Json json{{"title", t.title}, {"root", t.root}, {"src", t.src}};
    if (!t.icon.empty()) json["icon"] = t.icon;
    return json;
  };
  Json ui = Json::object();
  if (!extensions.dashboard_tabs.empty()) ui["dashboard-tab"] = tab(extensions.dashboard_tabs.front());
  if (!extensions.workspace_tabs.empty()) ui["workspace-tab"] = tab(extensions.workspace_tabs.front());
  if (!extensions.widgets.empty()) {
    ui["widgets"] = Json::array();
    for (const auto& w : extensions.widgets) ui["widgets"].push_back({{"location", w.location}, {"title", w.title}, {"src", w.src}, {"height", w.height}});
  }
  if (!extensions.menu.empty()) {
    ui["menu"] = Json::array();
    for (const auto& m : extensions.menu) ui["menu"].push_back({{"title", m.title}, {"url", m.url}});
  }
  if (!extensions.row_actions.empty()) {
    ui["row-actions"] = Json::array();
    for (const auto& a : extensions.row_actions) ui["row-actions"].push_back({{"title", a.title}, {"binary", a.binary}, {"args", a.args}});
  }
  if (!extensions.ui_root.empty()) ui["root"] = extensions.ui_root;
  Json binaries = Json::array();
  for (const auto& b : extensions.binaries) binaries.push_back(b.name);
  Json codes = Json::array();
  for (const auto& c : extensions.error_codes) codes.push_back({{"code", c.code}, {"status", c.status}, {"message", c.message}});
  Json json{{"ui", ui}, {"host_binaries", binaries}, {"error_codes", codes}};
  if (extensions.service) json["service"] = Json{{"path", extensions.service->path.filename().string()}};
  Json routes = Json::array();
  for (const auto& r : extensions.routes) routes.push_back({{"method", r.method}, {"path", r.path}});
  json["routes"] = routes;
  Json jobs = Json::array();
  for (const auto& j : extensions.jobs) {
    jobs.push_back({{"id", j.id}, {"schedule", j.schedule.text}, {"command", j.command}, {"timeout", j.timeout_seconds}, {"enabled", j.enabled}});
  }
  json["jobs"] = jobs;
  return json;
}

}  // namespace berth
