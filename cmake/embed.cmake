# cds_embed(OUT files...): generate OUT, a C file holding each file's bytes as
# `cds_assets[]` (see core/assets.h), rebuilt whenever one of the files changes.
function(cds_embed out)
  set(files ${ARGN})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DROOT=${CMAKE_SOURCE_DIR} "-DFILES=${files}"
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_gen.cmake
    COMMENT "Embedding migrations and openapi.yaml"
    VERBATIM)
endfunction()
