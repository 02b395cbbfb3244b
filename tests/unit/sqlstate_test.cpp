#include "db/sqlstate.hpp"

#include <gtest/gtest.h>

namespace pgleak::db {
namespace {

TEST(Sqlstate, ClassifiesTheIncidentsCodes) {
  EXPECT_EQ(classify_sqlstate("53300"), ErrorKind::kTooManyConnections);
  EXPECT_EQ(classify_sqlstate("57014"), ErrorKind::kStatementTimeout);
  EXPECT_EQ(classify_sqlstate("25P03"), ErrorKind::kIdleInTransactionTimeout);
  EXPECT_EQ(classify_sqlstate("57P01"), ErrorKind::kAdminShutdown);
  EXPECT_EQ(classify_sqlstate("25P02"), ErrorKind::kInFailedTransaction);
  EXPECT_EQ(classify_sqlstate("08006"), ErrorKind::kConnectionFailure);
  EXPECT_EQ(classify_sqlstate("08001"), ErrorKind::kConnectionFailure);
  EXPECT_EQ(classify_sqlstate("42P01"), ErrorKind::kOther);
  EXPECT_EQ(classify_sqlstate(""), ErrorKind::kOther);
}

TEST(Sqlstate, RecoversBothTooManyClientsTexts) {
  EXPECT_EQ(sqlstate_from_message("FATAL:  sorry, too many clients already"), "53300");
  EXPECT_EQ(sqlstate_from_message(
                "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  remaining "
                "connection slots are reserved for non-replication superuser connections"),
            "53300");
}

TEST(Sqlstate, RecoversSessionEndingTexts) {
  EXPECT_EQ(sqlstate_from_message("FATAL:  terminating connection due to idle-in-transaction "
                                  "timeout"),
            "25P03");
  EXPECT_EQ(sqlstate_from_message("FATAL:  terminating connection due to administrator command"),
            "57P01");
  // A lost connection has no SQLSTATE (psycopg2's pgcode is None): none is invented.
  EXPECT_EQ(sqlstate_from_message("server closed the connection unexpectedly\n\tThis probably "
                                  "means the server terminated abnormally"),
            std::nullopt);
  EXPECT_TRUE(
      is_lost_connection("server closed the connection unexpectedly\n\tThis probably "
                         "means the server terminated abnormally"));
  EXPECT_FALSE(is_lost_connection("ERROR:  division by zero"));
  EXPECT_EQ(sqlstate_from_message("ERROR:  canceling statement due to statement timeout"), "57014");
  EXPECT_EQ(sqlstate_from_message("ERROR:  relation \"x\" does not exist"), std::nullopt);
  EXPECT_EQ(sqlstate_from_message("timeout expired (connect_timeout 100ms)"), "08001");
  EXPECT_EQ(sqlstate_from_message("connection to server at \"127.0.0.1\", port 1 failed: "
                                  "Connection refused"),
            "08001");
}

TEST(Sqlstate, KnowsWhichErrorsEndTheSession) {
  EXPECT_TRUE(ends_session("25P03"));
  EXPECT_TRUE(ends_session("57P01"));
  EXPECT_TRUE(ends_session("08006"));
  EXPECT_FALSE(ends_session("57014"));  // the statement is cancelled, the session lives
  EXPECT_FALSE(ends_session("25P02"));
  EXPECT_FALSE(ends_session("42P01"));
}

}  // namespace
}  // namespace pgleak::db
