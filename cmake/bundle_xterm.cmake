cmake_minimum_required(VERSION 3.16)
# Makes one browser script of Debian's node-xterm (xterm.js 3.8.1 as CommonJS modules).
# Debian bookworm's libjs-xterm ships /usr/share/javascript/xterm/xterm.js as a 288-byte stub
# that calls require("./public/Terminal"), so it cannot load in a browser; node-xterm has the
# real modules. This wraps each of them in a function and adds a tiny require (no eval, so the
# dashboard's CSP holds). The result defines the global Terminal, with the fit addon applied.
#   cmake -DXTERM_LIB=/usr/share/nodejs/xterm/lib -DOUTPUT=.../vendor/xterm/xterm.js -P bundle_xterm.cmake
if(NOT XTERM_LIB OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DXTERM_LIB=DIR -DOUTPUT=FILE -P bundle_xterm.cmake")
endif()
if(NOT EXISTS "${XTERM_LIB}/public/Terminal.js")
  message(FATAL_ERROR "${XTERM_LIB}/public/Terminal.js not found: install node-xterm (apt-get install node-xterm)")
endif()
file(GLOB_RECURSE modules RELATIVE "${XTERM_LIB}" "${XTERM_LIB}/*.js")
list(FILTER modules EXCLUDE REGEX "\\.test\\.js$")
list(FILTER modules EXCLUDE REGEX "^addons/")
list(APPEND modules "addons/fit/fit.js")
list(SORT modules)
set(text "/* xterm.js 3.8.1 (MIT, Debian node-xterm), bundled by berth's build for the browser. */\n(function (global) {\n  var defs = {}, cache = {};\n")
foreach(module IN LISTS modules)
  file(READ "${XTERM_LIB}/${module}" body)
  string(REGEX REPLACE "//# sourceMappingURL=[^\n]*" "" body "${body}")
  string(APPEND text "defs['${module}'] = function (require, module, exports) {\n${body}\n};\n")
endforeach()
string(APPEND text [=[
  function resolve(from, spec) {
    var parts = from.split('/');
    parts.pop();
    spec.split('/').forEach(function (part) {
      if (part === '..') parts.pop(); else if (part !== '.' && part !== '') parts.push(part);
    });
    var path = parts.join('/');
    if (defs[path + '.js']) return path + '.js';
    if (defs[path + '/index.js']) return path + '/index.js';
    throw new Error('xterm bundle: cannot find ' + spec + ' from ' + from);
  }
  function load(path) {
    if (cache[path]) return cache[path].exports;
    var module = { exports: {} };
    cache[path] = module;
    defs[path].call(module.exports, function (spec) { return load(resolve(path, spec)); }, module, module.exports);
    return module.exports;
  }
  var Terminal = load('xterm.js');
  Terminal.applyAddon(load('addons/fit/fit.js'));
  global.Terminal = Terminal;
})(typeof self !== 'undefined' ? self : this);
]=])
file(WRITE "${OUTPUT}" "${text}")
