#pragma once
// What a create or rebuild needs from the person at the CLI rather than from the server: the
// variables of their own environment that devcontainer.json names (${localEnv:X}), and their
// agreement before a repository runs a command on the server's machine (initializeCommand).
#include "session.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::cli {

// The variables named by ${localEnv:X} (or ${env:X}) in the repository's definitions, with their
// values in this process's environment, plus those named by --local-env; unset ones and berth's
// own (BERTH_*) are left out
// (the server substitutes "" or the default). The definitions are read with git from a
// repository on this machine (HEAD, as the server clones it); a URL's are not readable here, so
// only the --local-env ones go. Returns the JSON object text for options["local_env"], or "".
std::string local_env_option(const std::string& repository, const std::string& devcontainer, const std::vector<std::string>& named);

// What the record of a create or rebuild refused for want of agreement says (provider_data
// berth.consent): the command, where it is written, the repository. nullopt for any other failure.
struct ConsentQuestion {
  std::string file, command, repository;
  int line = 0;
};
std::optional<ConsentQuestion> consent_question(const Workspace& workspace);
// The same, from the server's record of name; nullopt when there is none to read (a request
// refused before any record, a server gone).
std::optional<ConsentQuestion> asked_consent(Api& api, const std::string& name);

// Shows the question on the terminal and reads the answer: true for y/yes. False, without
// asking, when stdin or stderr is not a terminal.
bool ask_consent(const ConsentQuestion& question);

}  // namespace berth::cli
