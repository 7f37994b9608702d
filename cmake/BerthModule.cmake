# berth_add_provider(NAME MANIFEST file.yaml SOURCES a.cpp ...)
# berth_add_plugin(NAME MANIFEST file.yaml SOURCES a.cpp ...)
# Builds NAME.so against berth::sdk with only the entry points exported, and puts the manifest
# beside it as NAME.yaml: the two files to drop into berth's providers/ or plugins/ folder.
function(berth_add_provider name)
  _berth_add_module(${name} ${ARGN})
endfunction()

function(berth_add_plugin name)
  _berth_add_module(${name} ${ARGN})
endfunction()

function(_berth_add_module name)
  cmake_parse_arguments(ARG "" "MANIFEST" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE berth::sdk)
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  get_target_property(out ${name} LIBRARY_OUTPUT_DIRECTORY)
  if(NOT out)
    set(out ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  configure_file(${ARG_MANIFEST} ${out}/${name}.yaml COPYONLY)
endfunction()
