# Shared compile settings: warnings as errors on our code, optional sanitizers.
add_library(berth_settings INTERFACE)
target_compile_options(berth_settings INTERFACE -Wall -Wextra -Werror -Wno-error=deprecated-declarations)
# GCC 12 reports std::string internals as overflows at -O3 (GCC bugs 105329, 105651):
# false positives inside libstdc++, not in our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(berth_settings INTERFACE -Wno-stringop-overflow -Wno-restrict -Wno-array-bounds)
endif()
if(BERTH_SANITIZE)
  target_compile_options(berth_settings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(berth_settings INTERFACE -fsanitize=address,undefined)
endif()

# Builds a provider or plugin module exactly as a third party would: against the SDK only,
# with hidden symbols but the entry points, and with its manifest copied beside the .so.
function(berth_add_module kind name)
  cmake_parse_arguments(ARG "" "MANIFEST" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE berth::sdk berth_settings)
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(kind STREQUAL "provider")
    set(out ${BERTH_PROVIDER_OUTPUT_DIR})
    set(dest ${CMAKE_INSTALL_LIBDIR}/berth/providers)
  else()
    set(out ${BERTH_PLUGIN_OUTPUT_DIR})
    set(dest ${CMAKE_INSTALL_LIBDIR}/berth/plugins)
  endif()
  set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${out})
  configure_file(${ARG_MANIFEST} ${out}/${name}.yaml COPYONLY)
  install(TARGETS ${name} LIBRARY DESTINATION ${dest})
  install(FILES ${out}/${name}.yaml DESTINATION ${dest})
endfunction()
