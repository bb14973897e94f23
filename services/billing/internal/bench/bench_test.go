package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/connectengine/photoshoot/pkg/postgres/postgrestest"
	"github.com/connectengine/photoshoot/services/billing/internal/ledger"
	"github.com/connectengine/photoshoot/services/billing/internal/store"
	"github.com/connectengine/photoshoot/services/billing/internal/store/storetest"
)

const (
	clients  = 64
	users    = 200
	hotUsers = 2
	// pgbenchScale sizes pgbench's tables (scale 10: 10 branches, 1M
	// accounts); pgbenchSeconds is its run time.
	pgbenchScale   = 10
	pgbenchSeconds = 10
)

var (
	pgbenchOnce sync.Once
	pgbenchTPS  float64
)

// BenchmarkReserveCapture runs b.N reserve+capture pairs from 64
// goroutines over 200 users, a fifth of them on 2 hot users, through the
// ledger service and the PostgreSQL store (no gRPC), and reports pairs/s
// beside pgbench's TPC-B tps at 64 clients on the same server. Every
// invariant is checked afterwards.
func BenchmarkReserveCapture(b *testing.B) {
	pgbenchOnce.Do(func() { pgbenchTPS = runPgbench(b) })
	pool := storetest.New(b)
	st := store.New(pool, nil)
	svc := ledger.NewService(st, nil, time.Hour, nil)
	ctx := context.Background()
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%03d", i)
		if _, err := svc.Grant(ctx, ledger.GrantRequest{UserID: ids[i], Amount: 1 << 40, Reason: ledger.ReasonAdmin, IdempotencyKey: "seed-" + ids[i]}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for next.Add(1) <= int64(b.N) {
				user := ids[hotUsers+r.IntN(users-hotUsers)]
				if r.IntN(5) == 0 {
					user = ids[r.IntN(hotUsers)]
				}
				n := 1 + r.Int64N(4)
				h, err := svc.Reserve(ctx, ledger.ReserveRequest{UserID: user, JobID: uuid.NewString(), Amount: n})
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := svc.Capture(ctx, h.ID, "", r.Int64N(n+1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	pairs := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(pairs, "pairs/s")
	b.ReportMetric(pgbenchTPS, "pgbench-tps")
	b.ReportMetric(pairs/pgbenchTPS, "ratio")
	storetest.AssertInvariants(b, pool)
}

// runPgbench initialises a scratch database and runs TPC-B at 64 clients.
func runPgbench(b *testing.B) float64 {
	b.Helper()
	dbURL := postgrestest.NewDatabase(b)
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	bin := "/usr/lib/postgresql/15/bin/pgbench"
	if _, err := os.Stat(bin); err != nil {
		bin = "pgbench"
	}
	conn := []string{"-h", cfg.Host, "-p", strconv.Itoa(int(cfg.Port)), "-U", cfg.User}
	env := append(os.Environ(), "PGPASSWORD="+cfg.Password)
	run := func(args ...string) []byte {
		cmd := exec.Command(bin, append(append(args, conn...), cfg.Database)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
		return out
	}
	run("-i", "-q", "-s", strconv.Itoa(pgbenchScale))
	out := run("-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(pgbenchSeconds))
	re := regexp.MustCompile(`tps = ([0-9.]+)`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			tps, _ := strconv.ParseFloat(m[1], 64)
			b.Logf("pgbench TPC-B, scale %d, %d clients, %d s: %s", pgbenchScale, clients, pgbenchSeconds, sc.Text())
			return tps
		}
	}
	b.Fatalf("no tps in pgbench output:\n%s", out)
	return 0
}
