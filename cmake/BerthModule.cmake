# berth_add_provider(NAME MANIFEST file.yaml SOURCES a.cpp ... [OUTPUT_DIRECTORY dir] [DESTINATION dir])
# berth_add_plugin(NAME MANIFEST file.yaml SOURCES a.cpp ... [OUTPUT_DIRECTORY dir] [DESTINATION dir])
# Builds NAME.so against berth::sdk with only the entry points exported, and puts the manifest
# beside it as NAME.yaml: the two files to drop into berth's providers/ or plugins/ folder.
# OUTPUT_DIRECTORY: where both go (default: the current binary folder); DESTINATION: where
# `cmake --install` puts both. berth's own providers and plugins are built with these too.
function(berth_add_provider name)
  _berth_add_module(${name} ${ARGN})
endfunction()

function(berth_add_plugin name)
  _berth_add_module(${name} ${ARGN})
endfunction()

function(_berth_add_module name)
  cmake_parse_arguments(ARG "" "MANIFEST;OUTPUT_DIRECTORY;DESTINATION" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE berth::sdk)
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set(out ${ARG_OUTPUT_DIRECTORY})
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${out})
  else()
    get_target_property(out ${name} LIBRARY_OUTPUT_DIRECTORY)
    if(NOT out)
      set(out ${CMAKE_CURRENT_BINARY_DIR})
    endif()
  endif()
  configure_file(${ARG_MANIFEST} ${out}/${name}.yaml COPYONLY)
  if(ARG_DESTINATION)
    install(TARGETS ${name} LIBRARY DESTINATION ${ARG_DESTINATION})
    install(FILES ${out}/${name}.yaml DESTINATION ${ARG_DESTINATION})
  endif()
endfunction()
