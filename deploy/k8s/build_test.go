package k8s

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binaries maps each image to its module directory (relative to the repository root) and
// its command; generation's image also runs `generation worker`.
var binaries = []struct{ module, name string }{
	{"services/account", "account"},
	{"services/billing", "billing"},
	{"services/media", "media"},
	{"services/analysis", "analysis"},
	{"services/generation", "generation"},
	{"gateway", "gateway"},
}

const repoRoot = "../.."

// TestBinariesBuildStatically stands in for `docker build`, which this machine cannot run:
// each module builds alone (GOWORK=off, as in its Dockerfile) without cgo for linux/amd64,
// so it runs on distroless/static.
func TestBinariesBuildStatically(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	// Sequential on purpose: go build already uses every core.
	for _, b := range binaries {
		cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", filepath.Join(out, b.name), "./cmd/"+b.name)
		cmd.Dir = filepath.Join(repoRoot, b.module)
		cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("build %s: %v\n%s", b.name, err, msg)
		}
	}
}

// TestDockerfiles checks what a build here cannot: each Dockerfile builds its own command
// from the repository root the same way, and runs it as non-root on distroless/static.
func TestDockerfiles(t *testing.T) {
	t.Parallel()
	for _, b := range binaries {
		raw, err := os.ReadFile(filepath.Join(repoRoot, b.module, "Dockerfile"))
		if err != nil {
			t.Errorf("%s: %v", b.name, err)
			continue
		}
		df := string(raw)
		for _, want := range []string{
			"FROM golang:1.26 AS build",
			"GOWORK=off CGO_ENABLED=0",
			"COPY proto/ proto/",
			"COPY pkg/ pkg/",
			"./cmd/" + b.name,
			"FROM gcr.io/distroless/static-debian12:nonroot",
			"USER nonroot",
			`ENTRYPOINT ["/` + b.name + `"]`,
		} {
			if !strings.Contains(df, want) {
				t.Errorf("%s/Dockerfile lacks %q", b.module, want)
			}
		}
	}
}
