// The pool cases of tests/integration/pool_kinds_test.cpp, run with the real
// HikariCP (Debian's libhikaricp-java, 2.7.9) and PostgreSQL JDBC driver
// against a real server.
//
// Usage: java HikariCases JDBC_URL USER ADMIN_URL ADMIN_USER CASE APP LOG
// Prints one JSON object with the figures the test compares with pgleak's
// model of the same pool (src/pool/hikari_pool.hpp). LOG is the file
// slf4j-simple writes HikariCP's log to (for its leak warnings).

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

public final class HikariCases {
  private static String url, user, app;
  private static Connection admin;

  private static String quote(String s) {
    if (s == null) {
      return "null";
    }
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.append('"').toString();
  }

  private static int backends() throws SQLException {
    try (Statement s = admin.createStatement();
        ResultSet r = s.executeQuery(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'")) {
      r.next();
      return r.getInt(1);
    }
  }

  private static int pid(Connection c) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT pg_backend_pid()")) {
      r.next();
      return r.getInt(1);
    }
  }

  private static HikariDataSource pool(int max, int minIdle) {
    return pool(max, minIdle, c -> {});
  }

  private static HikariDataSource pool(int max, int minIdle, Consumer<HikariConfig> more) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(url + (url.contains("?") ? "&" : "?") + "ApplicationName=" + app);
    config.setUsername(user);
    config.setMaximumPoolSize(max);
    if (minIdle >= 0) {
      config.setMinimumIdle(minIdle);
    }
    more.accept(config);
    return new HikariDataSource(config);
  }

  private static String fill() throws Exception {
    HikariDataSource p = pool(4, -1);
    Thread.sleep(1000);
    String out = "{\"backends\": " + backends() + "}";
    p.close();
    return out;
  }

  private static String exhaust() throws Exception {
    HikariDataSource p = pool(2, -1, c -> c.setConnectionTimeout(500));
    List<Connection> held = new ArrayList<>();
    held.add(p.getConnection());
    held.add(p.getConnection());
    long t0 = System.nanoTime();
    String message = null;
    try {
      p.getConnection();
    } catch (SQLException e) {
      message = e.getMessage();
    }
    long waited = (System.nanoTime() - t0) / 1_000_000;
    for (Connection c : held) {
      c.close();
    }
    p.close();
    return "{\"message\": " + quote(message) + ", \"waited_ms\": " + waited + "}";
  }

  private static String killed() throws Exception {
    HikariDataSource p = pool(1, -1);
    int first;
    try (Connection c = p.getConnection()) {
      first = pid(c);
    }
    try (Statement s = admin.createStatement()) {
      s.execute("SELECT pg_terminate_backend(" + first + ")");
    }
    Thread.sleep(700);
    String seen = "ok";
    String sqlstate = null;
    boolean replaced;
    try (Connection c = p.getConnection()) {
      replaced = pid(c) != first;
    } catch (SQLException e) {
      seen = "error";
      sqlstate = e.getSQLState();
      replaced = false;
    }
    p.close();
    return "{\"first_use\": " + quote(seen) + ", \"sqlstate\": " + quote(sqlstate)
        + ", \"then_replaced\": " + replaced + "}";
  }

  private static String refused() throws Exception {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(url + (url.contains("?") ? "&" : "?") + "ApplicationName=" + app);
    config.setUsername(user);
    config.setMaximumPoolSize(1);
    config.setConnectionTimeout(1000);
    config.setInitializationFailTimeout(-1);  // pgleak's model never fails at start
    HikariDataSource p = new HikariDataSource(config);
    long t0 = System.nanoTime();
    String message = null;
    String sqlstate = null;
    try {
      p.getConnection();
    } catch (SQLException e) {
      message = e.getMessage();
      sqlstate = e.getSQLState();
    }
    long waited = (System.nanoTime() - t0) / 1_000_000;
    p.close();
    return "{\"message\": " + quote(message) + ", \"sqlstate\": " + quote(sqlstate)
        + ", \"waited_ms\": " + waited + "}";
  }

  private static String idle() throws Exception {
    HikariDataSource p = pool(3, 1, c -> c.setIdleTimeout(10_000));
    List<Connection> held = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      held.add(p.getConnection());
    }
    for (Connection c : held) {
      c.close();
    }
    StringBuilder counts = new StringBuilder();
    for (int i = 0; i < 24; i++) {
      Thread.sleep(500);
      counts.append(i == 0 ? "" : ", ").append(backends());
    }
    p.close();
    return "{\"counts\": [" + counts + "]}";
  }

  private static String leak(String log) throws Exception {
    HikariDataSource p = pool(1, -1, c -> c.setLeakDetectionThreshold(2000));
    Connection c = p.getConnection();
    Thread.sleep(2600);
    c.close();
    p.close();
    long warnings = Files.readAllLines(Paths.get(log)).stream()
        .filter(l -> l.contains("Connection leak detection triggered")).count();
    return "{\"leak_warnings\": " + warnings + "}";
  }

  public static void main(String[] args) throws Exception {
    url = args[0];
    user = args[1];
    String case_ = args[4];
    app = args[5];
    admin = DriverManager.getConnection(args[2], args[3], "");
    String out;
    switch (case_) {
      case "fill": out = fill(); break;
      case "exhaust": out = exhaust(); break;
      case "killed": out = killed(); break;
      case "refused": out = refused(); break;
      case "idle": out = idle(); break;
      case "leak": out = leak(args[6]); break;
      default: throw new IllegalArgumentException(case_);
    }
    System.out.println(out);
    admin.close();
  }
}
