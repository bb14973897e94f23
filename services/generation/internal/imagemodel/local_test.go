package imagemodel_test

import (
	"testing"

	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel"
	"github.com/connectengine/photoshoot/services/generation/internal/imagemodel/imagemodeltest"
)

func TestLocalContract(t *testing.T) {
	t.Parallel()
	imagemodeltest.RunSuite(t, imagemodel.NewLocal())
}
