# cds_embed(OUT files...): generate OUT, a C file holding each file's bytes as
# `cds_assets[]` (see core/assets.h), rebuilt whenever one of the files changes.
function(cds_embed out)
  set(files ${ARGN})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DROOT=${CMAKE_SOURCE_DIR} "-DFILES=${files}"
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
    COMMENT "Embedding migrations, SQL functions, page templates and openapi.yaml"
    VERBATIM)
endfunction()

# cds_sql_functions(OUT names...): OUT = the paths of db/functions/<name>.sql in
# the order given; stops the configuration when a file of db/functions/ is not
# named (it would never run) or a named one is missing.
function(cds_sql_functions out)
  set(files "")
  foreach(name ${ARGN})
    set(f ${CMAKE_SOURCE_DIR}/db/functions/${name}.sql)
    if(NOT EXISTS ${f})
      message(FATAL_ERROR "SQL_FUNCTIONS names ${name}, but ${f} does not exist")
    endif()
    list(APPEND files ${f})
  endforeach()
  file(GLOB found CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/db/functions/*.sql)
  foreach(f ${found})
    if(NOT f IN_LIST files)
      message(FATAL_ERROR "${f} is not in SQL_FUNCTIONS (CMakeLists.txt): add it in its place")
    endif()
  endforeach()
  set(${out} ${files} PARENT_SCOPE)
endfunction()
