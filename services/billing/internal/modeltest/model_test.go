package modeltest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/events/eventstest"
	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/pkg/postgres"
	"github.com/connectengine/photoshoot/pkg/rpc"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	billingv1 "github.com/connectengine/photoshoot/proto/photoshoot/billing/v1"
	"github.com/connectengine/photoshoot/services/billing/internal/store/storetest"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// The sizes; -short scales them down for quick runs.
const (
	fullOps      = 10_000
	fullRestarts = 20
	workers      = 64
	users        = 200
	hotUsers     = 2
)

// keyServer answers account's GetSigningKeys, so the billing process can
// verify the test's user tokens.
type keyServer struct {
	accountv1.UnimplementedAccountServiceServer
	key authn.PublicKey
}

func (k *keyServer) GetSigningKeys(context.Context, *accountv1.GetSigningKeysRequest) (*accountv1.GetSigningKeysResponse, error) {
	return &accountv1.GetSigningKeysResponse{Keys: []*accountv1.SigningKey{{Kid: k.key.KID, PublicKey: k.key.Key}}}, nil
}

// process runs the billing binary and restarts it on demand. Like an
// orchestrator, it also restarts a process that exits on its own (billing
// stops when it cannot start, e.g. when the chaos terminates its database
// connections during migrations), so a failed start does not leave the
// service down until the next planned kill.
type process struct {
	t    *testing.T
	bin  string
	env  []string
	logs *syncBuffer
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// kill SIGKILLs the process: no graceful shutdown, in-flight transactions
// die with it.
func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// hold is what a client knows about one of its holds.
type hold struct {
	id, user, job string
	amount        int64
	captured      int64
	ended         bool
	released      bool
}

// tally is what the clients were told, per user.
type tally struct {
	mu      sync.Mutex
	granted map[string]int64
	holds   []*hold
}

func TestModel(t *testing.T) {
	ops, restarts := fullOps, fullRestarts
	if testing.Short() {
		ops, restarts = 2_000, 4
	}
	t.Logf("model test: %d operations, %d workers, %d users (%d hot), %d kill/restarts", ops, workers, users, hotUsers, restarts)
	ctx := t.Context()

	bin := filepath.Join(t.TempDir(), "billing")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/connectengine/photoshoot/services/billing/cmd/billing")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := authn.NewSigner("k1", priv, platform.TokenIssuer, platform.TokenAudience, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	keyLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	keySrv := grpc.NewServer()
	accountv1.RegisterAccountServiceServer(keySrv, &keyServer{key: signer.PublicKey()})
	go func() { _ = keySrv.Serve(keyLis) }()
	t.Cleanup(keySrv.Stop)

	natsSrv := eventstest.New(t)
	dbURL := storetest.NewDatabase(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	grpcPort, err := freeport.Pick(nil) // the process listens here on every start
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(grpcPort))

	procLogs := &syncBuffer{}
	proc := &process{t: t, bin: bin, logs: procLogs, env: append(os.Environ(),
		"DATABASE_URL="+dbURL, "NATS_URL="+natsSrv.URL(), "ACCOUNT_ADDR="+keyLis.Addr().String(),
		"SERVICE_AUTH_SECRET="+hex.EncodeToString(secret), "DEV_MODE=1", "GRPC_ADDR="+addr,
		"LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=2s", "TRIAL_CREDITS=0",
	)}
	proc.start()
	t.Cleanup(proc.kill)
	t.Cleanup(func() {
		if t.Failed() {
			procLogs.mu.Lock()
			b := procLogs.b.Bytes()
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("billing process logs (tail):\n%s", b)
			procLogs.mu.Unlock()
		}
	})

	svcToken, _ := authn.NewServiceToken(secret, "model-test")
	// Reconnect quickly after each kill (gRPC's default backoff grows to
	// two minutes).
	conn, err := rpc.Dial(addr, rpc.ClientOptions{Service: svcToken, DefaultTimeout: 5 * time.Second},
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond}, MinConnectTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := billingv1.NewBillingServiceClient(conn)

	admin, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var dbName string
	if err := admin.QueryRow(ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}

	userIDs := make([]string, users)
	for i := range userIDs {
		userIDs[i] = fmt.Sprintf("user-%03d-%s", i, uuid.NewString()[:8])
	}
	pickUser := func(r *mrand.Rand) string {
		if r.IntN(5) == 0 { // a fifth of the operations hit the hot users
			return userIDs[r.IntN(hotUsers)]
		}
		return userIDs[hotUsers+r.IntN(users-hotUsers)]
	}

	var (
		done       atomic.Int64
		retries    atomic.Int64
		internal   atomic.Int64
		terminated atomic.Int64
		killed     atomic.Int64
		tl         = &tally{granted: map[string]int64{}}
	)

	var codeMu sync.Mutex
	codeHist := map[string]int{}
	defer func() { t.Logf("client retries by code: %v", codeHist) }()
	// call retries one request with the same idempotency key until it gets
	// a definitive answer: success or a domain refusal.
	call := func(f func(ctx context.Context) error) error {
		deadline := time.Now().Add(2 * time.Minute)
		backoff := 5 * time.Millisecond
		for {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := f(cctx)
			cancel()
			switch status.Code(err) {
			case codes.OK, codes.FailedPrecondition, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists:
				return err
			case codes.Internal, codes.Unknown:
				internal.Add(1)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no definitive answer in 2 minutes: %w", err)
			}
			retries.Add(1)
			codeMu.Lock()
			codeHist[status.Code(err).String()]++

			codeMu.Unlock()
			time.Sleep(backoff + time.Duration(mrand.Int64N(int64(backoff))))
			backoff = min(2*backoff, 200*time.Millisecond)
		}
	}

	grant := func(user, key string, n int64) error {
		var resp *billingv1.GrantResponse
		err := call(func(ctx context.Context) (err error) {
			resp, err = client.Grant(ctx, &billingv1.GrantRequest{UserId: user, Amount: n, Reason: billingv1.GrantReason_GRANT_REASON_PROMO, IdempotencyKey: key})
			return err
		})
		if err != nil {
			return fmt.Errorf("grant %s: %w", key, err)
		}
		if resp.GetTransaction().GetAvailableDelta() != n {
			return fmt.Errorf("grant %s answered %v", key, resp)
		}
		return nil
	}
	reserve := func(user, job string, n int64) (*billingv1.Hold, error) {
		var resp *billingv1.ReserveResponse
		err := call(func(ctx context.Context) (err error) {
			resp, err = client.Reserve(ctx, &billingv1.ReserveRequest{UserId: user, JobId: job, Amount: n})
			return err
		})
		return resp.GetHold(), err
	}

	// Everyone starts with some credits.
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for _, u := range userIDs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n := int64(30)
			if u == userIDs[0] || u == userIDs[1] {
				n = 300
			}
			if err := grant(u, "init:"+u, n); err != nil {
				t.Error(err)
				return
			}
			tl.mu.Lock()
			tl.granted[u] += n
			tl.mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// The reader: every 10 ms, the hot users' balances over gRPC and the
	// lowest balance in the database; none may ever be negative.
	readerCtx, stopReader := context.WithCancel(ctx)
	var (
		samples, negatives, sampleErrs atomic.Int64
		readerDone                     = make(chan struct{})
	)
	go func() {
		defer close(readerDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-readerCtx.Done():
				return
			case <-tick.C:
			}
			for _, u := range userIDs[:hotUsers] {
				tok, _ := signer.Sign(authn.Caller{UserID: u}, time.Now())
				rctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(readerCtx, "authorization", "Bearer "+tok), time.Second)
				b, err := client.GetBalance(rctx, &billingv1.GetBalanceRequest{})
				cancel()
				if err != nil {
					sampleErrs.Add(1)
					codeMu.Lock()
					codeHist["reader-"+status.Code(err).String()]++
					codeMu.Unlock()
					continue
				}
				samples.Add(1)
				if b.GetAvailable() < 0 || b.GetHeld() < 0 {
					negatives.Add(1)
				}
			}
			var minAvail, minHeld int64
			if err := admin.QueryRow(readerCtx, `SELECT coalesce(min(available), 0), coalesce(min(held), 0) FROM accounts`).Scan(&minAvail, &minHeld); err == nil {
				samples.Add(1)
				if minAvail < 0 || minHeld < 0 {
					negatives.Add(1)
				}
			}
		}
	}()

	// Chaos, driven by progress rather than timers: a kill and restart every
	// ops/(restarts+1) operations, and a few backends terminated every 150.
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		nextKill := int64(ops / (restarts + 1))
		nextTerm := int64(150)
		for done.Load() < int64(ops) && killed.Load() < int64(restarts) {
			n := done.Load()
			switch {
			case n >= nextKill:
				proc.kill()
				proc.start()
				killed.Add(1)
				nextKill += int64(ops / (restarts + 1))
			case n >= nextTerm:
				var k int64
				_ = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM (
					SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
					ORDER BY random() LIMIT 3) p`, dbName).Scan(&k)
				terminated.Add(k)
				nextTerm += 150
			default:
				time.Sleep(time.Millisecond) // poll the progress counter
			}
		}
	}()

	start := time.Now()
	var next atomic.Int64
	for w := range workers {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var mine []*hold // this worker's open holds
			var history []func() error
			for next.Add(1) <= int64(ops) {
				err := step(r, pickUser, &mine, &history, tl, grant, reserve, client, call)
				if err != nil {
					t.Error(err)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	<-chaosDone
	stopReader()
	<-readerDone

	// Verify: the database holds exactly what the clients were told.
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	storetest.AssertInvariants(t, pool)
	verify(t, pool, tl)
	if negatives.Load() > 0 {
		t.Errorf("the reader saw %d negative balances", negatives.Load())
	}
	if internal.Load() > 0 {
		t.Errorf("%d calls answered Internal", internal.Load())
	}
	if killed.Load() < int64(restarts) {
		t.Errorf("only %d of %d kill/restarts happened", killed.Load(), restarts)
	}
	t.Logf("%d operations in %s (%.0f ops/s) with %d kill/restarts, %d backends terminated, %d client retries; reader: %d samples, %d unavailable, 0 negative",
		ops, elapsed.Round(time.Millisecond), float64(ops)/elapsed.Seconds(), killed.Load(), terminated.Load(), retries.Load(), samples.Load(), sampleErrs.Load())
}

func (p *process) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		p.t.Errorf("start billing: %v", err)
		return
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		_ = cmd.Wait()
		close(done)
		p.mu.Lock()
		unplanned := p.cmd == cmd // kill clears p.cmd under the lock before we get it
		p.mu.Unlock()
		if unplanned {
			time.Sleep(100 * time.Millisecond)
			p.mu.Lock()
			again := p.cmd == cmd
			p.mu.Unlock()
			if again {
				p.start()
			}
		}
	}()
}

type (
	grantFunc   func(user, key string, n int64) error
	reserveFunc func(user, job string, n int64) (*billingv1.Hold, error)
	callFunc    func(f func(ctx context.Context) error) error
)

// step runs one random operation, with its retries, and records what the
// client was told.
func step(r *mrand.Rand, pickUser func(*mrand.Rand) string, mine *[]*hold, history *[]func() error, tl *tally,
	grant grantFunc, reserve reserveFunc, client billingv1.BillingServiceClient, call callFunc) error {
	newHold := func(user string, n int64) error {
		job := "job-" + uuid.NewString()
		h, err := reserve(user, job, n)
		switch {
		case status.Code(err) == codes.FailedPrecondition:
			return nil // not enough credits: a definitive, correct answer
		case err != nil:
			return fmt.Errorf("reserve %s: %w", job, err)
		case h.GetAmount() != n || h.GetUserId() != user || h.GetState() != billingv1.HoldState_HOLD_STATE_HELD:
			return fmt.Errorf("reserve %s answered %v", job, h)
		}
		hd := &hold{id: h.GetId(), user: user, job: job, amount: n}
		tl.mu.Lock()
		tl.holds = append(tl.holds, hd)
		tl.mu.Unlock()
		*mine = append(*mine, hd)
		*history = append(*history, func() error {
			again, err := reserve(user, job, n)
			if err != nil || again.GetId() != hd.id {
				return fmt.Errorf("repeated reserve %s = %v, %w; want hold %s", job, again, err, hd.id)
			}
			return nil
		})
		return nil
	}
	takeHold := func() *hold {
		i := r.IntN(len(*mine))
		h := (*mine)[i]
		(*mine)[i] = (*mine)[len(*mine)-1]
		*mine = (*mine)[:len(*mine)-1]
		return h
	}
	op := r.IntN(100)
	if (op >= 50 && op < 85) && len(*mine) == 0 {
		op = 20 // nothing to end: reserve instead
	}
	if op >= 85 && op < 95 && len(*history) == 0 {
		op = 0
	}
	switch {
	case op < 10:
		user, key, n := pickUser(r), "grant-"+uuid.NewString(), 1+r.Int64N(10)
		if err := grant(user, key, n); err != nil {
			return err
		}
		tl.mu.Lock()
		tl.granted[user] += n
		tl.mu.Unlock()
		*history = append(*history, func() error { return grant(user, key, n) })
	case op < 50:
		return newHold(pickUser(r), 1+r.Int64N(5))
	case op < 70:
		h := takeHold()
		m := r.Int64N(h.amount + 1) // partial or full
		capture := func() error {
			return call(func(ctx context.Context) error {
				resp, err := client.Capture(ctx, &billingv1.CaptureRequest{HoldId: h.id, Amount: m})
				if err == nil && (resp.GetHold().GetCaptured() != m || resp.GetHold().GetState() != billingv1.HoldState_HOLD_STATE_CAPTURED) {
					return fmt.Errorf("capture %s answered %v", h.id, resp)
				}
				return err
			})
		}
		if err := capture(); err != nil {
			return fmt.Errorf("capture %s: %w", h.id, err)
		}
		h.ended, h.captured = true, m
		*history = append(*history, capture)
	case op < 85:
		h := takeHold()
		release := func() error {
			return call(func(ctx context.Context) error {
				resp, err := client.Release(ctx, &billingv1.ReleaseRequest{HoldId: h.id})
				if err == nil && resp.GetHold().GetState() != billingv1.HoldState_HOLD_STATE_RELEASED {
					return fmt.Errorf("release %s answered %v", h.id, resp)
				}
				return err
			})
		}
		if err := release(); err != nil {
			return fmt.Errorf("release %s: %w", h.id, err)
		}
		h.ended, h.released = true, true
		*history = append(*history, release)
	case op < 95: // a duplicated request: the same answer again
		return (*history)[r.IntN(len(*history))]()
	default: // concurrent reserves on one hot user
		user := pickUser(r)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
			got  []*hold
		)
		for range 4 {
			wg.Go(func() {
				var local []*hold
				err := func() error {
					job := "burst-" + uuid.NewString()
					n := 1 + r2(job)
					h, err := reserve(user, job, n)
					switch {
					case status.Code(err) == codes.FailedPrecondition:
						return nil
					case err != nil:
						return fmt.Errorf("burst reserve %s: %w", job, err)
					}
					local = append(local, &hold{id: h.GetId(), user: user, job: job, amount: n})
					return nil
				}()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				got = append(got, local...)
			})
		}
		wg.Wait()
		tl.mu.Lock()
		tl.holds = append(tl.holds, got...)
		tl.mu.Unlock()
		*mine = append(*mine, got...)
		return errors.Join(errs...)
	}
	return nil
}

// r2 derives a small amount (0..2) from a job id, so concurrent goroutines
// need no shared random source.
func r2(job string) int64 { return int64(job[len(job)-1]) % 3 }

// verify checks that the database holds exactly what the clients were
// told: every acknowledged grant once, every hold in the state its client
// left it, and held credits equal to the holds still open.
func verify(t *testing.T, pool *pgxpool.Pool, tl *tally) {
	t.Helper()
	ctx := t.Context()
	rows, err := pool.Query(ctx, `SELECT user_id, -sum(amount) FROM entries WHERE account IN ('purchases', 'trial', 'promo', 'admin') GROUP BY user_id`)
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]int64{}
	for rows.Next() {
		var u string
		var n int64
		if err := rows.Scan(&u, &n); err != nil {
			t.Fatal(err)
		}
		granted[u] = n
	}
	rows.Close()
	for u, n := range tl.granted {
		if granted[u] != n {
			t.Errorf("user %s: %d granted in the ledger, clients were told %d", u, granted[u], n)
		}
	}
	if len(granted) != len(tl.granted) {
		t.Errorf("%d users have grants, clients granted to %d", len(granted), len(tl.granted))
	}
	var holds int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM holds`).Scan(&holds); err != nil {
		t.Fatal(err)
	}
	if holds != len(tl.holds) {
		t.Errorf("%d holds in the database, clients were told of %d", holds, len(tl.holds))
	}
	held := map[string]int64{}
	for _, h := range tl.holds {
		var outcome *string
		var captured *int64
		if err := pool.QueryRow(ctx, `SELECT e.outcome, e.captured FROM holds h LEFT JOIN hold_ends e ON e.hold_id = h.id WHERE h.id = $1`, h.id).
			Scan(&outcome, &captured); err != nil {
			t.Errorf("hold %s: %v", h.id, err)
			continue
		}
		switch {
		case !h.ended:
			held[h.user] += h.amount
			if outcome != nil {
				t.Errorf("hold %s ended (%s) but its client never ended it", h.id, *outcome)
			}
		case h.released && (outcome == nil || *outcome != "released"):
			t.Errorf("hold %s released by its client, database says %v", h.id, outcome)
		case !h.released && (outcome == nil || *outcome != "captured" || *captured != h.captured):
			t.Errorf("hold %s captured %d by its client, database says %v/%v", h.id, h.captured, outcome, captured)
		}
	}
	rows, err = pool.Query(ctx, `SELECT user_id, held FROM accounts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		var n int64
		if err := rows.Scan(&u, &n); err != nil {
			t.Fatal(err)
		}
		if n != held[u] {
			t.Errorf("user %s holds %d, clients left %d open", u, n, held[u])
		}
	}
}
