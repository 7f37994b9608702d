#pragma once
namespace berth::cli {
// The berth command line; returns the process exit code.
int run(int argc, char** argv);
}  // namespace berth::cli
