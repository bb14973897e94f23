package app

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/connectengine/photoshoot/pkg/platform"
	"github.com/connectengine/photoshoot/services/media/internal/gallery"
)

// Config is the media service's configuration.
type Config struct {
	platform.Config
	// MediaDir is the disk blob store's root (MEDIA_DIR, default
	// .data/media); unused when S3Bucket is set.
	MediaDir string
	// SigningKey signs image URLs (MEDIA_SIGNING_KEY, hex, at least 32
	// bytes). Replicas must share it.
	SigningKey []byte
	// S3Endpoint, S3Bucket, S3Region and the AWS_* credentials select the
	// S3-compatible blob store; S3Bucket set switches it on.
	S3Endpoint, S3Bucket, S3Region   string
	S3AccessKeyID, S3SecretAccessKey string
	// TempDir holds uploads while they are checked (MEDIA_TMP_DIR, default
	// the system's temporary directory).
	TempDir string
	// OrphanGrace is how old a blob without a record must be before the
	// sweeper removes it (MEDIA_ORPHAN_GRACE, default 1h); SweepInterval is
	// how often it looks (MEDIA_SWEEP_INTERVAL, default 10m).
	OrphanGrace, SweepInterval time.Duration
	// DecodeMemory bounds what image decodes in flight may hold, in bytes
	// (MEDIA_DECODE_MEMORY_MB, default 256).
	DecodeMemory int64
}

// LoadConfig reads the configuration from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	pc, err := platform.LoadConfig("media", getenv)
	errs := []error{err}
	c := Config{
		Config:            pc,
		MediaDir:          or(getenv("MEDIA_DIR"), ".data/media"),
		S3Endpoint:        getenv("S3_ENDPOINT"),
		S3Bucket:          getenv("S3_BUCKET"),
		S3Region:          or(getenv("S3_REGION"), "us-east-1"),
		S3AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		S3SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		TempDir:           getenv("MEDIA_TMP_DIR"),
	}
	key, err := hex.DecodeString(getenv("MEDIA_SIGNING_KEY"))
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("MEDIA_SIGNING_KEY must be hex: %w", err))
	case len(key) < 32:
		errs = append(errs, errors.New("MEDIA_SIGNING_KEY must be at least 32 bytes (64 hex characters)"))
	}
	c.SigningKey = key
	if c.S3Bucket != "" && (c.S3AccessKeyID == "" || c.S3SecretAccessKey == "") {
		errs = append(errs, errors.New("S3_BUCKET is set: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required"))
	}
	if c.OrphanGrace, err = duration(getenv("MEDIA_ORPHAN_GRACE"), time.Hour); err != nil {
		errs = append(errs, fmt.Errorf("MEDIA_ORPHAN_GRACE: %w", err))
	}
	if c.SweepInterval, err = duration(getenv("MEDIA_SWEEP_INTERVAL"), 10*time.Minute); err != nil {
		errs = append(errs, fmt.Errorf("MEDIA_SWEEP_INTERVAL: %w", err))
	}
	c.DecodeMemory = gallery.DefaultDecodeMemory
	if v := getenv("MEDIA_DECODE_MEMORY_MB"); v != "" {
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb < 16 || mb > 1<<20 {
			errs = append(errs, fmt.Errorf("MEDIA_DECODE_MEMORY_MB must be a number of MiB from 16 to %d, not %q", 1<<20, v))
		}
		c.DecodeMemory = mb << 20
	}
	return c, errors.Join(errs...)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func duration(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", v)
	}
	return d, nil
}
