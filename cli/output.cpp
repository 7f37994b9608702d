#include "output.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>

namespace berth::cli {

namespace {
// The terminal's width when standard output is one: COLUMNS when it is a positive number (as
// ls and ps read it), else the window's; 0 when output is not a terminal (a pipe gets whole
// lines) or no width is known.
size_t terminal_columns() {
  if (::isatty(1) != 1) return 0;
  if (const char* columns = std::getenv("COLUMNS"); columns && *columns) {
    char* end = nullptr;
    long value = std::strtol(columns, &end, 10);
    if (*end == '\0' && value > 0) return static_cast<size_t>(value);
  }
  winsize size{};
  if (::ioctl(1, TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

// A cell cut to width with '~' where text was left out. A path or URL keeps its end (the
// repository's name), anything else its start.
std::string cut(const std::string& cell, size_t width) {
  if (cell.size() <= width) return cell;
  if (width == 0) return "";
  if (cell.find('/') != std::string::npos) return "~" + cell.substr(cell.size() - (width - 1));
  return cell.substr(0, width - 1) + "~";
}
}  // namespace

void print_table(const Row& all_headings, const std::vector<Row>& all_rows, const TableOptions& options) {
  std::vector<size_t> all_widths(all_headings.size());
  for (size_t i = 0; i < all_headings.size(); ++i) all_widths[i] = all_headings[i].size();
  for (const auto& row : all_rows) {
    for (size_t i = 0; i < row.size() && i < all_widths.size(); ++i) all_widths[i] = std::max(all_widths[i], row[i].size());
  }
  const size_t columns = terminal_columns();
  auto width_of = [&](const std::vector<bool>& shown) {
    size_t sum = 0, count = 0;
    for (size_t i = 0; i < all_widths.size(); ++i) {
      if (shown[i]) sum += all_widths[i], ++count;
    }
    return sum + (count > 0 ? 2 * (count - 1) : 0);
  };
  // On a terminal narrower than the table, the droppable columns go first.
  std::vector<bool> shown(all_headings.size(), true);
  for (size_t drop : options.droppable) {
    if (columns == 0 || width_of(shown) <= columns) break;
    if (drop < shown.size()) shown[drop] = false;
  }
  Row headings;
  std::vector<size_t> widths;
  int state_column = -1;
  for (size_t i = 0; i < all_headings.size(); ++i) {
    if (!shown[i]) continue;
    if (static_cast<int>(i) == options.state_column) state_column = static_cast<int>(headings.size());
    headings.push_back(all_headings[i]);
    widths.push_back(all_widths[i]);
  }
  std::vector<Row> rows;
  rows.reserve(all_rows.size());
  for (const auto& all_row : all_rows) {
    Row& row = rows.emplace_back();
    for (size_t i = 0; i < all_row.size() && i < shown.size(); ++i) {
      if (shown[i]) row.push_back(all_row[i]);
    }
  }
  const bool colour = options.colour;
  // Then the widest columns give way (cells cut with '~').
  if (columns > 0) {
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
      cell = cut(cell, widths[i]);
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
  if (::isatty(1) != 1) return rfc3339;
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
    // On a terminal the spinner's line is cleared and replaced; elsewhere the note starts a line.
    std::string note = std::string(terminal_ ? "\r\033[K" : "\n") + "berth: interrupted; " + on_interrupt_text + "\n";
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
