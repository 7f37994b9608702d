# Shared compile settings: warnings (as errors in CI and developer builds), optional sanitizers.
add_library(berth_settings INTERFACE)
target_compile_options(berth_settings INTERFACE -Wall -Wextra)
if(BERTH_WERROR)
  target_compile_options(berth_settings INTERFACE -Werror -Wno-error=deprecated-declarations)
endif()
# GCC 12 reports std::string internals as overflows at -O3 (GCC bugs 105329, 105651):
# false positives inside libstdc++, not in our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(berth_settings INTERFACE -Wno-stringop-overflow -Wno-restrict -Wno-array-bounds)
endif()
if(BERTH_TSAN)
  target_compile_options(berth_settings INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  # Asio's fenced blocks are std::atomic_thread_fence, which TSan does not model (GCC warns:
  # -Wtsan); its queues are under mutexes, which TSan does see. Everywhere, for one definition.
  target_compile_definitions(berth_settings INTERFACE BOOST_ASIO_DISABLE_FENCED_BLOCK)
  target_link_options(berth_settings INTERFACE -fsanitize=thread)
endif()
if(BERTH_SANITIZE)
  target_compile_options(berth_settings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(berth_settings INTERFACE -fsanitize=address,undefined)
endif()

# berth's own providers and plugins, built with the very functions a third party uses
# (cmake/BerthModule.cmake, installed with the SDK), plus berth's warnings.
include(${CMAKE_CURRENT_LIST_DIR}/BerthModule.cmake)
function(berth_add_module kind name)
  if(kind STREQUAL "provider")
    berth_add_provider(${name} ${ARGN} OUTPUT_DIRECTORY ${BERTH_PROVIDER_OUTPUT_DIR}
                       DESTINATION ${CMAKE_INSTALL_LIBDIR}/berth/providers)
  else()
    berth_add_plugin(${name} ${ARGN} OUTPUT_DIRECTORY ${BERTH_PLUGIN_OUTPUT_DIR}
                     DESTINATION ${CMAKE_INSTALL_LIBDIR}/berth/plugins)
  endif()
  target_link_libraries(${name} PRIVATE berth_settings)
endfunction()
