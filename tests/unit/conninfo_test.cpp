#include "db/conninfo.hpp"

#include <gtest/gtest.h>

#include "db/pg_connection.hpp"
#include "util/errors.hpp"

namespace pgleak::db {
namespace {

using namespace std::chrono_literals;

TEST(ConnInfo, RedactsUrlPasswords) {
  const auto info = ConnInfo::parse("postgresql://app:s3cret@127.0.0.1:5432/db?sslmode=disable");
  EXPECT_EQ(info.redacted().find("s3cret"), std::string::npos) << info.redacted();
  EXPECT_NE(info.redacted().find("password=********"), std::string::npos);
  EXPECT_NE(info.to_libpq().find("s3cret"), std::string::npos);  // libpq still gets it
}

TEST(ConnInfo, RedactsKeywordPasswords) {
  const auto info = ConnInfo::parse("host=127.0.0.1 password='p w' user=app");
  EXPECT_EQ(info.redacted().find("p w"), std::string::npos);
  EXPECT_EQ(*info.get("user"), "app");
}

TEST(ConnInfo, BadDsnIsAUsageErrorWithoutThePassword) {
  try {
    ConnInfo::parse("postgresql://app:hunter2@host/db?no_such_parameter=1");
    FAIL() << "expected a usage error";
  } catch (const util::UsageError& e) {
    EXPECT_EQ(std::string{e.what()}.find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(ConnInfo, QuotesValuesWithSpaces) {
  ConnInfo info;
  info.set("application_name", "it's a name");
  EXPECT_EQ(info.to_libpq(), R"(application_name='it\'s a name')");
}

// Settings go to the server per connection, as SQLAlchemy's connect_args do.
TEST(PgConnection, SendsSessionSettingsPerConnection) {
  SessionSettings s;
  s.connect_timeout = 10s;
  s.statement_timeout = 30s;
  s.idle_in_transaction_session_timeout = 60s;
  const auto info = PgConnection::effective_conninfo(ConnInfo::parse("host=h options='-c a=b'"), s,
                                                     "dispatching_api");
  EXPECT_EQ(*info.get("application_name"), "dispatching_api");
  EXPECT_EQ(*info.get("options"),
            "-c a=b -c statement_timeout=30000 -c idle_in_transaction_session_timeout=60000");
  // pgleak enforces connect_timeout itself, to the millisecond: libpq's would round 100ms up to 2s.
  EXPECT_EQ(info.get("connect_timeout"), nullptr);
}

}  // namespace
}  // namespace pgleak::db
