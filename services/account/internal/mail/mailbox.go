package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Mailbox is the dev mailbox: each mail is a JSON file named after its ID
// under a directory, listed newest first by the gateway's /dev/mailbox page
// (through ListDevMail). Writing the same ID again replaces the same file,
// so a repeated send stays one mail.
type Mailbox struct {
	dir string
	now func() time.Time
}

// Stored is a mail as the dev mailbox keeps it.
type Stored struct {
	Message
	CreateTime time.Time `json:"create_time"`
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// NewMailbox keeps mails under dir, creating it.
func NewMailbox(dir string) (*Mailbox, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dev mailbox %s: %w", dir, err)
	}
	return &Mailbox{dir: dir, now: time.Now}, nil
}

// Send implements Sender.
func (b *Mailbox) Send(ctx context.Context, m Message) error {
	if !safeID.MatchString(m.ID) {
		return fmt.Errorf("dev mailbox: mail id %q is not a file name", m.ID)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	path := filepath.Join(b.dir, m.ID+".json")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	data, err := json.MarshalIndent(Stored{Message: m, CreateTime: b.now().UTC()}, "", "  ")
	if err != nil {
		return fmt.Errorf("dev mailbox: encode %s: %w", m.ID, err)
	}
	tmp, err := os.CreateTemp(b.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("dev mailbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("dev mailbox: write %s: %w", m.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("dev mailbox: write %s: %w", m.ID, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("dev mailbox: store %s: %w", m.ID, err)
	}
	return nil
}

// List returns up to limit mails, newest first.
func (b *Mailbox) List(limit int) ([]Stored, error) {
	entries, err := os.ReadDir(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dev mailbox: %w", err)
	}
	var out []Stored
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(b.dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("dev mailbox: %w", err)
		}
		var s Stored
		if err := json.Unmarshal(data, &s); err != nil {
			continue // not ours
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Stored) int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
