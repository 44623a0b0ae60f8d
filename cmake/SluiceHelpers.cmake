# Helpers that give every target the same shape:
#   sluice_library(<name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
#     -> target sluice_<name>, alias sluice::<name>, public include dir ./include
#   sluice_executable(<name> SOURCES ... [DEPS ...])
#   sluice_test(<name> LABEL unit|integration|e2e|kube SOURCES ... [DEPS ...] [TIMEOUT s])
#     -> a GoogleTest binary registered with ctest and labelled, so `ctest -L unit`
#        runs without any server. `kube` tests need the local Kubernetes control plane
#        (scripts/kube.sh), not the stack: `make kube` runs them.

set(SLUICE_WARNINGS -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # clang spells gcc's -Wshadow=local so (the fuzz build).
  list(TRANSFORM SLUICE_WARNINGS REPLACE "^-Wshadow=local$" "-Wshadow-uncaptured-local")
endif()
if(SLUICE_WERROR)
  list(APPEND SLUICE_WARNINGS -Werror)
endif()

function(sluice_apply_common target)
  target_compile_options(${target} PRIVATE ${SLUICE_WARNINGS})
  if(SLUICE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

function(sluice_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(sluice_${name} ${ARG_SOURCES})
  add_library(sluice::${name} ALIAS sluice_${name})
  target_include_directories(sluice_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(sluice_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  sluice_apply_common(sluice_${name})
  if(SLUICE_SANITIZE)
    target_link_options(sluice_${name} INTERFACE -fsanitize=address,undefined)
  endif()
endfunction()

function(sluice_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  sluice_apply_common(${name})
endfunction()

function(sluice_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_LABEL MATCHES "^(unit|integration|e2e|kube)$")
    message(FATAL_ERROR "sluice_test(${name}): LABEL must be unit, integration, e2e or kube")
  endif()
  if(SLUICE_UNIT_ONLY AND NOT ARG_LABEL STREQUAL "unit")
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    if(ARG_LABEL STREQUAL "unit")
      set(ARG_TIMEOUT 60)
    else()
      set(ARG_TIMEOUT 300)
    endif()
  endif()
  if(SLUICE_FUZZ)
    # The fuzz build runs no tests: the target exists (other files may refer to it), unbuilt.
    add_executable(${name} EXCLUDE_FROM_ALL ${ARG_SOURCES})
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  sluice_apply_common(${name})
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
endfunction()

# Embeds the SQL files of a migrations folder into a generated .cpp that defines
#   const std::vector<sluice::pg::Migration>& <function>();
# so a service binary carries its schema and needs no files at run time.
# Embeds every file under dir (recursively) into target as generated::function(), a list of
# {relative path, bytes} (cmake/EmbedFiles.cmake): static assets served without a path on disk.
function(sluice_embed_files target function dir)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS ${dir}/*)
  list(SORT files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${function}_files.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DFUNCTION=${function} -DBASE=${dir} "-DFILES=${files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/EmbedFiles.cmake
    COMMENT "Embedding ${dir} for ${target}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()

function(sluice_embed_migrations target function dir)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT sql_files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${function}_migrations.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DFUNCTION=${function} "-DFILES=${sql_files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake
    DEPENDS ${sql_files} ${PROJECT_SOURCE_DIR}/cmake/EmbedMigrations.cmake
    COMMENT "Embedding migrations for ${target}"
    VERBATIM)  # keeps the ';'-separated file list one argument
  target_sources(${target} PRIVATE ${out})
endfunction()
