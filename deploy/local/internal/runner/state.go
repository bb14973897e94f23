package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// layout is where a run keeps its files under the data directory.
type layout struct {
	root     string
	postgres string // PostgreSQL's data directory
	nats     string // JetStream's store
	media    string // image blobs (MEDIA_DIR)
	mail     string // the dev mailbox (MAIL_DIR)
	secrets  string // dev-secrets.json
	run      string // run.json, present while the suite runs
}

func dataLayout(root string) layout {
	return layout{
		root:     root,
		postgres: filepath.Join(root, "postgres"),
		nats:     filepath.Join(root, "nats"),
		media:    filepath.Join(root, "media"),
		mail:     filepath.Join(root, "mail"),
		secrets:  filepath.Join(root, "dev-secrets.json"),
		run:      filepath.Join(root, "run.json"),
	}
}

// runState is run.json: where a running suite can be reached, for tools and
// tests. It exists only once the suite is healthy and is removed on exit.
type runState struct {
	PID      int               `json:"pid"`
	Gateway  string            `json:"gateway"`
	Services map[string]string `json:"services"`
	// Metrics maps every process to its Prometheus /metrics URL; absent
	// when OTEL_METRICS_EXPORTER chose another exporter.
	Metrics  map[string]string `json:"metrics,omitempty"`
	NATS     string            `json:"nats"`
	Postgres string            `json:"postgres"`
	PIDs     map[string]int    `json:"pids"`
}

// write saves s to path, readable only by the user since the PostgreSQL URL
// may hold a password.
func (s runState) write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run state: %w", err)
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
