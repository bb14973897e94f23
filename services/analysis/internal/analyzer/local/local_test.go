package local_test

import (
	"testing"

	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/analyzertest"
	"github.com/connectengine/photoshoot/services/analysis/internal/analyzer/local"
)

func TestContract(t *testing.T) {
	t.Parallel()
	analyzertest.RunSuite(t, local.New())
}
