// berth prune: deletes stopped or errored workspaces whose last change is older than a duration.
#include <berth/plugin.hpp>

#include <ctime>
#include <istream>
#include <ostream>
#include <stdexcept>

namespace {

long long parse_duration(const std::string& text) {
  if (text.empty()) throw std::invalid_argument("empty duration");
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) throw std::invalid_argument("duration '" + text + "' must start with a number");
  long long amount = std::stoll(text.substr(0, digits));
  std::string unit = text.substr(digits);
  if (unit.empty() || unit == "s") return amount;
  if (unit == "m") return amount * 60;
  if (unit == "h") return amount * 3600;
  if (unit == "d") return amount * 86400;
  if (unit == "w") return amount * 7 * 86400;
  throw std::invalid_argument("duration '" + text + "' has unknown unit '" + unit + "' (use s, m, h, d or w)");
}

long long seconds_since(const std::string& rfc3339) {
  std::tm utc{};
  const char* end = strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  if (end == nullptr || *end != '\0') return -1;
  return static_cast<long long>(std::time(nullptr)) - static_cast<long long>(timegm(&utc));
}

class Quiet : public berth::ProgressSink {
 public:
  void line(std::string_view) override {}
};

class Prune : public berth::Plugin {
 public:
  int run(berth::Context& context, const std::string&, const std::vector<std::string>& args) override {
    long long older_than = 7LL * 86400;
    std::string older_than_text = "7d";  // as the user wrote it, for messages
    bool dry_run = false;
    bool yes = false;
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg == "--dry-run") {
        dry_run = true;
      } else if (arg == "--yes" || arg == "-y") {
        yes = true;
      } else if (arg == "--older-than" && i + 1 < args.size()) {
        older_than_text = args[++i];
        older_than = duration_or_usage(context, older_than_text);
        if (older_than < 0) return 2;
      } else if (arg.rfind("--older-than=", 0) == 0) {
        older_than_text = arg.substr(13);
        older_than = duration_or_usage(context, older_than_text);
        if (older_than < 0) return 2;
      } else {
        context.err() << "berth prune: unknown argument '" << arg << "' (see berth prune --help)\n";
        return 2;
      }
    }

    std::vector<berth::Workspace> doomed;
    for (const auto& w : context.api().list_workspaces()) {
      bool idle = w.operation.empty() && (w.state == berth::WorkspaceState::stopped || w.state == berth::WorkspaceState::error);
      long long age = seconds_since(w.updated_at);
      if (idle && age >= older_than) doomed.push_back(w);
    }
    if (doomed.empty()) {
      context.out() << "nothing to prune: no stopped or errored workspace is older than " << older_than_text << "\n";
      return 0;
    }
    std::string names;
    for (const auto& w : doomed) names += (names.empty() ? "" : ", ") + w.name + " (" + berth::to_string(w.state) + ")";
    if (dry_run) {
      context.out() << "would delete " << doomed.size() << " workspace(s): " << names << '\n';
      return 0;
    }
    if (!yes) {
      context.err() << "Delete " << doomed.size() << " workspace(s): " << names << "? [y/N] " << std::flush;
      std::string answer;
      std::getline(context.in(), answer);
      if (answer != "y" && answer != "Y" && answer != "yes") {
        bool unanswered = answer.empty() && !context.interactive();
        context.err() << (unanswered ? "\nnothing deleted: there was no terminal to answer; add --yes to delete them\n"
                                     : "nothing deleted\n");
        return 1;
      }
    }
    int failures = 0;
    for (const auto& w : doomed) {
      try {
        Quiet quiet;
        context.api().delete_workspace(w.name, w.state == berth::WorkspaceState::error, &quiet);
        context.out() << "deleted " << w.name << '\n';
      } catch (const std::exception& error) {
        context.err() << "could not delete " << w.name << ": " << error.what() << '\n';
        ++failures;
      }
    }
    return failures == 0 ? 0 : 1;
  }

 private:
  static long long duration_or_usage(berth::Context& context, const std::string& text) {
    try {
      return parse_duration(text);
    } catch (const std::exception& error) {
      context.err() << "berth prune: --older-than: " << error.what() << '\n';
      return -1;
    }
  }
};

}  // namespace

BERTH_PLUGIN(Prune)
