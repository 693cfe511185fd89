# llhttp, the HTTP/1.1 parser, built from the C sources Debian's node-llhttp
# package installs (scripts/bootstrap installs it; Debian ships no shared
# library of it). Strict mode: the lenient paths are compiled out.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp /usr/include/llhttp
          NO_DEFAULT_PATH)
find_path(LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp NO_DEFAULT_PATH)
if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_SOURCE_DIR)
  message(FATAL_ERROR "llhttp sources not found: install the node-llhttp package (scripts/bootstrap)")
endif()
add_library(llhttp STATIC ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c
                          ${LLHTTP_SOURCE_DIR}/llhttp.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
target_compile_definitions(llhttp PUBLIC LLHTTP_STRICT_MODE=1)
# Generated code we do not edit: our warning flags are not its standard.
target_compile_options(llhttp PRIVATE -w)
