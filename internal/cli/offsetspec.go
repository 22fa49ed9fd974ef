package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// offsetSpec is where consume starts, in rpk's syntax: start (oldest), end
// (newest), an exact offset 47, +N after the start, -N before the end,
// @T a time (RFC 3339 or Unix ms) and @-D a duration ago (@-1h).
type offsetSpec struct {
	kind  offsetSpecKind
	n     int64     // the offset, or N of +N and -N
	at    time.Time // of @
	input string
}

type offsetSpecKind int

const (
	specStart offsetSpecKind = iota
	specEnd
	specExact
	specAfterStart
	specBeforeEnd
	specTime
)

const offsetSyntax = "use start, end, an offset (47), +N (after the start), -N (before the end), @TIME (RFC 3339 or Unix ms) or @-DURATION (@-1h)"

// parseOffsetSpec parses s; now is the time @-D counts back from.
func parseOffsetSpec(s string, now time.Time) (offsetSpec, error) {
	o := offsetSpec{input: s}
	bad := func() (offsetSpec, error) { return offsetSpec{}, fmt.Errorf("invalid offset %q: %s", s, offsetSyntax) }
	switch s {
	case "start", "oldest", "beginning":
		o.kind = specStart
		return o, nil
	case "end", "newest":
		o.kind = specEnd
		return o, nil
	case "":
		return bad()
	}
	switch s[0] {
	case '@':
		rest := s[1:]
		if strings.HasPrefix(rest, "-") {
			d, err := time.ParseDuration(rest[1:])
			if err != nil || d < 0 {
				return bad()
			}
			o.kind, o.at = specTime, now.Add(-d)
			return o, nil
		}
		if ms, err := strconv.ParseInt(rest, 10, 64); err == nil && ms >= 0 {
			o.kind, o.at = specTime, time.UnixMilli(ms)
			return o, nil
		}
		t, err := time.Parse(time.RFC3339Nano, rest)
		if err != nil || t.Before(time.Unix(0, 0)) {
			return bad()
		}
		o.kind, o.at = specTime, t
		return o, nil
	case '+', '-':
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || n < 0 || s[1] == '+' || s[1] == '-' {
			return bad()
		}
		o.kind, o.n = specAfterStart, n
		if s[0] == '-' {
			o.kind = specBeforeEnd
		}
		return o, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] < '0' || s[0] > '9' {
		return bad()
	}
	o.kind, o.n = specExact, n
	return o, nil
}

// resolve returns the exact start offset in a partition whose log starts
// at start and ends at end; atTime is the offset the partition found for
// a time spec (-1 when every record is older). The result stays within
// [start, end].
func (o offsetSpec) resolve(start, end, atTime int64) int64 {
	var n int64
	switch o.kind {
	case specStart:
		n = start
	case specEnd:
		n = end
	case specExact:
		n = o.n
	case specAfterStart:
		n = start + min(o.n, end-start)
	case specBeforeEnd:
		n = end - min(o.n, end-start)
	case specTime:
		n = atTime
		if n < 0 {
			n = end
		}
	}
	return max(start, min(n, end))
}
