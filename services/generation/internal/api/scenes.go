package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/jpeg"
	"sync"

	"google.golang.org/protobuf/proto"

	generationv1 "github.com/connectengine/photoshoot/proto/photoshoot/generation/v1"
	"github.com/connectengine/photoshoot/services/generation/internal/studio"
)

// Scene previews are rendered by the local renderer once per process, on the
// first ListScenes, as small JPEG data URLs (320×400, about 10 kB each): they
// are deterministic, so nothing needs storing, and a page shows them with no
// further request.
const (
	previewWidth  = 320
	previewHeight = 400
	previewSeed   = 1
)

type scenePreviews struct {
	once   sync.Once
	scenes []*generationv1.Scene
	err    error
}

func (p *scenePreviews) get() ([]*generationv1.Scene, error) {
	p.once.Do(func() {
		for _, s := range studio.Scenes() {
			img, err := studio.Background(s.ID, previewWidth, previewHeight, previewSeed)
			if err != nil {
				p.err = fmt.Errorf("render preview of %s: %w", s.ID, err)
				return
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
				p.err = fmt.Errorf("encode preview of %s: %w", s.ID, err)
				return
			}
			p.scenes = append(p.scenes, &generationv1.Scene{
				Id: s.ID, Name: s.Name, Description: s.Description, Glossy: s.Glossy,
				PreviewUrl: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
			})
		}
	})
	out := make([]*generationv1.Scene, len(p.scenes))
	for i, s := range p.scenes {
		out[i] = proto.CloneOf(s)
	}
	return out, p.err
}
