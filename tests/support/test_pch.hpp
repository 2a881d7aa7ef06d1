// Precompiled for every test target (tests/CMakeLists.txt, partyd_test_target): the external
// headers nearly every test includes. Nothing of partyd's own belongs here, so a change to the
// code under test rebuilds only the tests that include it.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
