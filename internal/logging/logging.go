// Package logging builds the process's slog logger from the --log-format and
// --log-level flags.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// New returns a text (default) or JSON logger at the given level.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log-format: %q is not text or json", format)
	}
}
