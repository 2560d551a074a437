# rampart_test(NAME SOURCES... LIBS ...): one gtest binary registered with CTest.
# Label "unit" (default) runs under sanitizers in CI; pass LABELS integration for tests that
# need real servers or namespaces.
function(rampart_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  target_compile_definitions(${name} PRIVATE
    RAMPART_SHARED_DIR="${RAMPART_SHARED_DIR}"
    RAMPART_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT 900)
endfunction()
