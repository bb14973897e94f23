// Package pgcluster runs a PostgreSQL cluster from the system's server binaries
// (initdb, pg_ctl, postgres), for the local runner's persistent data directory
// and for throwaway test servers.
//
// The cluster listens on 127.0.0.1 only and has no Unix socket, so a long data
// directory path never trips the ~107-byte socket path limit and nothing is
// left behind in /tmp. Authentication is trust: these clusters are for a
// developer's own machine, never for production. fsync stays on, so a cluster
// that survives a crash of the machine keeps its committed data.
//
// initdb and postgres refuse to run as root. When the process runs as root the
// binaries run as the "postgres" system user through runuser, the data
// directory is owned by that user, and every parent directory is made
// traversable by it.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/connectengine/photoshoot/pkg/freeport"
)

// installHint tells a developer how to get the server binaries, because the
// client package (psql) alone does not ship initdb or postgres.
const installHint = "install the PostgreSQL server (Debian/Ubuntu: apt-get install -y postgresql; macOS: brew install postgresql)"

// systemUser is the account initdb and postgres run as when this process is root.
const systemUser = "postgres"

// startTimeout bounds pg_ctl start -w and stop -w; crash recovery after an
// unclean shutdown can take a while on a slow disk.
const startTimeout = 120 * time.Second

// FindBinDir returns the directory holding initdb, pg_ctl and postgres. It
// looks on PATH first, then asks pg_config, then takes the highest version
// under /usr/lib/postgresql (Debian keeps the server binaries off PATH).
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		// Debian's /usr/local/bin entries are symlinks; the real directory is
		// the one pg_ctl uses to find postgres.
		if real, err := filepath.EvalSymlinks(p); err == nil && hasServerBinaries(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if hasServerBinaries(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, dir := range dirs {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("postgresql server binaries (initdb, pg_ctl, postgres) not found on PATH, via pg_config or in /usr/lib/postgresql: %s", installHint)
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionOf reads the major version from /usr/lib/postgresql/<v>/bin.
func versionOf(binDir string) int {
	v, err := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	if err != nil {
		return -1
	}
	return v
}

// Options tunes Start.
type Options struct {
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// Stdout receives the server's log. nil writes it to <dir>/postgres.log,
	// which survives this process. Any other writer only receives output
	// while this process lives, and must stay usable until Stop returns.
	Stdout io.Writer
}

// Cluster is a running PostgreSQL server over one data directory.
type Cluster struct {
	dir    string
	port   int
	bin    string
	runAs  *user.User
	logger *slog.Logger
	// pid is the postmaster this Cluster started; Stop leaves alone a
	// server that another Start has since put over the same directory.
	pid int
	// copyDone is closed when the server's output pipe reaches EOF, which is
	// when the postmaster and all its children have exited; nil when the log
	// goes straight to a file.
	copyDone chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// Start initialises dir as a cluster if it holds none yet (no PG_VERSION) and
// starts the server, waiting until it accepts connections. A server that a
// previous, killed run left running over dir is stopped first, and a stale
// postmaster.pid from a dead server is removed, so a restart after a crash
// always works.
func Start(ctx context.Context, dir string, opt Options) (*Cluster, error) {
	logger := opt.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve data directory: %w", err)
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, logger: logger}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(systemUser)
		if err != nil {
			return nil, fmt.Errorf("running as root needs the %q system user to run the server: %w (%s)", systemUser, err, installHint)
		}
		c.runAs = u
		if _, err := exec.LookPath("runuser"); err != nil {
			return nil, fmt.Errorf("running as root needs runuser (util-linux) to drop to %q: %w", systemUser, err)
		}
	}

	if err := c.prepareParents(ctx); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("inspect data directory %s: %w", dir, err)
	}
	if err := c.clearLeftover(ctx); err != nil {
		return nil, err
	}

	// A free port picked here can be taken by someone else before postgres
	// binds it, so a picked port gets a few tries.
	tries := 1
	if opt.Port == 0 {
		tries = 3
	}
	for i := range tries {
		c.port = opt.Port
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		err = c.start(ctx, opt.Stdout)
		if err == nil {
			c.pid = c.postmasterPID()
			logger.InfoContext(ctx, "postgres started", "dir", dir, "port", c.port, "bin", bin)
			return c, nil
		}
		if i+1 < tries {
			logger.WarnContext(ctx, "postgres start failed, retrying on another port", "port", c.port, "err", err)
		}
	}
	return nil, err
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// URL returns a connection URL for database as the superuser "postgres".
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down in "fast" mode (open transactions roll back,
// nothing is lost that was committed) and waits until it has exited. Calling
// it again returns the first result. A server that is already gone, or that
// a later Start over the same directory replaced, is left alone.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		if pid := c.postmasterPID(); pid != 0 && pid == c.pid {
			c.stopErr = c.pgctlStop(ctx)
		}
		if c.stopErr != nil {
			return
		}
		if c.copyDone != nil {
			select {
			case <-c.copyDone:
			case <-ctx.Done():
				c.stopErr = fmt.Errorf("wait for postgres output to end: %w", ctx.Err())
				return
			}
		}
		c.logger.InfoContext(ctx, "postgres stopped", "dir", c.dir)
	})
	return c.stopErr
}

// pgctlStop runs pg_ctl stop in fast mode and waits for the server to exit.
func (c *Cluster) pgctlStop(ctx context.Context) error {
	var out bytes.Buffer
	cmd := c.command(ctx, "pg_ctl", "stop", "-D", c.dir, "-m", "fast", "-w", "-t", strconv.Itoa(int(startTimeout.Seconds())))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_ctl stop %s: %w: %s", c.dir, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// postmasterPID reads the PID from postmaster.pid; 0 when there is none.
func (c *Cluster) postmasterPID() int {
	data, err := os.ReadFile(filepath.Join(c.dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// CreateDatabase creates database name unless it exists. adminURL points at
// any existing database of the server, usually "postgres".
func CreateDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent creator won
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// initdb creates the cluster in a sibling directory and renames it into
// place, so a run killed half-way through initdb leaves no half-made cluster
// that the next run would mistake for a real one.
func (c *Cluster) initdb(ctx context.Context) error {
	if entries, err := os.ReadDir(c.dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("data directory %s is not empty and holds no cluster (no PG_VERSION); empty it or choose another", c.dir)
	}
	tmp := c.dir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	if err := c.makeOwnedDir(tmp); err != nil {
		return err
	}
	c.logger.InfoContext(ctx, "initialising postgres cluster", "dir", c.dir)
	var out bytes.Buffer
	cmd := c.command(ctx, "initdb", "-D", tmp, "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--locale=C", "--no-instructions")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("initdb %s: %w: %s", c.dir, err, strings.TrimSpace(out.String()))
	}
	// The target may exist as an empty directory; rename cannot replace it.
	if err := os.Remove(c.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace empty data directory %s: %w", c.dir, err)
	}
	if err := os.Rename(tmp, c.dir); err != nil {
		return fmt.Errorf("move new cluster into %s: %w", c.dir, err)
	}
	return nil
}

// clearLeftover deals with a postmaster.pid left by an earlier run. If that
// server still runs over this directory (its runner was killed, and the
// server, in its own session, lived on) it is stopped so this run owns it
// with its own port. If the recorded process is gone, or is now some other
// program that reused the PID, the file is stale and is removed; postgres
// would otherwise refuse to start when the PID belongs to a live process.
func (c *Cluster) clearLeftover(ctx context.Context) error {
	pidFile := filepath.Join(c.dir, "postmaster.pid")
	if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	pid := c.postmasterPID()
	if pid <= 0 {
		c.logger.WarnContext(ctx, "removing unreadable postmaster.pid", "dir", c.dir)
		return removeFile(pidFile)
	}
	if c.isOurPostmaster(pid) {
		c.logger.WarnContext(ctx, "stopping a postgres left running by an earlier run", "dir", c.dir, "pid", pid)
		if err := c.pgctlStop(ctx); err != nil {
			return fmt.Errorf("stop leftover postgres (pid %d): %w", pid, err)
		}
		return nil
	}
	c.logger.WarnContext(ctx, "removing stale postmaster.pid", "dir", c.dir, "pid", pid)
	return removeFile(pidFile)
}

// isOurPostmaster reports whether pid is a live (not zombie) postgres process
// serving this data directory. Without /proc it trusts the PID file, leaving
// the judgement to postgres itself.
func (c *Cluster) isOurPostmaster(pid int) bool {
	if _, err := os.Stat("/proc/self"); err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cmdline) == 0 { // gone, or a zombie nobody reaped
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	return filepath.Base(args[0]) == "postgres" && slices.Contains(args, c.dir)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// start runs pg_ctl start -w with the listening settings on the command line,
// so the port can change between runs over the same data directory.
func (c *Cluster) start(ctx context.Context, stdout io.Writer) error {
	serverOpts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c max_connections=200", c.port)
	args := []string{"start", "-D", c.dir, "-w", "-t", strconv.Itoa(int(startTimeout.Seconds())), "-o", serverOpts}

	var pgctlOut bytes.Buffer
	cmd := c.command(ctx, "pg_ctl")
	cmd.Stdout, cmd.Stderr = &pgctlOut, &pgctlOut
	logFile := filepath.Join(c.dir, "postgres.log")
	var pipeR, pipeW *os.File
	switch w := stdout.(type) {
	case nil:
		args = append(args, "-l", logFile)
	case *os.File:
		// The postmaster inherits the descriptor directly: no copying
		// goroutine that would tie cmd.Wait to the server's lifetime.
		cmd.Stdout, cmd.Stderr = w, w
	default:
		r, w2, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("create postgres output pipe: %w", err)
		}
		pipeR, pipeW = r, w2
		cmd.Stdout, cmd.Stderr = pipeW, pipeW
	}
	cmd.Args = append(cmd.Args, args...)

	err := cmd.Run()
	if pipeW != nil {
		// Only the server holds the write end now; EOF means it has exited.
		_ = pipeW.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer pipeR.Close()
			_, _ = io.Copy(stdout, pipeR)
		}()
		c.copyDone = done
	}
	if err != nil {
		detail := strings.TrimSpace(pgctlOut.String())
		if stdout == nil {
			detail += "\n" + tail(logFile, 2048)
		}
		return fmt.Errorf("pg_ctl start %s on port %d: %w: %s", c.dir, c.port, err, strings.TrimSpace(detail))
	}
	return nil
}

// command builds an exec.Cmd for one of the server binaries, dropping to the
// postgres system user when this process is root. The working directory is
// "/" because the system user may not be able to read the caller's.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.runAs != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs.Username, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = "/"
	// The server must not take PGDATA or PGPORT from our environment.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PGDATA=") || strings.HasPrefix(kv, "PGPORT=")
	})
	return cmd
}

// makeOwnedDir creates dir with mode 0700, owned by the user the server runs as.
func (c *Cluster) makeOwnedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if c.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s to %s: %w", dir, c.runAs.Username, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// prepareParents creates the data directory's parent and, when the server
// runs as another user, lets that user traverse every ancestor: temporary
// directories (os.MkdirTemp, t.TempDir) are 0700 and would hide the data
// directory from it. Only the search bit for others is added; nothing becomes
// readable that was not.
func (c *Cluster) prepareParents(ctx context.Context) error {
	parent := filepath.Dir(c.dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", parent, err)
	}
	if c.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.runAs.Uid)
	for p := parent; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("inspect %s: %w", p, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		ownedByServer := ok && int(st.Uid) == uid
		if !ownedByServer && fi.Mode().Perm()&0o001 == 0 {
			c.logger.InfoContext(ctx, "making directory traversable for the postgres user", "dir", p)
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("make %s traversable for %s: %w", p, c.runAs.Username, err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// freePort is a port on 127.0.0.1 for the server to listen on.
func freePort() (int, error) { return freeport.Pick(nil) }

// tail returns up to n bytes from the end of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(buf)
}
