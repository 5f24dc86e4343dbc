package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBin is where Debian's postgresql-15 keeps initdb and pg_ctl.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Needs fails the test in CI (CI=true: a missing tool is a broken set-up
// there) and skips it elsewhere, naming what to install.
func Needs(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s needs %s, which is missing in CI: the set-up scripts must install it (%s)", t.Name(), what, install)
	}
	t.Skipf("SKIPPED %s: needs %s (%s)", t.Name(), what, install)
}

// pgCluster is the package's throwaway cluster: initdb --no-sync and
// fsync=off (a test cluster need not survive a power cut), run as the
// postgres user since initdb refuses root.
var pgCluster struct {
	once sync.Once
	dir  string
	addr string
	err  error
}

// PostgresDB returns the URL of a new, empty database in a PostgreSQL
// cluster started on first use and stopped by StopPostgres (call it from
// TestMain). Without PostgreSQL installed the test fails in CI and skips
// elsewhere.
func PostgresDB(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(PostgresBin, "pg_ctl")); err != nil {
		Needs(t, "PostgreSQL 15", "apt-get install postgresql; scripts/setup.sh does")
	}
	pgCluster.once.Do(func() { pgCluster.err = startPostgres() })
	if pgCluster.err != nil {
		t.Fatalf("start PostgreSQL: %v", pgCluster.err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://postgres@"+pgCluster.addr+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return "postgres://postgres@" + pgCluster.addr + "/" + name + "?sslmode=disable"
}

// PostgresRunning reports the cluster's address, if it was started.
func PostgresRunning() string { return pgCluster.addr }

func startPostgres() error {
	dir, err := os.MkdirTemp("", "strata-pg-")
	if err != nil {
		return err
	}
	pgCluster.dir = dir
	if err := exec.Command("chown", "postgres:postgres", dir).Run(); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	run := func(args ...string) error {
		cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v\n%s", args, err, out)
		}
		return nil
	}
	if err := run(filepath.Join(PostgresBin, "initdb"), "-D", data, "--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"); err != nil {
		return err
	}
	opts := fmt.Sprintf("-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", port, dir)
	if err := run(filepath.Join(PostgresBin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fmt.Errorf("%v\n%s", err, b)
	}
	pgCluster.addr = "127.0.0.1:" + strconv.Itoa(port)
	return nil
}

// StopPostgres stops the cluster (if one was started) and removes it.
func StopPostgres() {
	if pgCluster.dir == "" {
		return
	}
	cmd := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(PostgresBin, "pg_ctl"), "-D", filepath.Join(pgCluster.dir, "data"), "-m", "immediate", "-w", "stop")
	cmd.Dir = pgCluster.dir
	_ = cmd.Run()
	os.RemoveAll(pgCluster.dir)
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
