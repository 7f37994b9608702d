#pragma once
// Real parts for tests: temp homes, the real berth binary as a subprocess, a real server.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace berth::test {

// A fresh folder, removed at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

struct RunOptions {
  std::map<std::string, std::string> env;  // set (or, with an empty value, unset) for the child
  std::string stdin_data;
  std::filesystem::path workdir;
  std::filesystem::path output_file;  // spawn_program: stdout and stderr go here (else /dev/null)
  // run_program: a program still running then is killed, its threads' stacks (with gdb, when
  // installed) and the reason added to err, and exit_code is 124: a hang is a failure that says
  // where, before ctest's timeout kills the whole test silently.
  std::chrono::seconds deadline{150};
};

// What a running process is doing, for a test that found it stuck: each thread's stack (gdb
// attached in batch mode) or, without gdb, each thread's name and kernel wait channel.
std::string stacks_of(int pid);

// Runs a program and captures its output.
Result run_program(const std::vector<std::string>& argv, const RunOptions& options = {});

// A program on a new pseudo-terminal of 30 rows and 100 columns, driven as a person at a
// terminal would: type, wait for what it prints, resize the window.
class Terminal {
 public:
  Terminal(const std::vector<std::string>& argv, const RunOptions& options);
  ~Terminal();  // kills the program if it still runs
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  void type(const std::string& text);
  // Waits until text appears in the output at or after position from (any output there, for
  // an empty text); returns whether it did.
  bool wait_for(const std::string& text, size_t from, std::chrono::milliseconds deadline);
  // Changes the window size; the kernel sends SIGWINCH to the program, as a terminal emulator does.
  void resize(unsigned short rows, unsigned short columns);
  const std::string& output() const { return out_; }
  // Reads until the program closes the terminal, then waits for it (killed at the deadline).
  Result finish(std::chrono::milliseconds deadline);

 private:
  bool read_some(int timeout_ms);  // false at end of output
  pid_t pid_ = -1;
  int master_ = -1;
  std::string out_;
};

// Runs a program on a new pseudo-terminal, types input a line at a time once it has printed
// something (its prompt), and collects everything it printed until it exits or the deadline.
Result run_in_terminal(const std::vector<std::string>& argv, const RunOptions& options, const std::string& input,
                       std::chrono::milliseconds deadline);

// Polls condition until it holds or the deadline passes; returns whether it held.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline);

// The built berth binary, and where build outputs sit.
std::filesystem::path berth_binary();
std::filesystem::path build_dir();
std::filesystem::path source_dir();

// A home with its own `berth serve`, started in the foreground as a child of the test.
class ServerHome {
 public:
  enum class Start { now, later };
  explicit ServerHome(Start when = Start::now);
  ~ServerHome();

  const std::filesystem::path& home() const { return home_.path(); }
  // Runs `berth ARGS...` against this home (autostart off, so a dead server shows).
  Result berth(const std::vector<std::string>& args, const RunOptions& options = {}) const;
  // `berth target add -f -` with this YAML on standard input.
  Result add_target(const std::string& yaml) const;
  // Before start(): extra arguments for `berth serve`, and a file size limit (RLIMIT_FSIZE, bytes)
  // standing for a full disk.
  void set_serve_args(std::vector<std::string> args) { serve_args_ = std::move(args); }
  void set_file_size_limit(long bytes) { file_size_limit_ = bytes; }
  void start();                 // starts and waits for /v1/health
  void stop();                  // SIGTERM, waits for the exit
  void kill_hard();             // SIGKILL, waits for the exit
  int pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  std::string server_log() const;

 private:
  TempDir home_;
  int pid_ = -1;
  std::vector<std::string> serve_args_;
  long file_size_limit_ = 0;
};

// The pid of the berth-provider-host child of `server_pid` that serves library `library_stem`
// (its .so's base name), or 0.
int provider_host_pid(int server_pid, const std::string& library_stem);
// How many threads process pid has now (0 once it is gone).
size_t thread_count(int pid);

// Starts a program in the background with its output discarded (or in options.output_file);
// returns its pid.
int spawn_program(const std::vector<std::string>& argv, const RunOptions& options = {});
// Sends raw bytes over a Unix socket and returns what comes back before the server closes the
// connection or the deadline passes.
// enough, when given, ends the wait early once it holds for what came back so far.
std::string send_raw(const std::filesystem::path& socket, const std::string& request, std::chrono::milliseconds deadline,
                     const std::function<bool(const std::string&)>& enough = {});
// A TCP port on 127.0.0.1 that nobody listens on right now.
int free_tcp_port();

// Copies a provider library into home/providers/NAME.so and writes NAME.yaml beside it
// (no manifest when manifest is empty).
void drop_in_provider(const std::filesystem::path& home, const std::filesystem::path& library,
                      const std::string& name, const std::string& manifest);
std::string provider_manifest(const std::string& name, const std::string& version = "0.1.0",
                              const std::string& api_version = "1.5");
std::filesystem::path test_provider(const std::string& file_stem);  // built by tests/providers

// A git repository with one commit, made with the real git.
std::filesystem::path make_git_repo(const std::filesystem::path& where, const std::string& message);
// Commits everything in the repository at where (git add -A); throws when git fails.
void commit_all(const std::filesystem::path& where, const std::string& message);

std::string read_text(const std::filesystem::path& path);

}  // namespace berth::test
