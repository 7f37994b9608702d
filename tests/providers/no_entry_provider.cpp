// A shared library that is not a provider: it exports no berth entry point.
extern "C" __attribute__((visibility("default"))) int something_else() { return 42; }
