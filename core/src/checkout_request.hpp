#pragma once
// What a create asks of its repository's clone, as the CLI reads it and the server checks it:
// the options branch, new_branch, commit and ref (berth/git_checkout.hpp says what each does).
#include <berth/types.hpp>

#include <string>

namespace berth {

// Throws invalid naming the option and the rule: at most one of branch, commit and ref; a
// new_branch only with a branch; none without a repository; each value as git would take it
// (a branch name by git's rules, a ref under refs/, a commit of 4 to 64 hexadecimal digits).
void check_checkout_options(const StringMap& options, const std::string& repository);

// DevPod's shorthands: URL@BRANCH, and URL#REF where REF is refs/..., pull/N/head (for
// refs/pull/N/head) or a commit. The '@' or '#' must be in the last part of the path (so
// git@host:org/repo is a plain URL). Puts branch, ref or commit into options and returns the
// URL without it; a repository without a shorthand is returned as it is.
std::string take_checkout_shorthand(const std::string& repository, StringMap& options);

}  // namespace berth
