#include "output.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>

namespace berth::cli {

namespace {
// The terminal's width when standard output is one; 0 otherwise (a pipe gets whole lines).
size_t terminal_columns() {
  winsize size{};
  if (::isatty(1) != 1 || ::ioctl(1, TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}
}  // namespace

void print_table(const Row& headings, const std::vector<Row>& rows, int state_column, bool colour) {
  std::vector<size_t> widths(headings.size());
  for (size_t i = 0; i < headings.size(); ++i) widths[i] = headings[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  // On a terminal narrower than the table, the widest columns give way (cells cut with '~').
  if (size_t columns = terminal_columns(); columns > 0) {
    constexpr size_t kNarrowest = 8;
    auto total = [&] {
      size_t sum = 2 * (widths.size() - 1);
      for (size_t width : widths) sum += width;
      return sum;
    };
    while (total() > columns) {
      auto widest = std::max_element(widths.begin(), widths.end());
      if (*widest <= kNarrowest) break;
      *widest -= std::min(total() - columns, *widest - kNarrowest);
    }
  }
  auto paint = [](const std::string& cell) {
    const char* code = cell.rfind("started", 0) == 0 && cell.find('(') == std::string::npos ? "32"
                       : cell.rfind("error", 0) == 0                                        ? "31"
                       : cell.rfind("stopped", 0) == 0 && cell.find('(') == std::string::npos ? "2"
                                                                                            : "33";
    return std::string("\033[") + code + "m" + cell + "\033[0m";
  };
  bool heading = true;
  auto print_row = [&](const Row& row) {
    std::string line;
    for (size_t i = 0; i < headings.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      if (cell.size() > widths[i]) cell = cell.substr(0, widths[i] - 1) + "~";
      size_t width = cell.size();
      line += colour && !heading && static_cast<int>(i) == state_column ? paint(cell) : cell;
      if (i + 1 < headings.size()) line += std::string(widths[i] - width + 2, ' ');
    }
    heading = false;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << '\n';
  };
  print_row(headings);
  for (const auto& row : rows) print_row(row);
  std::cout.flush();
}

std::string when(const std::string& rfc3339) {
  if (terminal_columns() == 0) return rfc3339;
  std::tm parts{};
  if (::strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &parts) == nullptr) return rfc3339;
  long long seconds = static_cast<long long>(std::time(nullptr) - ::timegm(&parts));
  if (seconds < 0) return rfc3339;
  auto ago = [](long long count, const char* unit) {
    return std::to_string(count) + " " + unit + (count == 1 ? "" : "s") + " ago";
  };
  if (seconds < 60) return "just now";
  if (seconds < 3600) return ago(seconds / 60, "minute");
  if (seconds < 86400) return ago(seconds / 3600, "hour");
  return ago(seconds / 86400, "day");
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
