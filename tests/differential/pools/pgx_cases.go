// The pool cases of tests/integration/pool_kinds_test.cpp, run with the real
// pgxpool (Debian's golang-github-jackc-pgx-v4-dev, 4.15) against a real
// server.
//
// Usage: pgx_cases DSN ADMIN_DSN CASE APP
// Prints one JSON object with the figures the test compares with pgleak's
// model of the same pool (src/pool/pgx_pool.hpp).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
)

var dsn, app string
var admin *pgx.Conn

func backends() int {
	var n int
	must(admin.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n))
	return n
}

// n counts of backends(), one per step after start: a count that takes a
// while to read does not shift the ones after it.
func onGrid(start time.Time, step time.Duration, n int) []int {
	var counts []int
	for i := 1; i <= n; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * step)))
		counts = append(counts, backends())
	}
	return counts
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func pool(settings string) *pgxpool.Pool {
	return poolLazy(settings, false)
}

// pgx 4.15's connection string has no LazyConnect: Config.LazyConnect.
func poolLazy(settings string, lazy bool) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(dsn + " application_name=" + app + " " + settings)
	must(err)
	cfg.LazyConnect = lazy
	p, err := pgxpool.ConnectConfig(context.Background(), cfg)
	must(err)
	return p
}

func pid(c *pgxpool.Conn) int {
	return int(c.Conn().PgConn().PID())
}

func sqlstate(err error) interface{} {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return nil
}

func fill() map[string]interface{} {
	p := pool("pool_min_conns=2 pool_max_conns=4")
	defer p.Close()
	time.Sleep(time.Second)
	return map[string]interface{}{"backends": backends()}
}

func exhaust() map[string]interface{} {
	p := pool("pool_max_conns=2")
	defer p.Close()
	a, err := p.Acquire(context.Background())
	must(err)
	b, err := p.Acquire(context.Background())
	must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = p.Acquire(ctx)
	waited := time.Since(t0).Milliseconds()
	a.Release()
	b.Release()
	return map[string]interface{}{"message": err.Error(), "waited_ms": waited}
}

func killed() map[string]interface{} {
	p := pool("pool_max_conns=1")
	defer p.Close()
	c, err := p.Acquire(context.Background())
	must(err)
	first := pid(c)
	c.Release()
	_, err = admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", first)
	must(err)
	time.Sleep(700 * time.Millisecond)
	c, err = p.Acquire(context.Background())
	must(err)
	seen := "ok"
	var code interface{}
	_, err = c.Exec(context.Background(), "SELECT 1")
	if err != nil {
		seen = "error"
		code = sqlstate(err)
	}
	c.Release()
	c, err = p.Acquire(context.Background())
	must(err)
	_, err = c.Exec(context.Background(), "SELECT 1")
	must(err)
	replaced := pid(c) != first
	c.Release()
	return map[string]interface{}{"first_use": seen, "sqlstate": code, "then_replaced": replaced}
}

func refused() map[string]interface{} {
	p := poolLazy("pool_max_conns=1", true)
	defer p.Close()
	t0 := time.Now()
	_, err := p.Acquire(context.Background())
	waited := time.Since(t0).Milliseconds()
	return map[string]interface{}{"sqlstate": sqlstate(err), "waited_ms": waited}
}

func inTransaction() map[string]interface{} {
	p := pool("pool_max_conns=1")
	defer p.Close()
	c, err := p.Acquire(context.Background())
	must(err)
	first := pid(c)
	_, err = c.Exec(context.Background(), "BEGIN")
	must(err)
	c.Release()
	c, err = p.Acquire(context.Background())
	must(err)
	same := pid(c) == first
	c.Release()
	return map[string]interface{}{"same_connection": same}
}

// Past its life: idle, closed by the health check; in use, at release.
func lifetime() map[string]interface{} {
	p := pool("pool_max_conns=1 pool_max_conn_lifetime=500ms pool_health_check_period=250ms")
	defer p.Close()
	c, err := p.Acquire(context.Background())
	must(err)
	first := pid(c)
	c.Release()
	time.Sleep(800 * time.Millisecond)
	idleLeft := backends()
	c, err = p.Acquire(context.Background())
	must(err)
	replaced := pid(c) != first
	time.Sleep(800 * time.Millisecond)
	c.Release()
	time.Sleep(100 * time.Millisecond)
	return map[string]interface{}{"idle_left": idleLeft, "replaced": replaced, "busy_left": backends()}
}

func idle() map[string]interface{} {
	p := pool("pool_max_conns=3 pool_min_conns=1 pool_max_conn_idle_time=1s pool_health_check_period=250ms")
	defer p.Close()
	var held []*pgxpool.Conn
	for i := 0; i < 3; i++ {
		c, err := p.Acquire(context.Background())
		must(err)
		held = append(held, c)
	}
	for _, c := range held {
		c.Release()
	}
	return map[string]interface{}{"counts": onGrid(time.Now(), 250*time.Millisecond, 10)}
}

func main() {
	dsn, app = os.Args[1], os.Args[4]
	var err error
	admin, err = pgx.Connect(context.Background(), os.Args[2])
	must(err)
	cases := map[string]func() map[string]interface{}{
		"fill": fill, "exhaust": exhaust, "killed": killed, "refused": refused,
		"in_transaction": inTransaction, "idle": idle, "lifetime": lifetime,
	}
	run, ok := cases[os.Args[3]]
	if !ok {
		must(fmt.Errorf("unknown case %q", os.Args[3]))
	}
	out, err := json.Marshal(run())
	must(err)
	fmt.Println(string(out))
}
