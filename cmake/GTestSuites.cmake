# Run by ctest (TEST_INCLUDE_FILES): registers one ctest test a gtest SUITE of GTEST_SUITES_BINARY,
# running `--gtest_filter=Suite.*`, so a suite's SetUpTestSuite (a cluster, pgbench and a backup
# in the integration tests) runs once for the suite, not once a test. The list comes from the
# binary itself (--gtest_list_tests), so new suites need no CMake edit. Each suite's timeout is
# GTEST_SUITES_TIMEOUT a test, the budget each test had when it was its own ctest test.
if(NOT EXISTS "${GTEST_SUITES_BINARY}")
  add_test(integration_NOT_BUILT "${GTEST_SUITES_BINARY}")
  return()
endif()
execute_process(COMMAND "${GTEST_SUITES_BINARY}" --gtest_list_tests
  OUTPUT_VARIABLE listing ERROR_VARIABLE listing_error RESULT_VARIABLE listing_rc)
if(NOT listing_rc EQUAL 0)
  # Shown as a failing test, not silently as no tests.
  add_test(integration_LIST_FAILED "${GTEST_SUITES_BINARY}" --gtest_list_tests)
  return()
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(suite "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([^ #][^ ]*)\\.$")  # "Suite." (or "Prefix/Suite." for TEST_P)
    set(suite "${CMAKE_MATCH_1}")
    set(count_${suite} 0)
    list(APPEND suites "${suite}")
  elseif(line MATCHES "^  [^ ]" AND suite)  # "  TestName" (maybe "  # GetParam() = ...")
    math(EXPR count_${suite} "${count_${suite}} + 1")
  endif()
endforeach()
foreach(suite IN LISTS suites)
  math(EXPR timeout "${GTEST_SUITES_TIMEOUT} * ${count_${suite}}")
  add_test("${suite}" "${GTEST_SUITES_BINARY}" "--gtest_filter=${suite}.*")
  set_tests_properties("${suite}" PROPERTIES WORKING_DIRECTORY "${GTEST_SUITES_WORKING_DIRECTORY}"
    TIMEOUT ${timeout} RUN_SERIAL TRUE)
endforeach()
