#include "serve.hpp"

int main(int argc, char** argv) { return berth::server_main(argc, argv); }
