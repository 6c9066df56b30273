# Helpers shared by every component's CMakeLists.txt.

# dd_add_unit_test(<name> SOURCES <files...> LIBS <targets...>)
# Builds one cmocka test executable and registers it with ctest under the
# label "unit".
function(dd_add_unit_test name)
    cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
    target_compile_definitions(${name} PRIVATE
        DD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
        DD_BINARY_DIR="${PROJECT_BINARY_DIR}")
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()
