package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// Each template is a pair: NAME.txt, whose first line is "Subject: …"
// followed by a blank line and the plain-text body, and NAME.html, the HTML
// body. Both see the mail's data map; html/template escapes every value.
//
//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

// Renderer turns a template name and its data into a Message.
type Renderer struct {
	text *texttemplate.Template
	html *htmltemplate.Template
	from string
	// product names the service in every mail.
	product string
}

// NewRenderer parses the embedded templates; from is the sender address.
func NewRenderer(from string) (*Renderer, error) {
	t, err := texttemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text templates: %w", err)
	}
	h, err := htmltemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse html templates: %w", err)
	}
	return &Renderer{text: t, html: h, from: from, product: "Photoshoot Studio"}, nil
}

// Render fills template name with data. The ID, recipient and reply-to are
// the caller's.
func (r *Renderer) Render(name string, data map[string]string) (Message, error) {
	d := map[string]string{"product": r.product}
	for k, v := range data {
		d[k] = v
	}
	var tb, hb bytes.Buffer
	if err := r.text.ExecuteTemplate(&tb, name+".txt", d); err != nil {
		return Message{}, fmt.Errorf("render %s text: %w", name, err)
	}
	if err := r.html.ExecuteTemplate(&hb, name+".html", d); err != nil {
		return Message{}, fmt.Errorf("render %s html: %w", name, err)
	}
	first, body, ok := strings.Cut(tb.String(), "\n")
	subject, found := strings.CutPrefix(first, "Subject: ")
	if !ok || !found {
		return Message{}, fmt.Errorf("template %s.txt does not start with a Subject line", name)
	}
	return Message{From: r.from, Subject: strings.TrimSpace(subject), Text: strings.TrimLeft(body, "\n"), HTML: hb.String()}, nil
}
