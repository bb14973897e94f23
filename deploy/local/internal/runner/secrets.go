package runner

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// loadSecrets returns the dev secrets kept in path, generating (and saving)
// any that are missing. Each is 32 random bytes, hex encoded. They are made
// once and then reused, so sessions, tokens and signed URLs stay valid across
// restarts.
func loadSecrets(path string) (map[string]string, error) {
	secrets := map[string]string{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read dev secrets: %w", err)
	default:
		if err := json.Unmarshal(b, &secrets); err != nil {
			return nil, fmt.Errorf("parse dev secrets %s (delete it to start afresh): %w", path, err)
		}
	}
	changed := false
	for _, name := range []string{"SERVICE_AUTH_SECRET", "MEDIA_SIGNING_KEY"} {
		if secrets[name] != "" {
			continue
		}
		key := make([]byte, 32)
		rand.Read(key) // never fails: crypto/rand aborts the program instead
		secrets[name] = hex.EncodeToString(key)
		changed = true
	}
	if !changed {
		return secrets, os.Chmod(path, 0o600)
	}
	b, err = json.MarshalIndent(secrets, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode dev secrets: %w", err)
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("save dev secrets: %w", err)
	}
	return secrets, nil
}

// writeFileAtomic replaces path with data, so a reader sees the old or the
// new content and never a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
