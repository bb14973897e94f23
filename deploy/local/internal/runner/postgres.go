package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/connectengine/photoshoot/pkg/postgres/pgcluster"
)

// postgresServer is the server every service's database lives on: either
// one this run started (cluster set) or the one DATABASE_URL names.
type postgresServer struct {
	adminURL string
	urlFor   func(db string) string
	cluster  *pgcluster.Cluster
}

// startPostgres uses the server DATABASE_URL names, or else starts one from
// the system's binaries with its data in dir.
func startPostgres(ctx context.Context, databaseURL, dir string, ports *portPicker, env []string, out io.Writer, log *slog.Logger) (*postgresServer, error) {
	if databaseURL != "" {
		u, err := url.Parse(databaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, errors.New("DATABASE_URL must be a postgres:// URL (the runner derives one database per service from it)")
		}
		log.Info("using the PostgreSQL server from DATABASE_URL", "host", u.Host)
		return &postgresServer{adminURL: databaseURL, urlFor: func(db string) string { return withDatabase(u, db) }}, nil
	}
	if _, err := pgcluster.FindBinDir(); err != nil {
		if err := installPostgres(ctx, err, env, out, log); err != nil {
			return nil, err
		}
		if _, err := pgcluster.FindBinDir(); err != nil {
			return nil, fmt.Errorf("find PostgreSQL after installing it: %w", err)
		}
	}
	// Port 0 lets pgcluster pick a free port and retry on another if a
	// different program takes it first.
	c, err := pgcluster.Start(ctx, dir, pgcluster.Options{Logger: log, Stdout: out})
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL in %s: %w", dir, err)
	}
	ports.taken[c.Port()] = true
	return &postgresServer{adminURL: c.URL("postgres"), urlFor: c.URL, cluster: c}, nil
}

// createDatabases creates each database that does not exist yet.
func (p *postgresServer) createDatabases(ctx context.Context, names []string) error {
	for _, name := range names {
		if err := pgcluster.CreateDatabase(ctx, p.adminURL, name); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return nil
}

// stop stops the server if this run started it.
func (p *postgresServer) stop(ctx context.Context) error {
	if p.cluster == nil {
		return nil
	}
	if err := p.cluster.Stop(ctx); err != nil {
		return fmt.Errorf("stop PostgreSQL: %w", err)
	}
	return nil
}

// withDatabase returns u naming database db instead, keeping host, user,
// password and parameters.
func withDatabase(u *url.URL, db string) string {
	c := *u
	c.Path = "/" + db
	c.RawPath = ""
	return c.String()
}

// installPostgres installs the server binaries where the runner can do so
// unattended (Debian or Ubuntu, as root); elsewhere it returns an error
// naming the command the user should run.
func installPostgres(ctx context.Context, cause error, env []string, out io.Writer, log *slog.Logger) error {
	_, debErr := os.Stat("/etc/debian_version")
	if debErr != nil || os.Geteuid() != 0 {
		return fmt.Errorf("%s and run again, or set DATABASE_URL to use a server you already have: %w", installHint(), cause)
	}
	log.Info("PostgreSQL server binaries not found; installing them", "command", "apt-get install -y postgresql")
	aptGet := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(env, "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
	updated := false
	if !haveAptLists() {
		if err := aptGet("update"); err != nil {
			return err
		}
		updated = true
	}
	err := aptGet("install", "-y", "postgresql")
	if err != nil && !updated {
		if err := aptGet("update"); err != nil {
			return err
		}
		err = aptGet("install", "-y", "postgresql")
	}
	return err
}

// haveAptLists reports whether apt has package lists to install from.
func haveAptLists() bool {
	lists, err := filepath.Glob("/var/lib/apt/lists/*_Packages*")
	return err == nil && len(lists) > 0
}

// installHint tells a user how to install the PostgreSQL server here.
func installHint() string {
	exists := func(p string) bool {
		_, err := os.Stat(p)
		return !errors.Is(err, fs.ErrNotExist)
	}
	switch {
	case runtime.GOOS == "darwin":
		return "PostgreSQL server binaries not found; install them with: brew install postgresql@17"
	case exists("/etc/debian_version"):
		return "PostgreSQL server binaries not found; install them with: sudo apt-get install -y postgresql"
	case exists("/etc/fedora-release"), exists("/etc/redhat-release"):
		return "PostgreSQL server binaries not found; install them with: sudo dnf install -y postgresql-server"
	case exists("/etc/alpine-release"):
		return "PostgreSQL server binaries not found; install them with: sudo apk add postgresql"
	case exists("/etc/arch-release"):
		return "PostgreSQL server binaries not found; install them with: sudo pacman -S postgresql"
	default:
		return "PostgreSQL server binaries not found; install your system's PostgreSQL server package (it provides initdb, pg_ctl and postgres)"
	}
}
