// berth report: counts the workspaces by state or provider, through the Context's API client.
#include <berth/plugin.hpp>

#include <map>
#include <ostream>

namespace {

class Report : public berth::Plugin {
 public:
  int run(berth::Context& context, const std::string&, const std::vector<std::string>& args) override {
    std::string by = "state";
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--by" && i + 1 < args.size()) {
        by = args[++i];
      } else {
        context.err() << "berth report: unknown argument '" << args[i] << "'\n";
        return 2;
      }
    }
    if (by != "state" && by != "provider") {
      context.err() << "berth report: --by must be state or provider\n";
      return 2;
    }
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& w : context.api().list_workspaces()) {
      groups[by == "state" ? berth::to_string(w.state) : w.provider].push_back(w.name);
    }
    if (context.output_format() != berth::OutputFormat::table) {
      context.out() << "{";
      bool first = true;
      for (const auto& [key, names] : groups) {
        context.out() << (first ? "" : ", ") << "\"" << key << "\": " << names.size();
        first = false;
      }
      context.out() << "}\n";
      return 0;
    }
    for (const auto& [key, names] : groups) {
      context.out() << key << ": " << names.size() << " (";
      for (size_t i = 0; i < names.size(); ++i) context.out() << (i ? ", " : "") << names[i];
      context.out() << ")\n";
    }
    if (groups.empty()) context.out() << "no workspaces\n";
    return 0;
  }
};

}  // namespace

BERTH_PLUGIN(Report)
