package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// colour says whether to colour what goes to w: only a terminal, never
// with NO_COLOR set (no-color.org) or with JSON output.
func colour(w io.Writer, args []string) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	for i, a := range args {
		if a == "--output=json" || a == "-ojson" || (a == "--output" || a == "-o") && i+1 < len(args) && args[i+1] == "json" {
			return false
		}
	}
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
