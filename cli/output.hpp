#pragma once
// How the CLI shows things: tables, JSON, YAML, and progress while an operation runs.
#include "codec.hpp"
#include "session.hpp"

#include <berth/io.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace berth::cli {

using Row = std::vector<std::string>;

// An RFC 3339 time as "3 minutes ago" on a terminal; as it is anywhere else.
std::string when(const std::string& rfc3339);

struct TableOptions {
  // With a state_column and colour (a terminal, no NO_COLOR), that column's workspace states
  // are coloured: started green, error red, an operation in progress yellow, stopped dim.
  int state_column = -1;
  bool colour = false;
  // Columns left out, in this order, while the table is wider than the terminal, before any
  // cell is cut: what can be looked up elsewhere (a workspace's provider is its target's).
  std::vector<size_t> droppable;
};
// Aligned columns; on a terminal the table fits its width (columns dropped, then the widest
// cut with '~'), on a pipe every line is whole.
void print_table(const Row& headings, const std::vector<Row>& rows, const TableOptions& options = {});
// Prints json as JSON or YAML per the session's format; table_printer is used for tables.
template <class TablePrinter>
void print_as(Session& session, const Json& json, TablePrinter table_printer);
void print_document(Session& session, const Json& json);

// Progress lines of a followed operation: a spinner and step lines on a terminal, plain lines
// otherwise, nothing when quiet.
class Progress : public ProgressSink {
 public:
  // on_interrupt: what Ctrl-C while it shows should tell the user (the operation goes on in
  // the server, and how to follow it); empty for nothing.
  Progress(Session& session, std::string title, const std::string& on_interrupt = "");
  ~Progress() override;
  void line(std::string_view text) override;
  void finish();

 private:
  void draw(bool clear_only);
  bool terminal_;
  bool quiet_;
  std::string title_;
  std::mutex mutex_;
  std::atomic<bool> done_{false};
  std::thread ticker_;
  int frame_ = 0;
  bool catches_interrupt_ = false;
};

template <class TablePrinter>
void print_as(Session& session, const Json& json, TablePrinter table_printer) {
  if (session.format() == OutputFormat::table) {
    table_printer();
  } else {
    print_document(session, json);
  }
}

}  // namespace berth::cli
