#pragma once
// CLI11's help groups subcommands by heading in time proportional to headings x subcommands,
// lowercasing through the locale at every comparison; with a heading per plugin that made
// `berth --help` grow by milliseconds. This formatter does one pass with the same output.
#include <CLI/CLI.hpp>

#include <map>
#include <sstream>

namespace berth::cli {

class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_subcommands(const CLI::App* app, CLI::AppFormatMode mode) const override {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const CLI::App*>> by_group;
    for (const CLI::App* sub : app->get_subcommands({})) {
      if (sub->get_name().empty() || sub->get_group().empty()) continue;  // hidden
      auto [it, fresh] = by_group.try_emplace(sub->get_group());
      if (fresh) order.push_back(sub->get_group());
      it->second.push_back(sub);
    }
    std::stringstream out;
    for (const auto& group : order) {
      out << "\n" << group << ":\n";
      for (const CLI::App* sub : by_group[group]) {
        if (mode == CLI::AppFormatMode::All) {
          out << sub->help(sub->get_name(), CLI::AppFormatMode::Sub) << "\n";
        } else {
          out << make_subcommand(sub);
        }
      }
    }
    return out.str();
  }
};

}  // namespace berth::cli
