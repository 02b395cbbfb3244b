#include <gtest/gtest.h>

#include "pg_environment.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new pgleak::testing::PgEnvironment);
  return RUN_ALL_TESTS();
}
