package runner

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLineWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "whole_lines", writes: []string{"a\nb\n"}, want: "acct | a\nacct | b\n"},
		{name: "line_split_across_writes", writes: []string{"hel", "lo\nwor", "ld\n"}, want: "acct | hello\nacct | world\n"},
		{name: "unterminated_tail_on_close", writes: []string{"done"}, want: "acct | done\n"},
		{name: "crlf", writes: []string{"x\r\n"}, want: "acct | x\n"},
		{name: "empty_line", writes: []string{"\n"}, want: "acct | \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			lw := newConsole(&out, 4, false).writer("acct")
			for _, w := range tt.writes {
				if _, err := lw.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
			}
			if err := lw.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLineWriterLongLineIsFlushed(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	lw := newConsole(&out, 1, false).writer("x")
	if _, err := lw.Write(bytes.Repeat([]byte("y"), maxLine)); err != nil {
		t.Fatal(err)
	}
	if got, want := out.Len(), len("x | ")+maxLine+1; got != want {
		t.Errorf("printed %d bytes before any newline, want %d", got, want)
	}
}

// TestConsoleLinesNeverInterleave writes from many writers at once, each
// line in several pieces, and checks every printed line is one whole line.
func TestConsoleLinesNeverInterleave(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	con := newConsole(&out, len("generation"), false)
	var wg sync.WaitGroup
	for w := range 8 {
		lw := con.writer(fmt.Sprintf("w%d", w))
		wg.Go(func() {
			for i := range 200 {
				line := fmt.Sprintf("writer %d line %d end", w, i)
				half := len(line) / 2
				lw.Write([]byte(line[:half]))
				lw.Write([]byte(line[half:] + "\n"))
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("got %d lines, want %d", len(lines), 8*200)
	}
	for _, l := range lines {
		prefix, msg, ok := strings.Cut(l, " | ")
		var w, i int
		if !ok || strings.Count(l, " | ") != 1 {
			t.Fatalf("line %q is not one prefixed line", l)
		}
		if _, err := fmt.Sscanf(msg, "writer %d line %d end", &w, &i); err != nil || strings.TrimSpace(prefix) != fmt.Sprintf("w%d", w) {
			t.Fatalf("line %q is mixed up", l)
		}
	}
}

func TestConsoleColourPrefix(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	con := newConsole(&out, 7, true)
	con.writer("account").Write([]byte("hi\n"))
	if got, want := out.String(), "\x1b[36maccount | \x1b[0mhi\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
