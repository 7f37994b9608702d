#include "output.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>

namespace berth::cli {

void print_table(const Row& headings, const std::vector<Row>& rows) {
  std::vector<size_t> widths(headings.size());
  for (size_t i = 0; i < headings.size(); ++i) widths[i] = headings[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&](const Row& row) {
    std::string line;
    for (size_t i = 0; i < headings.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < headings.size()) line += std::string(widths[i] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << '\n';
  };
  print_row(headings);
  for (const auto& row : rows) print_row(row);
  std::cout.flush();
}

void print_document(Session& session, const Json& json) {
  if (session.format() == OutputFormat::yaml) {
    std::cout << json_to_yaml(json);
  } else {
    std::cout << json.dump(2) << '\n';
  }
  std::cout.flush();
}

namespace {
// Written by the SIGINT handler, so it is prepared before: a handler may only write(2) and _exit.
char interrupt_note[1024];
size_t interrupt_note_size = 0;

void on_interrupt(int) {
  ssize_t ignored = ::write(2, interrupt_note, interrupt_note_size);
  (void)ignored;
  ::_exit(130);
}
}  // namespace

Progress::Progress(Session& session, std::string title, const std::string& on_interrupt_text)
    : terminal_(::isatty(2) == 1), quiet_(session.options.quiet), title_(std::move(title)) {
  if (!on_interrupt_text.empty()) {
    std::string note = "\nberth: interrupted; " + on_interrupt_text + "\n";
    interrupt_note_size = std::min(note.size(), sizeof interrupt_note);
    std::memcpy(interrupt_note, note.data(), interrupt_note_size);
    ::signal(SIGINT, on_interrupt);
    catches_interrupt_ = true;
  }
  if (terminal_ && !quiet_) {
    ticker_ = std::thread([this] {
      while (!done_) {
        {
          std::lock_guard lock(mutex_);
          if (!done_) draw(false);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
}

Progress::~Progress() { finish(); }

void Progress::draw(bool clear_only) {
  static const char* frames[] = {"|", "/", "-", "\\"};
  std::cerr << "\r\033[K";
  if (!clear_only) std::cerr << frames[frame_++ % 4] << ' ' << title_ << "..." << std::flush;
}

void Progress::line(std::string_view text) {
  if (quiet_) return;
  std::lock_guard lock(mutex_);
  if (terminal_) {
    draw(true);
    std::cerr << "  " << text << '\n';
    draw(false);
  } else {
    std::cerr << text << '\n';
  }
  std::cerr.flush();
}

void Progress::finish() {
  if (done_.exchange(true)) return;
  if (catches_interrupt_) ::signal(SIGINT, SIG_DFL);
  if (ticker_.joinable()) ticker_.join();
  if (terminal_ && !quiet_) draw(true);
}

}  // namespace berth::cli
