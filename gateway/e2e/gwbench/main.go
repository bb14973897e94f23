// Command gwbench measures what the gateway costs. On the real suite, started
// by the local runner as separate processes, it signs a user in through the
// dev mailbox, creates a few API keys, and then, at each concurrency, drives
// the same authenticated list call several ways for the same time:
//
//   - REST through the gateway: GET /v1/api-keys with `Authorization: Bearer
//     <API key>`, over HTTP/1.1 keep-alive connections (one per worker);
//   - direct gRPC to the account service: AccountService.ListApiKeys with
//     the access token account's Authenticate issues for that API key, the
//     exchange the gateway makes, over one client connection;
//   - REST through reference proxies in front of the same account process
//     (see reference.go): a plain grpc-gateway mux, and a bare handler.
//
// The paths take turns in short rounds, so that other work on the machine
// weighs on all alike. It prints requests per second, p50 and p99 latency
// side by side, the ratios, the CPU each process spent per request (from
// /proc/<pid>/stat around each round) and the gateway's allocations per
// request (from its GATEWAY_PPROF_ADDR debug listener).
//
//	make bench-gateway        # or: cd gateway && go run ./e2e/gwbench -h
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/connectengine/photoshoot/gateway/e2e/suite"
	"github.com/connectengine/photoshoot/pkg/authn"
	"github.com/connectengine/photoshoot/pkg/rpc"
	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
)

func main() {
	if upstream := os.Getenv(referenceEnv); upstream != "" {
		if err := serveReference(upstream, os.Getenv(referenceKindEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "gwbench reference proxy:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time of each path at each concurrency")
	flag.IntVar(&cfg.rounds, "rounds", 5, "alternating rounds the measured time is split into")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured load on each path before the rounds")
	conc := flag.String("concurrency", "32,128", "comma-separated numbers of concurrent callers")
	flag.IntVar(&cfg.keys, "keys", 5, "API keys the user holds (the rows each list call returns)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the gateway's CPU profile, taken during the REST run at the highest concurrency, to this file")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write the gateway's allocations, taken during the REST run at the highest concurrency, to this file")
	flag.StringVar(&cfg.root, "root", "", "repository root (default: the directory holding go.work above the current one)")
	refs := flag.String("reference", "plain,bare", "reference proxies also measured, each its own process in front of account: plain (grpc-gateway's defaults, no middleware), bare (one handler: gRPC call, protojson); none for neither")
	flag.Parse()
	for f := range strings.SplitSeq(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "gwbench: -concurrency %q: want positive integers\n", *conc)
			os.Exit(2)
		}
		cfg.concurrency = append(cfg.concurrency, n)
	}
	for f := range strings.SplitSeq(*refs, ",") {
		switch f = strings.TrimSpace(f); f {
		case "none":
		case "plain", "bare":
			cfg.references = append(cfg.references, f)
		default:
			fmt.Fprintf(os.Stderr, "gwbench: -reference %q: want plain, bare or none\n", *refs)
			os.Exit(2)
		}
	}
	if cfg.rounds < 1 || cfg.duration < time.Duration(cfg.rounds)*100*time.Millisecond {
		fmt.Fprintln(os.Stderr, "gwbench: want -rounds >= 1 and at least 100ms of -duration per round")
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gwbench:", err)
		os.Exit(1)
	}
}

type config struct {
	duration, warmup time.Duration
	rounds           int
	concurrency      []int
	keys             int
	cpuProfile       string
	memProfile       string
	root             string
	references       []string // kinds of reference proxy
}

func run(cfg config) (err error) {
	if cfg.root == "" {
		if cfg.root, err = suite.Root(); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "photoshoot-gwbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	fmt.Fprintln(os.Stderr, "building the suite…")
	if err := suite.Build(bin); err != nil {
		return err
	}
	// The gateway's debug listener gives its allocation counters (and the
	// CPU profile when asked); idle, it costs nothing.
	port, err := suite.FreePort()
	if err != nil {
		return err
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(port)
	fmt.Fprintln(os.Stderr, "starting the suite…")
	s, err := suite.Start(suite.Options{Root: cfg.root, Bin: bin, Data: filepath.Join(tmp, "data"),
		Env: []string{"GATEWAY_PPROF_ADDR=" + pprofAddr}})
	if err != nil {
		return err
	}
	defer func() {
		s.Stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "photoshoot-local output:\n%s\n", s.Output)
		}
	}()

	ctx := context.Background()
	u, err := setUp(ctx, s, cfg.keys)
	if err != nil {
		return err
	}
	defer u.close()

	pids := map[string]int{"gateway": s.PIDs["gateway"], "account": s.PIDs["account"]}
	var refs []*reference
	for _, kind := range cfg.references {
		ref, err := startReference(s.Services["account"], kind)
		if err != nil {
			return err
		}
		defer ref.stop()
		pids[kind] = ref.pid
		refs = append(refs, ref)
	}
	probe := func() (map[string]float64, error) { return counters(pids, pprofAddr) }
	rows := []row{}
	for i, c := range cfg.concurrency {
		fmt.Fprintf(os.Stderr, "concurrency %d: direct gRPC and REST through the gateway, %d rounds each…\n", c, cfg.rounds)
		token, err := u.accessToken(ctx, cfg.wall()+time.Minute)
		if err != nil {
			return err
		}
		paths := []path{{name: "direct gRPC", call: u.grpcCaller(token)}, {name: "REST via gateway"}}
		var profile func(time.Duration) error
		if i == len(cfg.concurrency)-1 && (cfg.cpuProfile != "" || cfg.memProfile != "") {
			profile = func(d time.Duration) error {
				var wg sync.WaitGroup
				var cpuErr, memErr error
				if cfg.cpuProfile != "" {
					wg.Go(func() { cpuErr = fetchProfile(pprofAddr, "profile", d, cfg.cpuProfile) })
				}
				if cfg.memProfile != "" {
					wg.Go(func() { memErr = fetchProfile(pprofAddr, "allocs", d, cfg.memProfile) })
				}
				wg.Wait()
				return errors.Join(cpuErr, memErr)
			}
		}
		var closers []func()
		restCall, closeIdle := u.restCaller(u.gateway, u.apiKey, c)
		paths[1].call = restCall
		closers = append(closers, closeIdle)
		for _, ref := range refs {
			refCall, closeRef := u.restCaller("http://"+ref.addr, token, c)
			paths = append(paths, path{name: "REST via " + ref.kind + " reference", call: refCall})
			closers = append(closers, closeRef)
		}
		res, err := compare(cfg, c, probe, paths, profile)
		for _, f := range closers {
			f()
		}
		if err != nil {
			return fmt.Errorf("concurrency %d: %w", c, err)
		}
		r := row{c: c, grpc: res[0], rest: res[1]}
		for i, ref := range refs {
			r.refs = append(r.refs, refResult{kind: ref.kind, result: res[2+i]})
		}
		rows = append(rows, r)
	}
	printTable(os.Stdout, cfg, rows)
	for _, p := range []string{cfg.cpuProfile, cfg.memProfile} {
		if p != "" {
			fmt.Printf("\ngateway profile: %s (go tool pprof -top %s)", p, p)
		}
	}
	fmt.Println()
	return nil
}

// user is the signed-in user the benchmark lists the API keys of, with the
// two ways to reach account.
type user struct {
	gateway  string // the gateway's origin
	apiKey   string // the secret of one of the user's keys
	keys     int
	internal accountv1.AccountServiceClient // with a service credential
	direct   accountv1.AccountServiceClient // a plain client, as an API user's would be
	conns    []*grpc.ClientConn
}

func (u *user) close() {
	for _, c := range u.conns {
		_ = c.Close()
	}
}

// setUp signs a new user in through the dev mailbox, as a person would, and
// creates the API keys the list calls return.
func setUp(ctx context.Context, s *suite.Suite, keys int) (*user, error) {
	secrets, err := s.Secrets()
	if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(secrets["SERVICE_AUTH_SECRET"])
	if err != nil {
		return nil, fmt.Errorf("SERVICE_AUTH_SECRET: %w", err)
	}
	cred, err := authn.NewServiceToken(secret, "gwbench")
	if err != nil {
		return nil, err
	}
	internal, err := rpc.Dial(s.Services["account"], rpc.ClientOptions{Service: cred})
	if err != nil {
		return nil, err
	}
	direct, err := grpc.NewClient(s.Services["account"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		_ = internal.Close()
		return nil, err
	}
	u := &user{
		gateway: s.Gateway, keys: keys,
		internal: accountv1.NewAccountServiceClient(internal),
		direct:   accountv1.NewAccountServiceClient(direct),
		conns:    []*grpc.ClientConn{internal, direct},
	}
	if err := u.signUp(ctx); err != nil {
		u.close()
		return nil, err
	}
	return u, nil
}

func (u *user) signUp(ctx context.Context) error {
	email := fmt.Sprintf("gwbench-%d@example.com", time.Now().UnixNano())
	if _, err := u.post(ctx, "/v1/auth/magic-links", "", map[string]any{"email": email}, http.StatusAccepted); err != nil {
		return err
	}
	token, err := u.magicToken(ctx, email)
	if err != nil {
		return err
	}
	resp, err := u.post(ctx, "/v1/auth/sessions", "", map[string]any{"token": token}, http.StatusOK)
	if err != nil {
		return err
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		return errors.New("POST /v1/auth/sessions set no session cookie")
	}
	for i := range u.keys {
		resp, err := u.post(ctx, "/v1/api-keys", cookie, map[string]any{"name": fmt.Sprintf("gwbench %d", i+1)}, http.StatusOK)
		if err != nil {
			return err
		}
		var created struct{ Secret string }
		if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || created.Secret == "" {
			return fmt.Errorf("POST /v1/api-keys returned no secret (%v)", err)
		}
		if u.apiKey == "" {
			u.apiKey = created.Secret
		}
	}
	return nil
}

// magicToken reads the sign-in link sent to email from the dev mailbox (the
// internal ListDevMail the /dev/mailbox page uses) and returns its token.
func (u *user) magicToken(ctx context.Context, email string) (string, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := u.internal.ListDevMail(ctx, &accountv1.ListDevMailRequest{PageSize: 50})
		if err != nil {
			return "", fmt.Errorf("list dev mail: %w", err)
		}
		for _, m := range resp.GetMails() {
			if m.GetTo() != email {
				continue
			}
			for _, l := range m.GetLinks() {
				p, err := url.Parse(l)
				if err != nil || p.Path != "/auth/confirm" {
					continue
				}
				q, _ := url.ParseQuery(p.Fragment)
				if t := q.Get("token"); t != "" {
					return t, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no sign-in mail for %s in the dev mailbox", email)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends JSON to the gateway and wants the status code; the caller reads
// the body (already buffered).
func (u *user) post(ctx context.Context, path, cookie string, body any, want int) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.gateway+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("POST %s = %d, want %d: %s", path, resp.StatusCode, want, data)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

// call makes one request and reports whether it succeeded.
type call func(ctx context.Context) error

// restCaller lists the keys through the gateway, the API key as the
// credential. The transport keeps a connection per worker alive (HTTP/1.1
// carries one request at a time), and asks for gzip as browsers and Go's
// client do. The first call checks the body holds every key.
// restCaller lists the keys over REST at origin with bearer (an API key
// for the gateway, an access token for the reference proxy), one keep-alive
// connection per caller. The first call checks every key is there.
func (u *user) restCaller(origin, bearer string, concurrency int) (call, func()) {
	tr := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr}
	target := origin + "/v1/api-keys"
	var checked atomic.Bool
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("GET /v1/api-keys = %d: %s", resp.StatusCode, b)
		}
		if checked.Load() {
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}
		var list struct{ APIKeys []json.RawMessage }
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			return err
		}
		if len(list.APIKeys) != u.keys {
			return fmt.Errorf("GET /v1/api-keys listed %d keys, want %d", len(list.APIKeys), u.keys)
		}
		checked.Store(true)
		return nil
	}, tr.CloseIdleConnections
}

// accessToken exchanges the API key for an access token, as the gateway
// does, good for at least valid.
func (u *user) accessToken(ctx context.Context, valid time.Duration) (string, error) {
	auth, err := u.internal.Authenticate(ctx, &accountv1.AuthenticateRequest{
		Credential: &accountv1.AuthenticateRequest_ApiKey{ApiKey: u.apiKey},
	})
	if err != nil {
		return "", fmt.Errorf("authenticate: %w", err)
	}
	if left := time.Until(auth.GetExpireTime().AsTime()); left < valid {
		return "", fmt.Errorf("access token lives %s, a run takes %s: shorten -duration", left.Round(time.Second), valid)
	}
	return auth.GetAccessToken(), nil
}

// grpcCaller lists the keys directly with an access token. The first call
// checks every key is there.
func (u *user) grpcCaller(token string) call {
	md := metadata.Pairs("authorization", "Bearer "+token)
	var checked atomic.Bool
	return func(ctx context.Context) error {
		resp, err := u.direct.ListApiKeys(metadata.NewOutgoingContext(ctx, md), &accountv1.ListApiKeysRequest{})
		if err != nil {
			return err
		}
		if !checked.Load() {
			if n := len(resp.GetApiKeys()); n != u.keys {
				return fmt.Errorf("ListApiKeys listed %d keys, want %d", n, u.keys)
			}
			checked.Store(true)
		}
		return nil
	}
}

// result is what one path measured over its rounds.
type result struct {
	requests int
	elapsed  time.Duration
	lat      []time.Duration
	p50, p99 time.Duration
	// delta is how much each counter grew while measuring (see counters).
	delta map[string]float64
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// perRequest is a counter's growth per request.
func (r result) perRequest(name string) float64 { return r.delta[name] / float64(r.requests) }

func (r *result) add(o result) {
	r.requests += o.requests
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
	if r.delta == nil {
		r.delta = map[string]float64{}
	}
	for k, v := range o.delta {
		r.delta[k] += v
	}
}

func (r *result) finish() error {
	if len(r.lat) == 0 {
		return errors.New("no call completed")
	}
	slices.Sort(r.lat)
	r.p50, r.p99 = r.lat[len(r.lat)/2], r.lat[len(r.lat)*99/100]
	return nil
}

// settle is how long a round's callers run before it is measured, so calls
// started in the previous round (of the other path) have finished.
const settle = 250 * time.Millisecond

// paths is how many ways a run makes the call.
func (c config) paths() int { return 2 + len(c.references) }

// wall is about how long compare takes at one concurrency.
func (c config) wall() time.Duration {
	return time.Duration(c.paths()) * (c.warmup + c.duration + time.Duration(c.rounds)*settle)
}

// compare drives every path at concurrency c: a warm-up of each, then
// rounds of each in turn, so that a change in the machine's other load
// during the run falls on all paths alike rather than on whichever ran
// last. profile, when set, runs over all the rounds (the gateway is idle
// during the other paths' rounds, so its profile holds the REST rounds).
func compare(cfg config, c int, probe func() (map[string]float64, error), paths []path, profile func(time.Duration) error) ([]result, error) {
	res := make([]result, len(paths))
	for _, p := range paths {
		if _, err := load(c, p.call, cfg.warmup, 0, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	round := cfg.duration / time.Duration(cfg.rounds)
	profErr := make(chan error, 1)
	if profile != nil {
		go func() {
			profErr <- profile(time.Duration(len(paths)) * (cfg.duration + time.Duration(cfg.rounds)*settle))
		}()
	} else {
		profErr <- nil
	}
	for range cfg.rounds {
		for i, p := range paths {
			r, err := load(c, p.call, settle, round, probe)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			res[i].add(r)
		}
	}
	if err := <-profErr; err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	errs := make([]error, len(res))
	for i := range res {
		errs[i] = res[i].finish()
	}
	return res, errors.Join(errs...)
}

// path is one way of making the call.
type path struct {
	name string
	call call
}

// load runs c callers in a closed loop for settle, then measures for d:
// the calls completed, their latencies, and the counters at both ends. Any
// failed call fails it. With d == 0 it only warms up.
func load(c int, do call, settle, d time.Duration, probe func() (map[string]float64, error)) (result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		recording atomic.Bool
		firstErr  error
		errOnce   sync.Once
		wg        sync.WaitGroup
		lat       = make([][]time.Duration, c)
	)
	for i := range c {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				if err := do(ctx); err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = err })
						cancel()
					}
					return
				}
				if recording.Load() {
					lat[i] = append(lat[i], time.Since(start))
				}
			}
		})
	}
	stop := func() error {
		cancel()
		wg.Wait()
		return firstErr
	}
	sleep := func(d time.Duration) { // until d passes or a call fails
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	sleep(settle)
	if d == 0 {
		return result{}, stop()
	}
	before, err := probe()
	if err != nil {
		return result{}, errors.Join(err, stop())
	}
	start := time.Now()
	recording.Store(true)
	sleep(d)
	recording.Store(false)
	elapsed := time.Since(start)
	after, err := probe()
	if err := errors.Join(stop(), err); err != nil {
		return result{}, err
	}
	r := result{elapsed: elapsed, lat: slices.Concat(lat...), delta: map[string]float64{}}
	r.requests = len(r.lat)
	for k, v := range after {
		r.delta[k] = v - before[k]
	}
	return r, nil
}

// clockTick is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on every
// Linux the suite runs on.
const clockTick = 10 * time.Millisecond

// counters reads what a run is charged for: the CPU time (user + system, µs,
// every thread) of each process in pids (the gateway, account and the
// reference proxy) from /proc, this process's own as "client", and the
// gateway's allocation counters from its debug listener's expvar memstats
// ("gateway allocs", "gateway bytes").
func counters(pids map[string]int, pprofAddr string) (map[string]float64, error) {
	out := map[string]float64{}
	for name, pid := range pids {
		if pid == 0 {
			return nil, fmt.Errorf("run.json names no %s process", name)
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", name, err)
		}
		// The command name (field 2) may hold spaces: count from its ')'.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return nil, fmt.Errorf("CPU time of %s: short /proc stat", name)
		}
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", name, err)
		}
		out[name] = float64((time.Duration(utime+stime) * clockTick).Microseconds())
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return nil, err
	}
	out["client"] = float64((ru.Utime.Nano() + ru.Stime.Nano()) / 1e3)

	resp, err := http.Get("http://" + pprofAddr + "/debug/vars")
	if err != nil {
		return nil, fmt.Errorf("gateway memory stats: %w", err)
	}
	defer resp.Body.Close()
	var vars struct {
		Memstats struct{ Mallocs, TotalAlloc float64 }
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		return nil, fmt.Errorf("gateway memory stats: %w", err)
	}
	out["gateway allocs"], out["gateway bytes"] = vars.Memstats.Mallocs, vars.Memstats.TotalAlloc
	return out, nil
}

// fetchProfile takes the gateway's profile kind ("profile" for CPU,
// "allocs") over d and writes it to path.
func fetchProfile(addr, kind string, d time.Duration, path string) error {
	secs := max(int(d.Seconds()), 1)
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + kind + "?seconds=" + strconv.Itoa(secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/%s = %d", kind, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type row struct {
	c          int
	grpc, rest result
	refs       []refResult
}

// refResult is what a reference proxy measured; its CPU is the counter
// named by its kind.
type refResult struct {
	kind string
	result
}

func printTable(w io.Writer, cfg config, rows []row) {
	fmt.Fprintf(w, "gateway benchmark: GET /v1/api-keys through the gateway vs AccountService.ListApiKeys direct, %d keys listed,\n", cfg.keys)
	fmt.Fprintf(w, "%s measured per path in %d alternating rounds after %s warm-up, %d CPUs;\nCPU µs and allocations are per request (proxy = the gateway or the reference; client = this load generator)\n\n",
		cfg.duration, cfg.rounds, cfg.warmup, runtime.NumCPU())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conc\tpath\treq/s\tp50 ms\tp99 ms\tproxy CPU µs\tgateway allocs\tgateway KB\taccount CPU µs\tclient CPU µs\t")
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
	n := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\tdirect gRPC\t%.0f\t%s\t%s\t-\t-\t-\t%s\t%s\t\n", r.c, r.grpc.rps(), ms(r.grpc.p50), ms(r.grpc.p99),
			n(r.grpc.perRequest("account")), n(r.grpc.perRequest("client")))
		fmt.Fprintf(tw, "%d\tREST via gateway\t%.0f\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t\n", r.c, r.rest.rps(), ms(r.rest.p50), ms(r.rest.p99),
			n(r.rest.perRequest("gateway")), n(r.rest.perRequest("gateway allocs")), r.rest.perRequest("gateway bytes")/1024,
			n(r.rest.perRequest("account")), n(r.rest.perRequest("client")))
		for _, f := range r.refs {
			fmt.Fprintf(tw, "%d\tREST via %s reference\t%.0f\t%s\t%s\t%s\t-\t-\t%s\t%s\t\n", r.c, f.kind, f.rps(), ms(f.p50), ms(f.p99),
				n(f.perRequest(f.kind)), n(f.perRequest("account")), n(f.perRequest("client")))
		}
		fmt.Fprintf(tw, "%d\tREST / gRPC\t%.2f×\t%.2f×\t%.2f×\t\t\t\t\t\t\n", r.c, r.rest.rps()/r.grpc.rps(),
			float64(r.rest.p50)/float64(r.grpc.p50), float64(r.rest.p99)/float64(r.grpc.p99))
		for _, f := range r.refs {
			fmt.Fprintf(tw, "%d\tgateway / %s reference\t%.2f×\t%.2f×\t%.2f×\t%.2f×\t\t\t\t\t\n", r.c, f.kind, r.rest.rps()/f.rps(),
				float64(r.rest.p50)/float64(f.p50), float64(r.rest.p99)/float64(f.p99), r.rest.perRequest("gateway")/f.perRequest(f.kind))
		}
	}
	_ = tw.Flush()
}
