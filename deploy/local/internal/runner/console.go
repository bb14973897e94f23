package runner

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// maxLine bounds how much of an unterminated line a lineWriter holds before it
// prints it anyway, so a child that never writes a newline cannot grow memory.
const maxLine = 64 << 10

// palette lists the ANSI foreground colours given to prefixes in turn.
const palette = "36 33 32 35 34 96 93 92 95 94"

// console serialises the output of every process the runner starts, so each
// line reaches the terminal whole, prefixed with the name of its writer.
type console struct {
	mu    sync.Mutex
	w     io.Writer
	width int
	color bool
	next  int
}

// newConsole returns a console writing to w. width is the prefix width, the
// longest name that will write to it.
func newConsole(w io.Writer, width int, color bool) *console {
	return &console{w: w, width: width, color: color}
}

// isTerminal reports whether w is a character device, where colour helps.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writer returns a writer whose lines are printed with name as a prefix.
func (c *console) writer(name string) *lineWriter {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := fmt.Sprintf("%-*s | ", c.width, name)
	if c.color {
		colours := strings.Fields(palette)
		prefix = "\x1b[" + colours[c.next%len(colours)] + "m" + prefix + "\x1b[0m"
		c.next++
	}
	return &lineWriter{c: c, prefix: []byte(prefix)}
}

// println prints a line without a prefix, for the messages a user looks for.
func (c *console) println(a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.w, a...)
}

// lineWriter buffers what it is given and hands complete lines to its console.
type lineWriter struct {
	c      *console
	prefix []byte

	mu  sync.Mutex
	buf []byte
}

// Write prints every complete line in p and keeps the rest for the next call.
func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, p...)
	var out []byte
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			break
		}
		out = lw.appendLine(out, lw.buf[:i])
		lw.buf = lw.buf[i+1:]
	}
	if len(lw.buf) >= maxLine {
		out = lw.appendLine(out, lw.buf)
		lw.buf = lw.buf[:0]
	}
	if len(lw.buf) == 0 {
		lw.buf = nil
	}
	return len(p), lw.flush(out)
}

// Close prints a final unterminated line, if any.
func (lw *lineWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) == 0 {
		return nil
	}
	out := lw.appendLine(nil, lw.buf)
	lw.buf = nil
	return lw.flush(out)
}

func (lw *lineWriter) appendLine(out, line []byte) []byte {
	out = append(out, lw.prefix...)
	out = append(out, bytes.TrimSuffix(line, []byte("\r"))...)
	return append(out, '\n')
}

// flush writes out in one call under the console lock, so lines from
// different writers never interleave.
func (lw *lineWriter) flush(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	lw.c.mu.Lock()
	defer lw.c.mu.Unlock()
	_, err := lw.c.w.Write(out)
	return err
}
