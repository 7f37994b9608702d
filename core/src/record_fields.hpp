#pragma once
// Lenient readers of one member of a record's JSON (workspace, target, provider): what a record
// read back from YAML holds (every scalar a string) and what older records left out.
#include "codec.hpp"

#include <string>

namespace berth {

// A text member: "" when absent or null; a boolean or number as its text. Throws invalid naming
// the field for anything else.
std::string string_field(const Json& json, const char* key);
// A map of strings: {} when absent or null; booleans and numbers as text. Throws invalid naming
// the field (key.name) for anything else.
StringMap map_field(const Json& json, const char* key);
// true for a JSON true or the text "true"; false for anything else.
bool bool_field(const Json& json, const char* key);

}  // namespace berth
